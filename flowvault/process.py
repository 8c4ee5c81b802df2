"""What a flowvault process sets for itself once, at its start: the CLI's, and each worker's of
``export --workers``."""

from __future__ import annotations

import gc

#: the collector's first generation runs after this many new container objects (CPython's
#: default: 700). A run makes millions of short-lived dicts that reference counting frees at once;
#: at 700 the collector ran ~50 times a company, 8 % of a full run's CPU (bench/: 0.66 of 8.2 s)
GC_THRESHOLD = (50_000, 20, 20)
_tuned = False


def tune() -> None:
    """Raise the collector's thresholds, and freeze what the imports made (never garbage: the
    collector no longer walks it). Once a process."""
    global _tuned
    if _tuned:
        return
    _tuned = True
    gc.freeze()
    gc.set_threshold(*GC_THRESHOLD)
