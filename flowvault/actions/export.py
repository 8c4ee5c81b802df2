"""``flowvault export`` as cron runs it: one profile or every profile (concurrently, each in
its own archive and within its own rate limit), a JSON run report, a heartbeat ping."""

from __future__ import annotations

import contextlib
import datetime as dt
import functools
import multiprocessing
import os
import signal
import sys
import time
from collections.abc import Callable
from multiprocessing.connection import wait as mp_wait
from pathlib import Path
from typing import Any

import anyio

from ..archive import atomic_write
from ..canonical import Secrets
from ..config import DEFAULT_MAX_IN_FLIGHT, Config, Profile
from ..errors import FlowvaultError, ProfilesFailed, UsageError, WorkerLost
from ..exportrun import export_profile
from ..fleet import parse_shard, pick, start_offset
from .. import process
from ..output import Reporter
from ..runreport import Outcome, heartbeat, report_fleet, worst, write_metrics, write_report
from ..signals import RECEIVED, StoppedAfterCommit, terminate


async def export_all(profiles: list[Profile], archive_root: Path, *, log_format: str = "text", spread: float = 0.0,
                     max_in_flight: int | None = None, on_outcome: Callable[[Outcome], None] | None = None,
                     **kwargs: Any) -> list[Outcome]:
    """Every profile concurrently, each into ``archive_root/<profile>`` (its own git repo), at
    most ``max_in_flight`` requests in flight across them; one failing or hanging profile does
    not stop the others (each holds at most its own concurrency of that bound, and only while
    a request of its own is on the wire)."""
    outcomes: list[Outcome] = []
    in_flight = anyio.CapacityLimiter(max_in_flight) if max_in_flight else None
    refuse_archive_root(archive_root)

    async def one(profile: Profile) -> None:
        rep = Reporter(log_format, progress=False, context={"profile": profile.name})
        delay = start_offset(profile.name, spread)
        if delay:
            rep.event("scheduled", delay_s=delay)
            await anyio.sleep(delay)
        started = time.monotonic()
        try:
            result = await export_profile(profile, archive_root / profile.name, reporter=rep, in_flight=in_flight,
                                          **kwargs)
            outcome = Outcome(profile.name, result, result.problem())
        except StoppedAfterCommit as stop:  # this profile committed, then a stop came: the others go on
            outcome = Outcome(profile.name, stop.result, stop.problem, stop=stop)
        except FlowvaultError as e:
            text = str(e) if str(e).startswith(f"profile '{profile.name}'") else f"profile '{profile.name}': {e}"
            rep.event("profile_failed", exit_code=e.exit_code, message=text)
            if not rep.json:
                rep.line(f"failed: {text}", err=True)
            outcome = Outcome(profile.name, None, e)
        outcome.seconds = time.monotonic() - started
        outcomes.append(outcome)
        if on_outcome is not None:
            on_outcome(outcome)

    async with anyio.create_task_group() as tg:
        for p in profiles:
            tg.start_soon(one, p)
    return sorted(outcomes, key=lambda o: o.profile)


def refuse_archive_root(archive_root: Path) -> None:
    if (archive_root / ".git").exists() or (archive_root / "manifest.json").exists():
        raise UsageError(f"{archive_root}: is an archive itself; --all-profiles needs a folder that holds one "
                         "archive per profile (ROOT/<profile>)")


#: companies one process keeps at their floor (bench: 50 within 1.2x on one core); more get more workers
PER_WORKER = 50


def default_workers(profiles: int) -> int:
    """The machine's cores, as many as the fleet needs: one per PER_WORKER profiles."""
    return max(1, min(os.cpu_count() or 1, -(-profiles // PER_WORKER)))


def _portable(outcome: Outcome) -> Outcome:
    """The outcome as a worker sends it: the secret values the run met (and the sealer) stay behind."""
    r = outcome.result
    if r is not None:
        s = r.secrets
        r.secrets = Secrets(s.mode, s.allow, None, s.recipient, s.flagged, s.by_name)
    return outcome


def _worker(conn: Any, profiles: list[Profile], archive_root: Path, log_format: str, spread: float,
            max_in_flight: int, options: dict[str, Any]) -> None:
    """One worker process of ``--workers``: its profiles in an event loop of its own, each outcome
    sent to the parent as it ends. A stop unwinds it as it would the CLI (its own group: the
    parent forwards a stop once); it exits 128+N then."""
    os.setpgrp()
    process.tune()
    for sig in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, terminate)

    def send(outcome: Outcome) -> None:
        with contextlib.suppress(OSError):  # the parent is gone: the archive is committed all the same
            conn.send(_portable(outcome))

    try:
        anyio.run(functools.partial(export_all, profiles, archive_root, log_format=log_format, spread=spread,
                                    max_in_flight=max_in_flight, on_outcome=send, **options))
    except KeyboardInterrupt:  # the parent knows it was stopped: this worker's code only says it ended
        sys.exit(1)
    finally:
        history = sys.modules.get("flowvault.history")
        if history is not None:
            history.close_all()


def export_in_workers(profiles: list[Profile], archive_root: Path, workers: int, *, log_format: str,
                      spread: float, max_in_flight: int | None, **options: Any) -> list[Outcome]:
    """Every profile across ``workers`` processes (spawned: each a fresh interpreter and event loop),
    the profiles dealt round-robin, the bound on requests in flight shared out between them. A
    worker that dies fails only its unfinished profiles (their archives keep their last commit);
    a stop is forwarded to every worker, which commits or rolls back each archive whole."""
    refuse_archive_root(archive_root)
    ctx = multiprocessing.get_context("spawn")
    groups = [g for g in (profiles[i::workers] for i in range(workers)) if g]
    bound = max(1, (max_in_flight or DEFAULT_MAX_IN_FLIGHT) // len(groups))
    rep = Reporter(log_format, progress=False)
    running: dict[Any, tuple[Any, list[Profile]]] = {}
    for group in groups:
        mine, theirs = ctx.Pipe(duplex=False)
        proc = ctx.Process(target=_worker, args=(theirs, group, archive_root, log_format, spread, bound, options),
                           daemon=False)
        proc.start()
        theirs.close()
        rep.event("worker", pid=proc.pid, profiles=[p.name for p in group])
        running[mine] = (proc, group)
    outcomes: dict[str, Outcome] = {}
    stopped: int | None = None
    while running:
        try:
            ready = mp_wait(list(running))
        except KeyboardInterrupt:  # a stop: each worker gets it once, then their ends are collected
            stopped = RECEIVED[-1] if RECEIVED else signal.SIGINT
            for proc, _ in running.values():
                with contextlib.suppress(ProcessLookupError):
                    os.kill(proc.pid, stopped)
            continue
        for conn in ready:
            try:
                got = conn.recv()
                outcomes[got.profile] = got
                continue
            except (EOFError, OSError):
                proc, group = running.pop(conn)
            proc.join()
            code = proc.exitcode or 0
            unfinished = [p.name for p in group if p.name not in outcomes]
            if not unfinished or stopped is not None:
                continue  # done; or stopped, as asked
            for name in unfinished:
                outcomes[name] = Outcome(name, None, WorkerLost.of(name, proc.pid, code))
    if stopped is not None and len(outcomes) < len(profiles):
        raise KeyboardInterrupt  # as one process stops: the CLI says which signal, 128+N
    return sorted(outcomes.values(), key=lambda o: o.profile)


def write_html_diff(archive: Path, commit: str, path: Path) -> None:
    """The run's commit as one self-contained HTML page, beside the JSON report."""
    from ..ui.pages import diff_page, parent_of

    atomic_write(path, diff_page(archive.name, archive, parent_of(archive, commit), commit,
                                 standalone=True).encode())


def export_command(config: Config, profile: str | None, archive_dir: Path, *, flows: tuple[str, ...] = (),
                   report_path: Path | None = None, heartbeat_url: str | None = None,
                   metrics_path: Path | None = None, log_format: str = "text", shard: str | None = None,
                   spread: float = 0.0, max_in_flight: int | None = None, workers: int | None = None,
                   **options: Any) -> list[Outcome]:
    """``flowvault export``: one profile (``profile``) or all (None); report, heartbeats. A run
    that did not fully succeed raises, after the report is written and the heartbeat sent."""
    started = dt.datetime.now(dt.UTC)
    rep = Reporter(log_format)
    if profile is None:
        chosen = parse_shard(shard, os.environ)
        names = pick(sorted(config.profiles), chosen)
        if not names and chosen is not None:  # more shards than the hash gives profiles: this one has none
            rep.event("warning", message=f"shard {chosen[0]}/{chosen[1]} has none of the {len(config.profiles)} "
                      f"profiles of {config.path} (each profile's shard is a hash of its name); nothing to export")
            return []
        profiles = [config.profiles[name] for name in names]
        workers = workers or default_workers(len(profiles))
        if workers > 1 and len(profiles) > 1:
            outcomes = export_in_workers(profiles, archive_dir, workers, log_format=log_format, spread=spread,
                                         max_in_flight=max_in_flight, **options)
        else:
            outcomes = anyio.run(functools.partial(export_all, profiles, archive_dir, log_format=log_format,
                                                   spread=spread, max_in_flight=max_in_flight, **options))
        report_fleet(rep, outcomes)
    else:
        prof = config.profile(profile)
        clock = time.monotonic()
        try:
            result = anyio.run(functools.partial(export_profile, prof, archive_dir, flows=flows, reporter=rep,
                                                 **options))
            outcomes = [Outcome(prof.name, result, result.problem())]
        except StoppedAfterCommit as stop:  # committed, then a stop: report and heartbeat still go out
            outcomes = [Outcome(prof.name, stop.result, stop.problem, stop=stop)]
        except FlowvaultError as e:
            outcomes = [Outcome(prof.name, None, e)]
        outcomes[0].seconds = time.monotonic() - clock
    if metrics_path is not None:
        try:
            write_metrics(metrics_path, outcomes, time.time())
        except OSError as e:  # monitoring that cannot be written is a warning, never a failed backup
            rep.event("warning", message=f"metrics not written to {metrics_path}: {e.strerror or e}")
    if report_path is not None:
        write_report(report_path, outcomes, started)
        for o in outcomes:
            if o.result is not None and o.result.commit:
                where = archive_dir if profile is not None else archive_dir / o.profile
                name = f"{report_path.stem}.html" if profile is not None else f"{report_path.stem}.{o.profile}.html"
                write_html_diff(where, o.result.commit, report_path.with_name(name))
    pings: dict[str, list[Outcome]] = {heartbeat_url: outcomes} if heartbeat_url else {}
    for o in outcomes:
        url = config.profiles[o.profile].heartbeat_url
        if url:
            pings.setdefault(url, []).append(o)
    for url, group in pings.items():
        heartbeat(url, group, rep)
    problem = problem_of(outcomes)
    stop = next((o.stop for o in outcomes if o.stop is not None), None)
    if stop is not None:  # said after the report and the heartbeat, with the run's own problem
        stop.problem = problem
        raise stop
    if problem is not None:
        raise problem
    return outcomes


def problem_of(outcomes: list[Outcome]) -> FlowvaultError | None:
    """What a run of these profiles ends with: one profile's own problem, or for several, one
    line naming each profile that did not finish cleanly (with the worst one's exit code)."""
    bad = [o for o in outcomes if o.problem is not None]
    if len(outcomes) == 1 or not bad:
        return bad[0].problem if bad else None
    worst_one = worst(outcomes)
    return ProfilesFailed(f"{len(bad)} of {len(outcomes)} profiles did not finish cleanly: "
                          + ", ".join(f"{o.profile} (exit {o.exit_code})" for o in bad),
                          worst_one.exit_code if worst_one else 0)
