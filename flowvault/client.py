"""The async API client every command uses; the only module that imports httpx.

One client per target: base URL + key, bounded concurrency (a CapacityLimiter),
optional client-side pacing, retries with exponential backoff and jitter on 429/5xx
and transport errors (honouring Retry-After), and a concurrent paginator. httpx
exceptions are translated here; the API key never appears in an error or repr.
"""

from __future__ import annotations

import contextlib
import functools
import random
import ssl
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass
from typing import Any

import anyio
import httpx

from ._version import __version__
from .errors import ApiError, AuthError, NotFoundError, ProtocolError, ValidationError
from .protocol import MAX_PER_PAGE, RETRY_STATUSES, backoff, decode, parse_page, retry_after

Event = Callable[[dict[str, Any]], None]
#: the vendors' documented limits (requests/second) a profile without ``rate_limit`` paces at:
#: Patchworks, 240 calls a minute per company profile; OCP documents none


@dataclass
class Stats:
    requests: int = 0
    retries: int = 0
    writes: int = 0
    throttled: int = 0  # 429 replies (each waited out, never a failure)


@functools.cache
def tls() -> ssl.SSLContext:
    """The TLS settings every connection of this process uses (certifi's roots, or SSL_CERT_FILE /
    SSL_CERT_DIR when set): made once — loading the roots costs ~40 ms of CPU, paid per client before."""
    return httpx.create_ssl_context()


class ApiClient:
    """Async client for one company. Use as ``async with ApiClient(...) as api``."""

    def __init__(self, base_url: str, api_key: str, *, concurrency: int = 8, timeout: float = 30.0,
                 max_retries: int = 6, rate_limit: float = 0.0, hint: str = "",
                 on_event: Event | None = None, transport: httpx.AsyncBaseTransport | None = None,
                 rng: random.Random | None = None, max_body: int = 64 * 1024 * 1024,
                 in_flight: anyio.CapacityLimiter | None = None) -> None:
        self.base_url = base_url.rstrip("/")
        self._key = api_key
        self.max_retries = max_retries
        self.deadline = 3 * timeout  # a request's total time: a server that drips its reply cannot hold it
        self.rate_limit = rate_limit
        self.hint = hint
        self.max_body = max_body
        self.stats = Stats()
        self._limiter = anyio.CapacityLimiter(max(1, concurrency))
        #: shared by every company of a run (``max_in_flight``): taken after this company's own slot
        #: and its pace, so a company holds at most ``concurrency`` of them, and only while sending
        self._in_flight = in_flight
        self._on_event = on_event or (lambda _e: None)
        #: hears each final reply (method, path, params, status, headers, body): ``doctor --record``
        self.recorder: Callable[[str, str, dict[str, Any] | None, int, Any, bytes], None] | None = None
        self._rng = rng or random.Random()
        self._next_slot = 0.0
        self._pause_until = 0.0
        self._http = httpx.AsyncClient(
            base_url=self.base_url,
            headers={"Authorization": api_key, "Accept": "application/json",
                     "User-Agent": f"flowvault/{__version__}"},
            timeout=httpx.Timeout(timeout),
            limits=httpx.Limits(max_connections=max(1, concurrency), max_keepalive_connections=max(1, concurrency)),
            transport=transport, verify=tls(),
        )

    def __repr__(self) -> str:
        return f"ApiClient(base_url={self.base_url!r})"

    async def __aenter__(self) -> ApiClient:
        return self

    async def __aexit__(self, *exc: Any) -> None:
        await self._http.aclose()

    # -- requests ---------------------------------------------------------------

    async def get(self, path: str, params: dict[str, Any] | None = None) -> Any:
        return await self.request("GET", path, params=params)

    async def post(self, path: str, json: Any = None, *, safe_to_retry: bool = True) -> Any:
        return await self.request("POST", path, json=json, safe_to_retry=safe_to_retry)

    async def put(self, path: str, json: Any = None) -> Any:
        return await self.request("PUT", path, json=json)

    async def patch(self, path: str, json: Any = None) -> Any:
        return await self.request("PATCH", path, json=json)

    async def delete(self, path: str) -> Any:
        return await self.request("DELETE", path)

    async def request(self, method: str, path: str, *, params: dict[str, Any] | None = None,
                      json: Any = None, safe_to_retry: bool = True) -> Any:
        """Send with retries. ``safe_to_retry=False`` (a create) retries only what surely
        never reached the server: 429 and connection failures."""
        attempt = 0  # failures (5xx, transport): bounded by max_retries
        waits = 0  # 429s: never a failure; bounded by the run's deadline, not by a count
        while True:
            status, headers, body, failure = await self._send_once(method, path, params, json)
            self._steer(headers)
            retryable = (status in RETRY_STATUSES if status is not None else failure is not None)
            if not safe_to_retry and status is not None and status != 429:
                retryable = False
            if not safe_to_retry and failure is not None and not isinstance(failure, httpx.ConnectError):
                retryable = False
            if status == 429:
                wait = retry_after(headers)
                wait = (backoff(waits, jitter=self._rng.random()) if wait is None else wait) + self._rng.random() * 0.1
                self._pause_until = max(self._pause_until, time.monotonic() + wait)
                waits += 1
                self.stats.retries += 1
                self.stats.throttled += 1
                self._on_event({"event": "retry", "method": method, "path": path, "attempt": attempt + waits,
                                "status": 429, "error": None, "wait": round(wait, 3)})
                await anyio.sleep(wait)
                continue
            if not retryable or attempt >= self.max_retries:
                if failure is not None:
                    raise ApiError(f"{method} {path}: {_describe(failure)} (after {attempt + 1} attempts)",
                                   method=method, path=path) from None
                assert status is not None
                if self.recorder is not None:
                    self.recorder(method, path, params, status, headers, body)
                return decode(status, body, method=method, path=path, hint=self.hint)
            wait = backoff(attempt, jitter=self._rng.random())
            self.stats.retries += 1
            self._on_event({"event": "retry", "method": method, "path": path, "attempt": attempt + 1,
                            "status": status, "error": _describe(failure) if failure else None,
                            "wait": round(wait, 3)})
            attempt += 1
            await anyio.sleep(wait)

    async def _send_once(self, method: str, path: str, params: dict[str, Any] | None,
                         json: Any) -> tuple[int | None, httpx.Headers, bytes, Exception | None]:
        async with self._limiter:
            await self._pace()
            self.stats.requests += 1
            if method != "GET":
                self.stats.writes += 1
            try:
                async with self._in_flight or contextlib.nullcontext():
                    with anyio.fail_after(self.deadline):
                        async with self._http.stream(method, path, params=params, json=json) as resp:
                            chunks, size = [], 0
                            async for chunk in resp.aiter_bytes():
                                size += len(chunk)
                                if size > self.max_body:
                                    raise ProtocolError(f"{method} {path}: the reply is larger than "
                                                        f"{self.max_body // (1024 * 1024)} MiB; refusing it",
                                                        method=method, path=path)
                                chunks.append(chunk)
                            body = b"".join(chunks)
            except (httpx.TransportError, httpx.DecodingError) as e:
                return None, httpx.Headers(), b"", e
            except TimeoutError:
                return None, httpx.Headers(), b"", DeadlineExceeded(f"no complete reply within {self.deadline:g} s")
        return resp.status_code, resp.headers, body, None

    def _steer(self, headers: Any) -> None:
        """Never faster than the server says it allows: ``X-RateLimit-Limit`` (per minute, as
        Laravel's throttle sends it) caps the pace; ``X-RateLimit-Remaining: 0`` pauses briefly."""
        try:
            limit = int(headers.get("x-ratelimit-limit", ""))
        except ValueError:
            return
        if limit <= 0:
            return
        allowed = limit / 60.0
        if self.rate_limit <= 0 or allowed < self.rate_limit:
            self.rate_limit = allowed
        if headers.get("x-ratelimit-remaining", "").strip() == "0":
            self._pause_until = max(self._pause_until, time.monotonic() + 1.0 / allowed)

    async def _pace(self) -> None:
        now = time.monotonic()
        start = max(now, self._pause_until)
        if self.rate_limit > 0:
            start = max(start, self._next_slot)
            self._next_slot = start + 1.0 / self.rate_limit
        if start > now:
            await anyio.sleep(start - now)

    async def create_once(self, path: str, body: Any, created: Callable[[], Awaitable[Any]]) -> Any:
        """POST a create that must not happen twice: after an ambiguous failure (5xx, dropped
        connection, timeout) ask ``created()`` whether it happened before trying again; its
        answer (not None) is returned in place of the reply."""
        attempt = 0
        while True:
            try:
                return await self.post(path, body, safe_to_retry=False)
            except (ValidationError, AuthError, NotFoundError):
                raise
            except ApiError as e:
                if e.status is not None and e.status < 500 and e.status != 429:
                    raise
                found = await created()
                if found is not None:
                    return found
                if attempt >= self.max_retries:
                    raise
            await anyio.sleep(backoff(attempt, jitter=self._rng.random()))
            attempt += 1

    # -- pagination -------------------------------------------------------------

    async def iter_pages(self, path: str, params: dict[str, Any] | None = None,
                         per_page: int = MAX_PER_PAGE) -> AsyncIterator[tuple[list[Any], int]]:
        """Each page's items in order, with the server's ``meta.total``: one page in memory at a time."""
        base = dict(params or {}, per_page=per_page)
        n, last = 1, 1
        while n <= last:
            page = parse_page(await self.get(path, dict(base, page=n)), where=f"GET {path} page {n}")
            if page.current_page != n:
                raise ProtocolError(f"GET {path}: asked for page {n}, got page {page.current_page}")
            if n == 1:
                last, total = page.last_page, page.total
            yield page.items, total
            n += 1

    async def paginate(self, path: str, params: dict[str, Any] | None = None,
                       per_page: int = MAX_PER_PAGE) -> tuple[list[Any], int]:
        """Every item of a paginated list and the server's ``meta.total``.

        Page 1 tells ``last_page``; the other pages are fetched concurrently."""
        base = dict(params or {}, per_page=per_page)
        first = parse_page(await self.get(path, dict(base, page=1)), where=f"GET {path}")
        pages: dict[int, list[Any]] = {1: first.items}
        if first.last_page > 1:
            async def fetch(n: int) -> None:
                page = parse_page(await self.get(path, dict(base, page=n)), where=f"GET {path} page {n}")
                if page.current_page != n:
                    raise ProtocolError(f"GET {path}: asked for page {n}, got page {page.current_page}")
                pages[n] = page.items

            async with anyio.create_task_group() as tg:
                for n in range(2, first.last_page + 1):
                    tg.start_soon(fetch, n)
        items = [item for n in sorted(pages) for item in pages[n]]
        return items, first.total


class DeadlineExceeded(Exception):
    """A request's total time ran out (the reply came too slowly, however steadily)."""


def _describe(e: BaseException | None) -> str:
    """A short name for a transport failure (never the request, which holds headers)."""
    if e is None:
        return ""
    if isinstance(e, DeadlineExceeded):
        return str(e)
    if isinstance(e, httpx.TimeoutException):
        return "timed out"
    if isinstance(e, httpx.ConnectError):
        return "could not connect"
    if isinstance(e, httpx.RemoteProtocolError):
        return "connection dropped by the server"
    return e.__class__.__name__


@contextlib.contextmanager
def run_deadline(seconds: float) -> Iterator[None]:
    """A whole run's time limit (a profile's ``run_deadline``): past it the run stops with an
    ApiError, and its caller rolls back, as for any failure."""
    try:
        with anyio.fail_after(seconds):
            yield
    except TimeoutError:
        raise ApiError(f"the run did not finish within {seconds:g} s (the profile's run_deadline) "
                       "and was stopped") from None


def client_for(profile: Any, *, documented_rate: float = 0.0, concurrency: int | None = None,
               on_event: Event | None = None, in_flight: anyio.CapacityLimiter | None = None) -> ApiClient:
    """The client for a config profile (key read from its env variable), paced at the profile's
    rate or else the vendor's ``documented_rate`` (``providers.client_for`` fills it in);
    ``in_flight``: the bound on requests in flight it shares with the run's other profiles."""
    rate = profile.rate_limit if profile.rate_limit is not None else documented_rate
    return ApiClient(profile.base_url, profile.api_key(), concurrency=concurrency or profile.concurrency,
                     timeout=profile.timeout, max_retries=profile.max_retries, rate_limit=rate,
                     hint=f"check ${profile.api_key_env} for profile '{profile.name}'", on_event=on_event,
                     in_flight=in_flight)


def ping(url: str, *, ok: bool, body: str = "", timeout: float = 10.0) -> str | None:
    """A heartbeat: GET ``url`` on success, POST ``url/fail`` with ``body`` otherwise.
    Returns None when delivered, else a short reason (never raises)."""
    target = url if ok else url.rstrip("/") + "/fail"
    try:
        with httpx.Client(timeout=timeout, verify=tls(), headers={"User-Agent": f"flowvault/{__version__}"}) as http:
            reply = http.get(target) if ok else http.post(target, content=body.encode())
    except httpx.HTTPError as e:
        return f"{_describe(e)} ({target.split('?')[0]})"
    return None if reply.is_success else f"HTTP {reply.status_code} from {target.split('?')[0]}"
