"""The API client against the simulator over real HTTP: pagination, retries, typed errors."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import anyio
import httpx
import pytest

from flowvault.exportrun import run_export
from flowvault.client import ApiClient
from flowvault.config import load_config
from flowvault.errors import ApiError, AuthError, NotFoundError, ValidationError

from .conftest import write_config


def run(coro_fn: Any, *args: Any) -> Any:
    return anyio.run(coro_fn, *args)


@pytest.mark.parametrize("per_page", [1, 7, 100])
def test_pagination_returns_every_flow_exactly_once(make_server: Any, per_page: int) -> None:
    server = make_server(flows=23)
    company = server.sim.company(0)

    async def go() -> tuple[list[Any], int]:
        async with ApiClient(server.url, company.api_key, concurrency=4) as api:
            return await api.paginate("/api/v1/flows", per_page=per_page)

    items, total = run(go)
    ids = [f["id"] for f in items]
    assert total == 23
    assert sorted(ids) == sorted(company.flows)
    assert len(ids) == len(set(ids))


def test_flaky_rate_limited_server_still_yields_every_flow(make_server: Any) -> None:
    server = make_server(flows=60, error_rate=0.1, drop_rate=0.03, rate_limit=40, burst=5)
    company = server.sim.company(0)

    async def go() -> tuple[list[Any], ApiClient]:
        async with ApiClient(server.url, company.api_key, concurrency=6, max_retries=10) as api:
            items, _ = await api.paginate("/api/v1/flows", per_page=5)
            for f in items[:20]:
                await api.get(f"/api/v1/flows/{f['id']}")
            return items, api

    items, api = run(go)
    assert sorted(f["id"] for f in items) == sorted(company.flows)
    assert api.stats.retries > 0


def test_wrong_key_is_an_auth_error_that_never_shows_the_key(server: Any) -> None:
    secret_key = "pwk_this_is_not_a_valid_key_0123456789"

    async def go() -> None:
        async with ApiClient(server.url, secret_key, hint="check $X for profile 'a'") as api:
            await api.get("/api/v1/flows")

    with pytest.raises(AuthError) as info:
        run(go)
    assert "401" in str(info.value) and "check $X" in str(info.value)
    assert secret_key not in str(info.value)
    assert secret_key not in repr(info.value)


def test_client_repr_and_transport_errors_never_show_the_key() -> None:
    key = "pwk_another_secret_key_value_987654"
    api = ApiClient("http://127.0.0.1:9", key, max_retries=1)
    assert key not in repr(api)

    async def go() -> None:
        async with api:
            await api.get("/api/v1/flows")

    with pytest.raises(ApiError) as info:
        run(go)
    assert "could not connect" in str(info.value)
    assert key not in str(info.value)


def test_other_companys_flow_is_not_found_and_422_carries_errors(server: Any) -> None:
    a, b = server.sim.company(0), server.sim.company(1)
    flow_of_b = next(iter(b.flows))

    async def go_404() -> None:
        async with ApiClient(server.url, a.api_key) as api:
            await api.get(f"/api/v1/flows/{flow_of_b}")

    async def go_422() -> None:
        async with ApiClient(server.url, a.api_key) as api:
            await api.get("/api/v1/flows", {"per_page": 101})

    with pytest.raises(NotFoundError):
        run(go_404)
    with pytest.raises(ValidationError) as info:
        run(go_422)
    assert "per_page" in info.value.errors
    assert [v.errors for v in server.sim.contract.violations] == [info.value.errors]
    server.sim.contract.violations.clear()  # sent on purpose: the suite's contract check passes


def test_create_is_not_retried_after_an_ambiguous_failure() -> None:
    """A POST that may have reached the server is not blindly repeated (no duplicates)."""
    calls = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(request)
        return httpx.Response(502, json={"message": "Bad gateway"})

    async def go() -> None:
        async with ApiClient("http://api.test", "k", transport=httpx.MockTransport(handler)) as api:
            await api.post("/api/v1/flows/import", {}, safe_to_retry=False)

    with pytest.raises(ApiError):
        run(go)
    assert len(calls) == 1


def test_a_profile_without_rate_limit_paces_at_the_documented_limit(make_server: Any, tmp_path: Path,
                                                                    monkeypatch: Any) -> None:
    """240 calls a minute: the default config never sends more than 4 (+2 for scheduling on a
    busy machine) in any second; the same export with pacing turned off sends its burst at once."""
    server = make_server(flows=12, companies=1)
    paced = tmp_path / "paced.toml"
    write_config(paced, server, monkeypatch, concurrency=8)
    paced.write_text(paced.read_text().replace("rate_limit = 0\n", ""))  # as the README's sample: no rate_limit
    result = run_export(load_config(paced).profile("company-a"), tmp_path / "a")
    assert result.complete and not result.failed and server.sim.busiest_second() <= 6
    server.sim.arrivals.clear()
    unpaced = write_config(tmp_path / "unpaced.toml", server, monkeypatch, concurrency=8)
    burst = run_export(load_config(unpaced).profile("company-a"), tmp_path / "b")
    assert burst.complete and server.sim.busiest_second() >= 9  # 13 requests, 8 at a time


def test_a_429_never_fails_a_flow(make_server: Any, tmp_path: Path, monkeypatch: Any) -> None:
    """Waiting on 429s is bounded by the run's deadline, not by max_retries."""
    server = make_server(flows=5, companies=1, rate_limit=20, burst=1)  # a burst of 8 is refused at once
    cfg = write_config(tmp_path / "fv.toml", server, monkeypatch, max_retries=0, concurrency=8)
    result = run_export(load_config(cfg).profile("company-a"), tmp_path / "a")
    assert result.complete and not result.failed and result.exported == 5
    assert result.retries > 0  # it waited on 429s, max_retries 0 notwithstanding
