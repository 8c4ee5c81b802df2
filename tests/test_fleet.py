"""A fleet of companies (#23): shards that pick a stable subset of profiles (``--shard I/N``, or
Kubernetes' Indexed Job variables), run here as N processes; start offsets stable per profile."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import orjson
import pytest
from click.testing import CliRunner

from flowvault.cli import main
from flowvault.errors import UsageError
from flowvault.fleet import parse_shard, pick, shard_of, start_offset

from .conftest import write_config

NAMES = [f"company-{i:03d}" for i in range(200)]


def test_shards_split_the_profiles_once_each_and_stay_put() -> None:
    for count in (1, 2, 3, 7, 50):
        shards = [pick(NAMES, (i, count)) for i in range(count)]
        assert sorted(n for s in shards for n in s) == sorted(NAMES)  # every profile, exactly once
        assert all(shard_of(n, count) == i for i, s in enumerate(shards) for n in s)
    sizes = [len(pick(NAMES, (i, 4))) for i in range(4)]
    assert min(sizes) > 30  # spread, not piled on one shard
    assert pick(NAMES, None) == NAMES
    assert shard_of("company-007", 4) == shard_of("company-007", 4)  # no hash seed in it


def test_start_offsets_are_stable_and_within_the_window() -> None:
    offsets = [start_offset(n, 900) for n in NAMES]
    assert all(0 <= o < 900 for o in offsets) and len(set(offsets)) > 150
    assert start_offset("company-001", 900) == start_offset("company-001", 900)
    assert start_offset("company-001", 0) == 0.0


def test_the_shard_comes_from_the_flag_or_an_indexed_job_and_is_refused_when_wrong() -> None:
    assert parse_shard("1/3", {}) == (1, 3)
    assert parse_shard(None, {"JOB_COMPLETION_INDEX": "2", "JOB_COMPLETIONS": "4"}) == (2, 4)
    assert parse_shard(None, {}) is None
    for bad in ("3/3", "x", "1/0", "-1/2"):
        with pytest.raises(UsageError, match="not a shard"):
            parse_shard(bad, {})


def summaries(out: str) -> list[str]:
    return [e["profile"] for e in map(orjson.loads, filter(None, out.splitlines())) if e.get("event") == "summary"]


def test_n_shard_processes_export_each_profile_exactly_once(make_server: Any, tmp_path: Path,
                                                            monkeypatch: Any) -> None:
    server = make_server(flows=3, companies=2, empty_companies=3)
    config = write_config(tmp_path / "fv.toml", server, monkeypatch)
    root = tmp_path / "root"
    procs = []
    for index in range(3):  # shard 2 learns its place from the Indexed Job's variables, as on Kubernetes
        flag = ["--shard", f"{index}/3"] if index < 2 else []
        env = {**os.environ, **({"JOB_COMPLETION_INDEX": "2", "JOB_COMPLETIONS": "3"} if index == 2 else {})}
        procs.append(subprocess.Popen([sys.executable, "-m", "flowvault", "export", "--config", str(config),
                                       "--all-profiles", "--archive", str(root), *flag, "--log-format", "json"],
                                      stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env))
    outs = [p.communicate(timeout=120) for p in procs]
    exported = [name for out, _ in outs for name in summaries(out)]
    profiles = [c.name for c in server.sim.state.companies]
    assert all(p.returncode == 0 for p in procs), [err for _, err in outs]
    assert sorted(exported) == sorted(profiles), exported  # each exactly once, across the shards
    assert sorted(p.name for p in root.iterdir()) == sorted(profiles)
    for index, (out, _) in enumerate(outs):
        assert sorted(summaries(out)) == pick(sorted(profiles), (index, 3))


def test_spread_starts_each_profile_at_its_offset(server: Any, tmp_path: Path, monkeypatch: Any) -> None:
    config = write_config(tmp_path / "fv.toml", server, monkeypatch)
    result = CliRunner().invoke(main, ["export", "--config", str(config), "--all-profiles", "--archive",
                                       str(tmp_path / "root"), "--spread", "0.5", "--log-format", "json"])
    assert result.exit_code == 0, result.output
    scheduled = {e["profile"]: e["delay_s"] for e in map(orjson.loads, filter(None, result.output.splitlines()))
                 if e.get("event") == "scheduled"}
    assert scheduled and all(scheduled[p] == start_offset(p, 0.5) for p in scheduled)
    alone = CliRunner().invoke(main, ["export", "--config", str(config), "-p", "company-a", "--archive",
                                      str(tmp_path / "one"), "--spread", "5"])
    assert alone.exit_code == 2 and "--all-profiles" in alone.output


def test_a_hanging_and_a_failing_company_never_hold_up_the_others(make_server: Any, tmp_path: Path,
                                                                   monkeypatch: Any) -> None:
    """Three companies under one bound of 3 requests in flight: company-c's flow exports hang
    (held by the simulator until released), company-b's key is refused. company-a is exported
    and committed while company-c still hangs; the bound held; the run ends with one row per
    company, in the JSON log and in the report."""
    from flowvault.errors import AuthError
    from flowvault.simulator import Gate

    from .conftest import flowvault_process, git

    server = make_server(flows=6, companies=3, latency=0.05)  # replies take a while: requests overlap
    config = write_config(tmp_path / "fv.toml", server, monkeypatch, concurrency=2)
    monkeypatch.setenv("FV_TEST_KEY_1", "not-company-b-s-key")
    hang = server.sim.gate = Gate("POST", "/api/v1/flows/export", key=server.sim.company(2).api_key)
    root, report = tmp_path / "root", tmp_path / "report.json"
    proc = flowvault_process("export", "--config", config, "--all-profiles", "-a", root, "--max-in-flight", 3,
                             "--log-format", "json", "--report", report)
    try:
        assert proc.stdout is not None
        seen = []
        for line in proc.stdout:
            event = orjson.loads(line)
            seen.append(event)
            if event.get("event") == "summary" and event.get("profile") == "company-a":
                break
        assert seen[-1]["ok"] and seen[-1]["commit"], seen[-1]
        assert git(root / "company-a", "rev-parse", "HEAD").strip() == seen[-1]["commit"]
        assert hang.arrived.wait(60) and not hang.finished.is_set()  # company-c: held, nothing answered
        assert not [e for e in seen if e.get("event") == "summary" and e.get("profile") == "company-c"]
    finally:
        hang.release()
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == AuthError.exit_code, err  # the worst profile's code: company-b's
    assert 1 <= server.sim.max_in_flight <= 3  # company-c held two, company-a went on with the third
    rows = {r["profile"]: r for e in map(orjson.loads, out.splitlines()) if e.get("event") == "profiles"
            for r in e["rows"]}
    assert {p: r["status"] for p, r in rows.items()} == {"company-a": "ok", "company-b": "error", "company-c": "ok"}
    assert rows["company-c"]["flows"] == 6 and rows["company-b"]["flows"] is None
    assert "FV_TEST_KEY_1" in rows["company-b"]["error"]
    assert orjson.loads(report.read_bytes())["profiles"].keys() == rows.keys()


def test_the_text_summary_of_several_profiles_has_one_row_each(make_server: Any, tmp_path: Path,
                                                               monkeypatch: Any) -> None:
    server = make_server(flows=2, companies=2, empty_companies=1)
    config = write_config(tmp_path / "fv.toml", server, monkeypatch)
    monkeypatch.setenv("FV_TEST_KEY_1", "not-company-b-s-key")
    result = CliRunner().invoke(main, ["export", "--config", str(config), "--all-profiles", "-a",
                                       str(tmp_path / "root")])
    from flowvault.errors import AuthError

    assert result.exit_code == AuthError.exit_code, result.output
    table = result.stdout[result.stdout.index("profiles: 2 of 3 finished cleanly"):].splitlines()
    assert table[1].split() == ["profile", "status", "flows", "changed", "removed", "failed", "requests", "429s",
                                "seconds", "exit"]
    assert table[2].split()[:6] == ["company-a", "ok", "2", "2", "0", "0"]
    assert table[3].split()[:3] == ["company-b", "error", "-"] and table[3].split()[-1] == str(AuthError.exit_code)
    assert table[4].split()[:3] == ["company-c", "ok", "0"]
    assert table[5].startswith("  company-b: ") and "FV_TEST_KEY_1" in table[5]


def test_the_bound_on_requests_in_flight_comes_from_the_config_or_the_flag(tmp_path: Path) -> None:
    from flowvault.config import DEFAULT_MAX_IN_FLIGHT, ConfigError, parse_config

    profile = '[profiles.a]\nbase_url = "https://x.example"\napi_key_env = "K"\n'
    assert parse_config(profile, tmp_path).max_in_flight == DEFAULT_MAX_IN_FLIGHT
    assert parse_config(profile + "[fleet]\nmax_in_flight = 12\n", tmp_path).max_in_flight == 12
    for bad in ("max_in_flight = 0", "max_in_flight = true", "in_flight = 3"):
        with pytest.raises(ConfigError, match=r"\[fleet\]"):
            parse_config(profile + f"[fleet]\n{bad}\n", tmp_path)
    alone = CliRunner().invoke(main, ["export", "--config", str(tmp_path / "none.toml"), "-p", "a", "-a",
                                      str(tmp_path / "x"), "--max-in-flight", "4"])
    assert alone.exit_code == 2 and "--max-in-flight" in alone.output


def test_a_company_whose_git_hangs_never_holds_up_the_others(server: Any, config: Path, tmp_path: Path) -> None:
    """Each profile's commit runs off the event loop: while the first profile's `git add` is stopped,
    the other profile is exported, committed and summarised; then the first one finishes too."""
    import threading

    from .conftest import flowvault_process, git, git_stopping_at

    go = tmp_path / "go"
    os.mkfifo(go)
    env, ready = git_stopping_at(tmp_path, "fast-import", once=True, then=f'  read line < "{go}"')
    late: list[bool] = []

    def release(by_timer: bool = False) -> None:
        if not late:
            late.append(by_timer)
            with open(go, "w") as fh:
                fh.write("go\n")

    safety = threading.Timer(60, release, kwargs={"by_timer": True})  # never leave git stopped on a failure
    safety.start()
    root = tmp_path / "root"
    proc = subprocess.Popen([sys.executable, "-m", "flowvault", "export", "--config", str(config), "--all-profiles",
                             "-a", str(root), "--log-format", "json"], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=env)
    try:
        with open(ready) as fh:
            assert fh.read().strip() == "in"  # one profile's git add is stopped
        assert proc.stdout is not None
        done = next(e for e in map(orjson.loads, proc.stdout) if e.get("event") == "summary")
        assert done["ok"] and done["commit"] and not late  # the other one finished before the release
        assert git(root / done["profile"], "rev-parse", "HEAD").strip() == done["commit"]
    finally:
        release()
        safety.cancel()
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err
    assert late == [False] and len([e for e in map(orjson.loads, out.splitlines())
                                    if e.get("event") == "summary"]) == 1  # the stopped one, after the release


def test_a_remote_that_stalls_one_companys_push_holds_up_no_other(server: Any, config: Path, tmp_path: Path) -> None:
    """`--all-profiles --push`: company-a's remote takes its push and then waits (a hook stopped
    on a FIFO); company-b, held by the simulator until then, is exported, committed and pushed
    meanwhile; company-a's push then lands too."""
    import threading

    from flowvault.simulator import Gate

    from .conftest import flowvault_process, git

    root = tmp_path / "root"
    ready, go = tmp_path / "ready", tmp_path / "go"
    os.mkfifo(ready)
    os.mkfifo(go)
    for name in ("company-a", "company-b"):
        bare = tmp_path / f"{name}.git"
        subprocess.run(["git", "init", "-q", "--bare", str(bare)], check=True)
        subprocess.run(["git", "init", "-q", str(root / name)], check=True)
        git(root / name, "remote", "add", "origin", str(bare))
    hook = tmp_path / "company-a.git" / "hooks" / "pre-receive"
    hook.write_text(f'#!/bin/sh\ncat > /dev/null\necho in > "{ready}"\nread line < "{go}"\n')
    hook.chmod(0o755)
    held_b = server.sim.gate = Gate("POST", "/api/v1/flows/export", key=server.sim.company(1).api_key)
    late: list[bool] = []

    def release(by_timer: bool = False) -> None:
        held_b.release()
        if not late:
            late.append(by_timer)
            with open(go, "w") as fh:
                fh.write("go\n")

    safety = threading.Timer(60, release, kwargs={"by_timer": True})
    safety.start()
    proc = flowvault_process("export", "--config", config, "--all-profiles", "-a", root, "--push",
                             "--log-format", "json")
    try:
        with open(ready) as fh:
            assert fh.read().strip() == "in"  # company-a's push is in its remote's hook
        held_b.release()
        assert proc.stdout is not None
        pushed = next(e for e in map(orjson.loads, proc.stdout) if e.get("event") == "pushed")
        assert pushed["profile"] == "company-b" and not late  # before company-a's remote let go
        assert git(tmp_path / "company-b.git", "rev-parse", "HEAD").strip() == pushed["commit"]
    finally:
        release()
        safety.cancel()
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err
    assert late == [False] and git(tmp_path / "company-a.git", "rev-parse", "HEAD").strip() == git(
        root / "company-a", "rev-parse", "HEAD").strip()
