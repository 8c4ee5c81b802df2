"""OCP orchestrator flows (../shared/reference/ocp-orchestrator-flows-api.txt), both directions.

A flow is a name, a group, input/output fields and a canvas; its app status comes from
``/api/apps/<uuid>/status/``. Export: one listing plus one status request per flow.
Import recreates a flow by name (checked against OCP's rule before any request); OCP
gives it a new canvas, recorded next to the old one in the ID map. OCP flows hold no
references to other resources, so of a map file only ``[flow]`` applies.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Callable
from typing import Any

from ..archive import FlowRecord, build_record
from ..canonical import Secrets, clean
from ..client import ApiClient
from ..errors import ApiError, ProtocolError, UsageError
from ..models import Created, CreateJob, Inventory, MapFile, Ref
from ..references import Rules

FLOWS = "/api/flows/"
NAME_RULE = re.compile(r"^[A-Za-z0-9_]+$")
DEFINITION = ("name", "group", "input_fields", "output_fields")


class Ocp:
    name = "ocp"
    paths = (FLOWS, f"{FLOWS}{{flow}}/", "/api/apps/{flow}/status/")
    documented_rate = 0.0  # the reference documents no limit

    def archive_problem(self, rel: str, data: Any) -> str | None:
        if rel == "export.json":
            ok = isinstance(data, dict) and isinstance(data.get("flow"), dict)
            return None if ok else "export document lacks 'flow'"
        return "unexpected file"

    # -- export ------------------------------------------------------------------

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

    async def iter_flows(self, api: ApiClient, say: Callable[[str], None] | None = None,
                         ) -> AsyncIterator[tuple[list[Any], int]]:
        yield await self.list_flows(api)

    def listing_includes(self, items: list[Any]) -> tuple[list[str], list[str]]:
        return [], []  # the reference documents no includes

    def fingerprint(self, flow: dict[str, Any], allow: frozenset[str]) -> str | None:
        return None  # the app status is not in the listing: every flow is fetched

    async def fetch(self, api: ApiClient, flow: dict[str, Any], secrets: Secrets) -> FlowRecord:
        status = await api.get(f"/api/apps/{flow['id']}/status/")
        settings = {**flow, "status": status.get("status") if isinstance(status, dict) else None}
        doc = {"flow": {**{k: flow.get(k) for k in DEFINITION}, "versions": []},
               "metadata": {"provider": self.name, "canvas_id": flow.get("canvas_id"), "source_flow_id": flow["id"]}}
        return build_record(clean(settings, secrets), clean(doc, secrets), [])

    # -- import ------------------------------------------------------------------

    def name_key(self, name: str) -> str:
        return name.lower()  # OCP's names are unique without regard to case (name__iexact)

    def name_problem(self, name: str) -> str | None:
        if NAME_RULE.match(name):
            return None
        return f"name '{name}' would be rejected by OCP (only letters, digits and '_')"

    def renamed(self, name: str, n: int) -> str:
        return f"{name}_{n}"

    def refs(self, export: dict[str, Any], flow_id: str, flow_name: str,
             rules: Rules) -> tuple[list[Ref], list[Ref], list[Ref]]:
        return [], [], []

    def checklist(self, settings: dict[str, Any]) -> list[str]:
        return []

    def check_map(self, mapping: MapFile, where: str) -> None:
        other = sorted(set(mapping.ids) - {"flow"})
        if other:
            raise UsageError(f"{where}: [{other[0]}] does not apply to OCP flows (they hold no references; "
                             "only [flow] source = target applies)")
        if mapping.secrets:
            raise UsageError(f"{where}: [secrets] does not apply to OCP flows (they have no variables)")

    async def inventory(self, api: ApiClient) -> Inventory:
        listed, _ = await self.list_flows(api)
        return Inventory({str(f["id"]): str(f.get("name")) for f in listed if isinstance(f, dict) and "id" in f})

    def document(self, export: dict[str, Any], resolve: Callable[[str, int], int | str | None],
                 deferred: tuple[Ref, ...], secrets: dict[str, str], *, name: str, rules: Rules,
                 open_sealed: Callable[[str], str | None] | None) -> dict[str, Any]:
        """The definition as archived, named ``name`` (OCP flows hold no references nor variables)."""
        return {**{k: v for k, v in export["flow"].items() if k in DEFINITION}, "name": name}

    async def create(self, api: ApiClient, job: CreateJob) -> Created:
        definition = job.doc
        pre = {str(i) for i in job.pre}

        async def created() -> Any:
            found = await api.get(FLOWS, {"name__iexact": job.name})
            new = [f for f in found if str(f["id"]) not in pre] if isinstance(found, list) else []
            return new[0] if new else None

        made = await api.create_once(FLOWS, definition, created)
        if not isinstance(made, dict) or "id" not in made:
            raise ProtocolError(f"POST {FLOWS}: the reply has no created flow")
        return Created(str(made["id"]), ledger={"canvas_id": made.get("canvas_id"),
                                                "source_canvas_id": job.export.get("metadata", {}).get("canvas_id")})

    async def delete(self, api: ApiClient, target_id: int | str) -> None:
        try:
            await api.delete(f"{FLOWS}{target_id}/")
        except ApiError as e:
            if e.status == 409:  # used by other apps/flows: OCP's reason says which
                raise ApiError(f"cannot replace the existing flow: {e}", status=409, method=e.method,
                               path=e.path) from None
            raise

    async def live_secrets(self, api: ApiClient, target_id: int | str) -> dict[str, str]:
        return {}  # OCP flows have no variables

    async def finish(self, api: ApiClient, job: CreateJob, target_id: int | str, info: Any) -> tuple[list[str], Any]:
        """OCP's API cannot start an app: flows started in the source are listed to start by hand,
        whatever the enable policy (with ``off`` they are meant to stay stopped anyway)."""
        flow = job.flow
        if flow.settings.get("status") != "started":
            return [], info
        if job.enable == "source":
            return [f"{flow.label}: was started in the source; OCP's API cannot start it: start the app by hand"], info
        return [flow.label], info

    async def patch_ref(self, api: ApiClient, info: Any, ref: Ref, body: dict[str, Any]) -> bool:
        return False  # OCP flows hold no references

    async def verify(self, api: ApiClient, job: CreateJob, target_id: int | str) -> list[str]:
        """Read the flow back and compare its definition with what was sent."""
        got = await api.get(f"{FLOWS}{target_id}/")
        if not isinstance(got, dict):
            raise ProtocolError(f"GET {FLOWS}{target_id}/: expected a flow object")
        return [f"{k} differs" for k in DEFINITION if k in job.doc and job.doc[k] != got.get(k)]
