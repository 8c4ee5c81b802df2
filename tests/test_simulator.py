"""The simulator as a user meets it: `flowvault simulator` serves the documented shapes."""

from __future__ import annotations

import subprocess
import sys
from typing import Any

import httpx


def test_simulator_command_prints_url_and_keys_and_serves_documented_shape() -> None:
    proc = subprocess.Popen([sys.executable, "-m", "flowvault", "simulator", "--companies", "2",
                             "--flows", "50", "--seed", "7", "--port", "0"],
                            stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        lines = [proc.stdout.readline() for _ in range(3)]
        url = lines[0].split(" on ")[1].split()[0]
        key = lines[1].rsplit("API key ", 1)[1].strip()
        assert "company-b" in lines[2]
        reply = httpx.get(f"{url}/api/v1/flows", params={"per_page": 10}, headers={"Authorization": key})
        body = reply.json()
        assert reply.status_code == 200 and len(body["data"]) == 10
        assert set(body["meta"]) == {"current_page", "from", "last_page", "path", "per_page", "to", "total"}
        assert set(body["links"]) == {"first", "last", "prev", "next"}
        assert body["meta"]["total"] == 50 and body["meta"]["last_page"] == 5
        assert httpx.get(f"{url}/api/v1/flows", headers={"Authorization": "Bearer " + key}).status_code == 200
        assert httpx.get(f"{url}/api/v1/flows").json() == {"message": "Unauthenticated."}
    finally:
        proc.terminate()
        proc.wait(timeout=10)
        if proc.stdout is not None:
            proc.stdout.close()


def test_same_seed_same_data_and_realistic_content(make_server: Any) -> None:
    a = make_server(flows=60, seed=3).sim.company(0)
    b = make_server(flows=60, seed=3).sim.company(0)
    assert [f["name"] for f in a.flows.values()] == [f["name"] for f in b.flows.values()]
    names = [f["name"] for f in a.flows.values()]
    assert len(set(names)) < len(names), "duplicate names occur"
    assert any(not n.isascii() for n in names) and any("/" in n for n in names)
    statuses = {v["status"] for v in a.versions.values()}
    assert statuses == {"Draft", "Deployed", "Inactive"}
    variables = [var for v in a.versions.values() for var in v["variables"]]
    assert any(var["secret"] for var in variables) and a.schedules
    steps = [s for v in a.versions.values() for s in v["steps"]]
    for field in ("connector_id", "script_version_id", "cache_id", "data_pool_id", "target_flow_id"):
        assert any(field in s for s in steps), field


def test_rate_limit_answers_429_with_retry_after(make_server: Any) -> None:
    server = make_server(flows=2, rate_limit=1, burst=1)
    key = server.sim.company(0).api_key
    with httpx.Client(base_url=server.url, headers={"Authorization": key}) as c:
        replies = [c.get("/api/v1/flows") for _ in range(3)]
    limited = [r for r in replies if r.status_code == 429]
    assert limited and int(limited[0].headers["Retry-After"]) >= 1


def test_fixed_window_limiter_reports_its_limit_on_every_reply(make_server: Any) -> None:
    """As Laravel's throttle: X-RateLimit-Limit (per minute) and -Remaining on every reply, 429 past it."""
    server = make_server(flows=2, window_limit=3, window_seconds=60.0)
    key = server.sim.company(0).api_key
    with httpx.Client(base_url=server.url, headers={"Authorization": key}) as c:
        replies = [c.get("/api/v1/flows") for _ in range(4)]
    assert [r.status_code for r in replies] == [200, 200, 200, 429]
    assert [r.headers["X-RateLimit-Remaining"] for r in replies] == ["2", "1", "0", "0"]
    assert all(r.headers["X-RateLimit-Limit"] == "3" for r in replies)
    assert 1 <= int(replies[-1].headers["Retry-After"]) <= 60
