"""What is reported is what happened: drills that once made flowvault say one thing while the
archive or the target held another (hand-deleted files, shared names under replace, a signal
after the commit landed, git's own maintenance, a damaged repository)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from click.testing import CliRunner

from flowvault.errors import EXIT_ARCHIVE

from .conftest import cli, git, manifest


def test_a_file_deleted_by_hand_is_put_back_not_committed_as_removed(server: Any, config: Path, exported: Path,
                                                                     runner: CliRunner) -> None:
    archive = exported
    entry = next(iter(manifest(archive)["flows"].values()))
    version = next(p for p in entry["files"] if p.startswith("versions/"))
    (archive / "flows" / entry["folder"] / version).unlink()
    (archive / "flows" / entry["folder"] / "flow.json").write_text("{}\n")
    head = git(archive, "rev-parse", "HEAD")
    night = cli(runner, "export", "--config", config, "-p", "company-a", "-a", archive)
    assert night.exit_code == 0, night.output
    assert "2 archive file(s) were deleted or edited in the work tree" in night.output
    assert git(archive, "rev-parse", "HEAD") == head  # nothing changed in the API: no commit
    assert (archive / "flows" / entry["folder"] / version).exists()
    assert cli(runner, "verify", "-a", archive).exit_code == 0
    assert git(archive, "status", "--porcelain") == ""


def test_replace_refuses_one_target_for_several_archived_flows_in_the_dry_run_and_the_import(
        server: Any, config: Path, tmp_path: Path, runner: CliRunner) -> None:
    a, b, state = server.sim.company(0), server.sim.company(1), server.sim.state
    first, second = sorted(a.flows)[:2]
    for fid in (first, second):
        state.update_flow(a, fid, {"flow": {"name": "Shared name"}})
    target = sorted(b.flows)[0]
    state.update_flow(b, target, {"flow": {"name": "Shared name"}})
    archive = tmp_path / "archive"
    assert cli(runner, "export", "--config", config, "-p", "company-a", "-a", archive).exit_code == 0
    args = ("import", "--config", config, "-t", "company-b", "-a", archive, "--on-conflict", "replace")
    dry = cli(runner, *args, "--dry-run")
    assert dry.exit_code == 3, dry.output
    assert f"would replace the same target flow #{target}" in dry.output
    assert f"(#{first})" in dry.output and f"(#{second})" in dry.output
    real = cli(runner, *args)
    assert real.exit_code == 3 and f"would replace the same target flow #{target}" in real.output, real.output
    assert target in b.flows  # not deleted: nothing was replaced twice
    assert [f["name"] for f in b.flows.values()].count("Shared name") == 1
    again = cli(runner, *args)
    assert again.exit_code == 3 and "404" not in again.output
