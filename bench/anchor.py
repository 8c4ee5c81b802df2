"""The floor of the stack: the CPU a bare client spends on the same calls flowvault made.

The simulator keeps every request of flowvault's run (method, URL, body and key,
``Simulator.log``); this anchor replays exactly those requests — same endpoints, same pages, same includes — with a plain
async httpx loop at flowvault's concurrency (per company, and the fleet's bound across them)
and writes each reply with orjson, one file per reply. No git, no canonical form, no secret
rules. Run as a child (``python -m bench.anchor PLAN OUT``) so that its CPU is its own (wait4).

Besides the ratio, ``profile_by_module`` runs flowvault under cProfile once and sums its own
time by module: where a call's CPU goes, for what to cut next (the main thread: a commit that
runs on a worker thread is not in it).
"""

from __future__ import annotations

import collections
import json
import os
import pstats
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import anyio
import httpx
import orjson


def write_plan(path: Path, log: list[tuple[str, str, str, str]], concurrency: int, max_in_flight: int,
               rate: float = 0.0) -> None:
    """The anchor's input: flowvault's requests (method, URL, body) grouped by key (one company
    each); ``rate``: each company's requests started no faster than this many a second (0: at once)."""
    by_key: dict[str, list[list[str]]] = collections.defaultdict(list)
    for method, url, body, auth in log:
        by_key[auth].append([method, url, body])
    path.write_text(json.dumps({"concurrency": concurrency, "max_in_flight": max_in_flight, "rate": rate,
                                "companies": [{"auth": k, "requests": v} for k, v in by_key.items()]}))


async def replay(plan: dict[str, Any], out: Path) -> int:
    """Every company at once, each at its own concurrency, all within one bound; a reply that is
    not 200 is a failed anchor (it would not measure the same work)."""
    bound = anyio.CapacityLimiter(plan["max_in_flight"])
    limits = httpx.Limits(max_connections=plan["concurrency"], max_keepalive_connections=plan["concurrency"])
    calls = 0

    async def company(index: int, auth: str, requests: list[list[str]]) -> None:
        nonlocal calls
        folder = out / str(index)
        folder.mkdir(parents=True)
        own = anyio.CapacityLimiter(plan["concurrency"])
        rate = float(plan.get("rate") or 0.0)
        slot = [0.0]

        async def pace() -> None:  # as flowvault paces a company at the documented limit
            now = time.monotonic()
            start = max(now, slot[0])
            slot[0] = start + 1.0 / rate
            if start > now:
                await anyio.sleep(start - now)
        async with httpx.AsyncClient(headers={"Authorization": auth, "Accept": "application/json"}, limits=limits,
                                     timeout=60.0) as client:
            async def one(n: int, method: str, url: str, body: str) -> None:
                nonlocal calls
                async with own:
                    if rate > 0:
                        await pace()
                    async with bound:
                        reply = await client.request(method, url, content=body.encode() or None,
                                                 headers={"Content-Type": "application/json"} if body else None)
                if reply.status_code != 200:
                    raise SystemExit(f"anchor: {url} answered {reply.status_code}")
                (folder / f"{n}.json").write_bytes(orjson.dumps(orjson.loads(reply.content)))
                calls += 1

            async with anyio.create_task_group() as tg:
                for n, (method, url, body) in enumerate(requests):
                    tg.start_soon(one, n, method, url, body)

    async with anyio.create_task_group() as tg:
        for i, c in enumerate(plan["companies"]):
            tg.start_soon(company, i, c["auth"], c["requests"])
    return calls


def run_anchor(plan: Path) -> dict[str, Any]:
    """The anchor as a child process: its wall, its own CPU (wait4) and the calls it made."""
    with tempfile.TemporaryDirectory() as out:
        started = time.monotonic()
        proc = subprocess.Popen([sys.executable, "-m", "bench.anchor", str(plan), out], stdout=subprocess.PIPE,
                                text=True)
        assert proc.stdout is not None
        text = proc.stdout.read()
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.monotonic() - started
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"the anchor failed (exit {os.waitstatus_to_exitcode(status)})")
    calls = int(json.loads(text)["calls"])
    cpu = usage.ru_utime + usage.ru_stime
    return {"calls": calls, "wall_s": round(wall, 1), "cpu_s": round(cpu, 2),
            "cpu_ms_per_call": round(1000 * cpu / calls, 3) if calls else None}


def profile_by_module(args: list[str], top: int = 15) -> list[list[Any]]:
    """``flowvault ARGS`` under cProfile; its own time summed by module (seconds, share), the top ones."""
    with tempfile.TemporaryDirectory() as tmp:
        stats_file = Path(tmp) / "profile"
        # CPU time (time.process_time), not wall: waiting on the network is nobody's cost
        script = ("import cProfile, runpy, sys, time; sys.argv = ['flowvault', *sys.argv[2:]]; "
                  "p = cProfile.Profile(time.process_time); p.enable()\n"
                  "try: runpy.run_module('flowvault', run_name='__main__')\n"
                  "except SystemExit: pass\n"
                  "finally: p.disable(); p.dump_stats(sys.argv_out)")
        script = script.replace("sys.argv_out", repr(str(stats_file)))
        subprocess.run([sys.executable, "-c", script, "-", *args], stdout=subprocess.DEVNULL,
                       stderr=subprocess.DEVNULL, check=False)
        stats = pstats.Stats(str(stats_file)).stats  # type: ignore[attr-defined]
    by_module: dict[str, float] = collections.defaultdict(float)
    for (filename, _, _), (_, _, tottime, _, _) in stats.items():
        by_module[_module(filename)] += tottime
    total = sum(by_module.values()) or 1.0
    ranked = sorted(by_module.items(), key=lambda kv: -kv[1])[:top]
    return [[name, round(seconds, 2), round(seconds / total, 3)] for name, seconds in ranked]


def _module(filename: str) -> str:
    """A profile entry's module, as a dotted name from site-packages or the project (builtins as is)."""
    if filename.startswith("<") or filename == "~":
        return "(builtins)"
    path = Path(filename)
    parts = path.with_suffix("").parts
    for anchor in ("site-packages", "lib"):
        if anchor in parts:
            parts = parts[len(parts) - parts[::-1].index(anchor):]
            parts = parts[1:] if anchor == "lib" and parts and parts[0].startswith("python") else parts
            break
    else:
        if "flowvault" in parts:
            parts = parts[parts.index("flowvault"):]
    name = ".".join(p for p in parts if p != "__init__")
    return name.split(".")[0] if not name.startswith("flowvault") else ".".join(name.split(".")[:3])


def main() -> int:
    plan = json.loads(Path(sys.argv[1]).read_text())
    calls = anyio.run(replay, plan, Path(sys.argv[2]))
    print(json.dumps({"calls": calls}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
