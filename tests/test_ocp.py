"""The second provider: OCP orchestrator flows, export → delete → restore and migration."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
import pytest
from click.testing import CliRunner

from flowvault.cli import main
from flowvault.simulator.ocp import ocp_state

from .conftest import manifest, tree_bytes, write_config


@pytest.fixture
def ocp(make_server: Any, tmp_path: Path, monkeypatch: Any) -> Any:
    server = make_server(flows=0, companies=1, empty_companies=1, ocp_flows=8)
    cfg = write_config(tmp_path / "fv.toml", server, monkeypatch, provider="ocp", max_retries=2)
    return server, cfg


def run(runner: CliRunner, *args: Any) -> Any:
    return runner.invoke(main, [str(a) for a in args])


def definitions(company: Any) -> list[tuple[str, str, list[str], list[str]]]:
    return sorted((f["name"], f["group"], f["input_fields"], f["output_fields"])
                  for f in ocp_state(company)["flows"].values())


def test_export_then_import_into_a_second_tenant_without_duplicates(ocp: Any, tmp_path: Path,
                                                                     runner: CliRunner) -> None:
    server, cfg = ocp
    a, b = server.sim.company(0), server.sim.company(1)
    archive = tmp_path / "archive"
    assert run(runner, "export", "--config", cfg, "-p", "company-a", "--archive", archive).exit_code == 0
    m = manifest(archive)
    assert m["source"]["provider"] == "ocp" and sorted(m["flows"]) == sorted(ocp_state(a)["flows"])
    first = next(iter(m["flows"].values()))
    settings = orjson.loads((archive / "flows" / first["folder"] / "flow.json").read_bytes())
    assert settings["status"] in ("started", "stopped", "not-deployed") and "canvas_id" in settings

    result = run(runner, "import", "--config", cfg, "-t", "company-b", "--archive", archive)
    assert result.exit_code == 0, result.output
    assert definitions(b) == definitions(a)
    ids = orjson.loads((archive / "imports" / "company-b.json").read_bytes())["flows"]
    for src, entry in ids.items():
        assert entry["source_canvas_id"] == ocp_state(a)["flows"][src]["canvas_id"]
        assert entry["canvas_id"] == ocp_state(b)["flows"][entry["target_id"]]["canvas_id"] != entry["source_canvas_id"]
    writes = server.sim.writes(1)
    again = run(runner, "import", "--config", cfg, "-t", "company-b", "--archive", archive)
    assert again.exit_code == 0 and server.sim.writes(1) == writes and len(ocp_state(b)["flows"]) == 8


def test_export_delete_restore(ocp: Any, tmp_path: Path, runner: CliRunner) -> None:
    server, cfg = ocp
    a = server.sim.company(0)
    st = ocp_state(a)
    archive = tmp_path / "archive"
    run(runner, "export", "--config", cfg, "-p", "company-a", "--archive", archive)
    gone = next(fid for fid in sorted(st["flows"]) if fid not in st["used_by"])
    before = dict(st["flows"][gone])
    del st["flows"][gone]
    run(runner, "export", "--config", cfg, "-p", "company-a", "--archive", archive)
    assert before["name"] in run(runner, "deleted", "--archive", archive).output
    result = run(runner, "restore", "--config", cfg, "-t", "company-a", "--archive", archive, "--flow", before["name"])
    assert result.exit_code == 0, result.output
    back = [f for f in st["flows"].values() if f["name"] == before["name"]]
    assert len(back) == 1
    assert {k: back[0][k] for k in ("group", "input_fields", "output_fields")} == \
        {k: before[k] for k in ("group", "input_fields", "output_fields")}


def test_replace_of_a_flow_in_use_is_refused_clearly(ocp: Any, tmp_path: Path, runner: CliRunner) -> None:
    server, cfg = ocp
    st = ocp_state(server.sim.company(0))
    archive = tmp_path / "archive"
    run(runner, "export", "--config", cfg, "-p", "company-a", "--archive", archive)
    used = next(iter(st["used_by"]))
    result = run(runner, "restore", "--config", cfg, "-t", "company-a", "--archive", archive, "--flow", used,
                 "--on-conflict", "replace")
    assert result.exit_code == 3
    assert "cannot replace the existing flow" in result.output and "used by these apps/flows" in result.output
    assert used in st["flows"]


def test_names_ocp_would_reject_are_reported_before_any_request(ocp: Any, tmp_path: Path,
                                                                runner: CliRunner) -> None:
    server, cfg = ocp
    st = ocp_state(server.sim.company(0))
    st["flows"]["00000000-0000-4000-8000-000000000001"] = {
        "id": "00000000-0000-4000-8000-000000000001", "name": "Legacy flow (old)", "group": "crm",
        "input_fields": [], "output_fields": [], "canvas_id": "00000000-0000-4000-8000-0000000000ff"}
    archive = tmp_path / "archive"
    run(runner, "export", "--config", cfg, "-p", "company-a", "--archive", archive)
    dry = run(runner, "import", "--config", cfg, "-t", "company-b", "--archive", archive, "--dry-run")
    assert "invalid" in dry.output and "would be rejected by OCP" in dry.output
    assert server.sim.writes(1) == 0
    result = run(runner, "import", "--config", cfg, "-t", "company-b", "--archive", archive)
    assert result.exit_code == 3 and "'Legacy flow (old)' would be rejected by OCP" in result.output
    assert server.sim.writes(1) == 8 and len(ocp_state(server.sim.company(1))["flows"]) == 8


def test_failed_fetch_keeps_the_last_copy(ocp: Any, tmp_path: Path, runner: CliRunner) -> None:
    server, cfg = ocp
    archive = tmp_path / "archive"
    run(runner, "export", "--config", cfg, "-p", "company-a", "--archive", archive)
    before = tree_bytes(archive)
    victim = sorted(ocp_state(server.sim.company(0))["flows"])[0]
    server.sim.ocp.failing.add(victim)
    result = run(runner, "export", "--config", cfg, "-p", "company-a", "--archive", archive)
    assert result.exit_code == 3 and victim in manifest(archive)["flows"]
    assert tree_bytes(archive) == before
    assert run(runner, "verify", "--archive", archive).exit_code == 0


def test_doctor_speaks_ocp(ocp: Any, runner: CliRunner) -> None:
    _, cfg = ocp
    result = run(runner, "doctor", "--config", cfg, "-p", "company-a")
    assert result.exit_code == 0 and "key accepted, 8 flows" in result.output
