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

from .archive import Archive, Changes
from .canonical import Secrets
from .client import ApiClient
from .errors import FlowvaultError, MassRemovalError, ProtocolError, SecretGateError, UsageError, unwrap
from .history import History
from .output import Reporter
from .protocol import flow_id
from .providers import PATCHWORKS, Provider
from .secretscan import leaks

MAX_BODY_LINES = 1000
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def safe_text(text: Any, limit: int = 300) -> str:
    """A name as it may appear in a commit message: no control characters (a newline in a flow
    name cannot add a line of its own), and not endless."""
    out = _CONTROL.sub("?", str(text))
    return out if len(out) <= limit else out[: limit - 1] + "…"
MASS_REMOVAL_MIN = 5  # a run that would remove more than half of the archive, and at least this many, stops


@dataclass
class ExportResult:
    profile: str
    listed: int = 0
    exported: int = 0
    versions: int = 0
    failed: dict[str, str] = field(default_factory=dict)
    changes: Changes = field(default_factory=Changes)
    complete: bool = True
    warnings: list[str] = field(default_factory=list)
    secrets: Secrets = field(default_factory=Secrets)  # counts by kind (flagged, by name)
    commit: str | None = None
    commit_seconds: float = 0.0
    push_error: str | None = None
    requests: int = 0
    retries: int = 0
    seconds: float = 0.0

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
        return self.subject(message) + ("\n\n" + "\n".join(body) if body else "") + "\n"


async def export_flows(api: ApiClient, archive: Archive, *, profile: str, base_url: str,
                       provider: Provider | None = None, flows: tuple[str, ...] = (), secrets: Secrets | None = None,
                       reporter: Reporter | None = None, workers: int = 16,
                       allow_mass_removal: bool = False) -> ExportResult:
    """List, fetch and write files (no commit). Writes go straight to the work tree; the
    caller holds ``History.run()`` so that an interrupted run is rolled back."""
    rep = reporter or Reporter(progress=False)
    provider = provider or PATCHWORKS
    policy = secrets or Secrets()
    result = ExportResult(profile=profile)
    started = time.monotonic()
    old = archive.read_manifest()["flows"]
    new_entries: dict[str, dict[str, Any]] = {}
    listed_ids: set[str] = set()
    matched: set[str] = set()
    counts = {"items": 0, "total": -1}
    send, receive = anyio.create_memory_object_stream[dict[str, Any]](max_buffer_size=2 * max(1, workers))

    async def produce() -> None:
        """The listing, a page at a time, feeding the workers (memory: a page and a buffer)."""
        async with send:
            async for items, total in provider.iter_flows(api):
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
                        rep.event("flow_failed", flow_id=safe_text(item["id"])[:40], message=f"{label}: "
                                  + result.failed[label])
                        continue
                    item = {**item, "id": clean_id}
                    fid = str(clean_id)
                    counts["items"] += 1
                    if fid in listed_ids:
                        continue
                    listed_ids.add(fid)
                    hits = {w for w in flows if w in (fid, item.get("name"))}
                    if flows and not hits:
                        continue
                    matched.update(hits)
                    await send.send(item)

    async def consume(stream: Any) -> None:
        async with stream:
            async for flow in stream:
                await one(flow)

    async def one(flow: dict[str, Any]) -> None:
        fid = str(flow["id"])
        label = f"{flow.get('name')} (#{fid})"
        found = policy.fork()
        try:
            record = await provider.fetch(api, flow, found)
            changed = archive.changed_files(record)  # read once: for the gate and for the write
            if policy.mode != "keep":  # the gate: nothing secret-looking reaches a commit
                hits = leaks(changed, found.values)
                if hits:
                    raise SecretGateError("; ".join(f"{path}: {rule}" for path, rule in hits[:3])
                                          + " — not written, the previous copy is kept (see README: secrets)")
        except Exception as exc:
            err = unwrap(exc)
            if not isinstance(err, FlowvaultError):
                raise
            result.failed[label] = str(err)
            rep.event("flow_failed", flow_id=fid, name=flow.get("name"), message=f"{label}: {err}")
            if fid in old:
                new_entries[fid] = old[fid]
            rep.advance()
            return
        archive.write_flow(record, old.get(fid), result.changes, changed)
        new_entries[fid] = record.manifest_entry()
        result.exported += 1
        result.versions += record.versions
        result.secrets.add(found)
        rep.event("flow_exported", flow_id=fid, name=record.name, versions=record.versions)
        rep.advance()

    try:
        async with anyio.create_task_group() as tg:
            tg.start_soon(produce)
            async with receive:
                for _ in range(max(1, workers)):
                    tg.start_soon(consume, receive.clone())
    except BaseExceptionGroup as eg:
        raise unwrap(eg) from None
    finally:
        rep.stop()
    missing = [w for w in flows if w not in matched]
    if missing:
        raise UsageError(f"no flow with ID or name '{missing[0]}' in the company")
    result.listed = len(listed_ids)
    if counts["items"] != counts["total"] or len(listed_ids) != counts["total"]:
        result.complete = False
        result.warnings.append(f"the listing returned {len(listed_ids)} distinct flows but meta.total says "
                               f"{counts['total']}; no flow is recorded as removed in this run")

    for names in (result.changes.added, result.changes.changed):
        names.sort()
    gone = [fid for fid in old if fid not in new_entries and not (flows or not result.complete or fid in listed_ids)]
    if len(gone) >= MASS_REMOVAL_MIN and len(gone) * 2 > len(old) and not allow_mass_removal:
        raise MassRemovalError(f"the API lists {len(listed_ids)} flows: this run would remove {len(gone)} of the "
                               f"{len(old)} archived flows; nothing was committed. If they are really gone (not a "
                               "key scoped to another company, not an API fault), run again with --allow-mass-removal")
    for fid, entry in old.items():
        if fid in new_entries:
            continue
        if fid in gone:
            archive.remove_flow(fid, entry, result.changes)
        else:
            new_entries[fid] = entry  # not part of this run, or not provably gone: keep
    mode = {"keep": "kept", "encrypt": "encrypted"}.get(policy.mode, "redacted")
    archive.write_manifest({"profile": profile, "base_url": base_url, "provider": provider.name},
                           new_entries, mode)
    result.requests, result.retries = api.stats.requests, api.stats.retries
    result.seconds = time.monotonic() - started
    for w in result.warnings:
        rep.event("warning", message=w)
    return result


def commit_export(history: History, result: ExportResult, message: str | None = None) -> None:
    started = time.monotonic()
    result.commit = history.commit_all(result.commit_message(message))
    result.commit_seconds = time.monotonic() - started

