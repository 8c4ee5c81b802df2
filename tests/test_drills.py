"""What is reported is what happened: drills that once made flowvault say one thing while the
archive or the target held another (hand-deleted files, shared names under replace, a signal
after the commit landed, git's own maintenance, a damaged repository)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from click.testing import CliRunner

from flowvault.errors import EXIT_ARCHIVE

from .conftest import cli, git, git_stopping_at, manifest


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


def test_a_signal_during_the_commit_reports_the_commit_that_landed(server: Any, config: Path, tmp_path: Path) -> None:
    """SIGTERM to flowvault (not its group) while git writes the commit: git finishes, the commit
    is the run's complete commit, and flowvault says so — not "rolled back" — with the run's own
    exit code. A signal before the commit still rolls back (tests/test_guards.py, test_trust.py)."""
    import os
    import signal
    import subprocess
    import sys

    for step, sig in (("fast-import", signal.SIGTERM), ("update-index", signal.SIGINT)):
        archive, go = tmp_path / f"archive-{step}", tmp_path / f"go-{step}"
        os.mkfifo(go)
        env, ready = git_stopping_at(tmp_path, step, then=f'  read line < "{go}"')
        proc = subprocess.Popen([sys.executable, "-m", "flowvault", "export", "--config", str(config), "-p",
                                 "company-a", "-a", str(archive)], stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True, env=env)
        with open(ready) as fh:  # blocks until git is inside the commit (`fast-import`/`update-index`)
            assert fh.read().strip() == "in"
        proc.send_signal(sig)
        with open(go, "w") as fh:
            fh.write("go\n")
        out, err = proc.communicate(timeout=60)
        head = git(archive, "rev-parse", "HEAD").strip()
        assert proc.returncode == 0, err
        assert f"committed {head[:10]}, then stopped by {sig.name}" in err and "keeps its last commit" not in err
        assert len(manifest(archive)["flows"]) == 20 and git(archive, "status", "--porcelain") == ""
        assert cli(CliRunner(), "verify", "-a", archive).exit_code == 0


def test_a_rerun_waits_for_the_git_a_killed_run_left_working(server: Any, config: Path, tmp_path: Path) -> None:
    """kill -9 of flowvault alone (its git, writing the commit, lives on holding the index lock), then an
    immediate re-run: it waits for that git, says so, then recovers — not exit 7."""
    import os
    import signal
    import subprocess
    import sys

    archive, go = tmp_path / "archive", tmp_path / "go"
    os.mkfifo(go)
    env, ready = git_stopping_at(tmp_path, "fast-import", once=True, first="  : > .git/index.lock          # as git holds it",
                                 then=f'  read line < "{go}"\n  rm -f .git/index.lock')
    command = [sys.executable, "-m", "flowvault", "export", "--config", str(config), "-p", "company-a", "-a",
               str(archive), "--log-format", "json"]
    first = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
    with open(ready) as fh:
        assert fh.read().strip() == "in"
    first.send_signal(signal.SIGKILL)  # flowvault only: its git lives on
    first.wait(timeout=30)
    again = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    assert again.stdout is not None
    for line in again.stdout:
        if "still working here; waiting for it" in line:
            break
    else:
        raise AssertionError(again.stderr.read() if again.stderr else "no wait")
    with open(go, "w") as fh:
        fh.write("go\n")
    _, err = again.communicate(timeout=60)
    assert again.returncode == 0, err
    assert len(manifest(archive)["flows"]) == 20 and git(archive, "status", "--porcelain") == ""


def test_gits_own_maintenance_never_runs_behind_verifys_back(server: Any, config: Path, exported: Path,
                                                            runner: CliRunner) -> None:
    """git's automatic gc (made due here: more packs than gc.autoPackLimit) runs in the
    foreground of the run that commits, under its lock: once export returns the repack is done,
    and verify is clean."""
    archive = exported
    git(archive, "config", "gc.autoPackLimit", "1")

    def packs() -> int:
        return int(git(archive, "count-objects", "-v").split("packs: ")[1].split()[0])

    company, state = server.sim.company(0), server.sim.state
    for n in range(2):
        git(archive, "repack", "-q")  # one more pack: the next commit's `gc --auto` has work to do
        state.update_flow(company, sorted(company.flows)[n], {"flow": {"description": f"night {n}"}})
        night = cli(runner, "export", "--config", config, "-p", "company-a", "-a", archive)
        assert night.exit_code == 0, night.output
    assert packs() == 1  # gc consolidated the packs before export returned
    assert not (archive / ".git" / "gc.pid").exists()
    checked = cli(runner, "verify", "-a", archive)
    assert checked.exit_code == 0 and "damaged" not in checked.output, checked.output


def test_a_damaged_repository_is_exit_7_from_every_command(server: Any, config: Path, exported: Path,
                                                           tmp_path: Path, runner: CliRunner) -> None:
    """A corrupt HEAD commit: import, restore, verify --at HEAD, diff and export say "damaged"
    (exit 7), never "unknown revision" (exit 2). A corrupt file object: the next full export says so."""
    import shutil

    from .test_guards import corrupt

    blob_case = tmp_path / "blob"
    shutil.copytree(exported, blob_case)
    corrupt(exported, git(exported, "rev-parse", "HEAD").strip())
    name = next(iter(manifest(exported)["flows"].values()))["name"]
    for args in (["import", "--config", config, "-t", "company-b", "-a", exported],
                 ["restore", "--config", config, "-t", "company-b", "-a", exported, "--flow", name, "--at", "HEAD"],
                 ["verify", "-a", exported, "--at", "HEAD"],
                 ["diff", "-a", exported, "HEAD"],
                 ["export", "--config", config, "-p", "company-a", "-a", exported]):
        result = cli(runner, *args)
        assert result.exit_code == EXIT_ARCHIVE and "damaged" in result.output, (args, result.output)
    path = git(blob_case, "ls-files", "flows").splitlines()[0]
    corrupt(blob_case, git(blob_case, "rev-parse", f"HEAD:{path}").strip())
    full = cli(runner, "export", "--config", config, "-p", "company-a", "-a", blob_case, "--full")
    assert full.exit_code == EXIT_ARCHIVE and "archive damaged" in full.output, full.output


def test_a_signal_during_one_profiles_commit_lets_every_profile_finish(server: Any, config: Path,
                                                                       tmp_path: Path) -> None:
    """`--all-profiles`: SIGTERM while one profile's git writes its commit; that commit lands, the other profile
    finishes too, the report is written, and the stop is said last with the run's own code."""
    import os
    import signal
    import subprocess
    import sys

    import orjson

    go = tmp_path / "go"
    os.mkfifo(go)
    env, ready = git_stopping_at(tmp_path, "fast-import", once=True, then=f'  read line < "{go}"')
    root, report = tmp_path / "archives", tmp_path / "last-run.json"
    proc = subprocess.Popen([sys.executable, "-m", "flowvault", "export", "--config", str(config), "--all-profiles",
                             "-a", str(root), "--report", str(report)], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=env)
    with open(ready) as fh:
        assert fh.read().strip() == "in"
    proc.send_signal(signal.SIGTERM)
    with open(go, "w") as fh:
        fh.write("go\n")
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err
    assert "then stopped by SIGTERM" in err and "Traceback" not in err
    profiles = orjson.loads(report.read_bytes())["profiles"]
    assert {p: v["status"] for p, v in profiles.items()} == {"company-a": "ok", "company-b": "ok"}
    for name in ("company-a", "company-b"):
        assert len(manifest(root / name)["flows"]) == 20 and git(root / name, "status", "--porcelain") == ""
