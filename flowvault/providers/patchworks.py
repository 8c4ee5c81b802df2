"""Patchworks Core API: what flowvault asks of it to list and fetch flows.

Two requests per flow for most flows: the export document, and the versions list with
steps, variables and schedules included; a version the list returns without them is
fetched through its detail and schedules endpoints.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import anyio

from ..archive import FlowRecord, build_record
from ..canonical import clean
from ..client import ApiClient
from ..errors import FlowvaultError

FLOWS = "/api/v1/flows"
LISTING = {"include": "labels", "sort": "id"}


class Patchworks:
    name = "patchworks"

    async def list_flows(self, api: ApiClient) -> tuple[list[Any], int]:
        return await api.paginate(FLOWS, LISTING)

    async def probe(self, api: ApiClient) -> str:
        reply = await api.get(FLOWS, {"per_page": 1})
        total = reply.get("meta", {}).get("total") if isinstance(reply, dict) else None
        return f"key accepted, {total} flows"

    async def iter_flows(self, api: ApiClient) -> AsyncIterator[tuple[list[Any], int]]:
        async for page in api.iter_pages(FLOWS, LISTING):
            yield page

    async def fetch(self, api: ApiClient, flow: dict[str, Any], keep_secrets: bool) -> tuple[FlowRecord, int]:
        return await fetch_flow(api, flow, keep_secrets)


VERSION_INCLUDE = "steps,variables,schedules"


async def fetch_flow(api: ApiClient, flow: dict[str, Any], keep_secrets: bool) -> tuple[FlowRecord, int]:
    """Every request for one flow: the export document and the versions list (all pages)
    with steps, variables and schedules included — two requests for most flows. A version
    the list returns without them is fetched by its detail and schedules endpoints.
    Returns the record and the number of redacted secret values."""
    fid = int(flow["id"])
    found: list[str] = []
    got: dict[str, Any] = {}

    async def export_doc() -> None:
        got["export"] = await api.post(f"{FLOWS}/export", {"flow_id": fid})

    async def version_list() -> None:
        got["versions"], _ = await api.paginate(f"{FLOWS}/{fid}/versions", {"include": VERSION_INCLUDE})

    async with anyio.create_task_group() as tg:
        tg.start_soon(export_doc)
        tg.start_soon(version_list)

    versions: dict[int, dict[str, Any]] = {}
    for v in got["versions"]:
        if not isinstance(v, dict) or "id" not in v:
            raise FlowvaultError(f"GET {FLOWS}/{fid}/versions: a version has no 'id'")
        versions[int(v["id"])] = v

    async def complete(vid: int) -> None:
        reply = await api.get(f"{FLOWS}/{fid}/versions/{vid}")
        detail = reply.get("data") if isinstance(reply, dict) else None
        if not isinstance(detail, dict):
            raise FlowvaultError(f"flow {fid}: version {vid} detail has no 'data' object")
        schedules, _ = await api.paginate(f"/api/v1/flow-versions/{vid}/schedules")
        versions[vid] = {**detail, "schedules": schedules}

    async with anyio.create_task_group() as tg:
        for vid, v in versions.items():
            if not all(isinstance(v.get(k), list) for k in ("steps", "variables", "schedules")):
                tg.start_soon(complete, vid)
    cleaned = [clean({**v, "schedules": sorted(v["schedules"], key=lambda s: s.get("id", 0))}, keep_secrets, found)
               for _, v in sorted(versions.items())]
    record = build_record(clean(flow, keep_secrets, found), clean(got["export"], keep_secrets, found), cleaned)
    return record, len(found)
