"""The simulated Patchworks Core API as an ASGI app (Starlette), with fault knobs.

Implements the documented flow, version, schedule, export and import endpoints for
several companies, each behind its own API key, plus the realism knobs: per-key
token-bucket rate limit (429 + Retry-After), latency, 5xx replies, dropped connections.
"""

from __future__ import annotations

import asyncio
import math
import random
import re
import threading
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from importlib.metadata import entry_points
from typing import Any
from urllib.parse import urlencode

import anyio
import anyio.to_thread
import orjson
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from .literal import DIALECT as LITERAL
from .literal import flow as literal_flow
from .literal import schedule as literal_schedule
from .literal import version as literal_version
from .contract import Contract, Violation
from .ocp import OcpRoutes
from .replay import Replay
from .state import Company, SimError, State

Handler = Callable[[Request, Company], Awaitable[Any]]
VENDOR_GROUP = "flowvault.simulator"
WRITE_METHODS = {"POST", "PUT", "PATCH", "DELETE"}
READ_ONLY_POSTS = {"/api/v1/flows/export"}


@dataclass
class Faults:
    """Realism knobs; change them at any time, the server reads them per request."""

    rate_limit: float = 0.0  # requests per second per key; 0 = unlimited
    burst: float = 0.0  # bucket size; 0 = one second's worth
    latency: float = 0.0  # seconds added to every reply
    error_rate: float = 0.0  # fraction of requests answered 500/502/503
    drop_rate: float = 0.0  # fraction of connections closed with no reply
    slow_rate: float = 0.0  # fraction of replies delayed by slow_seconds (past a client's timeout)
    slow_seconds: float = 0.0
    drip: float = 0.0  # the flows listing is sent 16 bytes at a time, this many seconds apart
    window_limit: int = 0  # fixed-window limiter (Laravel's throttle): calls per window per key; 0 = off
    window_seconds: float = 60.0  # the window; X-RateLimit-Limit is reported per minute
    seed: int = 0


class Gate:
    """Holds requests (``method`` on a path starting with ``prefix``) once ``after`` of them have
    passed, until the test calls ``release()``. A drill waits on ``arrived`` (set when a request is
    held), acts — sends a signal, kills a process — then releases: no timing, no sleeps."""

    def __init__(self, method: str, prefix: str, after: int = 0, key: str | None = None) -> None:
        self.method, self.prefix, self.after, self.key = method, prefix, after, key  # key: one company's only
        self.arrived = threading.Event()
        self.held = 0  # requests waiting here now
        self.finished = threading.Event()  # a held request has been answered (after release)
        self._open = threading.Event()
        self._lock = threading.Lock()
        self.passed = 0

    def matches(self, request: Request) -> bool:
        return request.method == self.method and request.url.path.startswith(self.prefix) and (
            self.key is None or _api_key(request) == self.key)

    async def wait(self) -> bool:
        """Hold this request if it is past ``after``; whether it was held."""
        with self._lock:
            n, self.passed = self.passed, self.passed + 1
        if n < self.after or self._open.is_set():
            return False
        with self._lock:
            self.held += 1
        self.arrived.set()
        await anyio.to_thread.run_sync(self._open.wait)
        with self._lock:
            self.held -= 1
        return True

    def release(self) -> None:
        self._open.set()


class TokenBucket:
    def __init__(self, rate: float, burst: float) -> None:
        self.rate, self.burst = rate, max(burst, 1.0)
        self.tokens, self.stamp = self.burst, time.monotonic()

    def take(self) -> float:
        """0 when a token was taken, else seconds until one is available."""
        now = time.monotonic()
        self.tokens = min(self.burst, self.tokens + (now - self.stamp) * self.rate)
        self.stamp = now
        if self.tokens >= 1:
            self.tokens -= 1
            return 0.0
        return (1 - self.tokens) / self.rate


def json_response(data: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(orjson.dumps(data), status_code=status, media_type="application/json", headers=headers)


def _int_param(request: Request, name: str, default: int, lo: int, hi: int | None) -> int:
    raw = request.query_params.get(name)
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError:
        msg = f"The {name} field must be an integer."
        raise SimError(422, msg, {name: [msg]}) from None
    if value < lo:
        msg = f"The {name} field must be at least {lo}."
        raise SimError(422, msg, {name: [msg]})
    if hi is not None and value > hi:
        msg = f"The {name.replace('_', ' ')} field must not be greater than {hi}."
        raise SimError(422, msg, {name: [msg]})
    return value


def paginate(request: Request, items: list[Any], per_page: int | None = None) -> dict[str, Any]:
    """Laravel-style page: ``data``, ``meta`` and ``links`` (``per_page``: fixed by the server)."""
    page = _int_param(request, "page", 1, 1, None)
    per_page = per_page or _int_param(request, "per_page", 15, 1, 100)
    total = len(items)
    last_page = max(1, math.ceil(total / per_page))
    start = (page - 1) * per_page
    chunk = items[start:start + per_page]
    path = str(request.url.replace(query=""))
    params = {k: v for k, v in request.query_params.items() if k != "page"}

    def link(p: int) -> str:
        return f"{path}?{urlencode({**params, 'page': p})}"

    return {
        "data": chunk,
        "meta": {
            "current_page": page,
            "from": start + 1 if chunk else None,
            "last_page": last_page,
            "path": path,
            "per_page": per_page,
            "to": start + len(chunk) if chunk else None,
            "total": total,
        },
        "links": {
            "first": link(1),
            "last": link(last_page),
            "prev": link(page - 1) if page > 1 else None,
            "next": link(page + 1) if page < last_page else None,
        },
    }


def _json_body(raw: bytes) -> dict[str, Any]:
    if not raw:
        return {}
    try:
        body = orjson.loads(raw)
    except orjson.JSONDecodeError:
        raise SimError(400, "The request body is not valid JSON.") from None
    if not isinstance(body, dict):
        raise SimError(422, "The request body must be a JSON object.")
    return body


def _truthy(value: str) -> bool:
    return value.lower() in ("1", "true", "yes")


class Simulator:
    """The fake API: state, knobs, request counters and the ASGI app."""

    def __init__(self, state: State, faults: Faults | None = None) -> None:
        self.state = state
        self.faults = faults or Faults()
        self.buckets: dict[str, TokenBucket] = {}
        self.windows: dict[str, tuple[float, int]] = {}  # key → (window start, calls in it)
        self.counts: Counter[tuple[int, str]] = Counter()  # (company id, "GET"/"WRITE"/...)
        self.failing_flows: set[int] = set()  # export of these flows always answers 500
        self.total_skew = 0  # added to meta.total of the flow listing (a lying server)
        self.listing_extra: list[Any] = []  # raw items added to page 1 of the flow listing (hostile IDs)
        self.version_ids: dict[int, Any] = {}  # version ID → what the versions list says instead (hostile IDs)
        self.honour_version_include: bool | None = True  # False: ignores ?include=; None: refuses it (400)
        self.relation_page_size: int | None = None  # a flow's callbacks list cut into pages of this many
        self.version_detail_steps = True  # False: a version's detail leaves its steps out (the export has them)
        #: (method, path regex) → status: endpoints this server refuses for every key, as a key without
        #: the permission (403), an account without the feature (404) or a method not allowed (405)
        self.refused: dict[tuple[str, str], int] = {}
        #: True: the flow listing honours every ?include=; False: none; a set: only those
        self.honour_listing_include: bool | set[str] = True
        #: a set: the listing refuses (400) any other include, as a query builder does; None: ignores them
        self.allowed_listing_includes: set[str] | None = None
        self.resource_listings = True  # False: /api/v1/connectors etc. answer 404 (undocumented endpoints)
        #: a hostile flow listing: "not_json", "no_data", "no_meta", "loop" (pages forever), "huge"
        self.hostile: str | None = None
        self.replay: Replay | None = None  # replies reshaped to a recording's (simulator --replay)
        self.gate: Gate | None = None  # holds matching requests until the test releases them
        self.in_flight = 0
        self.arrivals: list[float] = []  # when each request arrived (monotonic): the pace clients keep
        #: a list: every request answered 200 is kept as (method, URL, body, Authorization) — bench replays
        #: a run's requests with a bare client
        self.log: list[tuple[str, str, str, str]] | None = None
        self.max_in_flight = 0  # the most requests this server was answering at once
        self.rng = random.Random(self.faults.seed)
        #: the vendor's OpenAPI document, judging every request (violations answered 422, and kept)
        self.contract = Contract()
        self._lock = threading.Lock()
        self.ocp = OcpRoutes(random.Random(self.faults.seed + 1))
        #: other vendors' APIs a package adds (entry-point group ``flowvault.simulator``: name →
        #: a factory taking a Random, whose ``routes`` are (method, path, handler(request, company)))
        self.vendors: dict[str, Any] = {ep.name: ep.load()(random.Random(self.faults.seed + 2))
                                        for ep in entry_points(group=VENDOR_GROUP)}
        self.app = Starlette(routes=self._routes())

    # -- Python API for tests, the demo and bench -----------------------------

    def company(self, index_or_name: int | str) -> Company:
        return self.state.company(index_or_name)

    def busiest_second(self) -> int:
        """The most requests that arrived within any one second."""
        times, most, start = sorted(self.arrivals), 0, 0
        for end, t in enumerate(times):
            while t - times[start] >= 1.0:
                start += 1
            most = max(most, end - start + 1)
        return most

    def writes(self, company: int | str) -> int:
        return self.counts[(self.company(company).id, "WRITE")]

    def requests(self, company: int | str) -> int:
        cid = self.company(company).id
        return sum(n for (c, _), n in self.counts.items() if c == cid and _ != "WRITE")

    # -- ASGI ------------------------------------------------------------------

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            scope["_flowvault_send"] = send  # the server's own send, to drop connections
        await self.app(scope, receive, send)

    def _routes(self) -> list[Route]:
        r = self._wrap
        return [
            Route("/api/v1/flows", r(self.list_flows), methods=["GET"]),
            Route("/api/v1/flows", r(self.create_flow), methods=["POST"]),
            Route("/api/v1/flows/export", r(self.export_flow), methods=["POST"]),
            Route("/api/v1/flows/import", r(self.import_flow), methods=["POST"]),
            Route("/api/v1/flows/{flow}", r(self.get_flow), methods=["GET"]),
            Route("/api/v1/flows/{flow}", r(self.update_flow), methods=["PUT"]),
            Route("/api/v1/flows/{flow}", r(self.delete_flow), methods=["DELETE"]),
            Route("/api/v1/flows/{flow}/versions", r(self.list_versions), methods=["GET"]),
            Route("/api/v1/flows/{flow}/webhooks", r(self.list_relation("webhooks")), methods=["GET"]),
            Route("/api/v1/flows/{flow}/callbacks", r(self.list_relation("callbacks")), methods=["GET"]),
            Route("/api/v1/flows/{flow}/webhooks", r(self.create_relation("webhooks")), methods=["POST"]),
            Route("/api/v1/flows/{flow}/callbacks", r(self.create_relation("callbacks")), methods=["POST"]),
            Route("/api/v1/flows/{flow}/versions", r(self.create_version), methods=["POST"]),
            Route("/api/v1/flows/{flow}/versions/{version}", r(self.get_version), methods=["GET"]),
            Route("/api/v1/flows/{flow}/versions/{version}", r(self.update_version), methods=["PUT"]),
            Route("/api/v1/flows/{flow}/versions/{version}", r(self.delete_version), methods=["DELETE"]),
            Route("/api/v1/flows/{flow}/versions/{version}/copy", r(self.copy_version), methods=["POST"]),
            Route("/api/v1/flow-versions/{fv}/schedules", r(self.list_schedules), methods=["GET"]),
            Route("/api/v1/flow-versions/{fv}/schedules", r(self.create_schedule), methods=["POST"]),
            Route("/api/v1/flow-versions/{fv}/schedules/{schedule}", r(self.update_schedule), methods=["PUT"]),
            Route("/api/v1/flow-versions/{fv}/schedules/{schedule}", r(self.delete_schedule), methods=["DELETE"]),
            Route("/api/v1/flow-versions/{fv}/graph/steps/{step}", r(self.patch_step), methods=["PATCH"]),
            Route("/api/v1/{rtype:str}", r(self.list_resources), methods=["GET"]),
            Route("/api/flows/", r(self.ocp.list), methods=["GET"]),
            Route("/api/flows/", r(self.ocp.create), methods=["POST"]),
            Route("/api/flows/{fid}/", r(self.ocp.get), methods=["GET"]),
            Route("/api/flows/{fid}/", r(self.ocp.update), methods=["PUT"]),
            Route("/api/flows/{fid}/", r(self.ocp.delete), methods=["DELETE"]),
            Route("/api/apps/{fid}/status/", r(self.ocp.status), methods=["GET"]),
        ] + [Route(path, r(handler), methods=[method]) for vendor in self.vendors.values()
             for method, path, handler in vendor.routes]

    def _wrap(self, handler: Handler) -> Callable[[Request], Awaitable[Response]]:
        async def endpoint(request: Request) -> Response:
            with self._lock:
                self.in_flight += 1
                self.max_in_flight = max(self.max_in_flight, self.in_flight)
                self.arrivals.append(time.monotonic())
            try:
                response = await answer(request)
                if self.log is not None and response.status_code == 200:
                    self.log.append((request.method, str(request.url), (await request.body()).decode(),
                                     request.headers.get("authorization", "")))
                limited = getattr(request.state, "ratelimit", None)
                if limited:
                    response.headers.update(limited)
                return response
            finally:
                with self._lock:
                    self.in_flight -= 1

        async def answer(request: Request) -> Response:
            f = self.faults
            if f.latency:
                await asyncio.sleep(f.latency)
            if f.slow_rate and self.rng.random() < f.slow_rate:
                await asyncio.sleep(f.slow_seconds)
            roll = self.rng.random()
            if roll < f.drop_rate and _drop_connection(request):
                return Response(status_code=499)  # never sent: the socket is gone
            if roll < f.drop_rate + f.error_rate:
                status = self.rng.choice([500, 502, 503])
                return json_response({"message": "Server Error"}, status)
            key = _api_key(request)
            if f.window_limit > 0:
                wait, remaining = self._window(key)
                per_minute = int(f.window_limit * 60 / f.window_seconds)
                request.state.ratelimit = {"X-RateLimit-Limit": str(per_minute),
                                           "X-RateLimit-Remaining": str(remaining)}
                if wait:
                    self.counts[(0, "429")] += 1
                    return json_response({"message": "Too Many Attempts."}, 429, {
                        "Retry-After": str(max(1, math.ceil(wait)))})
            if f.rate_limit > 0:
                with self._lock:
                    bucket = self.buckets.setdefault(key, TokenBucket(f.rate_limit, f.burst or f.rate_limit))
                    wait = bucket.take()
                if wait:
                    return json_response({"message": "Too Many Attempts."}, 429, {
                        "Retry-After": str(max(1, math.ceil(wait))),
                        "X-RateLimit-Limit": str(int(f.rate_limit * 60)), "X-RateLimit-Remaining": "0"})
            company = self.state.company_for_key(key)
            if company is None:
                return json_response({"message": "Unauthenticated."}, 401)
            for (method, pattern), status in self.refused.items():
                if request.method == method and re.fullmatch(pattern, request.url.path):
                    return json_response({"message": {403: "This action is unauthorized.", 404: "Not found.",
                                                      405: "Method not allowed."}.get(status, "Refused.")}, status)
            write = request.method in WRITE_METHODS and request.url.path not in READ_ONLY_POSTS
            if write and company.readonly:
                return json_response({"message": "This action is unauthorized."}, 403)
            try:
                with self.state.lock:
                    self.counts[(company.id, request.method)] += 1
                    if write:
                        self.counts[(company.id, "WRITE")] += 1
                raw = await request.body()
                request.state.body = _json_body(raw) if request.method in WRITE_METHODS else {}
                verdict = self.contract.check(request.method, request.url.path, request.query_params.multi_items(),
                                              dict(request.headers), raw)
                if isinstance(verdict, Violation):
                    raise SimError(422, verdict.message, verdict.errors)
                gate = self.gate
                held = gate is not None and gate.matches(request) and await gate.wait()
                try:  # the body is in: a held request takes effect once released, client or not
                    with self.state.lock:
                        result = await handler(request, company)
                finally:
                    if held and gate is not None:
                        gate.finished.set()
            except SimError as e:
                payload: dict[str, Any] = {"message": e.message}
                if e.errors is not None:
                    payload["errors"] = e.errors
                return json_response(payload, e.status)
            if isinstance(result, Response):
                return result
            if self.replay is not None:  # the recorded shapes of a real account (replay.py)
                got = self.replay.answer(request.method, request.url.path, request.query_params.get("include", ""),
                                         result)
                if got is not None:
                    return json_response(got[1], got[0], got[2])
            if f.drip and request.url.path == "/api/v1/flows" and request.method == "GET":
                return _dripping(orjson.dumps(result), f.drip)
            return json_response(result)

        return endpoint

    def _window(self, key: str) -> tuple[float, int]:
        """Fixed window per key: (seconds until the next window if this call is over the limit,
        calls left in this window)."""
        f = self.faults
        now = time.monotonic()
        with self._lock:
            start, used = self.windows.get(key, (0.0, 0))
            if now - start >= f.window_seconds:
                start, used = now - (now % f.window_seconds), 0
            if used >= f.window_limit:
                self.windows[key] = (start, used)
                return start + f.window_seconds - now, 0
            self.windows[key] = (start, used + 1)
            return 0.0, f.window_limit - used - 1

    # -- reply shapes: the schema-literal dialect's, else as stored ------------

    def _flow(self, item: Any) -> Any:
        return literal_flow(item) if self.state.dialect == LITERAL and isinstance(item, dict) else item

    def _version(self, item: Any) -> Any:
        return literal_version(item) if self.state.dialect == LITERAL and isinstance(item, dict) else item

    def _schedule(self, item: Any) -> Any:
        return literal_schedule(item) if self.state.dialect == LITERAL else dict(item)

    # -- handlers (run under the state lock; they never await I/O) -------------

    async def list_flows(self, request: Request, c: Company) -> Any:
        if self.hostile:
            return self._hostile_listing(request)
        q = request.query_params
        include = set(filter(None, q.get("include", "").split(",")))
        refused = sorted(include - self.allowed_listing_includes) if self.allowed_listing_includes is not None else []
        if refused:
            raise SimError(400, f"Requested include(s) `{', '.join(refused)}` are not allowed. Allowed include(s) "
                                f"are `{', '.join(sorted(self.allowed_listing_includes or ()))}`.")
        if self.honour_listing_include is not True:
            include &= self.honour_listing_include or set()
        flows = list(c.flows.values())
        if "filter[name]" in q:
            needle = q["filter[name]"].lower()
            flows = [f for f in flows if needle in f["name"].lower()]
        if "filter[enabled]" in q:
            want = _truthy(q["filter[enabled]"])
            flows = [f for f in flows if (f["enabled_at"] is not None) == want]
        if "filter[deployed]" in q:
            want = _truthy(q["filter[deployed]"])
            flows = [f for f in flows if any(
                c.versions[v]["status"] == "Deployed" for v in self.state.flow_version_ids(c, f["id"])) == want]
        if "filter[id]" in q:
            ids = {x for x in q["filter[id]"].split(",") if x}
            flows = [f for f in flows if str(f["id"]) in ids]
        sort = q.get("sort", "id")
        field = sort.lstrip("-")
        if field not in ("name", "enabled_at", "created_at", "id"):
            raise SimError(400, f"Requested sort(s) `{field}` is not allowed.")
        flows.sort(key=lambda f: (f[field] is None, f[field] or "", f["id"]) if field != "id" else (False, f["id"], 0),
                   reverse=sort.startswith("-"))
        page = paginate(request, flows)
        page["meta"]["total"] += self.total_skew + len(self.listing_extra)
        page["data"] = [self.state.render_flow(c, f, include) for f in page["data"]]
        for item in page["data"]:
            for v in item.get("versions", ()):
                v["id"] = self.version_ids.get(v["id"], v["id"])
        page["data"] = [self._flow(item) for item in page["data"]]
        if page["meta"]["current_page"] == 1:
            page["data"] += self.listing_extra
        return page

    def _hostile_listing(self, request: Request) -> Any:
        mode = self.hostile
        if mode == "not_json":
            return Response(b"<html><body>502 Bad Gateway</body></html>", media_type="text/html")
        if mode == "huge":
            return Response(b'{"data": ["' + b"x" * (80 * 1024 * 1024) + b'"]}', media_type="application/json")
        page = paginate(request, [])
        if mode == "no_data":
            del page["data"]
        elif mode == "no_meta":
            del page["meta"]
        elif mode == "loop":  # every page says there is another one, for ever
            page["meta"].update(last_page=10**9, total=10**9 * page["meta"]["per_page"])
            page["links"]["next"] = str(request.url)
        return page

    async def create_flow(self, request: Request, c: Company) -> Any:
        f = self.state.create_flow(c, request.state.body)
        return {"data": self._flow(self.state.render_flow(c, f, {"labels"}))}

    async def get_flow(self, request: Request, c: Company) -> Any:
        include = set(filter(None, request.query_params.get("include", "").split(",")))
        return {"data": self._flow(self.state.render_flow(c, self.state.flow(c, request.path_params["flow"]), include))}

    async def update_flow(self, request: Request, c: Company) -> Any:
        f = self.state.update_flow(c, request.path_params["flow"], request.state.body)
        return {"data": self._flow(self.state.render_flow(c, f, {"labels"}))}

    async def delete_flow(self, request: Request, c: Company) -> Any:
        self.state.delete_flow(c, request.path_params["flow"])
        return {"message": "Flow deleted."}

    async def export_flow(self, request: Request, c: Company) -> Any:
        flow_id = request.state.body.get("flow_id")
        if not isinstance(flow_id, int) or isinstance(flow_id, bool):
            raise SimError(422, "The flow id field is required.", {"flow_id": ["The flow id field is required."]})
        if flow_id in self.failing_flows:
            raise SimError(500, "Server Error")
        return self.state.export_flow(c, flow_id)

    async def import_flow(self, request: Request, c: Company) -> Any:
        body = request.state.body
        errors: dict[str, list[str]] = {}
        docs: dict[str, Any] = {}
        required = ("flow", "metadata", "systems", "scripts", "dependencies") \
            if self.state.dialect == "export-systems" else ("flow", "metadata")
        for name in required:
            raw = body.get(name)
            if not isinstance(raw, str):
                errors[name] = [f"The {name} field is required and must be a string."]
                continue
            try:
                docs[name] = orjson.loads(raw)
            except orjson.JSONDecodeError:
                errors[name] = [f"The {name} field must be a valid JSON string."]
        if not errors and not isinstance(docs["flow"], dict):
            errors["flow"] = ["The flow field must be a JSON object."]
        if errors:
            raise SimError(422, "The given data was invalid.", errors)
        return {"data": self._flow(self.state.import_flow(c, docs["flow"]))}

    async def list_versions(self, request: Request, c: Company) -> Any:
        f = self.state.flow(c, request.path_params["flow"])
        versions = [c.versions[v] for v in self.state.flow_version_ids(c, f["id"])]
        if request.query_params.get("sort") == "-created_at":
            versions.reverse()
        include = set(filter(None, request.query_params.get("include", "").split(",")))
        if include and self.honour_version_include is None:
            raise SimError(400, f"Requested include(s) `{', '.join(sorted(include))}` are not allowed.")
        if not self.honour_version_include:
            include = set()
        page = paginate(request, versions)
        page["data"] = [self.state.render_version(c, v, steps=False, include=include) for v in page["data"]]
        for v in page["data"]:
            v["id"] = self.version_ids.get(v["id"], v["id"])
        page["data"] = [self._version(v) for v in page["data"]]
        return page

    def list_relation(self, name: str) -> Handler:
        async def handler(request: Request, c: Company) -> Any:
            items = self.state.relation(c, request.path_params["flow"], name)
            # "List all webhooks": the reference shows no pagination; callbacks answer as a page, of
            # every item unless ``relation_page_size`` cuts it (the reference lists no page parameter)
            if name == "webhooks":
                return {"data": items}
            return paginate(request, items, per_page=self.relation_page_size or max(1, len(items)))
        return handler

    def create_relation(self, name: str) -> Handler:
        async def handler(request: Request, c: Company) -> Any:
            return {"data": self.state.create_relation(c, request.path_params["flow"], name, request.state.body)}
        return handler

    async def create_version(self, request: Request, c: Company) -> Any:
        v = self.state.create_version(c, request.path_params["flow"])
        return {"data": self._version(self.state.render_version(c, v))}

    async def get_version(self, request: Request, c: Company) -> Any:
        v = self.state.version(c, request.path_params["flow"], request.path_params["version"])
        out = self.state.render_version(c, v)
        if not self.version_detail_steps:
            out.pop("steps", None)
        return {"data": self._version(out)}

    async def update_version(self, request: Request, c: Company) -> Any:
        p = request.path_params
        v = self.state.update_version(c, p["flow"], p["version"], request.state.body)
        return {"data": self._version(self.state.render_version(c, v))}

    async def delete_version(self, request: Request, c: Company) -> Any:
        self.state.delete_version(c, request.path_params["flow"], request.path_params["version"])
        return {"message": "Flow version deleted."}

    async def copy_version(self, request: Request, c: Company) -> Any:
        v = self.state.copy_version(c, request.path_params["flow"], request.path_params["version"])
        return {"data": self._version(self.state.render_version(c, v))}

    async def list_schedules(self, request: Request, c: Company) -> Any:
        return paginate(request, [self._schedule(s) for s in self.state.version_schedules(c, request.path_params["fv"])])

    async def create_schedule(self, request: Request, c: Company) -> Any:
        return {"data": self._schedule(self.state.create_schedule(c, request.path_params["fv"], request.state.body))}

    async def update_schedule(self, request: Request, c: Company) -> Any:
        s = self.state.schedule(c, request.path_params["fv"], request.path_params["schedule"])
        body = request.state.body
        if "cron_string" in body:
            s["cron_string"] = body["cron_string"]
        if "deployed_at" in body:
            s["deployed_at"] = body["deployed_at"]
        return {"data": self._schedule(s)}

    async def delete_schedule(self, request: Request, c: Company) -> Any:
        self.state.delete_schedule(c, request.path_params["fv"], request.path_params["schedule"])
        return {"message": "Schedule deleted."}

    async def patch_step(self, request: Request, c: Company) -> Any:
        p = request.path_params
        return {"data": self.state.patch_step(c, p["fv"], p["step"], request.state.body)}

    async def list_resources(self, request: Request, c: Company) -> Any:
        rtype = {"connectors": "connector", "endpoints": "endpoint", "scripts": "script", "caches": "cache",
                 "data-pools": "data_pool", "cross-reference-lookups": "cross_reference_lookup",
                 "virtual-environments": "virtual_environment", "notification-groups": "notification_group"}.get(
                     request.path_params["rtype"])
        if rtype is None or not self.resource_listings:
            raise SimError(404, "Not found.")
        return paginate(request, sorted(c.resources[rtype].values(), key=lambda r: r["id"]))


def _dripping(body: bytes, pause: float) -> Response:
    """A reply that arrives steadily but slowly: each piece well within any read timeout."""
    from starlette.responses import StreamingResponse

    async def pieces() -> Any:
        for i in range(0, len(body), 16):
            await asyncio.sleep(pause)
            yield body[i:i + 16]

    return StreamingResponse(pieces(), media_type="application/json")


def _api_key(request: Request) -> str:
    raw = request.headers.get("authorization", "").strip()
    return raw[7:].strip() if raw.lower().startswith("bearer ") else raw


def _drop_connection(request: Request) -> bool:
    """Close the TCP connection without a reply (uvicorn's transport), if reachable."""
    send = request.scope.get("_flowvault_send")
    transport = getattr(getattr(send, "__self__", None), "transport", None)
    if transport is None:
        return False
    transport.close()
    return True
