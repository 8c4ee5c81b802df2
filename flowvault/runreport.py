"""What an export run leaves for monitoring: each profile's outcome, the JSON run report, the
Prometheus textfile and the heartbeat ping (the run's diff page beside the report is drawn by
the export action, with the UI)."""

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
                    "changed": c.changed, "removed": c.removed, "failed": r.failed, "failed_ids": r.failed_ids,
                    "warnings": r.warnings,
                    "requests": r.requests, "retries": r.retries, "commit": r.commit}
        return out


#: the fleet table's columns: (heading, key of a ``fleet_rows`` row)
FLEET_COLUMNS = (("profile", "profile"), ("status", "status"), ("flows", "flows"), ("changed", "changed"),
                 ("removed", "removed"), ("failed", "failed"), ("requests", "requests"), ("429s", "throttled"),
                 ("seconds", "duration_s"), ("exit", "exit_code"))


def fleet_rows(outcomes: list[Outcome]) -> list[dict[str, Any]]:
    """One row per profile of a multi-profile run, for its last word (text table or JSON)."""
    rows = []
    for o in outcomes:
        r, rep = o.result, o.report()
        rows.append({"profile": o.profile, "status": rep["status"], "exit_code": o.exit_code,
                     "duration_s": round(o.seconds, 1), "error": o.error,
                     "flows": r.listed if r else None,
                     "changed": len(r.changes.added) + len(r.changes.changed) if r else None,
                     "removed": len(r.changes.removed) if r else None, "failed": len(r.failed) if r else None,
                     "requests": r.requests if r else None, "throttled": r.throttled if r else None})
    return rows


def report_fleet(rep: Reporter, outcomes: list[Outcome]) -> None:
    """The run's last word for several profiles: one row per profile, the errors below it."""
    rows = fleet_rows(outcomes)
    clean = sum(1 for row in rows if row["status"] == "ok")
    if rep.json:
        rep.event("profiles", ok=clean == len(rows), rows=rows)
        return
    cells = [[h for h, _ in FLEET_COLUMNS]] + [["-" if row[k] is None else str(row[k]) for _, k in FLEET_COLUMNS]
                                               for row in rows]
    widths = [max(len(c[i]) for c in cells) for i in range(len(FLEET_COLUMNS))]
    rep.line(f"profiles: {clean} of {len(rows)} finished cleanly")
    for line in cells:
        rep.line("  " + "  ".join(c.ljust(w) if i < 2 else c.rjust(w) for i, (c, w) in enumerate(zip(line, widths))))
    for row in rows:
        if row["error"]:
            rep.line(f"  {row['profile']}: {row['error']}")


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


#: (metric, help, what of an outcome) per profile in the textfile; last success is kept across runs
METRICS = (
    ("flowvault_flows", "Flows the last export listed", lambda o: o.result.listed if o.result else None),
    ("flowvault_failed_flows", "Flows the last export could not fetch (each kept its last archived copy)",
     lambda o: len(o.result.failed) if o.result else None),
    ("flowvault_removed_flows", "Flows the last export recorded as removed",
     lambda o: len(o.result.changes.removed) if o.result else None),
    ("flowvault_changed_flows", "Flows the last export added or changed",
     lambda o: len(o.result.changes.added) + len(o.result.changes.changed) if o.result else None),
    ("flowvault_run_duration_seconds", "How long the last export took", lambda o: o.seconds),
    ("flowvault_requests", "API requests the last export made", lambda o: o.result.requests if o.result else None),
    ("flowvault_throttled_replies", "429 replies the last export waited out",
     lambda o: o.result.throttled if o.result else None),
    ("flowvault_exit_code", "The last export's exit code (0: success)", lambda o: o.exit_code),
)
LAST_SUCCESS = "flowvault_last_success_timestamp_seconds"


def write_metrics(path: Path, outcomes: list[Outcome], now: float) -> None:
    """A Prometheus textfile (node_exporter's textfile collector) for the run, one series per
    profile; the last success time of a profile that did not succeed now is kept from the file
    the previous run left, so that an alert on "no success in 26 h" sees the truth. Written
    atomically (``write_to_textfile``)."""
    from prometheus_client import CollectorRegistry, Gauge, write_to_textfile
    from prometheus_client.parser import text_string_to_metric_families

    previous: dict[str, float] = {}
    try:
        for family in text_string_to_metric_families(path.read_text(encoding="utf-8")):
            if family.name == LAST_SUCCESS:
                previous |= {s.labels.get("profile", ""): s.value for s in family.samples}
    except (OSError, ValueError):
        pass  # no file yet, or not ours: the last success is then unknown before this run
    registry = CollectorRegistry()
    gauges = {name: Gauge(name, text, ["profile"], registry=registry) for name, text, _ in METRICS}
    last = Gauge(LAST_SUCCESS, "When the profile's last fully successful export finished (Unix time)", ["profile"],
                 registry=registry)
    for o in outcomes:
        for name, _, value in METRICS:
            got = value(o)
            if got is not None:
                gauges[name].labels(profile=o.profile).set(got)
        when = now if o.problem is None else previous.get(o.profile)
        if when is not None:
            last.labels(profile=o.profile).set(when)
    for profile, when in previous.items():  # profiles not run this time keep their line
        if profile not in {o.profile for o in outcomes}:
            last.labels(profile=profile).set(when)
    write_to_textfile(str(path), registry)


def heartbeat(url: str, outcomes: list[Outcome], rep: Reporter) -> None:
    """healthchecks.io convention: GET URL on success, POST URL/fail with the summary otherwise.
    A heartbeat that cannot be delivered is a warning, never a reason to fail the backup."""
    lines = [f"{o.profile}: {o.report()['status']} (exit {o.exit_code}){': ' + o.error if o.error else ''}"
             for o in outcomes]
    error = ping(url, ok=worst(outcomes) is None, body="\n".join(lines) + "\n")
    if error:
        rep.event("warning", message=f"heartbeat not delivered: {error}")
