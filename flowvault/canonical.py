"""Canonical JSON: same data, same bytes (sorted keys, 2-space indent, trailing newline);
the volatile fields left out, and the one function that decides whether a flag means secret."""

from __future__ import annotations

from typing import Any

import orjson

#: Fields that change without anyone editing a flow (runs, counters, clocks, export time).
#: They are left out of the archive so that a nightly run with no edit commits nothing.
VOLATILE_FIELDS = frozenset({
    "updated_at", "saved_at", "last_run_at", "latest_run", "runs_count", "exported_at",
    "latest_run_at", "run_count", "runs", "versions_count", "steps_count",
})

REDACTED = "<redacted by flowvault>"
_TRUE_WORDS = frozenset({"1", "true", "yes", "on"})


def is_secret(flag: Any) -> bool:
    """Whether a variable's ``secret`` flag says secret, in any spelling the API may use:
    ``true``, ``1``, ``"1"``, ``"true"``, ``"yes"``, ``"on"`` (any case). Anything else: no."""
    if isinstance(flag, bool):
        return flag
    if isinstance(flag, int):
        return flag == 1
    if isinstance(flag, str):
        return flag.strip().lower() in _TRUE_WORDS
    return False


def dumps(data: Any) -> bytes:
    return orjson.dumps(data, option=orjson.OPT_SORT_KEYS | orjson.OPT_INDENT_2) + b"\n"


def loads(raw: bytes | str) -> Any:
    return orjson.loads(raw)


def clean(data: Any, keep_secrets: bool, found: list[str]) -> Any:
    """A copy of ``data`` without the volatile fields, at any depth, and (unless
    ``keep_secrets``) with the value of every variable flagged secret replaced by the
    redaction marker (its key stays; the keys go into ``found``)."""
    if isinstance(data, dict):
        out = {k: clean(v, keep_secrets, found) for k, v in data.items() if k not in VOLATILE_FIELDS}
        if not keep_secrets and is_secret(out.get("secret")) and "value" in out \
                and out["value"] not in (None, "", REDACTED):
            out["value"] = REDACTED
            found.append(str(out.get("key")))
        return out
    if isinstance(data, list):
        return [clean(v, keep_secrets, found) for v in data]
    return data
