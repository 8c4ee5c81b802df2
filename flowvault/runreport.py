"""What an export run leaves for monitoring: each profile's outcome, the JSON run report and the
heartbeat ping (the run's diff page beside the report is drawn by the export action, with the UI)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ._version import __version__
from .archive import atomic_write
from .canonical import dumps
from .client import ping
from .errors import EXIT_PARTIAL
from .exporter import ExportResult
from .output import Reporter
from .signals import StoppedAfterCommit


@dataclass
class Outcome:
    """How one profile's run ended: its result (when it got that far), exit code and error."""

    profile: str
    result: ExportResult | None
    exit_code: int
    error: str | None
    seconds: float
    stop: StoppedAfterCommit | None = None  # a stop signal arrived while this run committed (it landed)

    def report(self) -> dict[str, Any]:
        r = self.result
        out: dict[str, Any] = {"exit_code": self.exit_code, "error": self.error, "duration_s": round(self.seconds, 3)}
        out["status"] = "ok" if self.exit_code == 0 else ("partial" if self.exit_code == EXIT_PARTIAL else "error")
        if r is not None:
            c = r.changes
            out |= {"flows": r.listed, "exported": r.exported, "versions": r.versions, "full_run": r.full_because,
                    "fetched": r.fetched, "unchanged": r.unchanged, "sampled": r.sampled, "added": c.added,
                    "changed": c.changed, "removed": c.removed, "failed": r.failed, "warnings": r.warnings,
                    "requests": r.requests, "retries": r.retries, "commit": r.commit}
        return out


def worst(outcomes: list[Outcome]) -> int:
    return max((o.exit_code for o in outcomes), default=0)


def write_report(path: Path, outcomes: list[Outcome], started: dt.datetime) -> None:
    """The JSON run report for monitoring, written atomically."""
    report = {"flowvault_version": __version__, "started_at": started.isoformat(timespec="seconds"),
              "finished_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
              "exit_code": worst(outcomes), "profiles": {o.profile: o.report() for o in outcomes}}
    atomic_write(path, dumps(report))


def heartbeat(url: str, outcomes: list[Outcome], rep: Reporter) -> None:
    """healthchecks.io convention: GET URL on success, POST URL/fail with the summary otherwise.
    A heartbeat that cannot be delivered is a warning, never a reason to fail the backup."""
    code = worst(outcomes)
    lines = [f"{o.profile}: {o.report()['status']} (exit {o.exit_code}){': ' + o.error if o.error else ''}"
             for o in outcomes]
    error = ping(url, ok=code == 0, body="\n".join(lines) + "\n")
    if error:
        rep.event("warning", message=f"heartbeat not delivered: {error}")
