"""Pure: the export loop's decisions as functions of values — what to fetch, the sample that checks
the listing's stamps, whether the listing was complete, what is provably removed and when a
removal is too large to commit. ``exporter.export_flows`` executes them; nothing here does I/O."""

from __future__ import annotations

import math
import random
from collections.abc import Sequence
from typing import TypeVar

T = TypeVar("T")
MASS_REMOVAL_MIN = 5  # a run that would remove more than half of the archive, and at least this many, stops


def must_fetch(fid: str, digest: str | None, known: dict[str, str], archived: bool, named: bool,
               full_because: str | None) -> bool:
    """Whether a listed flow is fetched this run: always on a full run, when it was named, when
    the listing gave no fingerprint or it differs from the last run's, or when it is not archived."""
    return not (digest and known.get(fid) == digest and archived and not named and full_because is None)


def sample_size(unchanged: int, rate: float) -> int:
    """How many of the unchanged flows a run re-fetches: ``rate`` of them, at least one."""
    return 0 if unchanged == 0 else min(unchanged, max(1, math.ceil(unchanged * rate)))


def split_sample(unchanged: Sequence[T], rate: float, rng: random.Random | None = None) -> tuple[list[T], list[T]]:
    """(the sample re-fetched to check the listing's stamps, the rest kept as archived)."""
    shuffled = list(unchanged)
    (rng or random).shuffle(shuffled)
    size = sample_size(len(shuffled), rate)
    return shuffled[:size], shuffled[size:]


def listing_shortfall(seen: int, distinct: int, claimed: int) -> str | None:
    """Why the listing cannot prove a removal (items seen, distinct IDs, ``meta.total``), or None."""
    if seen == claimed and distinct == claimed:
        return None
    return (f"the listing returned {distinct} distinct flows but meta.total says {claimed}; "
            "no flow is recorded as removed in this run")


def removed(archived: Sequence[str], written: set[str], listed: set[str], *, selected: bool,
            complete: bool) -> list[str]:
    """The archived flows this run saw deleted: not listed by a complete listing of every flow
    (a run of named flows, or an incomplete listing, removes nothing)."""
    if selected or not complete:
        return []
    return [fid for fid in archived if fid not in written and fid not in listed]


def mass_removal(gone: int, archived: int, listed: int) -> str | None:
    """The refusal when a run would remove more than half of the archive (and at least
    MASS_REMOVAL_MIN flows), else None."""
    if gone < MASS_REMOVAL_MIN or gone * 2 <= archived:
        return None
    return (f"the API lists {listed} flows: this run would remove {gone} of the {archived} archived flows; "
            "nothing was committed. If they are really gone (not a key scoped to another company, not an API "
            "fault), run again with --allow-mass-removal")
