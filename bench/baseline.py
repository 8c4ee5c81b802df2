"""The sequential baseline: what a user would write by hand — one request at a time with
httpx, following the API reference: list every flow, then for each flow the export, the
versions list, each version's detail and each version's schedules."""

from __future__ import annotations

import json
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx


@dataclass
class Baseline:
    listing: float  # seconds to list every flow
    per_flow: float  # seconds per flow after the listing
    requests_per_flow: float


def _pages(client: httpx.Client, path: str) -> list[Any]:
    items, page = [], 1
    while True:
        reply = _get(client, path, {"per_page": 100, "page": page})
        items += reply["data"]
        if page >= reply["meta"]["last_page"]:
            return items
        page += 1


def _get(client: httpx.Client, path: str, params: dict[str, Any] | None = None) -> Any:
    while True:
        r = client.get(path, params=params)
        if r.status_code == 429:  # a polite loop still honours the limit
            time.sleep(float(r.headers.get("Retry-After", "1")))
            continue
        r.raise_for_status()
        return r.json()


def sequential_export(base_url: str, api_key: str, *, limit: int) -> Baseline:
    out = Path(tempfile.mkdtemp(prefix="flowvault-baseline-"))
    with httpx.Client(base_url=base_url, headers={"Authorization": api_key}, timeout=60) as client:
        started = time.monotonic()
        flows = _pages(client, "/api/v1/flows")
        listing = time.monotonic() - started
        requests = 0
        started = time.monotonic()
        for flow in flows[:limit]:
            fid = flow["id"]
            doc = client.post("/api/v1/flows/export", json={"flow_id": fid}).json()
            versions = _pages(client, f"/api/v1/flows/{fid}/versions")
            details = [_get(client, f"/api/v1/flows/{fid}/versions/{v['id']}")["data"] for v in versions]
            for d in details:
                d["schedules"] = _pages(client, f"/api/v1/flow-versions/{d['id']}/schedules")
            (out / f"{fid}.json").write_text(json.dumps({"flow": flow, "export": doc, "versions": details}))
            requests += 2 + 2 * len(versions)
        per_flow = (time.monotonic() - started) / max(1, min(limit, len(flows)))
    return Baseline(listing, per_flow, requests / max(1, min(limit, len(flows))))
