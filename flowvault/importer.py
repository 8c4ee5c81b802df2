"""Import, shared by every provider: plan (pure, ``plan.py``) from the archive, the ID map
and the target's inventory; then create flows in dependency waves through the provider,
finish them, patch cycle-closing references and record old → new IDs — a journal line per
step while running, ``imports/<profile>.json`` committed at the end. A re-run, or a run
after kill -9, skips what is done and adopts a flow whose creation was interrupted.
"""

from __future__ import annotations

import re
import time
from collections import defaultdict
from dataclasses import dataclass, field, replace
from typing import Any

import anyio

from .archive import Snapshot, id_key
from .client import ApiClient
from .crypto import Opener
from .errors import FlowvaultError, PartialFailure, UsageError
from .models import ArchivedFlow, CreateJob, FlowPlan, Inventory, MapFile, Ref, id_value
from .output import Reporter
from .plan import (
    Resolver,
    dependency_order,
    deps_to_add,
    field_summary,
    plan_flow,
    refuse_shared_targets,
    unique_name,
    waves,
)
from .idmap import Ledger
from .importsource import env_secrets, load_flow, setup_required
from .pool import for_each
from .providers import Provider
from .references import steps_of



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
    empty_secrets: int = 0  # secret values the imported flows received empty (no value was at hand)
    allow_missing_secrets: bool = False  # the user asked for an encrypted archive's values to go in empty
    setup: list[str] = field(default_factory=list)  # what the target needs before the flows can run
    accepted: list[str] = field(default_factory=list)  # fields the user accepted unclassified ("keep")
    verified: int = 0  # flows read back from the target and found as sent
    verified_failed: int = 0  # flows read back and found different (they are in `failed`)
    same_company: bool = False
    requests: int = 0
    writes: int = 0
    seconds: float = 0.0
    commit: str | None = None

    @property
    def ok(self) -> bool:
        return self.problem() is None

    def problem(self) -> PartialFailure | None:
        """What keeps this import (or dry run) from full success, as the error it ends with, in one line."""
        if self.dry_run:
            blocked = [p for p in self.plans if p.blocked]
            return PartialFailure(f"dry run into {self.target}: {len(blocked)} flow(s) would not be imported "
                                  "(see the plan above)", self) if blocked else None
        if not self.failed and not self.conflicts:
            return None
        parts = [f"{len(self.failed)} failed"] if self.failed else []
        parts += [f"{len(self.conflicts)} conflicted by name"] if self.conflicts else []
        return PartialFailure(f"import into {self.target}: {', '.join(parts)}; the others were imported", self)


@dataclass(frozen=True)
class Finished:
    """A flow created (or adopted) and finished in the target: what its proof and its deferred
    references need."""

    plan: FlowPlan
    job: CreateJob
    target_id: int | str
    info: Any  # the provider's (step IDs for deferred references)
    secrets: dict[str, str]  # the values it was sent with (a replaced flow's live ones included)


class Importer:
    def __init__(self, api: ApiClient, provider: Provider, snapshot: Snapshot, ledger: Ledger, mapping: MapFile, *,
                 on_conflict: str = "skip", enable: str = "off", reporter: Reporter | None = None,
                 workers: int = 8, same_company: bool = False, opener: Opener | None = None,
                 allow_missing_secrets: bool = False) -> None:
        self.api, self.provider, self.snapshot, self.ledger = api, provider, snapshot, ledger
        self.allow_missing_secrets = allow_missing_secrets
        self.mapping, self.on_conflict, self.enable = mapping, on_conflict, enable
        self.rep = reporter or Reporter(progress=False)
        self.workers = workers
        self.secrets = {**env_secrets(), **mapping.secrets}
        self.names: dict[str, str] = {}  # target flow ID → name, kept current as flows are created
        self.labels: dict[str, int | str] = {}  # the target's labels by name (set by its flows)
        self.resolver = Resolver({}, {}, {})
        self.same_company = same_company
        self.opener = opener
        self._locks: dict[str, anyio.Lock] = defaultdict(anyio.Lock)

    # -- planning --------------------------------------------------------------------

    async def plan(self, wanted: tuple[str, ...], result: ImportResult) -> None:
        inventory: Inventory = await self.provider.inventory(self.api)
        self.names = dict(inventory.flows)
        self.labels = dict(inventory.labels)
        self._adopt(write=not result.dry_run)
        done = {src: id_value(e["target_id"]) for src, e in self.ledger.flows.items()
                if e.get("complete") and str(e["target_id"]) in self.names}
        for src, tgt in self.mapping.ids.get("flow", {}).items():  # the user says: this flow is that one
            if str(tgt) in self.names:
                done.setdefault(str(src), tgt)
        self.resolver = Resolver(self.mapping.ids, dict(done), inventory.by_name, self.same_company,
                                 frozenset(self.names))
        chosen = self.snapshot.select(wanted)
        flows: dict[str, ArchivedFlow] = {}
        todo = list(chosen)
        while todo:
            fid = todo.pop()
            if fid not in flows:
                flows[fid] = load_flow(self.snapshot, self.provider, fid, self.mapping.rules, self.opener)
                todo += deps_to_add(flows[fid], self.snapshot.flows, set(chosen), self.resolver)
        if not self.allow_missing_secrets:
            self._refuse_closed_secrets([flows[fid] for fid in sorted(flows, key=id_key) if fid not in done])
        order, cycles = dependency_order(flows)
        in_run = {fid for fid in order if fid not in done}
        own = self.ledger.targets()
        names: dict[str, list[int | str]] = {}
        for tid, name in sorted(self.names.items(), key=lambda kv: id_key(kv[0])):
            if tid not in own:  # a flow flowvault created is never a name conflict
                names.setdefault(self.provider.name_key(name), []).append(id_value(tid))
        plans = [plan_flow(flows[fid], self.resolver, done=done, target_names=names, in_run=in_run,
                           cycle_edges=cycles, on_conflict=self.on_conflict, secrets=self.secrets,
                           name_problem=self.provider.name_problem(flows[fid].name), name_key=self.provider.name_key)
                 for fid in order]
        plans = refuse_shared_targets(plans)
        if any(p.action == "replace" for p in plans):
            plans = self._refuse_replacing_referenced(plans, flows, in_run)
        result.plans = plans

    def _refuse_closed_secrets(self, flows: list[ArchivedFlow]) -> None:
        """An encrypted archive is never imported with its secret values silently empty: without an
        identity, or with one that cannot open its values, refuse before anything is written."""
        closed = [f for f in flows if f.sealed_closed]
        if not closed:
            return
        count = sum(len(f.sealed_closed) for f in closed)
        recipient = self.snapshot.manifest.get("secrets_recipient")
        to = f" (encrypted to {recipient})" if isinstance(recipient, str) and recipient.startswith("age1") else ""
        first = f"{closed[0].label}: {', '.join(closed[0].sealed_closed[:3])}"
        why = ("no age identity was given" if self.opener is None
               else f"the age identity given ({self.opener.where}) cannot decrypt them")
        raise UsageError(f"the archive's secret values are encrypted{to} and {why}: {count} value(s) in "
                         f"{len(closed)} flow(s) would be imported empty (e.g. {first}); nothing was written. Give "
                         "--identity FILE (or FLOWVAULT_AGE_IDENTITY/_FILE) with the matching key, or "
                         "--allow-missing-secrets to import them empty on purpose")

    def _refuse_replacing_referenced(self, plans: list[FlowPlan], flows: dict[str, ArchivedFlow],
                                     in_run: set[str]) -> list[FlowPlan]:
        """Replacing a flow gives it a new ID: a flow flowvault knows of that calls it and is not
        part of this run would be left pointing at a deleted flow. Refuse, naming them. Known:
        into the same company, every archived flow; into another, those in the ID map. Only the
        flows whose document holds an ID that resolves to a replaced flow are loaded."""
        targets = {str(p.target_id) for p in plans if p.action == "replace"}
        aliases = targets | {str(src) for src, tgt in self.mapping.ids.get("flow", {}).items() if str(tgt) in targets} \
            | {src for src, tgt in self.resolver.imported_flows.items() if str(tgt) in targets}
        held = re.compile(rb"(?<![0-9A-Za-z-])(?:" + b"|".join(re.escape(a.encode()) for a in sorted(aliases))
                          + rb")(?![0-9A-Za-z-])")
        known = self.snapshot.flows if self.same_company else \
            [fid for fid in self.ledger.flows if fid in self.snapshot.flows]
        others = [flows.get(fid) or load_flow(self.snapshot, self.provider, fid, self.mapping.rules)
                  for fid in known if fid not in in_run
                  and (fid in flows or held.search(self.snapshot.raw(fid, "export.json")))]
        refused: dict[str, str] = {}
        for plan in plans:
            if plan.action != "replace":
                continue
            target = str(plan.target_id)
            callers = [f.label for f in others
                       if any(r.rtype == "flow" and str(self.resolver.resolve(r)) == target for r in f.refs)]
            if callers:
                refused[plan.flow.flow_id] = (
                    f"replacing #{target} would leave flows that call it pointing at a deleted flow: "
                    + ", ".join(callers[:5]) + (f" (+{len(callers) - 5} more)" if len(callers) > 5 else "")
                    + "; import them in the same run (--flow) or use --on-conflict rename")
        return [replace(p, action="conflict", reason=refused[p.flow.flow_id]) if p.flow.flow_id in refused else p
                for p in plans]

    def _adopt(self, *, write: bool) -> None:
        """A flow whose create was started but not recorded (killed mid-request): adopt the
        flow that appeared in the target under its name, so that it is not created twice."""
        taken = self.ledger.targets()
        key = self.provider.name_key
        for src, entry in list(self.ledger.started.items()):
            pre = {str(i) for i in entry.get("pre", [])}
            new = [tid for tid, name in sorted(self.names.items(), key=lambda kv: id_key(kv[0]))
                   if key(name) == key(str(entry.get("name"))) and tid not in pre and tid not in taken]
            if new:
                taken.add(new[0])
                if write:
                    self.ledger.log("created", src, target_id=id_value(new[0]), name=entry["name"])
                else:
                    self.ledger.flows[src] = {"target_id": id_value(new[0]), "name": entry["name"], "complete": False}
            self.ledger.started.pop(src, None)

    # -- running -----------------------------------------------------------------------

    async def run(self, result: ImportResult) -> None:
        """Create the planned flows wave by wave. What the run learns (the target ID of each flow it
        creates) is a new map after each wave, handed to the next; each flow is proven by reading it
        back as soon as it is finished, a flow with deferred references once they are set."""
        plans = {p.flow.flow_id: p for p in result.plans}
        created: dict[str, int | str] = {}  # source flow → target ID, of this run
        pending: list[Finished] = []  # flows with deferred references, to set when every flow exists
        self.rep.start(len(plans), f"import into {result.target}")
        try:
            for wave in waves(plans):
                learned: dict[str, int | str] = {}

                async def one(plan: FlowPlan, known: dict[str, int | str] = created,
                              learned: dict[str, int | str] = learned) -> None:
                    finished = await self._one(plan, result, known)
                    self.rep.advance()
                    if finished is None:
                        return
                    learned[plan.flow.flow_id] = finished.target_id
                    if plan.deferred:
                        pending.append(finished)
                    else:
                        await self._prove(finished, result)

                await for_each(wave, one, self.workers)
                created = {**created, **learned}
        finally:
            self.rep.stop()
        for finished in sorted(pending, key=lambda f: id_key(f.plan.flow.flow_id)):
            await self._settle(finished, created, result)

    def _job(self, plan: FlowPlan, name: str, created: dict[str, int | str], pre: tuple[int | str, ...] = (),
             secrets: dict[str, str] | None = None) -> tuple[CreateJob, dict[str, str]]:
        """The create job: the export document read (the second and last time this run), and the
        document to send resolved from the plan's resolutions and ``created``."""
        secrets = self.secrets if secrets is None else secrets
        export = self.snapshot.export_doc(plan.flow.flow_id)
        doc = self._document(plan, export, name, created, plan.deferred, secrets)
        return CreateJob(plan.flow, export, doc, name, self.enable, pre, plan.deferred, self.labels), secrets

    def _document(self, plan: FlowPlan, export: dict[str, Any], name: str, created: dict[str, int | str],
                  deferred: tuple[Ref, ...], secrets: dict[str, str]) -> dict[str, Any]:
        table = dict(plan.resolved)

        def resolve(rtype: str, rid: int) -> int | str:
            hit = table.get((rtype, rid))
            if hit is None and rtype == "flow":
                hit = created.get(str(rid))
            if hit is None:
                raise PartialFailure(f"{rtype} {rid} could not be resolved (a referenced flow failed to import?)")
            return hit

        return self.provider.document(export, resolve, deferred, secrets, name=name, rules=self.mapping.rules,
                                      open_sealed=self.opener.open if self.opener else None)

    async def _one(self, plan: FlowPlan, result: ImportResult, created: dict[str, int | str]) -> Finished | None:
        src = plan.flow.flow_id
        entry = self.ledger.flows.get(src)
        resuming = bool(entry and not entry.get("complete") and str(entry.get("target_id")) in self.names)
        if plan.action == "skip":
            result.skipped.append(plan.label)
            return None
        if plan.action == "invalid":
            self._fail(plan, result, plan.reason)
            return None
        if plan.action == "conflict" and not resuming:
            result.conflicts.append(f"{plan.label}: {plan.reason}; use --on-conflict rename|replace")
            self.rep.event("flow_conflict", flow_id=src, message=result.conflicts[-1])
            return None
        if plan.unresolved:
            self._fail(plan, result, "; ".join(plan.unresolved_why[:3])
                       + (f" (+{len(plan.unresolved) - 3} more)" if len(plan.unresolved) > 3 else ""))
            return None
        if plan.unclassified:
            fields = ", ".join(f"'{fld}' ({n} step(s), e.g. {sample[0]})" for fld, n, sample
                               in field_summary(plan.unclassified))
            self._fail(plan, result, f"refused: unclassified reference field(s) {fields}; say what they are in the "
                                     "map file's [references] (a resource type, \"none\" or \"keep\")")
            return None
        missing = plan.missing_secrets
        try:
            if resuming:
                assert entry is not None  # created before a kill: finish it
                target_id, info = id_value(entry["target_id"]), None
                job, secrets = self._job(plan, str(entry["name"]), created)
            else:
                target_id, job, secrets, info = await self._create(plan, created)
                missing = tuple(k for k in missing if k not in secrets)
            notes, info = await self.provider.finish(self.api, job, target_id, info)
        except FlowvaultError as e:
            self._fail(plan, result, str(e))
            return None
        self.ledger.log("done", src, target_id=target_id, name=job.name)
        result.imported.append(plan.label)
        result.left_disabled += notes
        if missing:
            result.missing_secrets.append(f"{plan.label}: {', '.join(missing)}")
            result.empty_secrets += len(missing)
        refused = info.get("setup") or [] if isinstance(info, dict) else []
        result.setup += [f"{plan.label}: {item}" for item in setup_required(job.export)
                         + self.provider.checklist(plan.flow.settings) + list(refused)]
        result.accepted += [f"{plan.label}: {r.field} = {r.source_id} ({r.where})" for r in plan.flow.kept]
        self.rep.event("flow_imported", flow_id=src, name=job.name, target_id=target_id)
        return Finished(plan, job, target_id, info, secrets)

    async def _create(self, plan: FlowPlan, created: dict[str, int | str]
                      ) -> tuple[int | str, CreateJob, dict[str, str], Any]:
        key = self.provider.name_key
        secrets = self.secrets
        if plan.action == "replace" and plan.target_id is not None:
            if plan.missing_secrets:  # never blank a live secret: the flow being replaced has its value
                live = await self.provider.live_secrets(self.api, plan.target_id)
                secrets = {**{k: v for k, v in live.items() if k in plan.missing_secrets}, **secrets}
            await self.provider.delete(self.api, plan.target_id)
            self.names.pop(str(plan.target_id), None)
        async with self._locks[key(plan.flow.name)]:  # one create per name at a time: `pre` stays true
            name = plan.flow.name
            if plan.action == "rename":
                name = unique_name(name, {key(n) for n in self.names.values()}, self.provider.renamed, key)
            pre = tuple(id_value(t) for t, n in sorted(self.names.items()) if key(n) == key(name))
            job, secrets = self._job(plan, name, created, pre, secrets)
            self.ledger.log("start", plan.flow.flow_id, name=name, pre=list(pre))
            made = await self.provider.create(self.api, job)
            self.ledger.log("created", plan.flow.flow_id, target_id=made.target_id, name=name, **made.ledger)
            self.names[str(made.target_id)] = name
        return made.target_id, job, secrets, made.info

    async def _settle(self, finished: Finished, created: dict[str, int | str], result: ImportResult) -> None:
        """Set a flow's deferred (cycle-closing) references now that every flow of the run exists,
        then prove it: the document it must now read back as is the one with them set."""
        plan, job = finished.plan, finished.job
        try:
            doc = self._document(plan, job.export, job.name, created, (), finished.secrets)
        except FlowvaultError as e:
            self._fail(plan, result, str(e))
            return
        steps = {(it, j): st for it, j, st in steps_of({"flow": doc})}
        for ref in plan.deferred:
            step, key = steps.get((ref.iteration, ref.step_index)), re.match(r"[^.\[]+", ref.field)
            try:
                if step is None or key is None:
                    raise PartialFailure("the step is not in the archived document")
                ok = await self.provider.patch_ref(self.api, finished.info, ref, {key.group(): step[key.group()]})
            except FlowvaultError as e:
                ok, why = False, str(e)
            else:
                why = f"flow reference {ref.source_id} could not be set"
            if not ok:
                self._fail(plan, result, f"version {ref.iteration} step '{ref.step_name}': {why}")
                return
        await self._prove(replace(finished, job=replace(job, doc=doc)), result)

    async def _prove(self, finished: Finished, result: ImportResult) -> None:
        """Proof after import: read the flow back and compare it with what was sent."""
        target_id = finished.target_id
        try:
            diffs = await self.provider.verify(self.api, finished.job, target_id)
        except FlowvaultError as e:
            diffs = [f"could not be read back ({e})"]
        if diffs:
            result.verified_failed += 1
            more = f" (+{len(diffs) - 3} more)" if len(diffs) > 3 else ""
            self._fail(finished.plan, result,
                       f"imported as #{target_id} but reads back different: {'; '.join(diffs[:3])}{more}")
        else:
            result.verified += 1

    def _fail(self, plan: FlowPlan, result: ImportResult, why: str) -> None:
        if plan.label in result.imported:
            result.imported.remove(plan.label)
        result.failed[plan.label] = why
        self.rep.event("flow_failed", flow_id=plan.flow.flow_id, message=f"{plan.label}: {why}")


async def import_archive(api: ApiClient, provider: Provider, snapshot: Snapshot, ledger: Ledger, mapping: MapFile, *,
                         target: str, flows: tuple[str, ...] = (), dry_run: bool = False,
                         on_conflict: str = "skip", enable: str = "off", reporter: Reporter | None = None,
                         workers: int = 8, same_company: bool = False, opener: Opener | None = None,
                         allow_missing_secrets: bool = False) -> ImportResult:
    started = time.monotonic()
    result = ImportResult(target=target, dry_run=dry_run, same_company=same_company,
                          allow_missing_secrets=allow_missing_secrets)
    importer = Importer(api, provider, snapshot, ledger, mapping, on_conflict=on_conflict, enable=enable,
                        reporter=reporter, workers=workers, same_company=same_company, opener=opener,
                        allow_missing_secrets=allow_missing_secrets)
    await importer.plan(flows, result)
    if not dry_run:
        await importer.run(result)
    result.requests, result.writes = api.stats.requests, api.stats.writes
    result.seconds = time.monotonic() - started
    return result
