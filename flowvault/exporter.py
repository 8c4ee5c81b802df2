"""Export: list every flow → fetch each concurrently → write the archive → one git commit.

A flow whose fetch failed keeps its previous files; a flow is removed from the archive
only when a complete listing (count equal to ``meta.total``) no longer has it.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass, field
from typing import Any

import anyio
import orjson

from .archive import NOT_CAPTURED, Archive, Written, keep_last_good
from .canonical import Secrets
from .client import ApiClient
from .errors import (
    FlowvaultError,
    MassRemovalError,
    PartialFailure,
    ProtocolError,
    PushError,
    SecretGateError,
    UsageError,
    unwrap,
)
from .exportplan import listing_shortfall, mass_removal, must_fetch, removed, split_sample
from .history import History
from .models import FAILED_TRAILER, Source
from .output import Reporter
from .protocol import flow_id
from .providers import Provider
from .secretscan import leaks

MAX_BODY_LINES = 1000
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def safe_text(text: Any, limit: int = 300) -> str:
    """A name as it may appear in a commit message: no control characters (a newline in a flow
    name cannot add a line of its own), and not endless."""
    out = _CONTROL.sub("?", str(text))
    return out if len(out) <= limit else out[: limit - 1] + "…"


@dataclass
class ExportResult:
    profile: str
    listed: int = 0
    exported: int = 0
    versions: int = 0
    failed: dict[str, str] = field(default_factory=dict)  # "name (#id)" → why, for people
    failed_ids: list[str] = field(default_factory=list)  # the same flows' IDs, for the UI and monitoring
    changes: Written = field(default_factory=Written)
    complete: bool = True
    warnings: list[str] = field(default_factory=list)
    secrets: Secrets = field(default_factory=Secrets)  # counts by kind (flagged, by name)
    commit: str | None = None
    commit_seconds: float = 0.0
    push_error: str | None = None
    requests: int = 0
    retries: int = 0
    throttled: int = 0  # 429 replies waited out
    seconds: float = 0.0
    full_because: str | None = None  # why every flow was fetched (None: only what changed, plus a sample)
    fetched: int = 0  # flows fetched from the API (the sample included)
    unchanged: int = 0  # flows the listing showed unchanged, kept as archived without a fetch
    sampled: int = 0  # unchanged flows fetched anyway to check that the listing tells the truth
    stamps_lied: list[str] = field(default_factory=list)  # sampled flows that differed from the archive
    fingerprints: dict[str, str] = field(default_factory=dict)  # flow ID → listing fingerprint, for the next run
    #: part → (why, flows): what the API would not give (a relation, schedules…); its last good copy was kept
    not_captured: dict[str, tuple[str, int]] = field(default_factory=dict)

    def problem(self) -> FlowvaultError | None:
        """What keeps this run from full success, as the error it ends with (the CLI makes it an
        exit code): the push, else a failed flow or an incomplete listing; None when there is none."""
        if self.push_error:
            return PushError(self.push_error)
        if self.failed:
            return PartialFailure(f"export {self.profile}: {len(self.failed)} flow(s) failed and keep their last "
                                  "archived copy", self)
        if not self.complete:
            return PartialFailure(f"export {self.profile}: the listing was incomplete; nothing was recorded as removed",
                                  self)
        return None

    def subject(self, message: str | None = None) -> str:
        c = self.changes
        text = f"export {safe_text(self.profile)}: {len(c.added)} added, {len(c.changed)} changed, " \
               f"{len(c.removed)} removed"
        if self.failed:
            text += f", {len(self.failed)} failed"
        return f"{safe_text(message, 500)}\n\n{text}" if message else text

    def commit_message(self, message: str | None = None) -> str:
        body = [f"{kind}: {safe_text(name)}" for kind, names in
                (("added", self.changes.added), ("changed", self.changes.changed), ("removed", self.changes.removed))
                for name in names]
        body += [f"failed (kept previous copy): {safe_text(name)}: {safe_text(why)}"
                 for name, why in self.failed.items()]
        if len(body) > MAX_BODY_LINES:  # the archive's diff has the rest
            body = [*body[:MAX_BODY_LINES], f"… and {len(body) - MAX_BODY_LINES} more"]
        trailers = [f"{FAILED_TRAILER}: {fid}" for fid in self.failed_ids]  # git trailers: data, not prose
        return self.subject(message) + ("\n\n" + "\n".join(body) if body else "") \
            + ("\n\n" + "\n".join(trailers) if trailers else "") + "\n"


@dataclass
class Incremental:
    """What the last run saw (flow ID → listing fingerprint) and how much of the unchanged
    flows to re-fetch as a check. ``full_because``: why this run fetches everything (None: it need not)."""

    known: dict[str, str] = field(default_factory=dict)
    full_because: str | None = "first run"
    sample_rate: float = 0.02
    last_full: str | None = None  # when the last full run was (ISO), carried over by incremental runs


async def export_flows(api: ApiClient, archive: Archive, *, profile: str, base_url: str,
                       provider: Provider, flows: tuple[str, ...] = (), secrets: Secrets | None = None,
                       reporter: Reporter | None = None, workers: int = 16,
                       allow_mass_removal: bool = False, incremental: Incremental | None = None) -> ExportResult:
    """List, fetch and write files (no commit). Writes go straight to the work tree; the
    caller holds ``History.run()`` so that an interrupted run is rolled back.

    Incremental (the default after a first run): a flow whose listing fingerprint equals the
    last run's is kept as archived; a random sample of those is fetched anyway, and if one of
    them differs from the archive the listing's stamps cannot be trusted and every flow is
    fetched (said in the summary)."""
    rep = reporter or Reporter(progress=False)
    policy = secrets or Secrets()
    inc = incremental or Incremental()
    result = ExportResult(profile=profile, full_because=inc.full_because)
    started = time.monotonic()
    old = archive.read_manifest()["flows"]
    new_entries: dict[str, dict[str, Any]] = {}
    listed_ids: set[str] = set()
    matched: set[str] = set()
    counts = {"items": 0, "total": -1}
    # unchanged by their fingerprint: (ID, listing item as compact JSON — 20,000 stay small, fingerprint)
    deferred: list[tuple[str, bytes, str]] = []

    async def produce(send: Any) -> None:
        """The listing, a page at a time, feeding the workers (memory: a page and a buffer)."""
        async with send:
            async for items, total in provider.iter_flows(api, result.warnings.append):
                if counts["total"] < 0:
                    rep.start(total, f"export {profile}")
                counts["total"] = total
                for item in items:
                    if not isinstance(item, dict) or "id" not in item:
                        raise ProtocolError(f"{provider.name}: a listed flow has no 'id'")
                    clean_id = flow_id(item["id"])
                    counts["items"] += clean_id is None
                    if clean_id is None:  # that flow fails by name; the listing no longer proves removals
                        label = f"{safe_text(item.get('name'))} (#{safe_text(item['id'])[:40]})"
                        result.failed[label] = "the API listed it with an ID flowvault does not accept"
                        result.failed_ids.append(safe_text(item["id"])[:40])
                        rep.event("flow_failed", flow_id=safe_text(item["id"])[:40], message=f"{label}: "
                                  + result.failed[label])
                        continue
                    item = {**item, "id": clean_id}
                    fid = str(clean_id)
                    counts["items"] += 1
                    if fid in listed_ids:
                        continue
                    listed_ids.add(fid)
                    named = {w for w in flows if w in (fid, item.get("name"))}
                    if flows and not named:
                        continue
                    matched.update(named)
                    digest = provider.fingerprint(item, policy.allow)
                    if digest and not must_fetch(fid, digest, inc.known, fid in old, bool(named), inc.full_because):
                        deferred.append((fid, orjson.dumps(item), digest))
                        continue
                    await send.send((item, digest, False))

    async def feed(batch: list[tuple[str, bytes, str]], sample: bool, send: Any) -> None:
        async with send:
            for _, item, digest in batch:
                await send.send((orjson.loads(item), digest, sample))

    async def consume(stream: Any) -> None:
        async with stream:
            async for flow, digest, sample in stream:
                await one(flow, digest, sample)

    async def pump(source: Any, *args: Any) -> None:
        """Run ``source`` (which sends to a stream) with the workers draining that stream."""
        send, receive = anyio.create_memory_object_stream[tuple[dict[str, Any], Any, bool]](
            max_buffer_size=2 * max(1, workers))
        try:
            async with anyio.create_task_group() as tg:
                tg.start_soon(source, *args, send)
                async with receive:
                    for _ in range(max(1, workers)):
                        tg.start_soon(consume, receive.clone())
        except BaseExceptionGroup as eg:
            raise unwrap(eg) from None

    async def one(flow: dict[str, Any], digest: str | None, sample: bool) -> None:
        fid = str(flow["id"])
        label = f"{flow.get('name')} (#{fid})"
        found = policy.fork()
        result.fetched += 1
        try:
            before = old.get(fid)
            record = keep_last_good(await provider.fetch(api, flow, found), archive.previous(before),
                                    tuple((before or {}).get("files") or ()))
            changed = archive.changed_files(record)  # read once: for the gate and for the write
            if policy.mode != "keep":  # the gate: nothing secret-looking reaches a commit
                leaked = leaks(changed, found.values)
                if leaked:
                    raise SecretGateError("; ".join(f"{path}: {rule}" for path, rule in leaked[:3])
                                          + " — not written, the previous copy is kept (see docs/secrets.md)")
        except Exception as exc:
            err = unwrap(exc)
            if not isinstance(err, FlowvaultError):
                raise
            result.failed[label] = str(err)
            result.failed_ids.append(fid)
            rep.event("flow_failed", flow_id=fid, name=flow.get("name"), message=f"{label}: {err}")
            if fid in old:
                new_entries[fid] = old[fid]
            rep.advance()
            return
        if sample:
            result.sampled += 1
            if record.manifest_entry()["files"] != old[fid].get("files"):
                result.stamps_lied.append(label)
        for part, why in record.not_captured.items():
            result.not_captured[part] = (why, result.not_captured.get(part, (why, 0))[1] + 1)
        archive.write_flow(record, old.get(fid), result.changes, changed)
        new_entries[fid] = record.manifest_entry()
        if digest:
            result.fingerprints[fid] = digest
        result.exported += 1
        result.versions += record.versions
        result.secrets.add(found)
        rep.event("flow_exported", flow_id=fid, name=record.name, versions=record.versions)
        rep.advance()

    try:
        await pump(produce)
        if deferred:  # trust, but verify: re-fetch a sample of what the listing says is unchanged
            sample, deferred = split_sample(deferred, inc.sample_rate)
            await pump(feed, sample, True)
            if result.stamps_lied:
                result.full_because = (f"the listing showed {len(result.stamps_lied)} sampled flow(s) unchanged that "
                                       f"had changed ({result.stamps_lied[0]}): its update stamps cannot be trusted")
                rep.event("warning", message=f"{result.full_because}; fetching every flow")
                await pump(feed, deferred, False)
                deferred = []
        for fid, _, digest in deferred:  # kept as archived: no need to decode their listing entries
            new_entries[fid] = old[fid]
            result.fingerprints[fid] = digest
            result.unchanged += 1
            rep.advance()
    finally:
        rep.stop()
    missing = [w for w in flows if w not in matched]
    if missing:
        raise UsageError(f"no flow with ID or name '{missing[0]}' in the company")
    result.listed = len(listed_ids)
    shortfall = listing_shortfall(counts["items"], len(listed_ids), counts["total"])
    if shortfall:
        result.complete = False
        result.warnings.append(shortfall)

    for part, (why, n) in sorted(result.not_captured.items()):
        result.warnings.append(f"{part} not captured for {n} flow(s): {why}; each keeps its last archived copy "
                               f"(flow.json {NOT_CAPTURED})")
    for names in (result.changes.added, result.changes.changed):
        names.sort()
    gone = removed(list(old), set(new_entries), listed_ids, selected=bool(flows), complete=result.complete)
    refusal = mass_removal(len(gone), len(old), len(listed_ids))
    if refusal and not allow_mass_removal:
        raise MassRemovalError(refusal)
    for fid, entry in old.items():
        if fid in new_entries:
            continue
        if fid in gone:
            archive.remove_flow(fid, entry, result.changes)
        else:
            new_entries[fid] = entry  # not part of this run, or not provably gone: keep
    mode = {"keep": "kept", "encrypt": "encrypted"}.get(policy.mode, "redacted")
    if archive.write_manifest(Source(profile, base_url, provider.name).as_json(),
                              new_entries, mode, policy.recipient if policy.mode == "encrypt" else None):
        result.changes.touched = True
    result.requests, result.retries, result.throttled = api.stats.requests, api.stats.retries, api.stats.throttled
    result.seconds = time.monotonic() - started
    for w in result.warnings:
        rep.event("warning", message=w)
    return result


def commit_export(history: History, result: ExportResult, message: str | None = None) -> None:
    """Commit what the run wrote. A run that wrote and deleted nothing (a quiet night) asks git
    nothing: its work tree is the last commit's, put back so before the run (``restore_altered``)."""
    if not result.changes.touched:
        return
    started = time.monotonic()
    result.commit = history.commit_all(result.commit_message(message))
    result.commit_seconds = time.monotonic() - started

