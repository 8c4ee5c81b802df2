"""The vendor's contract: the simulator judges every request against the vendor's OpenAPI document,
and flowvault's requests conform to it (the suite's conftest fails any test that sends one it refuses)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import anyio
import orjson
import pytest
from click.testing import CliRunner

from flowvault.client import ApiClient
from flowvault.config import load_config
from flowvault.errors import ValidationError
from flowvault.exportrun import run_export
from flowvault.importrun import run_import
from flowvault.providers.pwpaths import UNDOCUMENTED
from flowvault.simulator.contract import SPEC_PATH, provenance, spec

from .conftest import cli, manifest, write_config

REFERENCE = Path(__file__).resolve().parents[2] / "shared" / "reference" / "patchworks-openapi.json"


def refused(server: Any, method: str, path: str, *, params: dict[str, Any] | None = None,
            body: Any = None) -> dict[str, list[str]]:
    """Send one request as flowvault used to: the simulator's 422 errors by field."""
    key = server.sim.company(0).api_key

    async def go() -> None:
        async with ApiClient(server.url, key, max_retries=0) as api:
            await api.request(method, path, params=params, json=body)

    with pytest.raises(ValidationError) as info:
        anyio.run(go)
    sim = server.sim
    assert [v.errors for v in sim.contract.violations] == [info.value.errors]
    sim.contract.violations.clear()  # sent on purpose
    return info.value.errors


@pytest.mark.parametrize("case", ["as_marketplace", "labels", "webhook_nulls", "callback_nulls", "list_per_page"])
def test_the_requests_flowvault_used_to_send_are_refused_by_name(server: Any, case: str) -> None:
    """Items 1-4 of the contract review, as flowvault sent them before: each is answered 422 naming
    the field, as the vendor's Laravel application answers a failed validation."""
    fid = next(iter(server.sim.company(0).flows))
    if case == "as_marketplace":
        errors = refused(server, "POST", "/api/v1/flows/import",
                         body={"flow": "{}", "metadata": "{}", "as_marketplace": False})
        assert list(errors) == ["as_marketplace"] and "string" in errors["as_marketplace"][0]
    elif case == "labels":
        errors = refused(server, "PUT", f"/api/v1/flows/{fid}", body={"labels": [{"name": "urgent"}]})
        assert list(errors) == ["labels.0.id"]
    elif case in ("webhook_nulls", "callback_nulls"):
        name = case.split("_")[0] + "s"
        errors = refused(server, "POST", f"/api/v1/flows/{fid}/{name}", body={"status": None, "format": None})
        assert sorted(errors) == ["format", "status"] and "null" in errors["status"][0]
    else:
        for name in ("webhooks", "callbacks"):
            errors = refused(server, "GET", f"/api/v1/flows/{fid}/{name}", params={"per_page": 100})
            assert list(errors) == ["per_page"]


def test_the_contract_is_the_vendors_document_with_its_provenance() -> None:
    """The project carries the merged document as the reference has it; each operation says whether
    it is the vendor's JSON or our reading of the vendor's text pages; every endpoint flowvault uses
    outside it is in one table with why and what a 404 does."""
    if REFERENCE.exists():
        assert SPEC_PATH.read_bytes() == REFERENCE.read_bytes()
    marks = provenance()
    assert marks[("GET", "/api/v1/flows/{flow}/versions")] == "vendor"
    assert marks[("POST", "/api/v1/flows/import")] == "text pages"
    assert set(marks.values()) == {"vendor", "text pages"}
    for (method, path), why in UNDOCUMENTED.items():
        assert path not in spec()["paths"] and method == "GET"
        assert why.why and why.when_refused


def test_labels_are_set_by_id_where_the_target_carries_them(make_server: Any, tmp_path: Path,
                                                           monkeypatch: Any) -> None:
    """A label is named by its ID: found by name on the target's flows (the listing's labels include).
    A label no target flow carries cannot be created through the reference: the flow is imported and
    the checklist names the label."""
    server = make_server(flows=12, companies=1, empty_companies=1, seed=11)
    sim, state = server.sim, server.sim.state
    a, b = sim.company(0), sim.company(1)
    holder = state.create_flow(b, {"flow": {"name": "label holder"}})
    kept = sorted(b.labels)[:3]  # the target's flows carry three of its five labels
    holder["_labels"] = kept
    carried = {b.labels[i]["name"] for i in kept}
    conf = load_config(write_config(tmp_path / "fv.toml", server, monkeypatch))
    archive = tmp_path / "archive"
    run_export(conf.profile("company-a"), archive)
    result = run_import(conf.profile("company-b"), archive, allow_missing_secrets=True)
    assert result.ok, result.failed
    mapping = orjson.loads((archive / "imports" / "company-b.json").read_bytes())["flows"]
    said = " ".join(result.setup)
    labelled = 0
    for src, entry in mapping.items():
        want = {a.labels[i]["name"] for i in a.flows[int(src)]["_labels"]}
        got = {b.labels[i]["name"] for i in b.flows[entry["target_id"]]["_labels"]}
        assert got == want & carried
        labelled += bool(got)
        for name in want - carried:
            assert f"#{src}): label '{name}': not in the target" in said
    assert labelled, "some flow's labels were set by ID"


def test_webhooks_and_callbacks_are_created_from_their_archived_fields_only(make_server: Any, tmp_path: Path,
                                                                           monkeypatch: Any) -> None:
    """A webhook the source lists without a status or format is recreated without them (never null,
    which the spec's enums refuse); one with them is recreated with them."""
    server = make_server(flows=3, companies=1, empty_companies=1, seed=5)
    a, b = server.sim.company(0), server.sim.company(1)
    fid = sorted(a.flows)[0]
    a.flows[fid]["_webhooks"] = [{"id": 1, "url": "https://hooks.example.test/1", "status": None, "format": None,
                                  "body": None, "hmac_algorithm": None, "hmac_secret_key": None}]
    a.flows[fid]["_callbacks"] = [{"id": 2, "status": "inactive", "format": "xml"}, {"id": 3}]
    conf = load_config(write_config(tmp_path / "fv.toml", server, monkeypatch))
    archive = tmp_path / "archive"
    run_export(conf.profile("company-a"), archive)
    result = run_import(conf.profile("company-b"), archive, allow_missing_secrets=True)
    assert result.ok, result.failed
    target = orjson.loads((archive / "imports" / "company-b.json").read_bytes())["flows"][str(fid)]["target_id"]
    hooks, calls = b.flows[target]["_webhooks"], b.flows[target]["_callbacks"]
    assert len(hooks) == 1 and hooks[0]["body"] is None  # the simulator's defaults for what was left out
    assert sorted((c["status"], c["format"]) for c in calls) == [("active", "json"), ("inactive", "xml")]


def test_a_callbacks_list_cut_into_pages_is_marked_not_captured(make_server: Any, tmp_path: Path,
                                                                monkeypatch: Any, runner: CliRunner) -> None:
    """The callbacks list documents no page parameter: a reply that says it has more pages cannot be
    completed, so the part keeps its last copy and is named in the warnings; the rest is archived."""
    server = make_server(flows=4, companies=1)
    sim = server.sim
    sim.honour_listing_include = {"labels", "versions", "versions.schedules", "versions.variables", "webhooks"}
    company = sim.company(0)
    fid = sorted(company.flows)[0]
    company.flows[fid]["_callbacks"] = [{"id": 90 + i, "status": "active", "format": "json"} for i in range(3)]
    sim.relation_page_size = 2
    config = write_config(tmp_path / "fv.toml", server, monkeypatch)
    archive = tmp_path / "archive"
    result = cli(runner, "export", "--config", config, "-a", archive)
    assert result.exit_code == 0, result.output
    entry = next(e for k, e in manifest(archive)["flows"].items() if k == str(fid))
    saved = orjson.loads((archive / "flows" / entry["folder"] / "flow.json").read_bytes())
    assert "page 1 of 2" in saved["_not_captured"]["callbacks"] and "callbacks" not in saved
    assert "callbacks not captured" in result.output
    others = [e for k, e in manifest(archive)["flows"].items() if k != str(fid)]
    assert all("callbacks" not in e.get("not_captured", []) for e in others)
