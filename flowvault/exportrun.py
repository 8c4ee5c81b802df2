"""One export run of one profile, as every front end starts it (the CLI's export, the demo, the
tests): lock the archive, decide what to fetch (the secret policy, the incremental fetch state
kept in ``.git``), fetch and write (``exporter``), check and commit, remember the fetch state, push,
and print the run's summary."""

from __future__ import annotations

import datetime as dt
import functools
from pathlib import Path
from typing import Any

import anyio

from .archive import Archive, atomic_write
from .canonical import Secrets, dumps, loads
from .client import run_deadline
from .config import Profile
from .errors import ArchiveError, PushError
from .exporter import ExportResult, Incremental, commit_export, export_flows
from .history import History
from .models import Source
from .output import Reporter, peak_rss_mb
from .providers import client_for, provider_for
from .signals import StoppedAfterCommit, held


async def export_profile(profile: Profile, archive_dir: Path | str, *, flows: tuple[str, ...] = (),
                         concurrency: int | None = None, keep_secrets: bool = False, message: str | None = None,
                         push: bool = False, retarget: bool = False, allow_mass_removal: bool = False,
                         full: bool = False, reporter: Reporter | None = None,
                         in_flight: anyio.CapacityLimiter | None = None) -> ExportResult:
    """Lock the archive, fetch and write, commit, push. A push failure is kept in the result.
    ``in_flight``: the bound on requests in flight shared with the run's other profiles."""
    rep = reporter or Reporter(progress=False)
    history = History.open(archive_dir, create=True)
    if keep_secrets:
        rep.event("warning", message="--keep-secrets: secret values are written to the archive and its git history "
                  "in plain text, where they stay even after later runs (docs/secrets.md: purging)")
    def prepare() -> tuple[str | None, Secrets, Incremental]:
        """What the run starts from (git's work: on a worker thread, the other profiles go on)."""
        altered = history.restore_altered()
        put_back = (f"{len(altered)} archive file(s) were deleted or edited in the work tree since the last "
                    f"commit (e.g. {altered[0]}): put back from the last commit") if altered else None
        if put_back:
            rep.event("warning", message=put_back)
        if not retarget:
            check_source(history.root, profile)
        policy = secret_policy(profile, history, keep_secrets)
        incremental = fetch_plan(history, profile, policy, full)
        damage = history.check_head(thorough=incremental.full_because is not None)  # a full run checks every object
        if damage:
            raise ArchiveError(f"archive damaged, nothing exported: {damage[0]}"
                               + (f" (+{len(damage) - 1} more)" if len(damage) > 1 else "")
                               + "; restore the repository from a clone or its remote, or export into a new archive")
        return put_back, policy, incremental

    # a killed run's leftovers are undone first: the manifest prepare() reads is the last commit's
    with history.run(lambda m: rep.event("warning", message=m)):
        put_back, policy, incremental = await anyio.to_thread.run_sync(prepare)
        with run_deadline(profile.run_deadline):
            async with client_for(profile, concurrency=concurrency, on_event=rep.on_client_event,
                                  in_flight=in_flight) as api:
                result = await export_flows(api, Archive(history.root), profile=profile.name,
                                            base_url=profile.base_url, provider=provider_for(profile.provider),
                                            flows=flows, secrets=policy, allow_mass_removal=allow_mass_removal,
                                            reporter=rep, workers=2 * (concurrency or profile.concurrency),
                                            incremental=incremental)
        if put_back:
            result.warnings.insert(0, put_back)
        stopped: StoppedAfterCommit | None = None
        try:  # git works on a thread: the other profiles' requests go on meanwhile; stops wait for it
            with held() as stops:
                await anyio.to_thread.run_sync(commit_export, history, result, message)
            if stops:  # arrived before the thread's own hold began: the commit landed all the same
                raise StoppedAfterCommit(result.commit, stops[0])
        except StoppedAfterCommit as stop:  # the commit landed: the run is done, then it stops
            result.commit, stopped = stop.commit, stop
        save_fetch_state(history, profile, policy, result, incremental, bool(flows))
    report_export(rep, result)
    if stopped is not None:
        stopped.problem, stopped.result = result.problem(), result
        raise stopped
    if push and history.head() is not None:
        failed = []

        def say(message: str) -> None:
            rep.event("warning", message=message)

        def push_all() -> None:  # every remote is tried; one failing keeps none from the others
            for remote in profile.push_remotes:
                try:
                    landed = history.push(remote, profile.push_attempts, say=say)
                    rep.event("pushed", commit=landed, remote=remote)
                except PushError as e:
                    failed.append(str(e))

        with history.run(say):  # under the lock: a push that rebases onto a moved remote moves HEAD
            await anyio.to_thread.run_sync(push_all)  # a slow remote (and its retries' waits) stalls no other profile
            if result.commit is not None:
                result.commit = history.head()  # rebased onto a moved remote: the commit that landed
        if failed:
            result.push_error = "; ".join(failed)
    return result


def check_source(root: Path, profile: Profile) -> None:
    """The archive knows whose it is: refuse to export another company into it."""
    source = Source.of(Archive(root).read_manifest())
    if source is not None and not source.is_company(profile.name, profile.base_url):
        raise ArchiveError(f"{root}: this archive holds profile '{source.profile}' ({source.base_url}), not "
                           f"'{profile.name}' ({profile.base_url}); use the right archive, or --retarget to export "
                           "into it anyway")


FETCH_FORMAT = 4  # bump when what a fetch archives changes: the next run is then a full one


def fetch_basis(profile: Profile, policy: Secrets) -> str:
    """What makes two runs' archived bytes comparable: the archive format, the provider and
    the secret policy. A different basis makes the next run a full one."""
    return f"{FETCH_FORMAT}:{profile.provider}:{policy.mode}:{profile.secrets_recipient or ''}:" \
           f"{','.join(sorted(policy.allow))}"


def fetch_plan(history: History, profile: Profile, policy: Secrets, full: bool) -> Incremental:
    """This run's plan: fetch everything (and why), or only what the listing shows changed.

    The fingerprints of the last run live in the git directory, tied to the commit they
    describe: a clone, a reset or a pull of other commits starts with a full run."""
    rate = profile.sample_percent / 100
    state: Any = None
    try:
        state = loads(history.state("fetch state").read_bytes())
    except (OSError, ValueError):
        pass
    why: str | None = None
    known: dict[str, str] = {}
    last_full: str | None = None
    if not isinstance(state, dict) or not isinstance(state.get("flows"), dict):
        why = "first run in this archive (or its fetch state is gone)"
    elif state.get("head") != history.head():
        why = "the archive's last commit is not the one the last run made"
    elif state.get("basis") != fetch_basis(profile, policy):
        why = "the secret policy or the archive format changed since the last run"
    else:
        known = {str(k): str(v) for k, v in state["flows"].items()}
        last_full = str(state["last_full"]) if state.get("last_full") else None
        try:
            age = (dt.datetime.now(dt.UTC) - dt.datetime.fromisoformat(str(last_full))).total_seconds() / 86400
        except (TypeError, ValueError):
            age = float("inf")
        if age >= profile.full_every_days:
            why = "no full run yet" if age == float("inf") else \
                f"the last full run was {age:.1f} days ago (full_every_days = {profile.full_every_days:g})"
    if full:
        why = "--full"
    return Incremental(known=known, full_because=why, sample_rate=rate, last_full=last_full)


def save_fetch_state(history: History, profile: Profile, policy: Secrets, result: ExportResult,
                     incremental: Incremental, selected: bool) -> None:
    """Remember this run's fingerprints for the next one (after the commit they describe).
    A run of selected flows (``--flow``) or one with failures does not count as a full run."""
    last_full = incremental.last_full
    if result.full_because and not selected and not result.failed and result.complete:
        last_full = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
    # a failed flow has no fingerprint here: the next run fetches it again
    marks = {**incremental.known, **result.fingerprints} if selected else result.fingerprints
    state = {"head": history.head(), "basis": fetch_basis(profile, policy), "last_full": last_full,
             "flows": marks}
    atomic_write(history.state("fetch state"), dumps(state))


def secret_policy(profile: Profile, history: History, keep: bool) -> Secrets:
    """How this run hides secret values: kept (plain, on request), encrypted to the profile's
    age recipient, or redacted."""
    allow = frozenset(profile.secrets_allow)
    if keep:
        return Secrets("keep", allow)
    if profile.secrets_recipient:
        from .crypto import Sealer

        sealer = Sealer(profile.secrets_recipient, history.root, history.state("fingerprint key"))
        return Secrets("encrypt", allow, sealer.seal, profile.secrets_recipient.strip())
    return Secrets("redact", allow)


def run_export(profile: Profile, archive_dir: Path | str, **kwargs: Any) -> ExportResult:
    """``export_profile`` from synchronous code; a push failure raises PushError."""
    result = anyio.run(functools.partial(export_profile, profile, archive_dir, **kwargs))
    if result.push_error:
        raise PushError(result.push_error)
    return result


def report_export(rep: Reporter, r: ExportResult) -> None:
    c = r.changes
    ok = not r.failed and r.complete
    notes = {} if r.commit else {"commit": "none (nothing changed)"}
    if not r.full_because:
        notes["full_run"] = "no: only what the listing shows changed, and a sample of the rest"
    rep.summary(f"export {r.profile}: " + ("complete" if ok else "PARTIAL"), ok, {
        "flows_listed": r.listed, "flows_exported": r.exported, "versions": r.versions,
        "full_run": r.full_because, "fetched": r.fetched, "unchanged": r.unchanged, "sampled": r.sampled,
        "added": len(c.added), "changed": len(c.changed), "removed": len(c.removed), "failed": len(r.failed),
        "secrets_flagged": r.secrets.flagged, "secrets_by_name": r.secrets.by_name,
        "files_written": c.files_written, "requests": r.requests, "retries": r.retries,
        "wall_time_s": round(r.seconds, 3), "commit_time_s": round(r.commit_seconds, 3),
        "peak_rss_mb": round(peak_rss_mb(), 1), "commit": r.commit,
    }, {"failures": [f"{k}: {v}" for k, v in r.failed.items()], "warnings": r.warnings}, notes=notes)
