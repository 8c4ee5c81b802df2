"""Pure protocol rules: decode a reply, read Retry-After, walk pages. No I/O here.

Every function takes ``(status, headers, body)``-like data and returns values or
raises a typed error, so it is tested without a loop or a socket.
"""

from __future__ import annotations

import email.utils
import math
import re
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import orjson

from .errors import ApiError, AuthError, NotFoundError, ProtocolError, ValidationError

RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})
MAX_PER_PAGE = 100
MAX_PAGES = 10_000  # 1,000,000 flows at 100 a page; a listing that claims more is not believed
MAX_ID = 10**15
_UUID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")
_DIGITS = re.compile(r"^[0-9]{1,16}$")  # ASCII digits only: "３" is not 3


def flow_id(raw: Any) -> int | str | None:
    """An ID from a reply, normalised once: a positive integer (``"03"`` is 3) in a sane range,
    or a UUID (lower case); None for anything else (``true``, ``"../x"``, ``2.5``, ``"３"``, huge)."""
    if isinstance(raw, bool):
        return None
    if isinstance(raw, int):
        return raw if 0 < raw < MAX_ID else None
    if isinstance(raw, str):
        if _DIGITS.match(raw):
            value = int(raw)
            return value if 0 < value < MAX_ID else None
        if _UUID.match(raw):
            return raw.lower()
    return None


def _short(text: Any, limit: int = 200) -> str:
    s = " ".join(str(text).split())
    return s if len(s) <= limit else s[: limit - 1] + "…"


def decode(status: int, body: bytes, *, method: str, path: str, hint: str = "") -> Any:
    """The JSON body of a successful reply, or the typed error for a failed one."""
    where = f"{method} {path}"
    data: Any = None
    if body:
        try:
            data = orjson.loads(body)
        except orjson.JSONDecodeError:
            if 200 <= status < 300:
                raise ProtocolError(f"{where}: the reply is not JSON ({_short(body[:80])!r})",
                                    status=status, method=method, path=path) from None
    if 200 <= status < 300:
        return data
    message = _message(data)
    text = f"{where}: {status} {_short(message or 'error')}"
    errors = data.get("errors") if isinstance(data, dict) and isinstance(data.get("errors"), dict) else None
    if status in (401, 403):
        what = "refused the API key" if status == 401 else "the API key lacks the permission"
        raise AuthError(f"{text} ({what}{'; ' + hint if hint else ''})", status=status, method=method, path=path)
    if status == 404:
        raise NotFoundError(text, status=status, method=method, path=path)
    if status == 422:
        if errors:
            first = next(iter(errors.items()))
            text += f" [{first[0]}: {_short(first[1][0] if isinstance(first[1], list) and first[1] else first[1])}]"
        raise ValidationError(text, status=status, method=method, path=path, errors=errors)
    raise ApiError(text, status=status, method=method, path=path, errors=errors)


#: statuses that say one part cannot be read with this key or account, not that the API failed
PART_REFUSED = {403: "the API key may lack the permission", 404: "the account may not have this feature",
                405: "the server does not allow this method there"}


def part_refused(status: int | None) -> str | None:
    """Why a part of a flow (a relation, a version's detail or schedules) could not be read, when
    ``status`` says the part is closed to this key rather than that the API failed; else None."""
    why = PART_REFUSED.get(status) if status is not None else None
    return f"{status}: {why}" if why else None


def _message(data: Any) -> str | None:
    """The error text of a reply: Laravel's ``message``, DRF's ``detail``, or the first field error."""
    if not isinstance(data, dict):
        return None
    for key in ("message", "detail"):
        if isinstance(data.get(key), str):
            return str(data[key])
    for key, value in data.items():
        if isinstance(value, list) and value and isinstance(value[0], str):
            return f"{key}: {value[0]}"
    return None


def retry_after(headers: Mapping[str, str], now: float | None = None) -> float | None:
    """Seconds to wait from a Retry-After header (seconds or HTTP date), if any."""
    raw = headers.get("retry-after")
    if raw is None:
        return None
    raw = raw.strip()
    try:
        return max(0.0, float(raw))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(raw).timestamp()
    except (TypeError, ValueError):
        return None
    return max(0.0, when - (time.time() if now is None else now))


def backoff(attempt: int, *, base: float = 0.25, cap: float = 20.0, jitter: float = 0.5) -> float:
    """Exponential backoff for attempt 0, 1, 2…; ``jitter`` in [0, 1] is a random draw."""
    return min(cap, base * (2 ** attempt)) * (0.5 + jitter / 2)


@dataclass(frozen=True)
class Page:
    items: list[Any]
    current_page: int
    last_page: int
    total: int


def parse_page(data: Any, *, where: str) -> Page:
    """Check a paginated reply's shape: ``data`` list, ``meta`` and ``links``."""
    if not isinstance(data, dict) or not isinstance(data.get("data"), list):
        raise ProtocolError(f"{where}: the reply has no 'data' list")
    meta = data.get("meta")
    if not isinstance(meta, dict):
        raise ProtocolError(f"{where}: the reply has no 'meta' object")
    try:
        current, last, total, per_page = (int(meta[k]) for k in ("current_page", "last_page", "total", "per_page"))
    except (KeyError, TypeError, ValueError):
        raise ProtocolError(f"{where}: the reply's 'meta' lacks current_page/last_page/total/per_page") from None
    if per_page < 1 or total < 0 or last < 1 or last > MAX_PAGES or last > max(1, math.ceil(total / per_page)) + 1:
        raise ProtocolError(f"{where}: the reply's 'meta' is inconsistent (last_page {last}, total {total})")
    return Page(items=data["data"], current_page=current, last_page=last, total=total)
