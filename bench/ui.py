"""How fast the review pages load: ``flowvault ui`` started as a user starts it, each page
fetched over HTTP three times (the median is reported), on the archive the limit scenario
left (2,000 flows, its last commit the nightly run with 1% of the flows edited)."""

from __future__ import annotations

import json
import re
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx


def ui_steps(archive: Path, results: dict[str, Any], save: Any, big_flow: bool = False) -> None:
    manifest = json.loads((archive / "manifest.json").read_bytes())
    flows = manifest["flows"]
    first, second = sorted(flows, key=int)[:2]
    name = archive.name
    pages = {"overview": "/", "overview, searched": "/?q=sync", "diff of the last commit": f"/a/{name}/diff",
             "flow page": f"/a/{name}/flow/{second}", "deleted flows": f"/a/{name}/deleted"}
    if big_flow:
        pages["flow page, 61 steps"] = f"/a/{name}/flow/{first}"
    with subprocess.Popen([sys.executable, "-m", "flowvault", "ui", "--archive", str(archive), "--port", "0"],
                          stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True) as proc:
        assert proc.stdout is not None
        match = re.search(r"http://[^/ ]+", proc.stdout.readline())
        if match is None:
            raise SystemExit("flowvault ui did not start")
        out: dict[str, Any] = {"flows": len(flows)}
        with httpx.Client(base_url=match.group(0), timeout=60) as client:
            for label, path in pages.items():
                times, size = [], 0
                for _ in range(3):
                    started = time.monotonic()
                    reply = client.get(path)
                    times.append(time.monotonic() - started)
                    reply.raise_for_status()
                    size = len(reply.content)
                out[label] = {"median_s": statistics.median(times), "first_s": times[0], "kb": size / 1024}
        proc.terminate()
    results["ui"] = out
    save("ui")


def print_ui(r: dict[str, Any]) -> None:
    print(f"review UI, {r['flows']} flows (median of 3 loads over HTTP; the first load after the UI started)")
    for label, row in r.items():
        if isinstance(row, dict):
            first = f"{row['first_s']:>7.3f} s first" if "first_s" in row else ""
            print(f"  {label:<26}{row['median_s']:>7.3f} s  {row['kb']:>7.0f} KB  {first}")
    print()
