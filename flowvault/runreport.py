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
from .errors import FlowvaultError, PartialFailure
from .exporter import ExportResult
from .output import Reporter
from .signals import StoppedAfterCommit


@dataclass
class Outcome:
    """How one profile's run ended: its result (when it got that far) and what kept it from full
    success (the error it ends with; its exit code is the error's)."""

    profile: str
    result: ExportResult | None
    problem: FlowvaultError | None
    seconds: float = 0.0
    stop: StoppedAfterCommit | None = None  # a stop signal arrived while this run committed (it landed)

    @property
    def exit_code(self) -> int:
        return self.problem.exit_code if self.problem is not None else 0

    @property
    def error(self) -> str | None:
        return str(self.problem) if self.problem is not None else None

    def report(self) -> dict[str, Any]:
        r = self.result
        out: dict[str, Any] = {"exit_code": self.exit_code, "error": self.error, "duration_s": round(self.seconds, 3)}
        out["status"] = "ok" if self.problem is None else \
            "partial" if isinstance(self.problem, PartialFailure) else "error"
        if r is not None:
            c = r.changes
            out |= {"flows": r.listed, "exported": r.exported, "versions": r.versions, "full_run": r.full_because,
                    "fetched": r.fetched, "unchanged": r.unchanged, "sampled": r.sampled, "added": c.added,
                    "changed": c.changed, "removed": c.removed, "failed": r.failed, "warnings": r.warnings,
                    "requests": r.requests, "retries": r.retries, "commit": r.commit}
        return out


def worst(outcomes: list[Outcome]) -> FlowvaultError | None:
    """The problem with the highest exit code among the outcomes (None: every profile succeeded)."""
    return max((o.problem for o in outcomes if o.problem is not None), key=lambda e: e.exit_code, default=None)


def write_report(path: Path, outcomes: list[Outcome], started: dt.datetime) -> None:
    """The JSON run report for monitoring, written atomically."""
    report = {"flowvault_version": __version__, "started_at": started.isoformat(timespec="seconds"),
              "finished_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
              "exit_code": max((o.exit_code for o in outcomes), default=0),
              "profiles": {o.profile: o.report() for o in outcomes}}
    atomic_write(path, dumps(report))


def heartbeat(url: str, outcomes: list[Outcome], rep: Reporter) -> None:
    """healthchecks.io convention: GET URL on success, POST URL/fail with the summary otherwise.
    A heartbeat that cannot be delivered is a warning, never a reason to fail the backup."""
    lines = [f"{o.profile}: {o.report()['status']} (exit {o.exit_code}){': ' + o.error if o.error else ''}"
             for o in outcomes]
    error = ping(url, ok=worst(outcomes) is None, body="\n".join(lines) + "\n")
    if error:
        rep.event("warning", message=f"heartbeat not delivered: {error}")
