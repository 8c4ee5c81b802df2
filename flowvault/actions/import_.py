"""``flowvault import``: the import run (``importrun``) and the one line for a run that did not
fully succeed."""

from __future__ import annotations

from ..importer import ImportResult
from ..importrun import run_import

__all__ = ["partial_message", "run_import"]


def partial_message(r: ImportResult) -> str:
    """The one line for an import (or dry run) that did not fully succeed."""
    if r.dry_run:
        blocked = [p for p in r.plans if p.blocked]
        return f"dry run into {r.target}: {len(blocked)} flow(s) would not be imported (see the plan above)"
    parts = [f"{len(r.failed)} failed"] if r.failed else []
    parts += [f"{len(r.conflicts)} conflicted by name"] if r.conflicts else []
    return f"import into {r.target}: {', '.join(parts)}; the others were imported"
