"""Guard rails: a slip of the user, the API or the machine never harms the archive."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
import pytest
from click.testing import CliRunner

from flowvault.errors import EXIT_ARCHIVE, EXIT_MASS_REMOVAL, EXIT_USAGE
from flowvault.history import History

from .conftest import cli, git_stopping_at, tree_bytes


def test_export_without_profile_refuses_when_the_config_has_several(config: Path, tmp_path: Path,
                                                                    runner: CliRunner) -> None:
    result = cli(runner, "export", "--config", config, "-a", tmp_path / "archive")
    assert result.exit_code == EXIT_USAGE and "choose one with --profile" in result.output
    assert not (tmp_path / "archive").exists()


def test_the_archive_knows_whose_it_is(config: Path, exported: Path, runner: CliRunner) -> None:
    archive = exported
    before, head = tree_bytes(archive), History.open(archive).head()
    other = cli(runner, "export", "--config", config, "-p", "company-b", "-a", archive)
    assert other.exit_code == EXIT_ARCHIVE and "holds profile 'company-a'" in other.output
    assert tree_bytes(archive) == before and History.open(archive).head() == head
    into_archive = cli(runner, "export", "--config", config, "--all-profiles", "-a", archive)
    assert into_archive.exit_code == EXIT_USAGE and "is an archive itself" in into_archive.output
    assert tree_bytes(archive) == before
    moved = cli(runner, "export", "--config", config, "-p", "company-b", "-a", archive, "--retarget")
    assert moved.exit_code == EXIT_MASS_REMOVAL  # company-a's flows would all go: a second, explicit yes
    moved = cli(runner, "export", "--config", config, "-p", "company-b", "-a", archive, "--retarget",
                "--allow-mass-removal")
    assert moved.exit_code == 0 and History.open(archive).head() != head


def test_an_empty_listing_never_wipes_the_archive(server: Any, config: Path, exported: Path,
                                                  runner: CliRunner) -> None:
    archive = exported
    head, before = History.open(archive).head(), tree_bytes(archive)
    company = server.sim.company(0)
    for fid in list(company.flows):
        server.sim.state.delete_flow(company, fid)  # a complete, consistent, empty answer
    result = cli(runner, "export", "--config", config, "-p", "company-a", "-a", archive)
    assert result.exit_code == EXIT_MASS_REMOVAL and "--allow-mass-removal" in result.output
    assert History.open(archive).head() == head and tree_bytes(archive) == before
    allowed = cli(runner, "export", "--config", config, "-p", "company-a", "-a", archive, "--allow-mass-removal")
    assert allowed.exit_code == 0 and "removed            20" in allowed.output
    assert not (archive / "flows").exists() or not any((archive / "flows").iterdir())


def test_hostile_ids_fail_by_name_and_harm_nothing(server: Any, config: Path, exported: Path,
                                                   runner: CliRunner) -> None:
    archive = exported
    company = server.sim.company(0)
    first = sorted(company.flows)[0]
    server.sim.listing_extra = [
        {"id": True, "name": "a boolean"}, {"id": "../x", "name": "dots"}, {"id": 10**17, "name": "huge"},
        {"id": "３", "name": "fullwidth"}, {"id": 2.5, "name": "a float"},
        {"id": f"0{first}", "name": company.flows[first]["name"]},  # the same flow, spelled "0…": one flow
    ]
    before = tree_bytes(archive)
    result = cli(runner, "export", "--config", config, "-p", "company-a", "-a", archive)
    assert result.exit_code == 3 and "Traceback" not in result.output
    for name in ("a boolean", "dots", "huge", "fullwidth", "a float"):
        assert f"{name} (#" in result.output
    assert tree_bytes(archive) == before  # nothing removed, nothing renamed (no "True-…" folder)
    assert cli(runner, "verify", "-a", archive).exit_code == 0


def test_odd_names_cannot_forge_commit_lines_or_stop_backups(server: Any, config: Path, tmp_path: Path,
                                                             runner: CliRunner) -> None:
    archive = tmp_path / "archive"
    company = server.sim.company(0)
    one, two = sorted(company.flows)[:2]
    server.sim.state.update_flow(company, one, {"flow": {"name": "sync\nremoved: everything"}})
    server.sim.state.update_flow(company, two, {"flow": {"name": "nul\x00byte"}})
    result = cli(runner, "export", "--config", config, "-p", "company-a", "-a", archive)
    assert result.exit_code == 0, result.output
    message = History.open(archive).log()[0].message
    assert "removed: everything" not in message.splitlines() and "added: sync?removed: everything" in message
    assert "added: nul?byte" in message


def test_the_simulator_gives_the_same_archive_for_the_same_seed_across_restarts(tmp_path: Path,
                                                                                 monkeypatch: Any) -> None:
    """Two simulator processes with one seed: byte-identical archives (fault drills rely on it)."""
    import subprocess
    import sys

    archives = []
    for n in range(2):
        proc = subprocess.Popen([sys.executable, "-m", "flowvault", "simulator", "--port", "0", "--flows", "8",
                                 "--companies", "1", "--seed", "3"], stdout=subprocess.PIPE, text=True)
        try:
            assert proc.stdout is not None
            url = proc.stdout.readline().split()[3]
            key = proc.stdout.readline().split()[-1]
            monkeypatch.setenv("FV_SEED_KEY", key)
            cfg = tmp_path / f"fv{n}.toml"
            cfg.write_text(f'[profiles.company-a]\nbase_url = "{url}"\napi_key_env = "FV_SEED_KEY"\nrate_limit = 0\n')
            archive = tmp_path / f"archive{n}"
            assert cli(CliRunner(), "export", "--config", cfg, "-a", archive).exit_code == 0
            files = tree_bytes(archive)
            files["manifest.json"] = orjson.dumps(orjson.loads(files["manifest.json"])["flows"])  # not the URL
            archives.append(files)
        finally:
            proc.terminate()
            proc.wait(timeout=30)
            assert proc.stdout is not None
            proc.stdout.close()
    assert archives[0] == archives[1]


def test_a_server_that_drips_its_reply_cannot_hold_a_run(make_server: Any, tmp_path: Path, monkeypatch: Any,
                                                         runner: CliRunner) -> None:
    from .conftest import write_config

    server = make_server(flows=10, drip=0.05)  # 16 bytes every 50 ms: each read far within its timeout
    cfg = write_config(tmp_path / "fv.toml", server, monkeypatch, timeout=1, max_retries=0)
    result = cli(runner, "export", "--config", cfg, "-p", "company-a", "-a", tmp_path / "archive")
    assert result.exit_code == 6 and "no complete reply within 3 s" in result.output


def test_a_run_deadline_stops_a_slow_run_and_keeps_the_last_commit(make_server: Any, tmp_path: Path,
                                                                   monkeypatch: Any, runner: CliRunner) -> None:
    from .conftest import write_config

    server = make_server(flows=20)
    cfg = write_config(tmp_path / "fv.toml", server, monkeypatch, concurrency=1, run_deadline=1)
    archive = tmp_path / "archive"
    assert cli(runner, "export", "--config", cfg, "-p", "company-a", "-a", archive).exit_code == 0
    head, before = History.open(archive).head(), tree_bytes(archive)
    server.sim.faults.latency = 0.1  # 40 requests one at a time: 4 s
    for fid in list(server.sim.company(0).flows):
        server.sim.state.update_flow(server.sim.company(0), fid, {"flow": {"description": "edited"}})
    result = cli(runner, "export", "--config", cfg, "-p", "company-a", "-a", archive)
    assert result.exit_code == 6 and "run_deadline" in result.output
    assert History.open(archive).head() == head and tree_bytes(archive) == before


def corrupt(archive: Path, sha: str) -> None:
    """Damage one object. A run's commit lands as a pack (fast-import): the packs are first
    exploded into loose objects (git unpack-objects), so that one object can be hit alone."""
    import subprocess

    obj = archive / ".git" / "objects" / sha[:2] / sha[2:]
    if not obj.exists():
        for pack in sorted((archive / ".git" / "objects" / "pack").glob("*.pack")):
            moved = pack.rename(archive / ".git" / pack.name)
            pack.with_suffix(".idx").unlink()
            with moved.open("rb") as fh:
                subprocess.run(["git", "unpack-objects", "-q"], stdin=fh, cwd=archive, check=True)
            moved.unlink()
    obj.chmod(0o644)
    obj.write_bytes(b"garbage")


def test_damage_in_git_is_reported_never_passed(server: Any, config: Path, exported: Path, tmp_path: Path,
                                                runner: CliRunner) -> None:
    import shutil

    from .conftest import git

    archive = exported
    broken_head = tmp_path / "broken-head"
    shutil.copytree(archive, broken_head)
    path = git(archive, "ls-files", "flows").splitlines()[0]
    corrupt(archive, git(archive, "rev-parse", f"HEAD:{path}").strip())
    for args in (["verify", "-a", archive], ["verify", "-a", archive, "--at", "HEAD"]):
        result = cli(runner, *args)
        assert result.exit_code == EXIT_ARCHIVE and "git object store damaged" in result.output
    corrupt(broken_head, git(broken_head, "rev-parse", "HEAD").strip())
    for args in (["history", "-a", broken_head], ["deleted", "-a", broken_head]):
        result = cli(runner, *args)
        assert result.exit_code == EXIT_ARCHIVE and "no deleted flows" not in result.output, result.output


def test_verify_tells_a_running_export_from_an_interrupted_one(server: Any, config: Path, exported: Path,
                                                               runner: CliRunner) -> None:
    import fcntl

    from flowvault.history import LOCK, MARKER

    archive = exported
    (archive / ".git" / MARKER).write_text("1")
    with open(archive / ".git" / LOCK, "w") as held:
        fcntl.flock(held, fcntl.LOCK_EX)  # as a running export holds it
        running = cli(runner, "verify", "-a", archive)
    assert running.exit_code == 0 and "a run is in progress" in running.output
    killed = cli(runner, "verify", "-a", archive)
    assert killed.exit_code == 0 and "a run was interrupted" in killed.output


def test_a_reader_that_goes_away_never_stops_the_backup(server: Any, config: Path, tmp_path: Path) -> None:
    """`flowvault export --all-profiles … | head -1`: every profile is still exported."""
    from .conftest import flowvault_process

    proc = flowvault_process("export", "--config", config, "--all-profiles", "-a", tmp_path / "root",
                             "--log-format", "json")
    assert proc.stdout is not None and proc.stderr is not None
    proc.stdout.readline()
    proc.stdout.close()  # the reader is gone
    proc.wait(timeout=60)
    proc.stderr.close()
    assert proc.returncode == 0
    for name in ("company-a", "company-b"):
        assert History.open(tmp_path / "root" / name).head() is not None


def test_two_runs_started_at_once_on_a_new_archive(server: Any, config: Path, tmp_path: Path) -> None:
    """The second run starts while the first provably holds the archive (its listing is held by
    the simulator): it is refused by the lock in one line (exit 7); the first then commits."""
    from flowvault.simulator import Gate

    from .conftest import flowvault_process

    archive = tmp_path / "new-archive"
    server.sim.gate = gate = Gate("GET", "/api/v1/flows")
    first = flowvault_process("export", "--config", config, "-p", "company-a", "-a", archive)
    try:
        assert gate.arrived.wait(timeout=60), "the first run never reached the listing"
        second = flowvault_process("export", "--config", config, "-p", "company-a", "-a", archive)
        _, err = second.communicate(timeout=120)
    finally:
        gate.release()
    assert second.returncode == EXIT_ARCHIVE and "another flowvault run is using this archive" in err, err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err
    _, err = first.communicate(timeout=120)
    assert first.returncode == 0, err
    assert History.open(archive).head() is not None and History.open(archive).dirty_paths() == []


def test_a_full_disk_never_commits_a_half_state(server: Any, config: Path, tmp_path: Path, runner: CliRunner) -> None:
    """The archive on a tiny filesystem fills up mid-export: exit 7 with one line, HEAD kept;
    once there is room the next run commits exactly what the API has."""
    import subprocess

    disk = tmp_path / "disk"
    disk.mkdir()
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=3m", "tmpfs", str(disk)],
                      capture_output=True).returncode:
        pytest.skip("mounting a small filesystem needs root")
    try:
        archive = disk / "archive"
        company = server.sim.company(0)
        assert cli(runner, "export", "--config", config, "-p", "company-a", "-a", archive).exit_code == 0
        head = History.open(archive).head()
        for fid in sorted(company.flows)[:12]:  # big edits that cannot fit
            for vid in server.sim.state.flow_version_ids(company, fid):
                company.versions[vid]["steps"][0]["config"] = {"blob": "x" * 60_000}
                server.sim.state.touch(company, vid)
        gone = sorted(company.flows)[-1]
        server.sim.state.delete_flow(company, gone)
        full = cli(runner, "export", "--config", config, "-p", "company-a", "-a", archive)
        assert full.exit_code == EXIT_ARCHIVE and "No space left on device" in full.output, full.output
        assert "Traceback" not in full.output and History.open(archive).head() == head
        subprocess.run(["mount", "-o", "remount,size=64m", str(disk)], check=True)
        again = cli(runner, "export", "--config", config, "-p", "company-a", "-a", archive)
        assert again.exit_code == 0, again.output
        listed = {str(f) for f in company.flows}
        assert set(orjson.loads((archive / "manifest.json").read_bytes())["flows"]) == listed
        assert History.open(archive).dirty_paths() == [] and cli(runner, "verify", "-a", archive).exit_code == 0
    finally:
        subprocess.run(["umount", "-l", str(disk)], capture_output=True)


def test_version_ids_that_are_not_whole_numbers_fail_their_flow(server: Any, config: Path, exported: Path,
                                                                 runner: CliRunner) -> None:
    """Versions 2.2 and 2.7 would share one file: the flow fails by name instead, its copy kept."""
    archive = exported
    company = server.sim.company(0)
    fid = sorted(company.flows)[0]
    vids = server.sim.state.flow_version_ids(company, fid)
    before = tree_bytes(archive)
    server.sim.version_ids = {vids[0]: 2.2, vids[1]: 2.7}
    result = cli(runner, "export", "--config", config, "-p", "company-a", "-a", archive)
    assert result.exit_code == 3 and f"(#{fid})" in result.output and "positive numeric ID" in result.output
    assert tree_bytes(archive) == before


def test_concurrency_has_one_bound_on_the_command_line_and_in_the_config(server: Any, tmp_path: Path,
                                                                         monkeypatch: Any,
                                                                         runner: CliRunner) -> None:
    from .conftest import write_config

    cfg = write_config(tmp_path / "fv.toml", server, monkeypatch, concurrency=65)
    in_config = cli(runner, "export", "--config", cfg, "-p", "company-a", "-a", tmp_path / "a")
    assert in_config.exit_code == 4 and "'concurrency' is at most 64" in in_config.output
    cfg = write_config(tmp_path / "fv.toml", server, monkeypatch)
    on_line = cli(runner, "export", "--config", cfg, "-p", "company-a", "-a", tmp_path / "a", "--concurrency", "65")
    assert on_line.exit_code == 2 and "1<=x<=64" in on_line.output


def test_a_process_group_killed_inside_git_is_recovered_by_the_next_run(server: Any, config: Path, tmp_path: Path,
                                                                        monkeypatch: Any) -> None:
    """kill -9 of the whole group (OOM killer, node shutdown, pod deletion) while git writes
    the commit: git leaves .git/index.lock; the next run clears it and succeeds, no human needed."""
    import os
    import signal
    import subprocess
    import sys

    for step in ("fast-import", "update-index"):  # the two steps of a commit that write
        archive = tmp_path / f"archive-{step}"
        env, ready = git_stopping_at(tmp_path, step, first="  : > .git/index.lock          # as git holds it",
                                     then="  exec sleep 600")
        proc = subprocess.Popen([sys.executable, "-m", "flowvault", "export", "--config", str(config), "-p",
                                 "company-a", "-a", str(archive)], stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL, env=env, start_new_session=True)
        with open(ready) as fh:  # blocks until git is inside the commit
            assert fh.read().strip() == "in"
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
        assert (archive / ".git" / "index.lock").exists()
        again = cli(CliRunner(), "export", "--config", config, "-p", "company-a", "-a", archive)
        assert again.exit_code == 0, again.output
        history = History.open(archive)
        assert history.head() is not None and history.dirty_paths() == [] and not history.interrupted()


def test_an_archive_that_cannot_be_written_is_one_line_and_exit_7(server: Any, config: Path, tmp_path: Path,
                                                                  runner: CliRunner) -> None:
    import subprocess

    disk = tmp_path / "ro"
    disk.mkdir()
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=8m", "tmpfs", str(disk)], capture_output=True).returncode:
        pytest.skip("mounting a filesystem needs root")
    try:
        archive = disk / "archive"
        assert cli(runner, "export", "--config", config, "-p", "company-a", "-a", archive).exit_code == 0
        subprocess.run(["mount", "-o", "remount,ro", str(disk)], check=True)  # as a read-only volume
        server.sim.state.update_flow(server.sim.company(0), sorted(server.sim.company(0).flows)[0],
                                     {"flow": {"description": "changed"}})
        result = cli(runner, "export", "--config", config, "-p", "company-a", "-a", archive)
        assert result.exit_code == EXIT_ARCHIVE and "Read-only file system" in result.output, result.output
        assert "Traceback" not in result.output and len(result.output.strip().splitlines()) == 1
    finally:
        subprocess.run(["umount", "-l", str(disk)], capture_output=True)
