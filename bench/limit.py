"""The documented-limit scenario: 240 calls a minute per company, the README's config (no
``rate_limit``: flowvault paces at the documented limit by itself).

Each figure is printed with its floor (calls made ÷ 4 per second) and the ratio, measured in
this run. The limit is served as the vendor's likely limiter (Laravel's fixed window per
minute, 429 with Retry-After and X-RateLimit-* on every reply) and as a token bucket.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

from flowvault.simulator import Faults, Simulator, SimulatorServer, generate

RATE = 240 / 60.0  # the documented limit, calls per second


def server(flows: int, versions: int, limiter: str) -> SimulatorServer:
    state = generate(seed=7, companies=1, flows=flows, versions=versions, empty_companies=1)
    faults = Faults(window_limit=240, window_seconds=60.0) if limiter == "window" \
        else Faults(rate_limit=RATE, burst=RATE)
    return SimulatorServer(Simulator(state, faults)).start()


def config(path: Path, srv: SimulatorServer) -> None:
    """The README's sample profile: no rate_limit, default concurrency."""
    import os

    lines = []
    for i, company in enumerate(srv.sim.state.companies):
        var = f"FLOWVAULT_BENCH_KEY_{i}"
        os.environ[var] = company.api_key
        lines += [f"[profiles.{company.name}]", f'base_url = "{srv.url}"', f'api_key_env = "{var}"', ""]
    path.write_text("\n".join(lines))


def figure(run: Any, flows: int, **extra: Any) -> dict[str, Any]:
    reqs = int(run.summary["requests"])
    floor = reqs / RATE
    return {"flows": flows, "wall_s": run.wall, "requests": reqs, "calls_per_flow": reqs / flows,
            "floor_s": floor, "ratio": run.wall / floor if floor else 0.0, "exit_ok": run.summary["ok"],
            "fetched": run.summary.get("fetched"), "retries": run.summary.get("retries"), **extra}


def limit_steps(flowvault: Any, work: Path, results: dict[str, Any], save: Any, *, flows: int, small: int,
                versions: int) -> None:
    cfg = work / "limit.toml"
    results["limit"] = {}
    out = results["limit"]

    def export(archive: Path, *extra: str) -> Any:
        return flowvault("export", "--config", str(cfg), "-p", "company-a", "--archive", str(archive), *extra)

    with server(flows, versions, "window") as srv:
        config(cfg, srv)
        archive = work / "limit-window"
        out["full_window"] = figure(export(archive), flows, limiter="fixed window 240/60 s")
        save("limit")
        out["nightly_no_change"] = figure(export(archive), flows, commits=_commits(archive))
        save("limit")
        company, state = srv.sim.company(0), srv.sim.state
        edited = sorted(company.flows)[:: max(1, 100)][: max(1, flows // 100)]  # 1% of the flows, spread out
        for fid in edited:
            vid = state.flow_version_ids(company, fid)[-1]
            company.versions[vid]["steps"][0]["name"] = "edited for the nightly bench"
            state.touch(company, vid)
        run = export(archive)
        missing = [fid for fid in edited if not _committed_edit(archive, fid, state.flow_version_ids(company, fid)[-1])]
        out["nightly_1pct_edited"] = figure(run, flows, edited=len(edited), edits_in_commit=len(edited) - len(missing))
        save("limit")
    with server(flows, versions, "bucket") as srv:
        config(cfg, srv)
        out["full_bucket"] = figure(export(work / "limit-bucket"), flows, limiter="token bucket 4/s")
        save("limit")
    with server(small, versions, "window") as srv:
        config(cfg, srv)
        archive = work / "limit-ignored"
        srv.sim.honour_listing_include = False
        srv.sim.honour_version_include = False
        out["full_includes_ignored"] = figure(export(archive), small)
        save("limit")
        out["nightly_includes_ignored"] = figure(export(archive), small)
        save("limit")
    with server(small, versions, "window") as srv:
        config(cfg, srv)
        archive = work / "limit-import"
        export(archive)
        imp = flowvault("import", "--config", str(cfg), "-t", "company-b", "--archive", str(archive))
        out["import"] = figure(imp, small, imported=imp.summary["imported"], failed=imp.summary["failed"])
        save("limit")


def _committed_edit(repo: Path, fid: int, vid: int) -> bool:
    """Whether HEAD's copy of the version has the edit (read from git, not the work tree)."""
    manifest = json.loads(subprocess.run(["git", "-C", str(repo), "show", "HEAD:manifest.json"],
                                         capture_output=True, text=True).stdout)
    folder = manifest["flows"][str(fid)]["folder"]
    doc = subprocess.run(["git", "-C", str(repo), "show", f"HEAD:flows/{folder}/versions/{vid}.json"],
                         capture_output=True, text=True).stdout
    return bool(doc) and json.loads(doc)["steps"][0]["name"] == "edited for the nightly bench"


def _commits(repo: Path) -> int:
    out = subprocess.run(["git", "-C", str(repo), "rev-list", "--count", "HEAD"], capture_output=True, text=True)
    return int(out.stdout.strip() or 0)


ROWS = [("full_window", "full export, fixed window"), ("full_bucket", "full export, token bucket"),
        ("nightly_no_change", "nightly, no change"), ("nightly_1pct_edited", "nightly, 1% edited"),
        ("full_includes_ignored", "full, includes ignored"), ("nightly_includes_ignored", "nightly, incl. ignored"),
        ("import", "import")]


def print_limit(r: dict[str, Any]) -> None:
    print("\nat the documented limit (240 calls/min, default config: no rate_limit)")
    print(f"{'run':<26}{'flows':>6}{'wall s':>9}{'calls':>7}{'calls/flow':>11}{'floor s':>9}{'wall/floor':>11}  notes")
    for key, name in ROWS:
        row = r.get(key)
        if not row:
            continue
        notes = [f"fetched {row['fetched']}"] if row.get("fetched") is not None else []
        if "edited" in row:
            notes.append(f"edits in the commit {row['edits_in_commit']}/{row['edited']}")
        if "imported" in row:
            notes.append(f"imported {row['imported']}, failed {row['failed']}")
        if not row["exit_ok"]:
            notes.append("NOT OK")
        print(f"{name:<26}{row['flows']:>6}{row['wall_s']:>9.1f}{row['requests']:>7}{row['calls_per_flow']:>11.2f}"
              f"{row['floor_s']:>9.1f}{row['ratio']:>11.2f}  {', '.join(notes)}")
    print()

