"""flowvault benchmarks: export and import at the API's rate limit, in bounded memory.

    python -m bench            # defaults: R=50 req/s, L=80 ms, F=2000 flows x V=3 versions, 20k scale point
    python -m bench --quick    # a smoke run of a few minutes
    python -m bench --limit only --json bench/results-DATE.json   # only the documented-limit scenario
    python -m bench --fleet 50,200 --json bench/results-fleet-DATE.json  # many companies at 240/min each

The simulator runs in this process; each flowvault command runs as a child process, as a
user would run it, so that its wall time and peak RSS are its own. Every figure is
printed next to its floor: requests / rate limit.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from flowvault.simulator import Faults, Simulator, SimulatorServer, generate

from .baseline import sequential_export
from .fleet import fleet_steps, print_fleet
from .limit import limit_steps, print_limit
from .ui import print_ui, ui_steps


@dataclass
class Run:
    wall: float
    summary: dict[str, Any]

    @property
    def rss_mb(self) -> float:
        """The command's own peak RSS as it reports it (VmHWM: the wait4 figure of a forked
        child includes this process's memory — the simulator's — at the fork)."""
        return float(self.summary["peak_rss_mb"])


def flowvault(*args: str) -> Run:
    """Run ``flowvault ARGS --log-format json`` as a child; wall time, peak RSS, summary line."""
    started = time.monotonic()
    with tempfile.TemporaryFile(mode="w+") as err:
        proc = subprocess.Popen([sys.executable, "-m", "flowvault", *args, "--log-format", "json"],
                                stdout=subprocess.PIPE, stderr=err, text=True)
        assert proc.stdout is not None
        out = proc.stdout.read()
        proc.stdout.close()
        proc.returncode = proc.wait()
        err.seek(0)
        err_text = err.read()
    wall = time.monotonic() - started
    lines = [json.loads(line) for line in out.splitlines() if line.startswith("{")]
    summary = next((e for e in reversed(lines) if e.get("event") == "summary"), None)
    if summary is None:
        raise SystemExit(f"flowvault {' '.join(args)} gave no summary (exit {proc.returncode}): {err_text[-400:]}")
    return Run(wall, summary)


def write_config(path: Path, server: SimulatorServer, rate: float, concurrency: int) -> None:
    lines = []
    for i, company in enumerate(server.sim.state.companies):
        var = f"FLOWVAULT_BENCH_KEY_{i}"
        os.environ[var] = company.api_key
        lines += [f"[profiles.{company.name}]", f'base_url = "{server.url}"', f'api_key_env = "{var}"',
                  f"concurrency = {concurrency}", f"rate_limit = {rate}", "timeout = 60", ""]
    path.write_text("\n".join(lines))


def start(flows: int, versions: int, rate: float, latency: float) -> SimulatorServer:
    state = generate(seed=7, companies=1, flows=flows, versions=versions, empty_companies=1)
    return SimulatorServer(Simulator(state, Faults(rate_limit=rate, burst=rate, latency=latency))).start()


def ui_archive(work: Path, flows: int, versions: int) -> None:
    """An archive of ``flows`` flows, the first with 61 steps on a wide canvas, whose last export
    edited 1% of the flows (the far step of the big one among them)."""
    from flowvault.simulator.data import big_flow_steps

    with start(flows, versions, 0, 0) as server:
        cfg = work / "ui.toml"
        write_config(cfg, server, 0, 16)
        company, state = server.sim.company(0), server.sim.state
        big = sorted(company.flows)[0]
        big_vid = state.flow_version_ids(company, big)[-1]
        company.versions[big_vid]["steps"] = big_flow_steps(state)
        state.touch(company, big_vid)
        args = ("export", "--config", str(cfg), "-p", "company-a", "--archive", str(work / "ui-archive"))
        flowvault(*args)
        for fid in sorted(company.flows)[:: 100][1:]:
            vid = state.flow_version_ids(company, fid)[-1]
            company.versions[vid]["steps"][0]["name"] = "edited for the nightly bench"
            state.touch(company, vid)
        far = max(company.versions[big_vid]["steps"], key=lambda s: s["position"]["x"])
        far["config"] = {**far["config"], "page": 999}
        state.touch(company, big_vid)
        flowvault(*args)


def gc_figures(repo: Path) -> dict[str, float]:
    """.git size, then a full git gc (after any automatic one the commit started finishes)."""
    deadline = time.monotonic() + 600
    while (repo / ".git" / "gc.pid").exists() and time.monotonic() < deadline:
        time.sleep(1)
    loose = git_dir_mb(repo)
    started = time.monotonic()
    subprocess.run(["git", "-C", str(repo), "gc", "--quiet"], check=True)
    return {"git_dir_mb": loose, "gc_s": time.monotonic() - started, "git_dir_after_gc_mb": git_dir_mb(repo)}


def git_dir_mb(repo: Path) -> float:
    out = subprocess.run(["du", "-sk", str(repo / ".git")], capture_output=True, text=True)
    return int(out.stdout.split()[0]) / 1024


def git_commits(repo: Path) -> int:
    out = subprocess.run(["git", "-C", str(repo), "rev-list", "--count", "HEAD"], capture_output=True, text=True)
    return int(out.stdout.strip() or 0)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m bench", description=__doc__.splitlines()[0])
    ap.add_argument("--flows", type=int, default=2000)
    ap.add_argument("--versions", type=int, default=3)
    ap.add_argument("--rate", type=float, default=50.0, help="API rate limit, requests/second per key")
    ap.add_argument("--latency", type=float, default=0.08, help="seconds added to every reply")
    ap.add_argument("--concurrency", type=int, default=16)
    ap.add_argument("--baseline-flows", type=int, default=None,
                    help="flows the sequential baseline runs (its time is scaled to --flows); default flows/10")
    ap.add_argument("--scale-flows", type=int, default=20000, help="0 to skip the scale point")
    ap.add_argument("--quick", action="store_true", help="small sizes: a smoke run of under a minute")
    ap.add_argument("--json", type=Path, default=None, help="also write the results here (after each step)")
    ap.add_argument("--skip-main", action="store_true", help="skip the R-limited export/import steps")
    ap.add_argument("--limit", choices=("on", "off", "only"), default="on",
                    help="the documented-limit scenario (240 calls/min; about 35 minutes at 2,000 flows)")
    ap.add_argument("--limit-small-flows", type=int, default=200,
                    help="flows for the limit scenario's slow parts (includes ignored, import)")
    ap.add_argument("--ui-only", action="store_true",
                    help="only the review UI's page loads, on a 2,000-flow archive made without a rate limit "
                         "(its last export edits 1% of the flows and a 61-step flow; about a minute)")
    ap.add_argument("--fleet", default=None, metavar="N,N",
                    help="only the fleet scenario: this many companies (comma-separated sizes), each limited to "
                         "240 calls/min on its own key, exported by one --all-profiles run, full then nightly")
    ap.add_argument("--fleet-flows", type=int, default=200, help="flows per company in the fleet scenario")
    ap.add_argument("--max-in-flight", type=int, default=None, help="the fleet run's [fleet] max_in_flight")
    a = ap.parse_args(argv)
    if a.quick:
        a.flows, a.latency, a.rate, a.scale_flows, a.limit_small_flows = 60, 0.02, 50.0, 600, 12
        a.baseline_flows = a.baseline_flows or 10
    base_n = a.baseline_flows or max(1, a.flows // 10)
    results: dict[str, Any] = {"params": {"flows": a.flows, "versions": a.versions, "rate": a.rate,
                                          "latency": a.latency, "concurrency": a.concurrency}}
    work = Path(tempfile.mkdtemp(prefix="flowvault-bench-"))
    cfg = work / "flowvault.toml"
    archive = work / "archive"

    def save(step: str) -> None:
        print(f"  {step}: {json.dumps(results[step])}", file=sys.stderr)
        if a.json:
            a.json.write_text(json.dumps(results, indent=2) + "\n")

    if a.fleet:
        sizes = tuple(int(n) for n in a.fleet.split(","))
        fleet_steps(work, results, save, sizes=sizes, flows=a.fleet_flows, versions=a.versions,
                    max_in_flight=a.max_in_flight)
        print_fleet(results["fleet"])
        print(json.dumps(results))
        return 0
    if a.ui_only:
        ui_archive(work, a.flows, a.versions)
        ui_steps(work / "ui-archive", results, save, big_flow=True)
        print_ui(results["ui"])
        print(json.dumps(results))
        return 0
    if a.limit != "off":
        limit_steps(flowvault, work, results, save, flows=a.flows, small=a.limit_small_flows, versions=a.versions)
        ui_steps(work / "limit-window", results, save)
    if a.limit == "only":
        a.skip_main, a.scale_flows = True, 0
    if not a.skip_main:
        main_steps(a, results, cfg, archive, base_n, save)
    if a.scale_flows:
        with start(a.scale_flows, a.versions, 0, 0) as server:
            write_config(cfg, server, 0, a.concurrency)
            big = flowvault("export", "--config", str(cfg), "-p", "company-a", "--archive", str(work / "big"))
            results["scale"] = {"flows": a.scale_flows, "wall_s": big.wall, "requests": big.summary["requests"],
                                "peak_rss_mb": big.rss_mb,
                                "commit_s": float(big.summary["commit_time_s"])}
            save("scale")
            results["scale"].update(gc_figures(work / "big"))
            save("scale")
            save("scale")

    if "export" in results or "scale" in results:
        print_table(results)
    if "limit" in results:
        print_limit(results["limit"])
    if "ui" in results:
        print_ui(results["ui"])
    print(json.dumps(results))
    return 0


def main_steps(a: argparse.Namespace, results: dict[str, Any], cfg: Path, archive: Path, base_n: int,
               save: Any) -> None:
    with start(a.flows, a.versions, a.rate, a.latency) as server:
        write_config(cfg, server, a.rate, a.concurrency)
        common = ["--config", str(cfg)]
        print(f"simulator: {a.flows} flows x {a.versions} versions, R={a.rate:g}/s, L={a.latency * 1000:g} ms",
              file=sys.stderr)

        first = flowvault("export", *common, "-p", "company-a", "--archive", str(archive))
        reqs = first.summary["requests"]
        base = sequential_export(server.url, server.sim.company(0).api_key, limit=base_n)
        base_scaled = base.per_flow * a.flows + base.listing
        results["export"] = {
            "wall_s": first.wall, "requests": reqs, "floor_s": reqs / a.rate, "ratio": first.wall / (reqs / a.rate),
            "retries": first.summary["retries"], "peak_rss_mb": first.rss_mb,
            "baseline_s": base_scaled, "baseline_requests": round(base.requests_per_flow * a.flows),
            "baseline_measured_flows": base_n, "speedup": base_scaled / first.wall,
        }
        save("export")

        commits = git_commits(archive)
        again = flowvault("export", *common, "-p", "company-a", "--archive", str(archive))
        reqs2 = again.summary["requests"]
        results["rerun"] = {"wall_s": again.wall, "requests": reqs2, "floor_s": reqs2 / a.rate,
                            "ratio": again.wall / (reqs2 / a.rate), "files_rewritten": again.summary["files_written"],
                            "commits": git_commits(archive) - commits}
        save("rerun")

        imp = flowvault("import", *common, "-t", "company-b", "--archive", str(archive))
        reqs3 = imp.summary["requests"]
        results["import"] = {"wall_s": imp.wall, "requests": reqs3, "floor_s": reqs3 / a.rate,
                             "ratio": imp.wall / (reqs3 / a.rate), "imported": imp.summary["imported"],
                             "failed": imp.summary["failed"], "peak_rss_mb": imp.rss_mb}
        save("import")


def print_table(r: dict[str, Any]) -> None:
    p = r["params"]
    print(f"\nflowvault bench: F={p['flows']} flows x V={p['versions']}, R={p['rate']:g} req/s, "
          f"L={p['latency'] * 1000:g} ms, concurrency {p['concurrency']}")
    print(f"{'run':<22}{'wall s':>9}{'requests':>10}{'floor s':>9}{'wall/floor':>11}  notes")
    rows = []
    if "export" in r:
        e, n, i = r["export"], r["rerun"], r["import"]
        rows += [
            ("export", e, f"retries {e['retries']}, peak RSS {e['peak_rss_mb']:.0f} MB"),
            ("sequential baseline", {"wall_s": e["baseline_s"], "requests": e["baseline_requests"]},
             f"measured on {e['baseline_measured_flows']} flows, scaled; speed-up {e['speedup']:.1f}x"),
            ("export, no change", n, f"files rewritten {n['files_rewritten']}, commits {n['commits']}"),
            ("import", i, f"imported {i['imported']}, failed {i['failed']}, peak RSS {i['peak_rss_mb']:.0f} MB"),
        ]
    if "scale" in r:
        s = r["scale"]
        rows.append((f"export {s['flows']} flows", s,
                     f"no latency/limit; peak RSS {s['peak_rss_mb']:.0f} MB, commit {s['commit_s']:.1f} s, "
                     f".git {s['git_dir_mb']:.0f} MB -> {s['git_dir_after_gc_mb']:.0f} MB after a "
                     f"{s['gc_s']:.0f} s git gc"))
    for name, row, notes in rows:
        floor = f"{row['floor_s']:>9.1f}{row['ratio']:>11.2f}" if "floor_s" in row else f"{'':>9}{'':>11}"
        print(f"{name:<22}{row['wall_s']:>9.1f}{row['requests']:>10}{floor}  {notes}")
    print()


if __name__ == "__main__":
    raise SystemExit(main())
