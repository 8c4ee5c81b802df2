"""OCP orchestrator flows (../shared/reference/ocp-orchestrator-flows-api.txt).

A flow is a name, a group, input/output fields and a canvas; its app status comes from
``/api/apps/<uuid>/status/``. Export: one listing plus one status request per flow.
Import recreates a flow by name (checked against OCP's rule before any request); OCP
gives it a new canvas, recorded next to the old one in the ID map.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from typing import Any

from ..archive import ArchivedFlow, FlowRecord, Snapshot, build_record
from ..canonical import clean
from ..client import ApiClient
from ..errors import ApiError, ProtocolError
from ..importer import ImportResult, Ledger, create_once
from ..output import Reporter
from ..plan import FlowPlan

FLOWS = "/api/flows/"
NAME_RULE = re.compile(r"^[A-Za-z0-9_]+$")
DEFINITION = ("name", "group", "input_fields", "output_fields")


class Ocp:
    name = "ocp"

    async def list_flows(self, api: ApiClient) -> tuple[list[Any], int]:
        data = await api.get(FLOWS)
        if isinstance(data, dict) and isinstance(data.get("results"), list):  # a paginated deployment
            items = list(data["results"])
            total = int(data.get("count", len(items)))
            while isinstance(data, dict) and data.get("next"):
                data = await api.get(str(data["next"]))
                items += data.get("results", []) if isinstance(data, dict) else []
            return items, total
        if not isinstance(data, list):
            raise ProtocolError(f"GET {FLOWS}: expected a list of flows")
        return data, len(data)

    async def probe(self, api: ApiClient) -> str:
        _, total = await self.list_flows(api)
        return f"key accepted, {total} flows"

    async def iter_flows(self, api: ApiClient) -> AsyncIterator[tuple[list[Any], int]]:
        yield await self.list_flows(api)

    async def fetch(self, api: ApiClient, flow: dict[str, Any], keep_secrets: bool) -> tuple[FlowRecord, int]:
        status = await api.get(f"/api/apps/{flow['id']}/status/")
        settings = {**flow, "status": status.get("status") if isinstance(status, dict) else None}
        doc = {"flow": {**{k: flow.get(k) for k in DEFINITION}, "versions": []},
               "metadata": {"provider": self.name, "canvas_id": flow.get("canvas_id"), "source_flow_id": flow["id"]}}
        found: list[str] = []
        return build_record(clean(settings, keep_secrets, found), clean(doc, keep_secrets, found), []), len(found)


def name_problem(name: str) -> str | None:
    if NAME_RULE.match(name):
        return None
    return f"name '{name}' would be rejected by OCP (only letters, digits and '_')"


async def import_ocp(api: ApiClient, snapshot: Snapshot, ledger: Ledger, *, target: str, flows: tuple[str, ...] = (),
                     dry_run: bool = False, on_conflict: str = "skip",
                     reporter: Reporter | None = None) -> ImportResult:
    """Recreate archived OCP flows by name in a tenant; idempotent through the ledger."""
    rep = reporter or Reporter(progress=False)
    result = ImportResult(target=target, dry_run=dry_run)
    listed, _ = await Ocp().list_flows(api)
    existing = {str(f["id"]): str(f.get("name")) for f in listed}
    if not dry_run:
        for src, entry in list(ledger.started.items()):  # a create cut short by a kill: adopt it
            new = [i for i, n in existing.items() if n == entry["name"] and i not in set(entry.get("pre", []))]
            if new:
                ledger.log("done", src, target_id=new[0], name=entry["name"])
            ledger.started.pop(src, None)
    for fid in snapshot.select(flows):
        result.plans.append(_plan(snapshot.flow(fid), ledger, existing, on_conflict))
    if not dry_run:
        for plan in result.plans:
            await _run(api, plan, ledger, existing, result, rep)
    result.requests, result.writes = api.stats.requests, api.stats.writes
    return result


def _plan(flow: ArchivedFlow, ledger: Ledger, existing: dict[str, str], on_conflict: str) -> FlowPlan:
    entry = ledger.flows.get(flow.flow_id)
    if entry and entry.get("complete") and str(entry["target_id"]) in existing:
        return FlowPlan(flow, "skip", "already imported", target_id=entry["target_id"])
    name = str(flow.export["flow"].get("name"))
    problem = name_problem(name)
    if problem:
        return FlowPlan(flow, "invalid", problem)
    same = [i for i, n in existing.items() if n.lower() == name.lower()]
    if same:
        action = {"skip": "conflict", "rename": "rename", "replace": "replace"}[on_conflict]
        return FlowPlan(flow, action, f"the target already has a flow named '{existing[same[0]]}'",
                        target_id=same[0])  # type: ignore[arg-type]
    return FlowPlan(flow, "create")


async def _run(api: ApiClient, plan: FlowPlan, ledger: Ledger, existing: dict[str, str], result: ImportResult,
               rep: Reporter) -> None:
    if plan.action == "skip":
        result.skipped.append(plan.label)
        return
    if plan.action == "invalid":
        result.failed[plan.label] = plan.reason
        rep.event("flow_failed", flow_id=plan.flow.flow_id, message=f"{plan.label}: {plan.reason}")
        return
    if plan.action == "conflict":
        result.conflicts.append(f"{plan.label}: {plan.reason}; use --on-conflict rename|replace")
        return
    export = plan.flow.export
    definition = {k: v for k, v in export["flow"].items() if k in DEFINITION}
    name = str(definition["name"])
    try:
        if plan.action == "replace":
            await api.delete(f"{FLOWS}{plan.target_id}/")
            existing.pop(str(plan.target_id), None)
        elif plan.action == "rename":
            n = 2
            while any(x.lower() == f"{name}_{n}".lower() for x in existing.values()):
                n += 1
            name = definition["name"] = f"{name}_{n}"
        pre = [i for i, x in existing.items() if x == name]
        ledger.log("start", plan.flow.flow_id, name=name, pre=pre)

        async def created() -> Any:
            found = await api.get(FLOWS, {"name__iexact": name})
            new = [f for f in found if str(f["id"]) not in pre] if isinstance(found, list) else []
            return new[0] if new else None

        made = await create_once(api, FLOWS, definition, created)
    except ApiError as e:
        why = str(e)
        if e.status == 409:
            why = f"cannot replace the existing flow: {e}"
        result.failed[plan.label] = why
        rep.event("flow_failed", flow_id=plan.flow.flow_id, message=f"{plan.label}: {why}")
        return
    existing[str(made["id"])] = name
    ledger.log("done", plan.flow.flow_id, target_id=str(made["id"]), name=name,
               canvas_id=made.get("canvas_id"), source_canvas_id=export["metadata"].get("canvas_id"))
    result.imported.append(plan.label)
    if plan.flow.settings.get("status") == "started":
        result.left_disabled.append(f"{plan.label}: was started in the source; start the app in OCP when ready")
    rep.event("flow_imported", flow_id=plan.flow.flow_id, name=name, target_id=made["id"])
