"""Import: replay archived flows into a target company, remapping IDs, idempotently.

Plan first (pure, ``plan.py``), then import in dependency waves, restore what the import
endpoint does not (deployed state, schedules, labels, enabled policy), patch cycle-closing
flow references, and record old → new IDs: a journal line per step while running,
``imports/<profile>.json`` committed at the end. A re-run, or a run after kill -9, skips
what is done and adopts a flow whose creation was interrupted, so nothing is duplicated.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import anyio

from .archive import ArchivedFlow, Snapshot, atomic_write, id_key
from .canonical import dumps, loads
from .client import ApiClient
from .errors import ApiError, AuthError, FlowvaultError, NotFoundError, ValidationError
from .output import Reporter
from .plan import FlowPlan, MapFile, Ref, Resolver, collect_refs, dependency_order, plan_flow, remap_flow_doc
from .pool import for_each
from .protocol import backoff

FLOWS = "/api/v1/flows"
RESOURCE_PATHS = {"connector": "/api/v1/connectors", "script": "/api/v1/scripts", "cache": "/api/v1/caches",
                  "data_pool": "/api/v1/data-pools", "virtual_environment": "/api/v1/virtual-environments"}
IMPORTS_DIR = "imports"


@dataclass
class ImportResult:
    target: str
    dry_run: bool = False
    plans: list[FlowPlan] = field(default_factory=list)
    imported: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    conflicts: list[str] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)
    left_disabled: list[str] = field(default_factory=list)
    missing_secrets: list[str] = field(default_factory=list)
    requests: int = 0
    writes: int = 0
    seconds: float = 0.0
    commit: str | None = None

    @property
    def ok(self) -> bool:
        if self.dry_run:
            return all(not p.unresolved and p.action not in ("conflict", "invalid") for p in self.plans)
        return not self.failed and not self.conflicts


@dataclass
class Target:
    """What the target company has: flows by ID and name, resources by name."""

    flows: dict[int, str]
    by_name: dict[str, dict[str, list[int]]]

    def flow_names(self) -> dict[str, list[int]]:
        out: dict[str, list[int]] = {}
        for fid, name in sorted(self.flows.items()):
            out.setdefault(name, []).append(fid)
        return out


async def load_target(api: ApiClient) -> Target:
    flows, _ = await api.paginate(FLOWS, {"sort": "id"})
    by_name: dict[str, dict[str, list[int]]] = {}
    for rtype, path in RESOURCE_PATHS.items():
        try:
            items, _ = await api.paginate(path)
        except NotFoundError:
            continue  # not exposed: only the map file can resolve this type
        for item in items:
            by_name.setdefault(rtype, {}).setdefault(str(item.get("name")), []).append(int(item["id"]))
    target = Target({int(f["id"]): str(f.get("name")) for f in flows}, by_name)
    by_name["flow"] = target.flow_names()
    return target


class Ledger:
    """Old → new flow IDs for one target: the committed map plus the journal of this run."""

    def __init__(self, archive_root: Path, git_dir: Path, profile: str, base_url: str) -> None:
        self.path = archive_root / IMPORTS_DIR / f"{profile}.json"
        self.journal = git_dir / f"flowvault-import-{profile}.jsonl"
        self.meta = {"profile": profile, "base_url": base_url}
        self.flows: dict[str, dict[str, Any]] = {}
        self.started: dict[str, dict[str, Any]] = {}
        if self.path.exists():
            data = loads(self.path.read_bytes())
            self.flows = {str(k): v for k, v in data.get("flows", {}).items()}
        if self.journal.exists():
            for line in self.journal.read_text().splitlines():
                try:
                    entry = json.loads(line)
                except ValueError:
                    continue  # a line torn by a kill
                src = str(entry["src"])
                if entry["op"] == "start":
                    self.started[src] = entry
                else:
                    self.flows[src] = {**{k: v for k, v in entry.items() if k not in ("op", "src")},
                                       "complete": entry["op"] == "done"}
                    self.started.pop(src, None)

    def log(self, op: str, src: int | str, **fields: Any) -> None:
        src = str(src)
        self.journal.parent.mkdir(parents=True, exist_ok=True)
        with open(self.journal, "a", encoding="utf-8") as fh:
            fh.write(json.dumps({"op": op, "src": src, **fields}, ensure_ascii=False) + "\n")
            fh.flush()
            os.fsync(fh.fileno())
        if op == "start":
            self.started[src] = {"src": src, **fields}
        else:
            self.flows[src] = {**{k: v for k, v in fields.items() if k != "pre"}, "complete": op == "done"}

    def save(self) -> bool:
        data = {"target": self.meta, "flows": {k: self.flows[k] for k in sorted(self.flows, key=id_key)}}
        return atomic_write(self.path, dumps(data))

    def clear_journal(self) -> None:
        self.journal.unlink(missing_ok=True)


class Importer:
    def __init__(self, api: ApiClient, snapshot: Snapshot, ledger: Ledger, mapping: MapFile, *,
                 on_conflict: str = "skip", enable: str = "off", reporter: Reporter | None = None,
                 workers: int = 8) -> None:
        self.api, self.snapshot, self.ledger, self.mapping = api, snapshot, ledger, mapping
        self.on_conflict, self.enable = on_conflict, enable
        self.rep = reporter or Reporter(progress=False)
        self.workers = workers
        self.secrets = {**_env_secrets(), **mapping.secrets}
        self.target: Target | None = None
        self.resolver: Resolver | None = None
        self.steps: dict[tuple[str, int], tuple[int, list[int]]] = {}  # (src flow, iteration) → target ids

    # -- planning --------------------------------------------------------------------

    async def plan(self, wanted: tuple[str, ...], result: ImportResult) -> list[str]:
        self.target = target = await load_target(self.api)
        if not result.dry_run:
            self._recover(target)
        done = {int(src): int(e["target_id"]) for src, e in self.ledger.flows.items()
                if e.get("complete") and int(e["target_id"]) in target.flows}
        flows = self._with_dependencies(self.snapshot.select(wanted), done, target)
        order, cycles = dependency_order(flows)
        self.resolver = Resolver(self.mapping.ids, dict(done), target.by_name)
        in_run = {fid for fid in order if int(fid) not in done}
        names = target.flow_names()
        for fid in order:
            result.plans.append(plan_flow(flows[fid], self.resolver, done=done, target_names=names,
                                          in_run=in_run, cycle_edges=cycles, on_conflict=self.on_conflict,
                                          secrets=self.secrets))
        return order

    def _with_dependencies(self, chosen: list[str], done: dict[int, int], target: Target) -> dict[str, ArchivedFlow]:
        """The chosen flows plus archived flows they reference that the target cannot supply."""
        flows: dict[str, ArchivedFlow] = {}
        todo = list(chosen)
        resolver = Resolver(self.mapping.ids, done, target.by_name)
        while todo:
            fid = todo.pop()
            if fid in flows:
                continue
            flows[fid] = self.snapshot.flow(fid)
            for ref in collect_refs(flows[fid]):
                dep = str(ref.source_id)
                if ref.rtype == "flow" and dep in self.snapshot.flows and dep not in flows \
                        and (dep in chosen or resolver.resolve(ref) is None):
                    todo.append(dep)
        return flows

    def _recover(self, target: Target) -> None:
        """A flow whose import was started but not recorded (killed mid-request): adopt the
        flow that appeared in the target with its name, so that it is not created twice."""
        for src, entry in list(self.ledger.started.items()):
            new = [fid for fid, name in target.flows.items()
                   if name == entry["name"] and fid not in set(entry.get("pre", []))]
            if new:
                self.ledger.log("created", src, target_id=new[0], name=entry["name"])
            self.ledger.started.pop(src, None)

    # -- running -----------------------------------------------------------------------

    async def run(self, result: ImportResult) -> None:
        plans = {p.flow.flow_id: p for p in result.plans}
        waves = _waves(plans)
        self.rep.start(len(plans), f"import into {result.target}")
        deferred: list[tuple[FlowPlan, Ref]] = []
        async def one(plan: FlowPlan) -> None:
            await self._one(plan, result)
            deferred.extend((plan, r) for r in plan.deferred)
            self.rep.advance()

        try:
            for wave in waves:
                await for_each(wave, one, self.workers)
        finally:
            self.rep.stop()
        for plan, ref in deferred:
            await self._patch(plan, ref, result)

    async def _one(self, plan: FlowPlan, result: ImportResult) -> None:
        src = int(plan.flow.flow_id)
        entry = self.ledger.flows.get(plan.flow.flow_id)
        if plan.action == "skip":
            result.skipped.append(plan.label)
            return
        if plan.action == "conflict" and not (entry and not entry.get("complete")):
            result.conflicts.append(f"{plan.label}: {plan.reason}; use --on-conflict rename|replace")
            self.rep.event("flow_conflict", flow_id=plan.flow.flow_id, message=result.conflicts[-1])
            return
        if plan.unresolved:
            self._fail(plan, result, "; ".join(r.describe() for r in plan.unresolved[:3])
                       + (f" (+{len(plan.unresolved) - 3} more)" if len(plan.unresolved) > 3 else ""))
            return
        try:
            if entry and not entry.get("complete"):
                target_id, fresh = int(entry["target_id"]), False  # created before a kill: finish it
            else:
                target_id, fresh = await self._create(plan), True
            await self._finish(plan, target_id, fresh, result)
        except FlowvaultError as e:
            self._fail(plan, result, str(e))
            return
        self.ledger.log("done", src, target_id=target_id, name=plan.flow.name)
        assert self.resolver is not None
        self.resolver.imported_flows[src] = target_id
        result.imported.append(plan.label)
        if plan.missing_secrets:
            result.missing_secrets.append(f"{plan.label}: {', '.join(plan.missing_secrets)}")
        self.rep.event("flow_imported", flow_id=plan.flow.flow_id, name=plan.flow.name, target_id=target_id)

    def _fail(self, plan: FlowPlan, result: ImportResult, why: str) -> None:
        result.failed[plan.label] = why
        self.rep.event("flow_failed", flow_id=plan.flow.flow_id, message=f"{plan.label}: {why}")

    def _resolver_for(self, flow: ArchivedFlow) -> Any:
        """resolve(rtype, source_id) → target ID for this flow's references, or an error."""
        names = {(r.rtype, r.source_id): r.source_name for r in collect_refs(flow)}
        resolver = self.resolver
        assert resolver is not None

        def resolve(rtype: str, rid: int) -> int:
            hit = resolver.resolve(Ref("", "", 0, 0, "", "", rtype, rid, names.get((rtype, rid))))
            if hit is None:
                raise FlowvaultError(f"{rtype} {rid} could not be resolved (a referenced flow failed to import?)")
            return hit

        return resolve

    async def _create(self, plan: FlowPlan) -> int:
        assert self.target is not None
        flow, src = plan.flow, int(plan.flow.flow_id)
        name = flow.name
        if plan.action == "replace" and plan.target_id is not None:
            await self.api.delete(f"{FLOWS}/{plan.target_id}")
            self.target.flows.pop(plan.target_id, None)
        elif plan.action == "rename":
            taken = set(self.target.flows.values())
            n = 2
            while f"{flow.name} ({n})" in taken:
                n += 1
            name = f"{flow.name} ({n})"
        export = flow.export
        doc = remap_flow_doc(export, self._resolver_for(flow), plan.deferred, self.secrets, name=name)
        pre = sorted(fid for fid, n in self.target.flows.items() if n == name)
        self.ledger.log("start", src, name=name, pre=pre)
        body = {"flow": json.dumps(doc, ensure_ascii=False),
                "metadata": json.dumps(export.get("metadata", {}), ensure_ascii=False),
                "as_marketplace": False}
        async def created() -> Any:
            found, _ = await self.api.paginate(FLOWS, {"filter[name]": name})
            new = [int(f["id"]) for f in found if f.get("name") == name and int(f["id"]) not in pre]
            return {"adopted": new[0]} if new else None

        reply = await self._create_once(f"{FLOWS}/import", body, created)
        if "adopted" in reply:
            target_id = int(reply["adopted"])
        else:
            data = reply.get("data") if isinstance(reply, dict) else None
            if not isinstance(data, dict) or "id" not in data:
                raise FlowvaultError(f"POST {FLOWS}/import: the reply has no created flow")
            target_id = int(data["id"])
            for v in data.get("versions") or []:
                self.steps[(flow.flow_id, int(v["iteration"]))] = (
                    int(v["id"]), [int(s["id"]) for s in v.get("steps") or []])
        self.ledger.log("created", src, target_id=target_id, name=name)
        self.target.flows[target_id] = name
        return target_id

    async def _create_once(self, path: str, body: Any, created: Callable[[], Awaitable[Any]]) -> Any:
        return await create_once(self.api, path, body, created)

    async def _sync_schedules(self, version_id: int, crons: list[str], fresh: bool) -> None:
        """Create the schedules the target version lacks (idempotent: compares cron strings)."""
        path = f"/api/v1/flow-versions/{version_id}/schedules"

        async def have() -> list[str]:
            existing, _ = await self.api.paginate(path)
            return [str(s.get("cron_string")) for s in existing]

        current = [] if fresh else await have()
        for cron in crons:
            if cron in current:
                current.remove(cron)
                continue
            before = (await have()).count(cron) if not fresh else 0

            async def created(cron: str = cron, before: int = before) -> Any:
                return {"exists": True} if (await have()).count(cron) > before else None

            await self._create_once(path, {"cron_string": cron}, created)
            fresh = False

    async def _finish(self, plan: FlowPlan, target_id: int, fresh: bool, result: ImportResult) -> None:
        """Restore what import does not: deployed state, schedules, labels, enabled policy."""
        flow = plan.flow
        doc = flow.export["flow"]
        versions = {int(v.get("iteration", 0)): v for v in doc.get("versions", [])}
        if fresh and all((flow.flow_id, it) in self.steps for it in versions):
            target_versions = {it: self.steps[(flow.flow_id, it)][0] for it in versions}
            current = {it: {"deployed_at": None} for it in versions}
        else:
            listed, _ = await self.api.paginate(f"{FLOWS}/{target_id}/versions")
            target_versions = {int(v["iteration"]): int(v["id"]) for v in listed}
            current = {int(v["iteration"]): v for v in listed}
            if plan.deferred:
                for it, vid in target_versions.items():
                    detail = (await self.api.get(f"{FLOWS}/{target_id}/versions/{vid}"))["data"]
                    self.steps[(flow.flow_id, it)] = (vid, [int(s["id"]) for s in detail.get("steps") or []])
        deploy = sorted((v for v in versions.values() if v.get("deployed_at")),
                        key=lambda v: (v.get("status") == "Deployed", v["deployed_at"]))
        for v in deploy:
            it = int(v["iteration"])
            if it not in target_versions:
                continue
            differs = current.get(it, {}).get("deployed_at") != v["deployed_at"]
            if differs or v.get("status") == "Deployed":  # the deployed one last, so it wins
                await self.api.put(f"{FLOWS}/{target_id}/versions/{target_versions[it]}",
                                   {"deployed_at": v["deployed_at"]})
        for it, v in versions.items():
            crons = [str(s["cron_string"]) for s in v.get("schedules") or [] if s.get("cron_string")]
            if crons and it in target_versions:
                await self._sync_schedules(target_versions[it], crons, fresh)
        enabled_at = flow.settings.get("enabled_at")
        update: dict[str, Any] = {}
        labels = [{"name": n} for n in doc.get("labels") or []]
        if labels:
            update["labels"] = labels
        if enabled_at and self.enable == "source":
            update["flow"] = {"enabled_at": enabled_at}
        elif enabled_at:
            result.left_disabled.append(plan.label)
        if update:
            await self.api.put(f"{FLOWS}/{target_id}", update)

    async def _patch(self, plan: FlowPlan, ref: Ref, result: ImportResult) -> None:
        entry = self.ledger.flows.get(plan.flow.flow_id)
        dep = self.ledger.flows.get(str(ref.source_id))
        if plan.label in result.failed or not entry:
            return
        where = self.steps.get((plan.flow.flow_id, ref.iteration))
        if not dep or where is None or ref.step_index >= len(where[1]):
            result.failed[plan.label] = (f"version {ref.iteration} step '{ref.step_name}': flow reference "
                                         f"{ref.source_id} could not be set (the referenced flow was not imported)")
            return
        await self.api.patch(f"/api/v1/flow-versions/{where[0]}/graph/steps/{where[1][ref.step_index]}",
                             {ref.field: int(dep["target_id"])})


async def create_once(api: ApiClient, path: str, body: Any, created: Callable[[], Awaitable[Any]]) -> Any:
    """POST a create that must not happen twice: after an ambiguous failure (5xx, dropped
    connection, timeout) ask ``created()`` whether it happened before trying again."""
    attempt = 0
    while True:
        try:
            return await api.post(path, body, safe_to_retry=False)
        except (ValidationError, AuthError, NotFoundError):
            raise
        except ApiError as e:
            if e.status is not None and e.status < 500 and e.status != 429:
                raise
            found = await created()
            if found is not None:
                return found
            if attempt >= api.max_retries:
                raise
        await anyio.sleep(backoff(attempt))
        attempt += 1


def _waves(plans: dict[str, FlowPlan]) -> list[list[FlowPlan]]:
    """Groups that can run concurrently: each flow after the flows it references (cycle
    edges excluded: those are the deferred references)."""
    level: dict[str, int] = {}
    for fid, plan in plans.items():  # plans are in dependency order
        deferred = {str(r.source_id) for r in plan.deferred}
        deps = {str(r.source_id) for r in collect_refs(plan.flow) if r.rtype == "flow"} - deferred - {fid}
        level[fid] = 1 + max((level[d] for d in deps if d in level), default=-1)
    waves: list[list[FlowPlan]] = [[] for _ in range(max(level.values(), default=-1) + 1)]
    for fid, plan in plans.items():
        waves[level[fid]].append(plan)
    return waves


def _env_secrets() -> dict[str, str]:
    prefix = "FLOWVAULT_SECRET_"
    return {k[len(prefix):]: v for k, v in os.environ.items() if k.startswith(prefix)}


async def import_archive(api: ApiClient, snapshot: Snapshot, ledger: Ledger, mapping: MapFile, *,
                         target: str, flows: tuple[str, ...] = (), dry_run: bool = False,
                         on_conflict: str = "skip", enable: str = "off", reporter: Reporter | None = None,
                         workers: int = 8) -> ImportResult:
    started = time.monotonic()
    result = ImportResult(target=target, dry_run=dry_run)
    importer = Importer(api, snapshot, ledger, mapping, on_conflict=on_conflict, enable=enable,
                        reporter=reporter, workers=workers)
    await importer.plan(flows, result)
    if not dry_run:
        await importer.run(result)
    result.requests, result.writes = api.stats.requests, api.stats.writes
    result.seconds = time.monotonic() - started
    return result
