"""Trust: verify, diff, fault drills, hostile input and secrets that never leak."""

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
from flowvault.cli import main
from flowvault.config import load_config
from flowvault.history import History
from flowvault.simulator import Gate

from .conftest import cli, flowvault_process, git, interrupt_at_gate, manifest, tree_bytes, write_config


def test_verify_passes_on_a_clean_archive_and_at_a_revision(exported: Path, runner: CliRunner) -> None:
    assert cli(runner, "verify", "--archive", exported).output.strip().endswith("verify: ok")
    assert cli(runner, "verify", "--archive", exported, "--at", "HEAD").exit_code == 0


def test_verify_names_each_broken_file(exported: Path, runner: CliRunner) -> None:
    entries = list(manifest(exported)["flows"].values())
    truncated = exported / "flows" / entries[0]["folder"] / "export.json"
    truncated.write_bytes(truncated.read_bytes()[:40])
    edited = exported / "flows" / entries[1]["folder"] / "flow.json"
    edited.write_bytes(edited.read_bytes().replace(b'"name"', b'"name" ', 1))
    stray = exported / "flows" / entries[2]["folder"] / "versions" / "999.json"
    stray.write_text("{}\n")
    result = cli(runner, "verify", "--archive", exported)
    assert result.exit_code == 7
    out = result.output
    assert f"flows/{entries[0]['folder']}/export.json: checksum does not match" in out
    assert f"flows/{entries[1]['folder']}/flow.json: checksum does not match" in out
    assert f"flows/{entries[2]['folder']}/versions/999.json: not in the manifest" in out
    assert "uncommitted change" in out


def test_garbled_manifest_is_one_line_and_import_writes_nothing(server: Any, exported: Path, config: Path,
                                                                runner: CliRunner) -> None:
    (exported / "manifest.json").write_bytes(b'{"flows": {"1": ')
    result = cli(runner, "verify", "--archive", exported)
    assert result.exit_code == 7 and "manifest.json: not valid JSON" in result.output
    git(exported, "commit", "-qam", "a garbled manifest reaches a commit")  # import reads commits only
    imp = cli(runner, "import", "--config", config, "-t", "company-b", "--archive", exported)
    assert imp.exit_code == 7 and imp.output.count("\n") == 1 and "Traceback" not in imp.output
    assert server.sim.writes("company-b") == 0


def test_checksum_mismatch_stops_import_before_any_write(server: Any, exported: Path, config: Path,
                                                         runner: CliRunner) -> None:
    entry = next(iter(manifest(exported)["flows"].values()))
    path = exported / "flows" / entry["folder"] / "export.json"
    path.write_bytes(path.read_bytes().replace(b'"priority"', b'"priority_"'))
    git(exported, "commit", "-qam", "an edited file reaches a commit")  # import reads commits only
    imp = cli(runner, "import", "--config", config, "-t", "company-b", "--archive", exported)
    assert imp.exit_code == 7 and "checksum does not match" in imp.output
    assert server.sim.writes("company-b") == 0


def test_diff_between_commits_and_against_the_live_company(server: Any, profile_a: Any, exported: Path,
                                                           config: Path, runner: CliRunner) -> None:
    company, state = server.sim.company(0), server.sim.state
    fid = next(f for f in sorted(company.flows)
               if any(v["status"] == "Deployed" for v in company.versions.values() if v["flow_id"] == f))
    vid = next(v for v in state.flow_version_ids(company, fid) if company.versions[v]["status"] == "Deployed")
    company.versions[vid]["steps"][0]["config"] = {"changed": True}
    state.create_schedule(company, vid, {"cron_string": "1 2 3 4 5"})
    state.update_flow(company, fid, {"flow": {"description": "drifted"}})
    live = cli(runner, "diff", "--config", config, "-p", "company-a", "--archive", exported, "--exit-code")
    assert live.exit_code == 1, live.output
    assert f"~ {company.flows[fid]['name']} (#{fid})" in live.output
    assert "settings: description" in live.output and "+'1 2 3 4 5'" in live.output
    assert f"version {vid}: step changed: '{company.versions[vid]['steps'][0]['name']}' (config." in live.output
    state.delete_flow(company, sorted(company.flows)[-1])
    run_export(profile_a, exported)
    revs = cli(runner, "diff", "--archive", exported, "HEAD~1", "HEAD", "--format", "json")
    data = orjson.loads(revs.output)
    assert [d["id"] for d in data["changed"]] == [str(fid)] and len(data["removed"]) == 1
    same = cli(runner, "diff", "--archive", exported, "--exit-code")
    assert same.exit_code == 0 and "no differences" in same.output


def test_fault_drill_export_is_byte_identical_and_import_has_no_duplicate(make_server: Any, tmp_path: Path,
                                                                          monkeypatch: Any) -> None:
    server = make_server(flows=30, companies=1, empty_companies=1)
    cfg = write_config(tmp_path / "fv.toml", server, monkeypatch, max_retries=12, timeout=0.5)
    conf = load_config(cfg)
    clean, faulty = tmp_path / "clean", tmp_path / "faulty"
    run_export(conf.profile("company-a"), clean)
    f = server.sim.faults
    f.error_rate, f.drop_rate, f.rate_limit, f.burst = 0.1, 0.05, 400, 20
    f.slow_rate, f.slow_seconds = 0.02, 0.8
    result = run_export(conf.profile("company-a"), faulty)
    assert result.retries > 0 and not result.failed
    assert tree_bytes(clean) == tree_bytes(faulty)
    imported = run_import(conf.profile("company-b"), faulty)
    assert imported.ok, imported.failed
    source = Counter(fl["name"] for fl in server.sim.company(0).flows.values())
    assert Counter(fl["name"] for fl in server.sim.company(1).flows.values()) == source


def exported_then_edited(make_server: Any, tmp_path: Path, monkeypatch: Any) -> tuple[Any, Path, Path, str | None]:
    """An archive at its first commit, and a company where every flow has been edited since."""
    server = make_server(flows=30)
    cfg = write_config(tmp_path / "fv.toml", server, monkeypatch, concurrency=2)
    archive = tmp_path / "archive"
    run_export(load_config(cfg).profile("company-a"), archive)
    company = server.sim.company(0)
    for fid in list(company.flows):
        server.sim.state.update_flow(company, fid, {"flow": {"description": "edited since"}})
    return server, cfg, archive, History.open(archive).head()


def interrupt_export(server: Any, cfg: Path, archive: Path, sig: int) -> tuple[int, str]:
    """`flowvault export` as a process, signalled once it has written a flow while the
    simulator holds a later export request (so the run cannot have finished)."""
    server.sim.gate = gate = Gate("POST", "/api/v1/flows/export", after=6)
    proc = flowvault_process("export", "--config", cfg, "-p", "company-a", "--archive", archive,
                             "--log-format", "json")
    return interrupt_at_gate(server, gate, proc, sig, after_line='"flow_exported"')


def test_export_killed_midway_leaves_previous_or_new_commit(make_server: Any, tmp_path: Path,
                                                            monkeypatch: Any, runner: CliRunner) -> None:
    server, cfg, archive, first = exported_then_edited(make_server, tmp_path, monkeypatch)
    code, _ = interrupt_export(server, cfg, archive, signal.SIGKILL)
    assert code == -signal.SIGKILL
    history = History.open(archive)
    assert history.head() == first and history.interrupted() and history.dirty_paths()  # killed mid-write
    ok = cli(runner, "verify", "--archive", archive)
    assert ok.exit_code == 0, ok.output
    leftovers = cli(runner, "diff", "--archive", archive)
    assert "the leftovers of a run that was killed" in leftovers.output
    run_export(load_config(cfg).profile("company-a"), archive)
    assert History.open(archive).head() != first and History.open(archive).dirty_paths() == []
    assert cli(runner, "verify", "--archive", archive).exit_code == 0


@pytest.mark.parametrize("sig, code", [(signal.SIGINT, 130), (signal.SIGTERM, 143), (signal.SIGHUP, 129)])
def test_ctrl_c_sigterm_and_sighup_during_export_leave_the_last_commit(make_server: Any, tmp_path: Path,
                                                                        monkeypatch: Any, sig: int, code: int) -> None:
    server, cfg, archive, first = exported_then_edited(make_server, tmp_path, monkeypatch)
    got, err = interrupt_export(server, cfg, archive, sig)
    assert got == code and ("interrupted" in err or "stopped by SIG" in err), err
    assert err.count("\n") == 1 and "Traceback" not in err
    history = History.open(archive)
    assert history.head() == first and history.dirty_paths() == [] and not history.interrupted()


def test_a_run_killed_with_git_holding_the_index_lock_is_recovered_by_the_next(make_server: Any, tmp_path: Path,
                                                                                 monkeypatch: Any) -> None:
    """kill -9 of the whole process group while git adds or commits leaves .git/index.lock:
    the next run clears it (its own killed run's, proved by the marker) and succeeds."""
    server, cfg, archive, first = exported_then_edited(make_server, tmp_path, monkeypatch)
    interrupt_export(server, cfg, archive, signal.SIGKILL)
    (archive / ".git" / "index.lock").write_text("")  # what a git killed mid-add leaves
    again = run_export(load_config(cfg).profile("company-a"), archive)
    history = History.open(archive)
    assert again.commit and history.head() != first and history.dirty_paths() == []
    assert not (archive / ".git" / "index.lock").exists() and not history.interrupted()


@pytest.mark.parametrize("mode, needle", [
    ("not_json", "not JSON"),
    ("no_data", "no 'data' list"),
    ("no_meta", "no 'meta' object"),
    ("loop", "inconsistent"),
    ("huge", "larger than 64 MiB"),
])
def test_hostile_server_replies_fail_cleanly_and_write_nothing(server: Any, config: Path, exported: Path,
                                                               runner: CliRunner, mode: str, needle: str) -> None:
    head = History.open(exported).head()
    before = tree_bytes(exported)
    server.sim.hostile = mode
    result = cli(runner, "export", "--config", config, "-p", "company-a", "--archive", exported)
    assert result.exit_code == 6, result.output
    assert needle in result.output and result.output.count("\n") == 1
    assert History.open(exported).head() == head and tree_bytes(exported) == before


def test_secrets_never_leak(make_server: Any, tmp_path: Path, monkeypatch: Any) -> None:
    """Export + import + diff + verify with a known key and known secret values: zero hits anywhere."""
    server = make_server(flows=12, companies=1, empty_companies=1)
    key = server.sim.company(0).api_key
    company = server.sim.company(0)
    secrets = {"sk_live_KNOWN_SECRET_1234", "pw-KNOWN-SFTP-5678"}
    for v in company.versions.values():
        for var in v["variables"]:
            if var["secret"]:
                var["value"] = sorted(secrets)[len(var["key"]) % 2]
    cfg = write_config(tmp_path / "fv.toml", server, monkeypatch)
    archive = tmp_path / "archive"
    runner = CliRunner()
    outputs = []
    for args in (["export", "--config", cfg, "-p", "company-a", "--archive", archive, "--log-format", "json"],
                 ["import", "--config", cfg, "-t", "company-b", "--archive", archive, "--log-format", "json"],
                 ["diff", "--config", cfg, "-p", "company-a", "--archive", archive, "--format", "json"],
                 ["verify", "--archive", archive]):
        result = runner.invoke(main, [str(a) for a in args])
        assert result.exit_code == 0, result.output
        outputs.append(result.output)
    monkeypatch.setenv("FV_TEST_KEY_0", "pwk_wrong_but_secret_value_42")
    outputs.append(runner.invoke(main, ["export", "--config", str(cfg), "-p", "company-a",
                                        "--archive", str(archive)]).output)
    history = git(archive, "log", "-p", "--all")
    files = b"".join(tree_bytes(archive).values()).decode()
    for needle in [key, "pwk_wrong_but_secret_value_42", *secrets]:
        for where, text in [("stdout/stderr", "".join(outputs)), ("git history", history), ("files", files)]:
            assert needle not in text, f"a secret leaked into {where}"


def test_the_sample_archive_verifies(tmp_path: Path, runner: CliRunner) -> None:
    """samples/archive is what an archive looks like; it must stay valid as the format evolves."""
    import shutil

    sample = Path(__file__).parent.parent / "samples" / "archive"
    archive = tmp_path / "archive"
    shutil.copytree(sample, archive)
    subprocess.run(["git", "init", "-q", str(archive)], check=True)
    History.open(archive).commit_all("sample")
    result = cli(runner, "verify", "--archive", archive)
    assert result.exit_code == 0, result.output
    export = archive / "flows" / "1038-sync-customers-sage-200" / "export.json"
    assert b"<redacted by flowvault>" in export.read_bytes()
