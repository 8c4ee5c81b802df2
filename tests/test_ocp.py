"""The second provider: OCP orchestrator flows, export → delete → restore and migration."""

from __future__ import annotations

import html
import re
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
    assert run(runner, "export", "--config", cfg, "-p", "company-a", "--archive", archive).exit_code == 0
    gone = next(fid for fid in sorted(st["flows"]) if fid not in st["used_by"])
    before = dict(st["flows"][gone])
    del st["flows"][gone]
    assert run(runner, "export", "--config", cfg, "-p", "company-a", "--archive", archive).exit_code == 0
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
    assert run(runner, "export", "--config", cfg, "-p", "company-a", "--archive", archive).exit_code == 0
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
    assert run(runner, "export", "--config", cfg, "-p", "company-a", "--archive", archive).exit_code == 0
    dry = run(runner, "import", "--config", cfg, "-t", "company-b", "--archive", archive, "--dry-run")
    assert "invalid" in dry.output and "would be rejected by OCP" in dry.output
    assert server.sim.writes(1) == 0
    result = run(runner, "import", "--config", cfg, "-t", "company-b", "--archive", archive)
    assert result.exit_code == 3 and "'Legacy flow (old)' would be rejected by OCP" in result.output
    assert server.sim.writes(1) == 8 and len(ocp_state(server.sim.company(1))["flows"]) == 8


def test_failed_fetch_keeps_the_last_copy(ocp: Any, tmp_path: Path, runner: CliRunner) -> None:
    server, cfg = ocp
    archive = tmp_path / "archive"
    assert run(runner, "export", "--config", cfg, "-p", "company-a", "--archive", archive).exit_code == 0
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


def summary(output: str) -> dict[str, Any]:
    return next(e for e in map(orjson.loads, output.splitlines()) if e["event"] == "summary")


def test_import_options_apply_to_ocp(ocp: Any, tmp_path: Path, runner: CliRunner) -> None:
    """--map [flow], --enable, --concurrency and the wall time work for OCP as for Patchworks;
    map sections that cannot apply to OCP are refused by name before any request."""
    server, cfg = ocp
    a, b = ocp_state(server.sim.company(0)), ocp_state(server.sim.company(1))
    archive = tmp_path / "archive"
    assert run(runner, "export", "--config", cfg, "-p", "company-a", "--archive", archive).exit_code == 0
    started = sorted(fid for fid, s in a["status"].items() if s == "started")
    assert started
    # a flow that already exists in B under another name: the map file says which one it is
    mapped_src = sorted(a["flows"])[0]
    twin = {**a["flows"][mapped_src], "id": "00000000-0000-4000-8000-0000000000aa", "name": "already_there"}
    b["flows"][twin["id"]] = twin
    mapfile = tmp_path / "map.toml"
    mapfile.write_text(f'[flow]\n"{mapped_src}" = "{twin["id"]}"\n')
    bad = tmp_path / "bad.toml"
    bad.write_text("[connector]\n1 = 2\n")
    refused = run(runner, "import", "--config", cfg, "-t", "company-b", "--archive", archive, "--map", bad)
    assert refused.exit_code == 2 and "[connector] does not apply to OCP flows" in refused.output
    assert server.sim.writes(1) == 0

    server.sim.faults.latency = 0.05  # so that concurrent requests overlap on the server
    server.sim.max_in_flight = 0
    result = run(runner, "import", "--config", cfg, "-t", "company-b", "--archive", archive, "--map", mapfile,
                 "--enable", "source", "--concurrency", "3", "--log-format", "json")
    assert 1 < server.sim.max_in_flight <= 3  # --concurrency is honoured: never more, and used
    assert result.exit_code == 0, result.output
    s = summary(result.output)
    assert s["imported"] == 7 and s["skipped"] == 1 and s["left_disabled"] == len(started) - (mapped_src in started)
    assert isinstance(s["wall_time_s"], float) and s["wall_time_s"] > 0
    notes = s["details"]["left_disabled"]
    assert "start the app by hand" in " ".join(notes)
    names = sorted(f["name"] for f in b["flows"].values())
    assert names.count(a["flows"][mapped_src]["name"]) == 0 and len(names) == 8


def test_every_command_and_page_takes_ocp_uuids(ocp: Any, tmp_path: Path, runner: CliRunner) -> None:
    """history, deleted, diff, verify, restore and the UI's pages and links, with OCP's UUID flow IDs."""
    import httpx

    from .test_ui import run_as_printed, started

    server, cfg = ocp
    st = ocp_state(server.sim.company(0))
    archive = tmp_path / "archive"
    assert run(runner, "export", "--config", cfg, "-p", "company-a", "--archive", archive).exit_code == 0
    edited, gone = [fid for fid in sorted(st["flows"]) if fid not in st["used_by"]][:2]
    st["flows"][edited]["output_fields"] = [*st["flows"][edited]["output_fields"], "added_tonight"]
    gone_name = st["flows"][gone]["name"]
    del st["flows"][gone]
    assert run(runner, "export", "--config", cfg, "-p", "company-a", "--archive", archive).exit_code == 0

    hist = run(runner, "history", "--archive", archive, "--flow", edited)
    assert hist.exit_code == 0 and len(hist.output.strip().splitlines()) == 2, hist.output
    assert gone in run(runner, "deleted", "--archive", archive).output
    diff = run(runner, "diff", "--archive", archive, "HEAD~1", "HEAD")
    assert diff.exit_code == 0 and edited in diff.output and gone in diff.output, diff.output
    assert run(runner, "verify", "--archive", archive).exit_code == 0
    with started(archive, "--config", cfg) as url:
        assert httpx.get(f"{url}/a/archive/flow/{edited}").status_code == 200
        home = httpx.get(f"{url}/").text
        assert f"/a/archive/flow/{edited}" in home
        deleted = httpx.get(f"{url}/a/archive/deleted").text
    command = re.search(r'<pre class="restore">(.+?)</pre>', deleted)
    assert command and f"--flow {gone} " in html.unescape(command.group(1))
    done = run_as_printed(html.unescape(command.group(1)))
    assert done.returncode == 0, done.stdout + done.stderr
    assert [f for f in st["flows"].values() if f["name"] == gone_name]
