"""``flowvault demo``: the nightly job twice against the built-in simulator, no account needed."""

from __future__ import annotations

import os
import shlex
import shutil
import time
from collections.abc import Callable
from pathlib import Path

from ..config import load_config
from ..errors import ConfigError
from ..history import History
from ..output import Reporter
from ..exportrun import run_export

MARK = ".flowvault-demo"


def _reset(demo_dir: Path) -> None:
    if demo_dir.exists() and any(demo_dir.iterdir()):
        if not (demo_dir / MARK).exists():
            raise ConfigError(f"{demo_dir}: exists and is not a flowvault demo folder; pass --dir NEW_DIR")
        shutil.rmtree(demo_dir)
    demo_dir.mkdir(parents=True, exist_ok=True)
    (demo_dir / MARK).write_text("created by flowvault demo; deleted and rebuilt on each run\n")


def run_demo(demo_dir: Path, *, flows: int = 40, echo: Callable[[str], None] = print, serve: bool = False) -> None:
    """The nightly job twice; with ``serve`` the simulator then keeps serving until Ctrl-C (or
    SIGTERM), so that the UI's restore command can bring the deleted flow back."""
    from ..simulator import start  # the demo is the one product path that starts the simulator

    _reset(demo_dir)
    archive = demo_dir.resolve() / "archive"
    keys: dict[str, str] = {}
    with start(companies=2, flows=flows, versions=3, seed=7) as server:
        sim = server.sim
        cfg = demo_dir / "flowvault.toml"
        lines = []
        for i, company in enumerate(sim.state.companies[:2]):
            var = f"FLOWVAULT_DEMO_KEY_{'AB'[i]}"
            os.environ[var] = keys[var] = company.api_key
            lines += [f"[profiles.{company.name}]", f'base_url = "{server.url}"', f'api_key_env = "{var}"',
                      "concurrency = 8", "rate_limit = 0  # the built-in simulator has no limit", ""]
        cfg.write_text("\n".join(lines))
        profile = load_config(cfg).profile("company-a")
        echo(f"simulator on {server.url}; config {cfg}; archive {archive}\n")
        echo("1) first export of company-a")
        run_export(profile, archive, reporter=Reporter("text"))

        company = sim.company(0)
        ids = sorted(company.flows)
        with sim.state.lock:
            edited = company.flows[ids[0]]
            sim.state.update_flow(company, ids[0], {"flow": {"description": "edited in the demo", "priority": 1}})
            vid = sim.state.flow_version_ids(company, ids[0])[-1]
            step = company.versions[vid]["steps"][0]
            step["config"] = {**(step.get("config") or {}), "edited_in_demo": True}
            sim.state.touch(company, vid)
            deleted = company.flows[ids[1]]["name"]
            sim.state.delete_flow(company, ids[1])
        echo(f"\n2) in the company: edited '{edited['name']}' (its settings, and step '{step['name']}' of version "
             f"{vid}), deleted '{deleted}'; export again")
        run_export(profile, archive, reporter=Reporter("text"))

        history = History.open(archive)
        echo("\n3) the archive's history (git log --stat):\n")
        for commit in history.log(max_count=2):
            stat = history.show_stat(commit.sha).splitlines()
            echo("\n".join(stat[:14] + ([f"    … {len(stat) - 16} more files"] if len(stat) > 16 else [])
                           + stat[-1:]))
            echo("")
        ui = shlex.join(["flowvault", "ui", "--archive", str(archive), "--config", str(cfg.resolve())])
        echo(f"Try: git -C {shlex.quote(str(archive))} log --stat   |   the archive is plain JSON under "
             f"{archive}/flows/")
        if not serve:
            echo(f"See it: {ui}   (the edit as a marked step, the deleted flow with its restore command; to run "
                 "that command the simulator must be up: flowvault demo --serve)")
            return
        echo(f"\n4) the simulator keeps serving on {server.url} until Ctrl-C. In another shell, see the archive "
             "and bring the deleted flow back with the command its page shows:\n")
        echo("   export " + " ".join(f"{k}={v}" for k, v in keys.items()) + "   # the simulator's keys, not real ones")
        echo(f"   {ui}")
        echo("   then: deleted flows → copy → run the command in that shell")
        try:
            while True:
                time.sleep(3600)
        except KeyboardInterrupt:
            echo("demo simulator stopped")
