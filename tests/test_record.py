"""The first-contact kit: `flowvault doctor --record FILE` writes what the API answered as shapes
only; `flowvault simulator --replay FILE` serves replies of exactly those shapes, and export and
import run over them."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import orjson
import pytest
from click.testing import CliRunner

from flowvault.config import load_config
from flowvault.exportrun import run_export
from flowvault.importrun import run_import
from flowvault.simulator import DIALECTS
from flowvault.simulator.replay import Replay

from .conftest import cli, manifest, tree_bytes, write_config


def values_of(company: Any, server: Any) -> set[str]:
    """What a recording must never hold: names, values, keys, the host."""
    found = {server.url, server.host, f":{server.port}", company.api_key}
    for f in company.flows.values():
        found.add(f["name"])
        found |= {h.get("url") for h in f.get("_webhooks", []) if h.get("url")}
    for v in company.versions.values():
        found |= {s["name"] for s in v["steps"]}
        found |= {str(var["value"]) for var in v["variables"] if len(str(var["value"])) > 3}
    found |= {lab["name"] for lab in company.labels.values()}
    found |= {r["name"] for items in company.resources.values() for r in items.values()}
    return {s for s in found if s}


def structure(root: Path) -> set[str]:
    """Every key path of the archive's flow files (list positions collapsed), by file kind."""
    paths: set[str] = set()

    def walk(node: Any, at: str) -> None:
        if isinstance(node, dict):
            for k, v in node.items():
                walk(v, f"{at}.{k}")
        elif isinstance(node, list):
            for v in node:
                walk(v, f"{at}[]")
        else:
            paths.add(f"{at}:{type(node).__name__}")

    for rel, data in tree_bytes(root).items():
        if rel.startswith("flows/"):
            kind = "version" if "/versions/" in rel else rel.rsplit("/", 1)[1]
            walk(orjson.loads(data), kind)
    return paths


@pytest.mark.parametrize("dialect", DIALECTS)
def test_a_recording_holds_shapes_only_and_replays_to_the_same_structure(make_server: Any, tmp_path: Path,
                                                                         monkeypatch: Any, dialect: str) -> None:
    server = make_server(flows=4, companies=1, empty_companies=1, seed=3, dialect=dialect)
    config = write_config(tmp_path / "fv.toml", server, monkeypatch)
    recording = tmp_path / "shapes.json"
    done = cli(CliRunner(), "doctor", "--config", config, "-p", "company-a", "--record", recording)
    assert done.exit_code == 0, done.output
    assert f"flowvault simulator --replay {recording}" in done.output
    text = recording.read_text()
    leaked = sorted(s for s in values_of(server.sim.company(0), server) if s in text)
    assert not leaked, leaked
    shapes = orjson.loads(text)
    assert {r["path"] for r in shapes["replies"]} >= {"/api/v1/flows", "/api/v1/flows/export"}

    original = tmp_path / "original"
    assert not run_export(load_config(config).profile("company-a"), original).failed
    twin = make_server(flows=4, companies=1, empty_companies=1, seed=3, dialect=dialect)
    twin.sim.replay = Replay.load(recording.read_bytes(), str(recording))
    twin_config = load_config(write_config(tmp_path / "twin.toml", twin, monkeypatch))
    replayed = tmp_path / "replayed"
    result = run_export(twin_config.profile("company-a"), replayed)
    assert not result.failed and result.exported == 4
    assert {k: e["versions"] for k, e in manifest(replayed)["flows"].items()} == {
        k: e["versions"] for k, e in manifest(original)["flows"].items()}
    # the same structure: what the recording's sample showed (a field only steps outside doctor's
    # sample carry is not in the recording, so the replay has no step with it)
    assert structure(replayed) <= structure(original)
    assert all("steps[]." in p for p in structure(original) - structure(replayed))
    steps = {rel: len(orjson.loads(b).get("steps", [])) for rel, b in tree_bytes(replayed).items() if "/versions/" in rel}
    assert steps == {rel: len(orjson.loads(b).get("steps", [])) for rel, b in tree_bytes(original).items()
                     if "/versions/" in rel}
    imported = run_import(twin_config.profile("company-b"), replayed, allow_missing_secrets=True)
    assert imported.ok and len(imported.imported) == 4, imported.failed


def test_the_replay_command_doctor_prints_runs_as_printed_and_refuses_what_is_not_a_recording(
        server: Any, config: Path, tmp_path: Path) -> None:
    import re
    import shlex

    recording = tmp_path / "shapes.json"
    done = cli(CliRunner(), "doctor", "--config", config, "-p", "company-a", "--record", recording)
    printed = re.search(r"(flowvault simulator --replay \S+)", done.output)
    assert printed, done.output
    args = shlex.split(printed.group(1))
    with subprocess.Popen([sys.executable, "-m", "flowvault", *args[1:]], stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, text=True) as proc:
        assert proc.stdout is not None
        first = proc.stdout.readline()
        proc.terminate()
        proc.wait(timeout=30)
    assert "flowvault simulator on http://127.0.0.1:" in first and f"as recorded in {recording}" in first
    bad = tmp_path / "notes.json"
    bad.write_text('{"hello": 1}')
    out = subprocess.run([sys.executable, "-m", "flowvault", "simulator", "--port", "0", "--replay", str(bad)],
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 2 and "not a flowvault recording" in out.stderr and "Traceback" not in out.stderr


def test_a_recording_of_a_literal_account_makes_a_flat_simulator_answer_as_that_account(
        make_server: Any, tmp_path: Path, monkeypatch: Any) -> None:
    """Recorded from replies typed as the vendor's schemas type them, replayed on a simulator that
    serves plain lists and booleans: the export meets the recorded types (labels as text: not
    captured, named), as it would against that account."""
    literal = make_server(flows=5, companies=1, seed=4, dialect="schema-literal")
    config = write_config(tmp_path / "fv.toml", literal, monkeypatch)
    recording = tmp_path / "shapes.json"
    assert cli(CliRunner(), "doctor", "--config", config, "--record", recording).exit_code == 0
    original = tmp_path / "original"
    run_export(load_config(config).profile("company-a"), original)
    flat = make_server(flows=5, companies=1, seed=4)
    flat.sim.replay = Replay.load(recording.read_bytes(), str(recording))
    replayed = tmp_path / "replayed"
    result = run_export(load_config(write_config(tmp_path / "flat.toml", flat, monkeypatch)).profile("company-a"),
                        replayed)
    assert not result.failed and result.exported == 5
    assert any("labels not captured" in w for w in result.warnings)
    # the relations the recording names in snake case (message_brokers), which this simulator spells
    # otherwise, are not in its replies: not captured, and said so
    assert {p for p in structure(replayed) if "_not_captured" not in p} <= structure(original)
    assert any("messageBrokers not captured" in w for w in result.warnings)
    versions = [orjson.loads(b) for rel, b in tree_bytes(replayed).items() if "/versions/" in rel]
    assert versions and all(isinstance(v["iteration"], str) for v in versions)
