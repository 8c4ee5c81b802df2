"""Pure: a fleet of profiles spread over machines and time. Which shard runs a profile, and how
long after the run starts each profile begins — both stable per profile name, so each company's
backup lands on the same pod at the same minute every night."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping

from .errors import UsageError

_SHARD = re.compile(r"^(\d+)/(\d+)$")


def _unit(name: str, salt: str) -> float:
    """A number in [0, 1) that depends on ``name`` only (not on Python's hash seed)."""
    digest = hashlib.sha256(f"{salt}:{name}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


def shard_of(name: str, count: int) -> int:
    """The shard (0 … count-1) that runs the profile ``name``."""
    return min(count - 1, int(_unit(name, "shard") * count))


def start_offset(name: str, window: float) -> float:
    """Seconds after the run starts at which profile ``name`` begins, within [0, window)."""
    return round(_unit(name, "start") * window, 3) if window > 0 else 0.0


def parse_shard(text: str | None, environ: Mapping[str, str]) -> tuple[int, int] | None:
    """``--shard I/N`` (0-based I), else Kubernetes' Indexed Job variables (JOB_COMPLETION_INDEX of
    JOB_COMPLETIONS), else None: every profile."""
    if text is None:
        index, count = environ.get("JOB_COMPLETION_INDEX"), environ.get("JOB_COMPLETIONS")
        if index is None or count is None:
            return None
        text, where = f"{index}/{count}", "JOB_COMPLETION_INDEX/JOB_COMPLETIONS"
    else:
        where = "--shard"
    match = _SHARD.match(text.strip())
    if not match or not 0 <= int(match.group(1)) < int(match.group(2)):
        raise UsageError(f"{where}: '{text}' is not a shard: give I/N with 0 <= I < N (e.g. 0/4)")
    return int(match.group(1)), int(match.group(2))


def pick(names: list[str], shard: tuple[int, int] | None) -> list[str]:
    """The profiles this shard runs (all of them without a shard)."""
    if shard is None:
        return list(names)
    index, count = shard
    return [n for n in names if shard_of(n, count) == index]
