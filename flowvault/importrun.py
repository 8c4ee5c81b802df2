"""One import run into one profile's company, as every front end starts it (the CLI's import and
restore, the tests): open the archive at a revision, plan, import through the target's provider,
commit the ID map, print the run's summary."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import anyio

from .archive import IMPORTS_DIR
from .client import run_deadline
from .config import Profile
from .crypto import load_opener
from .history import History
from .idmap import Ledger
from .importer import ImportResult, import_archive
from .mapfile import load_map
from .models import Source
from .output import Reporter, peak_rss_mb
from .plan import field_summary
from .providers import client_for, provider_for
from .signals import StoppedAfterCommit
from .snapshots import open_snapshot


def run_import(profile: Profile, archive_dir: Path | str, *, at: str | None = None, flows: tuple[str, ...] = (),
               map_path: Path | None = None, dry_run: bool = False, on_conflict: str = "skip",
               enable: str = "off", concurrency: int | None = None, same_company: bool | None = None,
               identity: Path | None = None, allow_missing_secrets: bool = False,
               reporter: Reporter | None = None) -> ImportResult:
    """Import archived flows into ``profile``'s company, from the last commit (or ``at``): a
    killed export's leftovers in the work tree are never read. ``same_company`` None: decided
    from the archive's recorded source. The result says what happened; a result that is not
    ``ok`` is for the caller to report (the CLI raises PartialFailure)."""
    rep = reporter or Reporter(progress=False)
    provider = provider_for(profile.provider)
    mapping = load_map(map_path)
    provider.check_map(mapping, str(map_path))
    opener = load_opener(identity)
    history = History.open(archive_dir)
    snapshot = open_snapshot(history, at or "HEAD")
    if same_company is None:
        source = Source.of(snapshot.manifest)
        same_company = source is not None and source.is_company(profile.name, profile.base_url)
    ledger = Ledger(history.root, history.state("import journal", profile=profile.name), profile.name,
                    profile.base_url)

    async def go() -> ImportResult:
        with run_deadline(profile.run_deadline):
            async with client_for(profile, concurrency=concurrency, on_event=rep.on_client_event) as api:
                return await import_archive(api, provider, snapshot, ledger, mapping, target=profile.name,
                                            flows=flows, dry_run=dry_run, on_conflict=on_conflict, enable=enable,
                                            reporter=rep, workers=concurrency or profile.concurrency,
                                            same_company=same_company, opener=opener,
                                            allow_missing_secrets=allow_missing_secrets)

    if dry_run:
        result = anyio.run(go)
    else:
        stopped: StoppedAfterCommit | None = None
        with history.run(lambda m: rep.event("warning", message=m)):
            try:
                result = anyio.run(go)
            finally:
                try:
                    commit = _commit_ledger(history, ledger, profile.name)
                except StoppedAfterCommit as stop:  # the ID map landed; the import itself had finished
                    commit, stopped = stop.commit, stop
            result.commit = commit
        if stopped is not None:
            report_import(rep, result, snapshot.where)
            stopped.problem = result.problem()
            raise stopped
    report_import(rep, result, snapshot.where)
    return result


def _commit_ledger(history: History, ledger: Ledger, target: str) -> str | None:
    """Save and commit the old → new ID map (even after a failure: what was done stays known)."""
    ledger.save()
    commit = history.commit_paths([f"{IMPORTS_DIR}/{target}.json"], f"import into {target}: record ID map")
    ledger.clear_journal()
    return commit


def report_import(rep: Reporter, r: ImportResult, source: str) -> None:
    if r.dry_run:
        mode = " (same company: resource references stay as they are)" if r.same_company else ""
        if not rep.json:
            rep.line(f"plan: import {len(r.plans)} flow(s) from {source} into {r.target}{mode} "
                     "(dry run: nothing written)")
        for p in r.plans:
            extra = f" → #{p.target_id}" if p.target_id else ""
            action = "refuse" if p.action == "create" and p.blocked else p.action
            rep.event("planned", flow_id=p.flow.flow_id, name=p.flow.name, action=action, reason=p.reason)
            if not rep.json:
                rep.line(f"  {action:<8} {p.label}{extra}{' — ' + p.reason if p.reason else ''}")
            for text in p.unresolved_why:
                rep.event("unresolved", flow_id=p.flow.flow_id, message=text)
                if not rep.json:
                    rep.line(f"           unresolved: {text}")
            for fld, count, sample in field_summary(p.unclassified):
                message = (f"{p.label}: unclassified reference field '{fld}' in {count} step(s), "
                           f"e.g. {', '.join(map(str, sample))}")
                rep.event("unclassified", flow_id=p.flow.flow_id, field=fld, steps=count, samples=sample,
                          message=message)
                if not rep.json:
                    rep.line(f"           unclassified: '{fld}' in {count} step(s), e.g. {', '.join(map(str, sample))}")
            if rep.json:
                continue
            for ref in p.deferred:
                rep.line(f"           deferred: step '{ref.step_name}' → flow {ref.source_id} (set after import)")
            if p.missing_secrets:
                rep.line(f"           secrets needing a value: {', '.join(p.missing_secrets)}")
    fields: dict[str, Any] = {"flows_planned": len(r.plans)}
    notes: dict[str, str] = {}
    if not r.dry_run:
        fields |= {"imported": len(r.imported), "verified": r.verified, "skipped": len(r.skipped),
                   "conflicts": len(r.conflicts), "failed": len(r.failed), "left_disabled": len(r.left_disabled)}
        notes["verified"] = f"{r.verified}/{r.verified + r.verified_failed} read back as sent"
    fields |= {"unresolved_refs": sum(len(p.unresolved) for p in r.plans),
               "unclassified_refs": sum(len(p.unclassified) for p in r.plans), "requests": r.requests,
               "write_requests": r.writes, "wall_time_s": round(r.seconds, 3), "peak_rss_mb": round(peak_rss_mb(), 1)}
    if not r.dry_run:
        fields["commit"] = r.commit
        if not r.commit:
            notes["commit"] = "none"
    title = f"{'dry run' if r.dry_run else 'import'} into {r.target}: " + ("ok" if r.ok else "PARTIAL")
    empty = sum(len(p.missing_secrets) for p in r.plans) if r.dry_run else r.empty_secrets
    if empty:  # said on the first line: a flow without its credentials does not run
        title += (f", {empty} secret value(s) {'would go' if r.dry_run else 'went'} in empty"
                  + (" (--allow-missing-secrets)" if r.allow_missing_secrets else " (listed below)"))
    fields["empty_secrets"] = empty
    unclassified = [f"{p.label}: {fld} ({count} step(s))" for p in r.plans
                    for fld, count, _ in field_summary(p.unclassified)]
    rep.summary(title, r.ok, fields, {
        "failures": [f"{k}: {v}" for k, v in r.failed.items()],
        "conflicts": r.conflicts,
        "unclassified": unclassified,
        "left_disabled": r.left_disabled,
        "missing_secrets": r.missing_secrets,
        "setup_required": r.setup,
        "accepted_as_is": r.accepted,
    }, notes)
