"""The OCP orchestrator's flow API on the same server (per ../shared/reference/ocp-*):
``/api/flows/`` list/create, ``/api/flows/<uuid>/`` get/update/delete (409 when used by
other apps/flows), ``/api/apps/<uuid>/status/``. Each company is a tenant."""

from __future__ import annotations

import random
import re
import uuid
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from .state import Company, SimError

NAME_OK = re.compile(r"^[A-Za-z0-9_]+$")
GROUPS = ["billing", "logistics", "crm", "reporting"]
FIELDS = ["order_id", "sku", "qty", "customer_id", "amount", "currency", "warehouse", "status"]


def ocp_state(c: Company) -> dict[str, Any]:
    """The tenant's OCP flows (by uuid), their usage (uuid → names of users) and statuses."""
    if not hasattr(c, "_ocp"):
        c._ocp = {"flows": {}, "used_by": {}, "status": {}}  # type: ignore[attr-defined]
    return c._ocp  # type: ignore[attr-defined, no-any-return]


def new_uuid(rng: random.Random) -> str:
    return str(uuid.UUID(int=rng.getrandbits(128), version=4))


def generate_ocp(c: Company, rng: random.Random, flows: int) -> None:
    st = ocp_state(c)
    for n in range(flows):
        fid = new_uuid(rng)
        st["flows"][fid] = {
            "id": fid, "name": f"{rng.choice(['sync', 'route', 'score', 'enrich'])}_{rng.choice(FIELDS)}_{n}",
            "group": rng.choice(GROUPS), "input_fields": rng.sample(FIELDS, 3), "output_fields": rng.sample(FIELDS, 2),
            "canvas_id": new_uuid(rng),
        }
        st["status"][fid] = rng.choice(["started", "stopped", "not-deployed"])
    ids = sorted(st["flows"])
    for fid in ids[: max(0, len(ids) // 5)]:
        st["used_by"][fid] = [st["flows"][rng.choice(ids)]["name"], "billing_app"]


def _flow(c: Company, fid: str) -> dict[str, Any]:
    try:
        return ocp_state(c)["flows"][fid]
    except KeyError:
        raise SimError(404, "Not found.") from None


class OcpRoutes:
    """Handlers; the Simulator wraps them with auth, faults and the state lock."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        self.failing: set[str] = set()  # status of these flows always answers 500

    async def list(self, request: Request, c: Company) -> Any:
        q = request.query_params
        flows = sorted(ocp_state(c)["flows"].values(), key=lambda f: f["id"])
        if "name__iexact" in q:
            flows = [f for f in flows if f["name"].lower() == q["name__iexact"].lower()]
        if "group__iexact" in q:
            flows = [f for f in flows if str(f.get("group", "")).lower() == q["group__iexact"].lower()]
        return [dict(f) for f in flows]

    async def create(self, request: Request, c: Company) -> Any:
        body = request.state.body
        name = body.get("name")
        if not isinstance(name, str) or not NAME_OK.match(name):
            return Response(_dumps({"name": ["Invalid flow name. Flow name must contain only alphanumeric "
                                             "characters and the underscore character."]}),
                            status_code=400, media_type="application/json")
        fid = new_uuid(self.rng)
        flow = {"id": fid, "name": name, "group": body.get("group") or "",
                "input_fields": list(body.get("input_fields") or []),
                "output_fields": list(body.get("output_fields") or []), "canvas_id": new_uuid(self.rng)}
        ocp_state(c)["flows"][fid] = flow
        ocp_state(c)["status"][fid] = "not-deployed"
        return Response(_dumps(flow), status_code=201, media_type="application/json")

    async def get(self, request: Request, c: Company) -> Any:
        return dict(_flow(c, request.path_params["fid"]))

    async def update(self, request: Request, c: Company) -> Any:
        flow = _flow(c, request.path_params["fid"])
        for key in ("input_fields", "output_fields", "group"):
            if key in request.state.body:
                flow[key] = request.state.body[key]
        return dict(flow)

    async def delete(self, request: Request, c: Company) -> Any:
        fid = request.path_params["fid"]
        _flow(c, fid)
        users = ocp_state(c)["used_by"].get(fid)
        if users:
            return Response(_dumps({"detail": "Cannot delete the Flow, because it is used by these apps/flows: "
                                              + ",".join(users)}), status_code=409, media_type="application/json")
        del ocp_state(c)["flows"][fid]
        ocp_state(c)["status"].pop(fid, None)
        return Response(status_code=204)

    async def status(self, request: Request, c: Company) -> Any:
        fid = request.path_params["fid"]
        _flow(c, fid)
        if fid in self.failing:
            raise SimError(500, "Server Error")
        return {"status": ocp_state(c)["status"].get(fid, "not-deployed")}


def _dumps(data: Any) -> bytes:
    import orjson

    return orjson.dumps(data)
