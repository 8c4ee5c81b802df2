"""Replies typed the way the vendor's response schemas type them (the simulator's ``schema-literal``
dialect): flags and IDs as strings, ``deployed_at`` absent or an object, relations as JSON text.
Export, nightly, import, restore, diff and the UI over them: complete, or what cannot be read is
named by part — never guessed at, never a traceback."""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

import orjson
import pytest
from click.testing import CliRunner

from flowvault.canonical import REDACTED, looks_like_credential
from flowvault.config import load_config
from flowvault.exportrun import run_export
from flowvault.importrun import run_import

from .conftest import cli, git, manifest, tree_bytes, write_config
from .test_import import shape

FLOWS = 10


@pytest.fixture
def literal(make_server: Any, tmp_path: Path, monkeypatch: Any) -> Any:
    server = make_server(flows=FLOWS, companies=1, empty_companies=1, seed=21, dialect="schema-literal",
                         secret_flag="string-true")
    cfg = write_config(tmp_path / "fv.toml", server, monkeypatch)
    conf = load_config(cfg)
    return server, conf.profile("company-a"), conf.profile("company-b"), cfg


def saved(archive: Path, fid: int, rel: str = "flow.json") -> Any:
    return orjson.loads((archive / "flows" / manifest(archive)["flows"][str(fid)]["folder"] / rel).read_bytes())


def test_a_literal_server_is_archived_completely_and_says_what_it_cannot_read(literal: Any, tmp_path: Path) -> None:
    server, a, _, _ = literal
    company, state = server.sim.company(0), server.sim.state
    archive = tmp_path / "archive"
    result = run_export(a, archive)
    assert result.exported == FLOWS and not result.failed
    m = manifest(archive)
    assert sorted(int(k) for k in m["flows"]) == sorted(company.flows)
    for fid, flow in company.flows.items():
        for vid in state.flow_version_ids(company, fid):
            version, served = saved(archive, fid, f"versions/{vid}.json"), company.versions[vid]
            assert [s["id"] for s in version["steps"]] == [s["id"] for s in served["steps"]]
            assert [s["cron_string"] for s in version["schedules"]] == [
                s["cron_string"] for s in state.version_schedules(company, vid)]
            assert [v["key"] for v in version["variables"]] == [v["key"] for v in served["variables"]]
            for var, real in zip(version["variables"], served["variables"], strict=True):
                hidden = real["secret"] or looks_like_credential(real["key"])  # "true"/"false" read as the flag
                assert (var["value"] == REDACTED) == hidden
            assert version["iteration"] == str(served["iteration"])  # archived as served
            assert ("deployed_at" in version) == (served["deployed_at"] is not None)
        settings = saved(archive, fid)
        assert not isinstance(settings.get("labels"), str) and "notification_groups" not in settings
        assert "as str" in settings["_not_captured"]["labels"]
        assert "as str" in settings["_not_captured"]["notificationGroups"]
        hooks = [h["url"] for h in flow.get("_webhooks", [])]
        assert [h["url"] for h in settings.get("webhooks", [])] == hooks  # read from the webhooks list instead
    said = [w for w in result.warnings if "not captured" in w]
    assert any("labels not captured" in w for w in said) and any("notificationGroups" in w for w in said)


def test_a_literal_server_nightly_run_fetches_only_what_changed(literal: Any, tmp_path: Path,
                                                                runner: CliRunner) -> None:
    server, a, _, _ = literal
    archive = tmp_path / "archive"
    run_export(a, archive)
    quiet = run_export(a, archive)
    assert (quiet.fetched, quiet.unchanged, quiet.commit) == (1, FLOWS - 1, None)
    company, state = server.sim.company(0), server.sim.state
    fid = sorted(company.flows)[3]
    vid = state.flow_version_ids(company, fid)[0]
    company.versions[vid]["steps"][0]["name"] = "edited tonight"
    state.touch(company, vid)
    night = run_export(a, archive)
    assert night.changes.changed == [f"{company.flows[fid]['name']} (#{fid})"]
    assert saved(archive, fid, f"versions/{vid}.json")["steps"][0]["name"] == "edited tonight"
    out = cli(runner, "diff", "--archive", archive, "HEAD~1", "HEAD")
    assert out.exit_code == 0 and "edited tonight" in out.output and f"(#{fid})" in out.output
    secrets = {v["value"] for v in company.versions.values() for v in v["variables"] if v["secret"]}
    everything = b"".join(tree_bytes(archive).values()) + git(archive, "log", "-p").encode()
    assert secrets and not any(s.encode() in everything for s in secrets)


def test_a_literal_server_imports_and_restores(literal: Any, tmp_path: Path, runner: CliRunner) -> None:
    server, a, b, cfg = literal
    sim = server.sim
    ca, cb = sim.company(0), sim.company(1)
    archive = tmp_path / "archive"
    run_export(a, archive, keep_secrets=True)
    result = run_import(b, archive, enable="source")
    assert result.ok and len(result.imported) == FLOWS, result.failed
    mapping = orjson.loads((archive / "imports" / "company-b.json").read_bytes())["flows"]
    for src, entry in mapping.items():
        assert {**shape(sim, cb, entry["target_id"]), "labels": []} == {**shape(sim, ca, int(src)), "labels": []}
    names = Counter(f["name"] for f in ca.flows.values())
    gone = next(fid for fid in sorted(ca.flows) if names[ca.flows[fid]["name"]] == 1 and ca.flows[fid]["_labels"])
    before = shape(sim, ca, gone)
    sim.state.delete_flow(ca, gone)
    run_export(a, archive)
    back = cli(runner, "restore", "--config", cfg, "-t", "company-a", "--archive", archive, "--flow", gone,
               "--allow-missing-secrets")
    assert back.exit_code == 0, back.output
    got = shape(sim, ca, max(ca.flows))  # the restored flow: everything but its labels, which a literal
    assert {**got, "labels": []} == {**before, "labels": []}  # listing gives as text no ID can be read from
    assert not got["labels"] and all(f"label '{name}'" in back.output for name in before["labels"])
