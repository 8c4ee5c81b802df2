"""Import and restore against two simulated companies over HTTP."""

from __future__ import annotations

import signal
import subprocess
from collections import Counter
from pathlib import Path
from typing import Any

import orjson
import pytest
from click.testing import CliRunner

from flowvault.exportrun import run_export
from flowvault.importrun import run_import
from flowvault.actions.restore import run_restore
from flowvault.cli import main
from flowvault.config import load_config
from flowvault.errors import ConfigError, UsageError
from flowvault.mapfile import parse_map
from flowvault.simulator import REF_FIELDS, Gate

from .conftest import flowvault_process, interrupt_at_gate, write_config

REFS = REF_FIELDS  # the simulator's own (flat) step fields, whatever dialect it serves


def shape(sim: Any, company: Any, fid: int, mask_secrets: bool = False) -> dict[str, Any]:
    """A flow as a user compares it across companies: everything but IDs (references by name)."""
    state = sim.state
    flow = company.flows[fid]
    versions = []
    for vid in state.flow_version_ids(company, fid):
        v = company.versions[vid]
        steps = [{k: (state.resource_name(company, REFS[k], val) if k in REFS and val is not None else val)
                  for k, val in s.items() if k != "id"} for s in v["steps"]]
        variables = [dict(var, value="?") if mask_secrets and var["secret"] else var for var in v["variables"]]
        versions.append({"iteration": v["iteration"], "status": v["status"], "deployed_at": v["deployed_at"],
                         "steps": steps, "variables": variables,
                         "schedules": [s["cron_string"] for s in state.version_schedules(company, vid)]})
    return {"name": flow["name"], "description": flow["description"], "priority": flow["priority"],
            "enabled": flow["enabled_at"] is not None,
            "labels": sorted(company.labels[i]["name"] for i in flow["_labels"]), "versions": versions,
            **{name: sorted(repr(sorted((k, v) for k, v in x.items() if k in ("status", "format", "body")))
                            for x in flow.get(f"_{name}", [])) for name in ("webhooks", "callbacks")}}


@pytest.fixture
def two(make_server: Any, tmp_path: Path, monkeypatch: Any) -> Any:
    server = make_server(flows=25, companies=1, empty_companies=1, seed=11)
    cfg = write_config(tmp_path / "fv.toml", server, monkeypatch, max_retries=3)
    conf = load_config(cfg)
    return server, conf.profile("company-a"), conf.profile("company-b"), cfg


def imported_map(archive: Path, target: str) -> dict[int, int]:
    data = orjson.loads((archive / "imports" / f"{target}.json").read_bytes())
    return {int(k): v["target_id"] for k, v in data["flows"].items()}


def test_migration_round_trip_and_rerun_creates_nothing(two: Any, tmp_path: Path) -> None:
    server, a, b, _ = two
    sim = server.sim
    archive = tmp_path / "archive"
    run_export(a, archive, keep_secrets=True)
    result = run_import(b, archive, enable="source")
    assert result.ok and len(result.imported) == 25, result.failed
    ca, cb = sim.company(0), sim.company(1)
    hooks = [f for f in ca.flows.values() if f.get("_webhooks")]
    assert hooks and any(f"#{f['id']}): webhook {f['_webhooks'][0]['url']}" in " ".join(result.setup) for f in hooks)
    mapping = imported_map(archive, "company-b")
    assert sorted(mapping) == sorted(ca.flows) and sorted(mapping.values()) == sorted(cb.flows)
    for src, tgt in mapping.items():
        # labels: B's flows carried none, so none could be found by name (the reference creates none);
        # each is named on the setup checklist instead (tests/test_contract.py sets them by ID)
        assert {**shape(sim, cb, tgt), "labels": []} == {**shape(sim, ca, src), "labels": []}
        assert not cb.flows[tgt]["_labels"]
        for name in shape(sim, ca, src)["labels"]:
            assert any(f"#{src}): label '{name}': not in the target" in line for line in result.setup)
        for vid in sim.state.flow_version_ids(cb, tgt):  # references point at B's own objects
            for step in cb.versions[vid]["steps"]:
                for key, rtype in REFS.items():
                    if step.get(key) is not None:
                        assert sim.state.resource_exists(cb, rtype, step[key])
    # exporting B gives A's archive apart from IDs
    archive_b = tmp_path / "archive-b"
    run_export(b, archive_b, keep_secrets=True)
    mb = orjson.loads((archive_b / "manifest.json").read_bytes())["flows"]
    ma = orjson.loads((archive / "manifest.json").read_bytes())["flows"]
    assert Counter(e["name"] for e in ma.values()) == Counter(e["name"] for e in mb.values())
    assert {e["versions"] for e in ma.values()} == {e["versions"] for e in mb.values()}

    writes = sim.writes(1)
    again = run_import(b, archive, enable="source")
    assert again.ok and not again.imported and len(again.skipped) == 25
    assert sim.writes(1) == writes and len(cb.flows) == 25


def test_default_import_leaves_flows_disabled_and_lists_them(two: Any, tmp_path: Path) -> None:
    server, a, b, _ = two
    archive = tmp_path / "archive"
    run_export(a, archive)
    result = run_import(b, archive)
    cb = server.sim.company(1)
    assert all(f["enabled_at"] is None for f in cb.flows.values())
    enabled_in_a = [f for f in server.sim.company(0).flows.values() if f["enabled_at"]]
    assert len(result.left_disabled) == len(enabled_in_a) > 0
    assert result.missing_secrets, "redacted secrets are reported as needing a value"


def test_dry_run_makes_no_write_request(two: Any, tmp_path: Path, runner: CliRunner) -> None:
    server, a, _, cfg = two
    archive = tmp_path / "archive"
    run_export(a, archive)
    before = server.sim.writes(1)
    result = runner.invoke(main, ["import", "--config", str(cfg), "--target", "company-b", "--archive",
                                  str(archive), "--dry-run"])
    assert result.exit_code == 0, result.output
    creates = [line for line in result.output.splitlines() if line.startswith("  create ")]
    assert len(creates) == 25 and "dry run" in result.output
    assert server.sim.writes(1) == before == 0
    assert not (archive / "imports").exists()


def test_missing_reference_stops_only_that_flow(two: Any, tmp_path: Path, runner: CliRunner) -> None:
    server, a, _, cfg = two
    archive = tmp_path / "archive"
    run_export(a, archive)
    ca, cb = server.sim.company(0), server.sim.company(1)
    cache_name = "currency rates"
    users = {fid for fid in ca.flows for vid in server.sim.state.flow_version_ids(ca, fid)
             for s in ca.versions[vid]["steps"]
             if s.get("cache_id") and ca.resources["cache"][s["cache_id"]]["name"] == cache_name}
    assert users and len(users) < len(ca.flows)
    victim = next(i for i, r in cb.resources["cache"].items() if r["name"] == cache_name)
    del cb.resources["cache"][victim]
    args = ["import", "--config", str(cfg), "--target", "company-b", "--archive", str(archive)]
    dry = runner.invoke(main, [*args, "--dry-run"])
    assert dry.exit_code == 3 and "unresolved" in dry.output and cache_name in dry.output
    result = runner.invoke(main, args)
    assert result.exit_code == 3
    assert "step 'Cache: currency rates'" in result.output
    blocked = set(users)  # and the flows that call them
    while True:
        more = {fid for fid in ca.flows for vid in server.sim.state.flow_version_ids(ca, fid)
                for s in ca.versions[vid]["steps"] if s.get("target_flow_id") in blocked} - blocked
        if not more:
            break
        blocked |= more
    assert len(cb.flows) == len(ca.flows) - len(blocked)
    # a map file fixes it: the re-run imports only the rest
    other = next(i for i, r in cb.resources["cache"].items() if r["name"] == "sku lookup")
    src = next(i for i, r in ca.resources["cache"].items() if r["name"] == cache_name)
    mapfile = tmp_path / "map.toml"
    mapfile.write_text(f"[cache]\n{src} = {other}\n")
    fixed = runner.invoke(main, [*args, "--map", str(mapfile)])
    assert fixed.exit_code == 0, fixed.output
    assert len(cb.flows) == len(ca.flows)


def test_flow_reference_cycle_is_patched_after_both_exist(two: Any, tmp_path: Path) -> None:
    server, a, b, _ = two
    ca, cb, state = server.sim.company(0), server.sim.company(1), server.sim.state
    x, y = sorted(ca.flows)[:2]
    for src, dst in ((x, y), (y, x)):
        for vid in state.flow_version_ids(ca, src):
            ca.versions[vid]["steps"].append({"id": state.next_id(), "name": f"call {dst}", "type": "flow",
                                              "position": 99, "config": {}, "target_flow_id": dst})
    archive = tmp_path / "archive"
    run_export(a, archive)
    result = run_import(b, archive, flows=(str(x),))
    assert result.ok, result.failed
    mapping = imported_map(archive, "company-b")
    assert {x, y} <= set(mapping)
    for src, dst in ((x, y), (y, x)):
        for vid in state.flow_version_ids(cb, mapping[src]):
            calls = [s for s in cb.versions[vid]["steps"] if s["name"] == f"call {dst}"]
            assert calls and calls[0]["target_flow_id"] == mapping[dst]


def test_restore_brings_back_a_deleted_flow(two: Any, tmp_path: Path, runner: CliRunner) -> None:
    server, a, _, cfg = two
    archive = tmp_path / "archive"
    run_export(a, archive)
    ca, state = server.sim.company(0), server.sim.state
    gone = next(fid for fid in sorted(ca.flows)
                if any(state.version_schedules(ca, v) for v in state.flow_version_ids(ca, fid)))
    before = shape(server.sim, ca, gone, mask_secrets=True)
    state.delete_flow(ca, gone)
    run_export(a, archive)
    listed = runner.invoke(main, ["deleted", "--archive", str(archive)])
    assert f"#{gone}" in listed.output and before["name"] in listed.output
    hist = runner.invoke(main, ["history", "--archive", str(archive), "--flow", str(gone)])
    assert len(hist.output.splitlines()) == 2 and "1 removed" in hist.output
    result = runner.invoke(main, ["restore", "--config", str(cfg), "--target", "company-a", "--archive",
                                  str(archive), "--flow", str(gone)])
    assert result.exit_code == 0, result.output
    assert "secrets needing a value" in result.output  # redacted at export: the user must supply them
    restored = [fid for fid, f in ca.flows.items() if f["name"] == before["name"]]
    assert len(restored) == 1
    assert shape(server.sim, ca, restored[0], mask_secrets=True) == before  # steps, schedules, states, labels


def test_killed_import_resumes_without_duplicates(make_server: Any, tmp_path: Path, monkeypatch: Any) -> None:
    """kill -9 while a create is in flight (it lands after the kill): the re-run adopts it."""
    server = make_server(flows=24, companies=1, empty_companies=1, seed=5)
    cfg = write_config(tmp_path / "fv.toml", server, monkeypatch, concurrency=2)
    conf = load_config(cfg)
    archive = tmp_path / "archive"
    run_export(conf.profile("company-a"), archive)
    server.sim.gate = gate = Gate("POST", "/api/v1/flows/import", after=5)
    proc = flowvault_process("import", "--config", cfg, "--target", "company-b", "--archive", archive,
                             "--log-format", "json")
    code, _ = interrupt_at_gate(server, gate, proc, signal.SIGKILL)
    assert code == -signal.SIGKILL
    cb = server.sim.company(1)
    assert 6 <= len(cb.flows) < 24  # five before the gate, the held one after the kill
    result = run_import(conf.profile("company-b"), archive)
    assert result.ok, result.failed
    source_names = Counter(f["name"] for f in server.sim.company(0).flows.values())
    assert Counter(f["name"] for f in cb.flows.values()) == source_names
    assert len(imported_map(archive, "company-b")) == 24

    def hooks(company: Any) -> Counter[tuple[str, int, int]]:
        return Counter((f["name"], len(f.get("_webhooks", [])), len(f.get("_callbacks", [])))
                       for f in company.flows.values())

    assert hooks(cb) == hooks(server.sim.company(0))  # the adopted flow's webhooks too, none twice


def test_import_at_an_older_revision(two: Any, tmp_path: Path) -> None:
    server, a, b, _ = two
    archive = tmp_path / "archive"
    run_export(a, archive)
    first = subprocess.run(["git", "-C", str(archive), "rev-parse", "HEAD"], capture_output=True,
                           text=True, check=True).stdout.strip()
    ca = server.sim.company(0)
    fid = sorted(ca.flows)[0]
    old_name = ca.flows[fid]["name"]
    server.sim.state.update_flow(ca, fid, {"flow": {"name": "renamed later"}})
    run_export(a, archive)
    result = run_import(b, archive, at=first, flows=(str(fid),))
    assert result.ok
    assert [f["name"] for f in server.sim.company(1).flows.values()] == [old_name]


@pytest.mark.parametrize("text, needle", [
    ("[widget]\n1 = 2\n", "unknown resource type 'widget'"),
    ("[connector]\nabc = 2\n", "IDs must be positive integers"),
    ('[connector]\n1 = "two"\n', "IDs must be positive integers"),
    ('{"cache": {"1": -4}}', "IDs must be positive integers"),
    ("[connector", "not valid TOML/JSON"),
])
def test_bad_map_file_is_one_clear_line(text: str, needle: str) -> None:
    with pytest.raises(ConfigError) as info:
        parse_map(text, "map.toml")
    assert needle in str(info.value) and "map.toml" in str(info.value) and "\n" not in str(info.value)


def test_map_init_lists_every_reference_with_its_name(two: Any, tmp_path: Path, runner: CliRunner) -> None:
    _server, a, _, _ = two
    archive = tmp_path / "archive"
    run_export(a, archive)
    out = tmp_path / "map.toml"
    result = runner.invoke(main, ["map", "init", "--archive", str(archive), "--output", str(out)])
    assert result.exit_code == 0, result.output
    text = out.read_text()
    assert "[connector]" in text and "Shopify (live)" in text and "[secrets]" in text
    parse_map(text, str(out))  # the template itself is a valid (empty) map file


def test_restore_unknown_flow_is_a_usage_error(two: Any, tmp_path: Path, runner: CliRunner) -> None:
    _server, a, _, cfg = two
    archive = tmp_path / "archive"
    run_export(a, archive)
    result = runner.invoke(main, ["restore", "--config", str(cfg), "--target", "company-a", "--archive",
                                  str(archive), "--flow", "never existed"])
    assert result.exit_code == 2 and "no flow with ID or name 'never existed'" in result.output
    with pytest.raises(UsageError, match="never existed"):
        run_restore(a, archive, "never existed")
