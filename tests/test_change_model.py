"""One change model: the CLI's text and JSON, `diff --format html`, the run report's page and the
UI's diff page name the same changes for the same two revisions, all from ``flowdiff``."""

from __future__ import annotations

import html
import re
from pathlib import Path
from typing import Any

import orjson
from click.testing import CliRunner

from flowvault.flowdiff import version_changes
from flowvault.ui.pages import diff_page

from .conftest import cli


def test_every_front_end_names_the_same_changes(server: Any, config: Path, exported: Path, tmp_path: Path,
                                                runner: CliRunner) -> None:
    company, state = server.sim.company(0), server.sim.state
    edited, renamed = sorted(company.flows)[2], sorted(company.flows)[4]
    vid = state.flow_version_ids(company, edited)[-1]
    step = company.versions[vid]["steps"][1]
    step["config"] = {**step["config"], "page_size": 999}
    state.touch(company, vid)
    state.update_flow(company, renamed, {"flow": {"name": "Renamed tonight"}})
    report = tmp_path / "last-run.json"
    night = cli(runner, "export", "--config", config, "-p", "company-a", "-a", exported, "--report", report)
    assert night.exit_code == 0, night.output

    text = cli(runner, "diff", "-a", exported, "HEAD~1", "HEAD").output
    as_json = orjson.loads(cli(runner, "diff", "-a", exported, "HEAD~1", "HEAD", "--format", "json").output)
    as_html = cli(runner, "diff", "-a", exported, "HEAD~1", "HEAD", "--format", "html").output
    pages = {"diff --format html": as_html, "run report page": report.with_suffix(".html").read_text(),
             "ui": diff_page("archive", exported, "HEAD~1", "HEAD")}

    for fmt in ("text", "json", "html"):  # --exit-code answers from the change set every format renders
        differs = cli(runner, "diff", "-a", exported, "HEAD~1", "HEAD", "--format", fmt, "--exit-code")
        same = cli(runner, "diff", "-a", exported, "HEAD", "HEAD", "--format", fmt, "--exit-code")
        assert (differs.exit_code, same.exit_code) == (1, 0), (fmt, differs.output, same.output)
        assert "0 added, 0 removed, 2 changed" in differs.output, fmt
    name = step["name"]
    assert f"step changed: '{name}' (config.page_size)" in text
    details = {d["id"]: d["details"] for d in as_json["changed"]}
    assert details[str(edited)] == [f"version {vid}: step changed: '{name}' (config.page_size)"]
    assert details[str(renamed)] == ["settings: name"]  # a rename is one line
    for front, page in pages.items():
        body = html.unescape(page)
        assert f"step '{name}' config.page_size" in body, front
        renamed_block = re.search(rf'data-flow="{renamed}".*?</section>', page, re.S)
        assert renamed_block and "<h3>version" not in renamed_block.group(0), front  # no version drawn
        assert re.search(r"\bname\b", html.unescape(renamed_block.group(0))), front


def test_a_renumbered_version_shows_only_its_real_changes() -> None:
    """Two versions of a 30-step flow: every step ID differs (each version has its own), children
    point at the new IDs, one step's setting changed: one change, not one per step."""
    old_steps = [{"id": 100 + i, "name": f"Step {i}", "type": "map", "config": {"n": i},
                  "children": [100 + i + 1] if i < 29 else []} for i in range(30)]
    new_steps = [{**s, "id": 500 + i, "children": [500 + i + 1] if i < 29 else []} for i, s in enumerate(old_steps)]
    new_steps[7] = {**new_steps[7], "config": {"n": 7, "page_size": 50}}
    found = version_changes({"id": 1, "steps": old_steps}, {"id": 2, "steps": new_steps})
    assert [c.path for c in found.real] == ["step 'Step 7' config.page_size", "id"]
