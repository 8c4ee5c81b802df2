"""Replies generated from the vendor's response schemas (``patchworks-openapi.json``) for the flows
listing, the export document and the versions endpoints, fed to the export stage. Two promises:
every case ends in a complete archive or in one line naming the flow or field with a documented
exit code — never a traceback, never success with a flow, version or step missing."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import anyio
import httpx
import orjson
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from flowvault.archive import Archive
from flowvault.client import ApiClient
from flowvault.errors import EXIT_INTERNAL, FlowvaultError
from flowvault.exporter import export_flows
from flowvault.protocol import flow_id
from flowvault.providers import PATCHWORKS
from flowvault.simulator.contract import spec

SCHEMAS = spec()["components"]["schemas"]
LEAF = st.one_of(st.none(), st.booleans(), st.integers(-3, 3), st.text(max_size=6))
DATES = st.sampled_from(["2026-01-02T03:04:05Z", "2026-12-07T00:00:00+00:00", "yesterday", ""])


def from_schema(schema: dict[str, Any], depth: int = 0) -> st.SearchStrategy[Any]:
    """Values the schema allows (its literal types: a field typed string is a string), small."""
    if "$ref" in schema:
        return from_schema(SCHEMAS[schema["$ref"].rsplit("/", 1)[1]], depth)
    kind = schema.get("type")
    if "enum" in schema:
        base: st.SearchStrategy[Any] = st.sampled_from(schema["enum"])
    elif kind == "string":
        base = DATES if schema.get("format") == "date-time" else st.text(max_size=8)
    elif kind == "integer":
        base = st.integers(-2, 5000)
    elif kind == "boolean":
        base = st.booleans()
    elif kind == "array":
        items = schema.get("items") or {}
        base = st.lists(from_schema(items, depth + 1) if depth < 3 else LEAF, max_size=2)
    elif kind == "object" and schema.get("properties") and depth < 4:
        props = schema["properties"]
        base = st.fixed_dictionaries({}, optional={k: from_schema(v, depth + 1) for k, v in props.items()})
    elif kind == "object":
        base = st.dictionaries(st.text(max_size=5), LEAF, max_size=2)
    else:
        base = LEAF
    return st.one_of(st.none(), base) if schema.get("nullable") else base


ids = st.integers(1, 40)
flow_item = st.tuples(from_schema(SCHEMAS["Flows"]), ids).map(lambda t: {**t[0], "id": t[1]})
version_item = st.tuples(from_schema(SCHEMAS["FlowVersions"]), st.integers(100, 130)).map(
    lambda t: {**t[0], "id": t[1]})
step = st.fixed_dictionaries({"id": st.integers(1, 10**6), "name": st.text(max_size=8)},
                             optional={"microservice": st.text(max_size=5), "config": st.text(max_size=10)})
exported_version = st.tuples(version_item, st.lists(step, max_size=3)).map(lambda t: {**t[0], "steps": t[1]})
export_doc = st.one_of(
    st.fixed_dictionaries({"flow": st.fixed_dictionaries({"name": st.text(max_size=8)}, optional={
        "versions": st.lists(exported_version, max_size=3)}), "metadata": st.dictionaries(st.text(max_size=4), LEAF)}),
    st.dictionaries(st.text(max_size=5), LEAF, max_size=2),  # the schema says only: an object
)


def page(items: list[Any], broken: dict[str, Any] | None) -> dict[str, Any]:
    meta = {"current_page": 1, "last_page": 1, "per_page": 100, "total": len(items)}
    return {"data": items, "meta": broken if broken is not None else meta, "links": {}}


def consistent(w: dict[str, Any]) -> dict[str, Any]:
    """One truth about each flow's versions: the listing carries them (as drawn, or without their
    schedules and variables) or leaves them out, and the versions list has the same ones."""
    for item, how in zip(w["listing"], w["listing_versions"], strict=False):
        item.pop("versions", None)
        item.pop("versions_count", None)
        if how == "full":
            item["versions"] = w["versions"]
        elif how == "stripped":
            item["versions"] = [{k: v for k, v in x.items() if k not in ("schedules", "variables")}
                                for x in w["versions"]]
    return w


world = st.fixed_dictionaries({
    "listing": st.lists(flow_item, max_size=4, unique_by=lambda f: f["id"]),
    "listing_versions": st.lists(st.sampled_from(["full", "stripped", "absent"]), min_size=4, max_size=4),
    "meta": st.one_of(st.none(), st.none(), st.none(), from_schema(SCHEMAS["PaginationMeta"]).map(
        lambda m: {k: (min(v, 2) if isinstance(v, int) else v) for k, v in m.items()})),  # mostly coherent
    "exports": st.lists(export_doc, min_size=4, max_size=4),
    "versions": st.lists(version_item, max_size=3, unique_by=lambda v: v["id"]),
    "detail": from_schema(SCHEMAS["FlowsResponse"]),
    "schedules": from_schema(SCHEMAS["FlowVersionsListResponse"]),
    "relation": st.one_of(st.lists(st.dictionaries(st.text(max_size=4), LEAF, max_size=2), max_size=2).map(
        lambda items: {"data": items}), st.dictionaries(st.text(max_size=4), LEAF, max_size=2)),
}).map(consistent)


def serve(w: dict[str, Any]) -> httpx.MockTransport:
    """The API's stand-in for one case: each endpoint answers the reply drawn for it."""
    listed = [f["id"] for f in w["listing"]]

    def handler(request: httpx.Request) -> httpx.Response:
        path = request.url.path
        if path == "/api/v1/flows":
            body: Any = page(w["listing"], w["meta"])
        elif path == "/api/v1/flows/export":
            fid = orjson.loads(request.content)["flow_id"]
            body = w["exports"][listed.index(fid) % 4] if fid in listed else {"message": "Not found."}
        elif path.endswith("/versions"):
            body = page(w["versions"], None)
        elif "/versions/" in path:
            body = w["detail"]
        elif path.endswith("/schedules"):
            body = w["schedules"]
        else:
            body = w["relation"]
        return httpx.Response(200, json=body)

    return httpx.MockTransport(handler)


def archived(root: Path) -> dict[str, Any]:
    return orjson.loads((root / "manifest.json").read_bytes())["flows"] if (root / "manifest.json").exists() else {}


@settings(max_examples=40, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(w=world)
def test_replies_in_every_shape_the_schema_allows_archive_completely_or_fail_by_name(
        tmp_path_factory: Any, w: dict[str, Any]) -> None:
    root = tmp_path_factory.mktemp("fuzz")

    async def go() -> Any:
        async with ApiClient("http://vendor.test", "key", max_retries=0, concurrency=1,
                             transport=serve(w)) as api:
            return await export_flows(api, Archive(root), profile="fuzz", base_url="http://vendor.test", provider=PATCHWORKS, workers=1)

    try:
        result = anyio.run(go)
    except FlowvaultError as e:  # the run stops: one line, a documented exit code
        assert "\n" not in str(e) and str(e).strip() and e.exit_code != EXIT_INTERNAL, repr(e)
        return
    saved = archived(root)
    for label, why in result.failed.items():
        assert "#" in label and "\n" not in why and why.strip(), (label, why)
    failed = " ".join(result.failed)
    for item in w["listing"]:
        fid = flow_id(item["id"])
        assert str(fid) in saved or f"#{fid})" in failed, f"flow {fid} neither archived nor failed by name"
    for fid, entry in saved.items():
        folder = root / "flows" / entry["folder"]
        export = orjson.loads((folder / "export.json").read_bytes())
        not_captured = set(entry.get("not_captured", ()))
        listed_versions = {str(v["id"]) for v in w["versions"]}
        on_disk = {p.stem for p in (folder / "versions").glob("*.json")}
        if "versions" not in not_captured:  # what the API says exists is what was saved
            assert listed_versions <= on_disk, (listed_versions, on_disk)
        for v in export.get("flow", {}).get("versions") or []:
            if isinstance(v, dict) and str(v.get("id")) in on_disk:
                kept = orjson.loads((folder / "versions" / f"{v['id']}.json").read_bytes())
                assert len(kept.get("steps") or []) == len(v.get("steps") or []), f"flow {fid}: a step is missing"
