"""``flowvault demo``: the nightly job twice against the built-in simulator, no account needed."""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable
from pathlib import Path

from ..config import load_config
from ..errors import ConfigError
from ..history import History
from ..output import Reporter
from .export import run_export

MARK = ".flowvault-demo"


def _reset(demo_dir: Path) -> None:
    if demo_dir.exists() and any(demo_dir.iterdir()):
        if not (demo_dir / MARK).exists():
            raise ConfigError(f"{demo_dir}: exists and is not a flowvault demo folder; pass --dir NEW_DIR")
        shutil.rmtree(demo_dir)
    demo_dir.mkdir(parents=True, exist_ok=True)
    (demo_dir / MARK).write_text("created by flowvault demo; deleted and rebuilt on each run\n")


def run_demo(demo_dir: Path, *, flows: int = 40, echo: Callable[[str], None] = print) -> None:
    from ..simulator import start  # the demo is the one product path that starts the simulator

    _reset(demo_dir)
    archive = demo_dir / "archive"
    with start(companies=2, flows=flows, versions=3, seed=7) as server:
        sim = server.sim
        cfg = demo_dir / "flowvault.toml"
        lines = []
        for i, company in enumerate(sim.state.companies[:2]):
            var = f"FLOWVAULT_DEMO_KEY_{'AB'[i]}"
            os.environ[var] = company.api_key
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
        echo("\n".join(stat[:14] + ([f"    … {len(stat) - 16} more files"] if len(stat) > 16 else []) + stat[-1:]))
        echo("")
    echo(f"Try: git -C {archive} log --stat   |   the archive is plain JSON under {archive}/flows/")
    echo(f"See it: flowvault ui --archive {archive}   (the edit as a marked step, the deleted flow with its "
         "restore command)")
