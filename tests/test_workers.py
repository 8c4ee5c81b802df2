"""`export --all-profiles --workers N`: the profiles in N worker processes, one combined result.
A worker killed with SIGKILL fails only its own profiles (their archives keep their last
commit); a stop reaches every worker, and every archive is its last commit or the new one."""

from __future__ import annotations

import os
import signal
from pathlib import Path
from typing import Any

import orjson

from flowvault.simulator import Gate

from .conftest import flowvault_here, flowvault_process, git

PROFILES = ("company-a", "company-b")


def exported_once(server: Any, config: Path, root: Path) -> dict[str, str]:
    """Both companies archived once, then one flow of each edited: the next run has work to commit."""
    first = flowvault_here("export", "--config", config, "--all-profiles", "-a", root)
    assert first.returncode == 0, first.stdout + first.stderr
    for i in range(2):
        company = server.sim.company(i)
        server.sim.state.update_flow(company, sorted(company.flows)[0], {"flow": {"description": "edited"}})
    return {name: git(root / name, "rev-parse", "HEAD").strip() for name in PROFILES}


def worker_pids(proc: Any) -> dict[str, int]:
    """Each profile's worker process, from the run's `worker` events."""
    pids: dict[str, int] = {}
    assert proc.stdout is not None
    for line in proc.stdout:
        event = orjson.loads(line)
        if event["event"] == "worker":
            pids |= {name: event["pid"] for name in event["profiles"]}
        if len(pids) == len(PROFILES):
            return pids
    raise AssertionError("no worker events")


def test_a_worker_killed_with_sigkill_fails_only_its_profiles(server: Any, config: Path, tmp_path: Path) -> None:
    """Two workers, one combined result (one table, one report, one metrics file, the worst code);
    the worker of company-b is killed with SIGKILL while the simulator holds one of its requests."""
    root, report, metrics = tmp_path / "root", tmp_path / "last-run.json", tmp_path / "fv.prom"
    before = exported_once(server, config, root)
    gate = server.sim.gate = Gate("POST", "/api/v1/flows/export", key=server.sim.company(1).api_key)
    proc = flowvault_process("export", "--config", config, "--all-profiles", "-a", root, "--workers", "2",
                             "--log-format", "json", "--report", report, "--metrics", metrics)
    try:
        pids = worker_pids(proc)
        assert len(set(pids.values())) == 2 and os.getpid() not in pids.values()  # two processes of their own
        assert gate.arrived.wait(timeout=60), "company-b's worker never reached the gate"
        os.kill(pids["company-b"], signal.SIGKILL)
        out, err = proc.communicate(timeout=120)
    finally:
        gate.release()
    assert proc.returncode == 128 + signal.SIGKILL, err
    assert "company-b (exit 137)" in err and "Traceback" not in err
    rows = {r["profile"]: r for r in next(e for e in map(orjson.loads, out.splitlines())
                                          if e["event"] == "profiles")["rows"]}
    assert rows["company-a"]["status"] == "ok" and rows["company-b"]["status"] == "error"
    assert "killed by SIGKILL" in rows["company-b"]["error"] and "keeps its last commit" in rows["company-b"]["error"]
    assert git(root / "company-a", "rev-parse", "HEAD").strip() != before["company-a"]  # the other one finished
    assert git(root / "company-b", "rev-parse", "HEAD").strip() == before["company-b"]  # the last commit
    profiles = orjson.loads(report.read_bytes())["profiles"]
    assert {name: p["status"] for name, p in profiles.items()} == {"company-a": "ok", "company-b": "error"}
    assert profiles["company-b"]["exit_code"] == 137
    text = metrics.read_text()
    assert 'flowvault_exit_code{profile="company-a"} 0.0' in text and 'flowvault_exit_code{profile="company-b"} 137.0' in text
    verify = flowvault_here("verify", "-a", root / "company-b")
    assert verify.returncode == 0, verify.stdout + verify.stderr


def test_a_stop_reaches_every_worker_and_each_archive_stays_whole(server: Any, config: Path, tmp_path: Path) -> None:
    root = tmp_path / "root"
    before = exported_once(server, config, root)
    gate = server.sim.gate = Gate("POST", "/api/v1/flows/export")  # every company's fetches held
    proc = flowvault_process("export", "--config", config, "--all-profiles", "-a", root, "--workers", "2",
                             "--log-format", "json")
    try:
        pids = worker_pids(proc)
        assert gate.arrived.wait(timeout=60)
        proc.send_signal(signal.SIGTERM)  # the parent only: it forwards the stop to each worker
        out, err = proc.communicate(timeout=120)
    finally:
        gate.release()
    assert proc.returncode == 128 + signal.SIGTERM, err
    assert "stopped by SIGTERM" in err and "Traceback" not in err
    for name in PROFILES:
        assert git(root / name, "rev-parse", "HEAD").strip() == before[name]
        assert git(root / name, "status", "--porcelain") == ""
    for pid in set(pids.values()):  # no worker outlives the run
        assert not os.path.exists(f"/proc/{pid}") or "zombie" in open(f"/proc/{pid}/status").read().lower()
