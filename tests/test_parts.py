"""Degrade by part: whatever includes a server honours, ignores or refuses, and whichever relation
list a key may not read, every flow is archived with everything that was read; a part that could
not be read keeps its last good copy, is marked not captured, and is said once per run."""

from __future__ import annotations

import itertools
import re
from pathlib import Path
from typing import Any

import anyio
import orjson
import pytest
from click.testing import CliRunner

from flowvault.exportrun import run_export
from flowvault.archive import Archive
from flowvault.providers import PATCHWORKS, client_for
from flowvault.exporter import ExportResult, export_flows
from flowvault.ui.pages import diff_page
from flowvault.config import load_config
from flowvault.simulator import DIALECTS

from .conftest import cli, manifest, tree_bytes, write_config


#: the listing's includes: honoured, ignored, refused (400, as a query builder does)
LISTINGS = ("honoured", "ignored", "refused")
#: the versions list's include: honoured, ignored, refused
VERSION_INCLUDES = (True, False, None)
SHAPES = ("camel", "snake", "wrapped")


def serve(sim: Any, listing: str, version_include: bool | None, shape: str, detail_steps: bool) -> None:
    sim.honour_listing_include = listing != "ignored"
    sim.allowed_listing_includes = {"latestVersion"} if listing == "refused" else None
    sim.honour_version_include = version_include
    sim.state.relation_shape = shape
    sim.version_detail_steps = detail_steps


def stage_export(prof: Any, root: Path) -> ExportResult:
    """The export stage itself (list, fetch, write the files) without git: the same bytes a run
    commits, at a fraction of the cost, for tests that compare many server shapes."""
    async def go() -> ExportResult:
        async with client_for(prof) as api:
            return await export_flows(api, Archive(root), profile=prof.name, base_url=prof.base_url,
                                      provider=PATCHWORKS)
    return anyio.run(go)


def versions_of(archive: Path) -> dict[str, bytes]:
    return {p: b for p, b in tree_bytes(archive).items() if "/versions/" in p}


@pytest.mark.parametrize("dialect", DIALECTS)
def test_version_files_hold_the_same_steps_under_every_includes_combination(make_server: Any, tmp_path: Path,
                                                                           monkeypatch: Any, dialect: str) -> None:
    """The steps come from the export document; variables and schedules from wherever the server
    gives them. No fallback path drops what another part of the run read (a version's detail
    without steps used to replace the version, so every version file lost its steps)."""
    server = make_server(flows=2, versions=2, companies=1, dialect=dialect)
    prof = load_config(write_config(tmp_path / "fv.toml", server, monkeypatch)).profile("company-a")
    reference = stage_export(prof, tmp_path / "reference")
    assert not reference.failed
    expected = versions_of(tmp_path / "reference")
    assert expected and all(orjson.loads(b)["steps"] for b in expected.values())
    # every way the listing and the versions list may answer; the relation shapes (which do not reach
    # the version files) taken in turn rather than multiplied in
    combos = [("honoured", True, shape, True) for shape in SHAPES] + [
        (listing, include, SHAPES[n % len(SHAPES)], detail) for n, (listing, include, detail)
        in enumerate(itertools.product(("ignored", "refused"), VERSION_INCLUDES, (True, False)))]
    for n, combo in enumerate(combos):
        serve(server.sim, *combo)
        result = stage_export(prof, tmp_path / f"a{n}")
        assert not result.failed and result.exported == 2, (combo, result.failed)
        assert versions_of(tmp_path / f"a{n}") == expected, combo


@pytest.mark.parametrize("listing", LISTINGS)
def test_a_step_edit_is_named_by_its_step_whatever_the_server_honours(make_server: Any, tmp_path: Path,
                                                                    monkeypatch: Any, runner: CliRunner,
                                                                    listing: str) -> None:
    server = make_server(flows=4, versions=2, companies=1)
    serve(server.sim, listing, False, "camel", False)
    prof = load_config(write_config(tmp_path / "fv.toml", server, monkeypatch)).profile("company-a")
    archive = tmp_path / "archive"
    run_export(prof, archive)
    company, state = server.sim.company(0), server.sim.state
    fid = sorted(company.flows)[1]
    vid = state.flow_version_ids(company, fid)[0]
    old_name = company.versions[vid]["steps"][0]["name"]
    company.versions[vid]["steps"][0]["name"] = "renamed tonight"
    state.touch(company, vid)
    assert run_export(prof, archive).changes.changed
    out = cli(runner, "diff", "--archive", archive, "HEAD~1", "HEAD").output
    assert "renamed tonight" in out and "export document differs" not in out, out
    page = diff_page("archive", archive, "HEAD~1", "HEAD")  # what the UI's diff page shows
    marked = re.findall(r'<g class="step[^"]*"[^>]*data-status="changed"[^>]*>(.*?)</g>', page, re.S)
    assert len(marked) == 1 and "renamed tonight" in marked[0], marked
    assert old_name not in marked[0] or old_name == "renamed tonight"


def refuse_relations(sim: Any, status: int, *names: str) -> None:
    for name in names:
        sim.refused[("GET", rf"/api/v1/flows/\d+/{name}")] = status


@pytest.mark.parametrize("status", [403, 404, 405])
def test_a_relation_the_key_may_not_read_never_fails_its_flow(make_server: Any, tmp_path: Path, monkeypatch: Any,
                                                              runner: CliRunner, status: int) -> None:
    """Listing includes ignored, and the webhooks and callbacks lists refused: every flow is archived
    (exit 0), each relation kind is named once in the warnings with its status, and flow.json says
    the relation was not captured instead of recording it as empty."""
    server = make_server(flows=6, companies=1)
    server.sim.honour_listing_include = False
    refuse_relations(server.sim, status, "webhooks", "callbacks")
    config = write_config(tmp_path / "fv.toml", server, monkeypatch)
    archive = tmp_path / "archive"
    result = cli(runner, "export", "--config", config, "-a", archive, "--log-format", "json")
    assert result.exit_code == 0, result.output
    assert len(manifest(archive)["flows"]) == 6
    warnings = [orjson.loads(line)["message"] for line in result.output.splitlines()
                if line.startswith("{") and orjson.loads(line).get("event") == "warning"]
    for name in ("webhooks", "callbacks"):
        said = [w for w in warnings if f"{name} not captured" in w]
        assert len(said) == 1 and str(status) in said[0] and "6 flow(s)" in said[0], warnings
    for entry in manifest(archive)["flows"].values():
        saved = orjson.loads((archive / "flows" / entry["folder"] / "flow.json").read_bytes())
        assert "webhooks" not in saved and "callbacks" not in saved
        assert f"answered {status}" in saved["_not_captured"]["webhooks"]
        assert {"callbacks", "webhooks", "deployments"} <= set(entry["not_captured"])
        versions = [p for p in entry["files"] if p.startswith("versions/")]
        assert versions  # everything else was read


def test_a_relation_refused_later_keeps_its_last_good_copy(make_server: Any, tmp_path: Path, monkeypatch: Any,
                                                           runner: CliRunner) -> None:
    """Archived with its webhooks one night; the next night the key may no longer read them: the
    webhooks stay as archived (not recorded as removed), the rest of the flow is brought up to date."""
    server = make_server(flows=6, companies=1)
    server.sim.honour_listing_include = False
    config = write_config(tmp_path / "fv.toml", server, monkeypatch)
    archive = tmp_path / "archive"
    assert cli(runner, "export", "--config", config, "-a", archive).exit_code == 0
    company = server.sim.company(0)
    fid = next(f for f in sorted(company.flows) if company.flows[f].get("_webhooks"))
    folder = archive / "flows" / manifest(archive)["flows"][str(fid)]["folder"]
    hooks = orjson.loads((folder / "flow.json").read_bytes())["webhooks"]
    assert hooks
    refuse_relations(server.sim, 403, "webhooks")
    company.flows[fid]["description"] = "edited while webhooks were refused"
    company.flows[fid]["updated_at"] = "2030-01-01T00:00:00Z"
    second = cli(runner, "export", "--config", config, "-a", archive, "--full")
    assert second.exit_code == 0, second.output
    assert "webhooks not captured" in second.output and "403" in second.output
    saved = orjson.loads((folder / "flow.json").read_bytes())
    assert saved["webhooks"] == hooks and saved["description"] == "edited while webhooks were refused"
    assert "webhooks" in saved["_not_captured"]
    log = cli(runner, "diff", "--archive", archive, "HEAD~1", "HEAD").output
    assert "webhooks: removed" not in log


def test_an_import_whose_target_refuses_webhooks_keeps_the_flows_and_lists_them_to_set_up(
        server: Any, config: Path, exported: Path, runner: CliRunner) -> None:
    server.sim.refused[("POST", r"/api/v1/flows/\d+/webhooks")] = 403
    result = cli(runner, "import", "--config", config, "-t", "company-b", "-a", exported, "--on-conflict", "rename",
                 "--log-format", "json")
    assert result.exit_code == 0, result.output
    summary = orjson.loads(result.output.strip().splitlines()[-1])
    assert summary["imported"] == 20
    with_hooks = [e for e in manifest(exported)["flows"].values()
                  if orjson.loads((exported / "flows" / e["folder"] / "flow.json").read_bytes()).get("webhooks")]
    refused = [s for s in summary["details"]["setup_required"]
               if "webhooks: 1 not recreated" in s and "answered 403" in s]
    assert with_hooks and len(refused) == len(with_hooks)


DOCTOR_CASES = {
    "all honoured": lambda sim: None,
    "listing ignores includes": lambda sim: serve(sim, "ignored", True, "camel", True),
    "listing refuses includes, no version detail steps": lambda sim: serve(sim, "refused", None, "snake", False),
    "webhooks 403": lambda sim: (serve(sim, "ignored", True, "camel", True),
                                 refuse_relations(sim, 403, "webhooks")),
    "callbacks 404, relations wrapped": lambda sim: (serve(sim, "ignored", False, "wrapped", True),
                                                     refuse_relations(sim, 404, "callbacks")),
    "export endpoint 403": lambda sim: sim.refused.__setitem__(("POST", "/api/v1/flows/export"), 403),
    "versions list 403": lambda sim: (serve(sim, "ignored", True, "camel", True),
                                      sim.refused.__setitem__(("GET", r"/api/v1/flows/\d+/versions"), 403)),
}


@pytest.mark.parametrize("case", sorted(DOCTOR_CASES))
def test_doctor_predicts_the_exports_verdict_and_warnings(make_server: Any, tmp_path: Path, monkeypatch: Any,
                                                         runner: CliRunner, case: str) -> None:
    """doctor exits non-zero exactly when the export would fail, and names (with "!") each part the
    export then warns it did not capture."""
    server = make_server(flows=5, companies=1)
    DOCTOR_CASES[case](server.sim)
    config = write_config(tmp_path / "fv.toml", server, monkeypatch, max_retries=0)
    doctor = cli(runner, "doctor", "--config", config)
    export = cli(runner, "export", "--config", config, "-a", tmp_path / "archive", "--log-format", "json")
    assert (doctor.exit_code == 0) == (export.exit_code == 0), (doctor.output, export.output)
    warned = {line.split(":")[1].strip() for line in doctor.output.splitlines()
              if line.startswith("! ") and "not captured" in line}
    messages = [orjson.loads(line)["message"] for line in export.output.splitlines()
                if line.startswith("{") and orjson.loads(line).get("event") == "warning"]
    parts = {m.split(" not captured")[0] for m in messages if " not captured for " in m}
    assert warned == parts, (doctor.output, messages)
    refused = [line for line in doctor.output.splitlines() if line.startswith("! ") and "refused include" in line]
    assert bool(refused) == any("refused include" in m for m in messages)
    if export.exit_code == 0:  # what the export will cost, from the sample it fetched
        assert "call(s) a flow" in doctor.output and "a full run is about" in doctor.output


def test_a_versions_list_the_key_may_not_read_keeps_the_archived_versions(make_server: Any, tmp_path: Path,
                                                                          monkeypatch: Any, runner: CliRunner) -> None:
    """The listing ignores its includes and the versions list answers 403: each flow's export
    document is still archived (its steps with it), its version files stay as last archived, and
    the run says "versions not captured" once (exit 0)."""
    server = make_server(flows=5, companies=1)
    server.sim.honour_listing_include = False
    config = write_config(tmp_path / "fv.toml", server, monkeypatch)
    archive = tmp_path / "archive"
    assert cli(runner, "export", "--config", config, "-a", archive).exit_code == 0
    before = versions_of(archive)
    server.sim.refused[("GET", r"/api/v1/flows/\d+/versions")] = 403
    company = server.sim.company(0)
    fid = sorted(company.flows)[0]
    company.flows[fid]["description"] = "edited while versions were refused"
    night = cli(runner, "export", "--config", config, "-a", archive, "--full", "--log-format", "json")
    assert night.exit_code == 0, night.output
    said = [orjson.loads(line)["message"] for line in night.output.splitlines() if line.startswith("{")
            and orjson.loads(line).get("event") == "warning" and "versions not captured" in line]
    assert len(said) == 1 and "5 flow(s)" in said[0] and "answered 403" in said[0], said
    assert versions_of(archive) == before
    assert all(e["versions"] > 0 for e in manifest(archive)["flows"].values())
    assert cli(runner, "verify", "-a", archive).exit_code == 0
