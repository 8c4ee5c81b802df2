"""The fleet scenario: many companies on one machine, each limited to 240 calls a minute on its
own key (the simulator's fixed window, as Laravel's throttle), exported by one
``flowvault export --all-profiles`` — a full run, then a nightly one with 1% of each company's
flows edited.

Each figure is set against the floor measured in the same run: a company cannot be exported
faster than its own calls ÷ 4 per second, so the run's floor is the slowest company's. Besides
wall ÷ floor: flowvault's CPU seconds per 1,000 calls (its process, from wait4), its peak RSS,
and the simulator's CPU (this process) — on one machine the two share the cores, so the
simulator's share says how much of any lag is the test rig's.
"""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from flowvault.simulator import Faults, Simulator, SimulatorServer, generate

from . import limit
from .anchor import profile_by_module, run_anchor, write_plan

RATE = 240 / 60.0  # the documented limit, calls per second per company


def config(path: Path, srv: SimulatorServer, max_in_flight: int | None) -> None:
    """The limit scenario's config (the README's profile per company: no rate_limit), and the bound."""
    limit.config(path, srv)
    if max_in_flight:
        path.write_text(path.read_text() + f"\n[fleet]\nmax_in_flight = {max_in_flight}\n")


def run_all(cfg: Path, root: Path) -> dict[str, Any]:
    """``flowvault export --all-profiles`` as a child: wall, its own CPU and peak RSS, each profile's row."""
    started = time.monotonic()
    with tempfile.TemporaryFile(mode="w+") as out, tempfile.TemporaryFile(mode="w+") as err:
        proc = subprocess.Popen([sys.executable, "-m", "flowvault", "export", "--config", str(cfg), "--all-profiles",
                                 "--archive", str(root), "--log-format", "json"], stdout=out, stderr=err)
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.monotonic() - started
        proc.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        events = [json.loads(line) for line in out if line.startswith("{")]
        err.seek(0)
        tail = err.read()[-400:]
    rows = next((e["rows"] for e in events if e.get("event") == "profiles"), None)
    if rows is None:
        raise SystemExit(f"flowvault export --all-profiles gave no per-profile rows (exit {proc.returncode}): {tail}")
    rss = max((float(e["peak_rss_mb"]) for e in events if e.get("event") == "summary"), default=0.0)
    return {"wall": wall, "cpu": usage.ru_utime + usage.ru_stime, "rss": rss, "rows": rows,
            "exit": proc.returncode}


def figure(run: dict[str, Any], sim_cpu: float) -> dict[str, Any]:
    rows = run["rows"]
    calls = sum(int(r["requests"] or 0) for r in rows)
    floor = max(int(r["requests"] or 0) for r in rows) / RATE  # the slowest company's own floor
    slowest = max(float(r["duration_s"]) for r in rows)
    # at its floor: within the bench's target for one company at the documented limit (wall <= 1.10 x floor)
    at_floor = sum(1 for r in rows if r["requests"] and float(r["duration_s"]) <= 1.10 * int(r["requests"]) / RATE)
    return {"companies": len(rows), "ok": sum(1 for r in rows if r["status"] == "ok"), "exit_code": run["exit"],
            "calls": calls, "wall_s": round(run["wall"], 1), "floor_s": round(floor, 1),
            "wall_over_floor": round(run["wall"] / floor, 2) if floor else None,
            "slowest_company_s": slowest, "companies_at_floor": at_floor,
            "throttled": sum(int(r["throttled"] or 0) for r in rows),
            "per_company": [[r["profile"], r["requests"], r["duration_s"]] for r in rows],
            "cpu_s": round(run["cpu"], 1),
            "cpu_s_per_1000_calls": round(1000 * run["cpu"] / calls, 2) if calls else None,
            "peak_rss_mb": round(run["rss"]), "simulator_cpu_s": round(sim_cpu, 1)}


def _cpu_here() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def anchor_beside(work: Path, srv: SimulatorServer, full: dict[str, Any], max_in_flight: int | None,
                  state: Any) -> dict[str, Any]:
    """The same requests flowvault's full run made, replayed by the bare anchor (bench/anchor.py) on a
    server of the same state without the limit (its CPU is the measure, not its wall): paced as
    flowvault paces each company (the documented limit: the same schedule, so the same wake-ups a
    call), and at once (the stack's floor with every reply batched). The ratio is flowvault's CPU
    per call over the paced anchor's, from this run; the unpaced figure is beside it."""
    got: dict[str, Any] = {}
    with SimulatorServer(Simulator(state, Faults())).start() as bare:
        for rate, prefix in ((RATE, ""), (0.0, "unpaced_")):
            plan = work / "anchor-plan.json"
            write_plan(plan, srv.sim.log or [], 8, max_in_flight or 256, rate)
            plan.write_text(plan.read_text().replace(srv.url, bare.url))
            got |= {prefix + k: v for k, v in run_anchor(plan).items()}
    ours = 1000 * full["cpu_s"] / full["calls"] if full["calls"] else 0.0
    got["flowvault_cpu_ms_per_call"] = round(ours, 3)
    got["ratio"] = round(ours / got["cpu_ms_per_call"], 2) if got["cpu_ms_per_call"] else None
    got["unpaced_ratio"] = round(ours / got["unpaced_cpu_ms_per_call"], 2) if got["unpaced_cpu_ms_per_call"] else None
    return got


def fleet_steps(work: Path, results: dict[str, Any], save: Any, *, sizes: tuple[int, ...], flows: int,
                versions: int, max_in_flight: int | None = None, profile: bool = True) -> None:
    """Per size: a full run of every company, then a night with 1% of each company's flows edited."""
    results["fleet"] = out = {"flows_per_company": flows, "versions": versions, "machine": machine()}
    for n in sizes:
        state = generate(seed=7, companies=n, flows=flows, versions=versions)
        with SimulatorServer(Simulator(state, Faults(window_limit=240, window_seconds=60.0))).start() as srv:
            cfg, root = work / f"fleet-{n}.toml", work / f"fleet-{n}"
            config(cfg, srv, max_in_flight)
            before = _cpu_here()
            srv.sim.log = []
            full = figure(run_all(cfg, root), _cpu_here() - before)
            full["anchor"] = anchor_beside(work, srv, full, max_in_flight, state)
            srv.sim.log = None
            out[f"{n}_full"] = full
            save("fleet")
            if n == sizes[0] and profile and n <= 50:  # where the CPU goes, by module (a run of its own; slow)
                out["profile_by_module"] = {"run": f"{n}_full, a fresh archive root", "top": profile_by_module(
                    ["export", "--config", str(cfg), "--all-profiles", "--archive", str(work / f"profiled-{n}"),
                     "--log-format", "json"])}
                save("fleet")
            for company in state.companies:
                for fid in sorted(company.flows)[:: 100][: max(1, flows // 100)]:
                    vid = state.flow_version_ids(company, fid)[-1]
                    company.versions[vid]["steps"][0]["name"] = "edited for the fleet bench"
                    state.touch(company, vid)
            before = _cpu_here()
            out[f"{n}_nightly"] = figure(run_all(cfg, root), _cpu_here() - before)
            save("fleet")


def machine() -> str:
    model = ""
    try:
        model = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                      if line.startswith("model name")), "")
    except OSError:
        pass
    mem = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    return f"{os.cpu_count()} cores ({model or 'unknown CPU'}), {mem:.0f} GiB, Python {sys.version.split()[0]}"


def print_fleet(r: dict[str, Any]) -> None:
    print(f"\nfleet: {r['flows_per_company']} flows x {r['versions']} versions per company, 240 calls/min per "
          f"company; {r['machine']}")
    print(f"{'run':<18}{'ok':>9}{'calls':>8}{'wall s':>8}{'floor s':>8}{'wall/floor':>11}{'at floor':>9}"
          f"{'CPU s/1k calls':>15}{'RSS MB':>8}{'sim CPU s':>10}")
    for key, row in r.items():
        if not isinstance(row, dict) or key == "profile_by_module":
            continue
        n, kind = key.split("_", 1)
        print(f"{n + ' ' + kind:<18}{row['ok']:>5}/{row['companies']:<3}{row['calls']:>8}{row['wall_s']:>8.1f}"
              f"{row['floor_s']:>8.1f}{row['wall_over_floor'] or 0:>11.2f}{row['companies_at_floor']:>9}"
              f"{row['cpu_s_per_1000_calls'] or 0:>15.2f}{row['peak_rss_mb']:>8}{row['simulator_cpu_s']:>10.1f}")
        if row.get("anchor"):
            a = row["anchor"]
            print(f"{'':<18}CPU per call: flowvault {a['flowvault_cpu_ms_per_call']:.2f} ms, the bare anchor "
                  f"{a['cpu_ms_per_call']:.2f} ms paced alike over the same {a['calls']} requests: {a['ratio']}x "
                  f"(unpaced anchor {a.get('unpaced_cpu_ms_per_call') or 0:.2f} ms: {a.get('unpaced_ratio')}x)")
    if isinstance(r.get("profile_by_module"), dict):
        print("flowvault's own time by module (cProfile, main thread): " + ", ".join(
            f"{name} {share:.0%}" for name, _, share in r["profile_by_module"]["top"][:8]))
    print()
