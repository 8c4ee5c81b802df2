"""Pure: what an API answered, as shapes only — for ``flowvault doctor --record``.

A recording lists each reply as its method, documented path template, status, the headers that
matter (content type, rate limit, retry) and the JSON structure: key names and value types, never
a value. Strings say only that they are strings (a date-time, or JSON text with its own shape
inside); keys made of digits (IDs used as keys) are written ``<id>``; request parameters are named,
and only flowvault's own values (``include``, ``sort``, ``page``, ``per_page``) are kept. So the
file holds no flow or step name, no key, no host, no value from the account, and can be attached
to a report; ``flowvault simulator --replay FILE`` serves replies of exactly these shapes.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

import orjson

FORMAT = "flowvault-shapes/1"
HEADERS = ("content-type", "retry-after", "x-ratelimit-limit", "x-ratelimit-remaining")
OUR_PARAMS = frozenset({"include", "sort", "page", "per_page"})
_DATE = re.compile(r"\d{4}-\d\d-\d\d[T ]\d\d:\d\d")
_DIGITS = re.compile(r"\d+")


def shape_of(value: Any, depth: int = 0) -> dict[str, Any]:
    """The structure of a JSON value: types and key names only."""
    if value is None:
        return {"type": "null"}
    if isinstance(value, bool):
        return {"type": "boolean"}
    if isinstance(value, int):
        return {"type": "integer"}
    if isinstance(value, float):
        return {"type": "number"}
    if isinstance(value, str):
        out: dict[str, Any] = {"type": "string"}
        if _DATE.match(value):
            out["format"] = "date-time"
        elif value[:1] in ("{", "[") and depth < 12:
            try:
                inner = orjson.loads(value)
            except orjson.JSONDecodeError:
                inner = None
            if isinstance(inner, (dict, list)):
                out["json"] = shape_of(inner, depth + 1)
        return out
    if isinstance(value, list):
        return {"type": "array", "items": merge(shape_of(v, depth + 1) for v in value)} if value else {
            "type": "array"}
    if isinstance(value, dict):
        return {"type": "object", "properties": {
            ("<id>" if _DIGITS.fullmatch(str(k)) else str(k)): shape_of(v, depth + 1)
            for k, v in sorted(value.items(), key=lambda kv: str(kv[0]))}}
    return {"type": "unknown"}


def merge(shapes: Iterable[dict[str, Any]]) -> dict[str, Any] | None:
    """One shape for several values (the items of a list, the replies of one endpoint): objects
    merge key by key, different types become ``anyOf``."""
    out: dict[str, Any] | None = None
    for s in shapes:
        out = s if out is None else _merge2(out, s)
    return out


def _merge2(a: dict[str, Any], b: dict[str, Any]) -> dict[str, Any]:
    if a == b:
        return a
    alternatives = [*a.get("anyOf", [a])]
    for s in b.get("anyOf", [b]):
        same = next((i for i, x in enumerate(alternatives) if x.get("type") == s.get("type")), None)
        if same is None:
            alternatives.append(s)
            continue
        x = alternatives[same]
        if s["type"] == "object":
            props = dict(x.get("properties", {}))
            for k, v in s.get("properties", {}).items():
                props[k] = _merge2(props[k], v) if k in props else v
            alternatives[same] = {"type": "object", "properties": dict(sorted(props.items()))}
        elif s["type"] == "array" and ("items" in x or "items" in s):
            items = merge(i for i in (x.get("items"), s.get("items")) if i is not None)
            alternatives[same] = {"type": "array", "items": items}
        elif s["type"] == "string" and x != s:
            alternatives[same] = {**x, **s}
    return alternatives[0] if len(alternatives) == 1 else {"anyOf": alternatives}


def template(path: str, templates: Iterable[str]) -> str:
    """The documented template a concrete path falls under (``/api/v1/flows/{flow}``), else the
    path with each segment of digits as ``{id}``."""
    for t in sorted(templates, key=lambda t: -len(re.sub(r"\{[^}]+\}", "", t))):
        pattern = "".join("[^/]+" if p.startswith("{") else re.escape(p) for p in re.split(r"(\{[^}]+\})", t))
        if re.fullmatch(pattern + "/?", path):
            return t
    return "/".join("{id}" if _DIGITS.fullmatch(seg) else seg for seg in path.split("/"))


class Recording:
    """The replies of one session, as shapes; ``add`` for each, ``dumps`` for the file."""

    def __init__(self, provider: str, templates: Iterable[str]) -> None:
        self.provider = provider
        self.templates = tuple(templates)
        self.replies: dict[tuple[str, str, str, int], dict[str, Any]] = {}

    def add(self, method: str, path: str, params: dict[str, Any] | None, status: int, headers: Any,
            body: bytes) -> None:
        where = template(path, self.templates)
        query = {k: (str(v) if k in OUR_PARAMS else None) for k, v in sorted((params or {}).items())}
        try:
            shape = shape_of(orjson.loads(body)) if body else None
        except orjson.JSONDecodeError:
            shape = {"type": "not-json"}
        kept = {h: headers.get(h) for h in HEADERS if headers.get(h) is not None}
        include = str(query.get("include") or "")
        key = (method, where, include, status)
        entry = self.replies.get(key)
        if entry is None:
            self.replies[key] = {"method": method, "path": where, "query": query, "status": status,
                                 "headers": kept, "count": 1, "shape": shape}
        else:
            entry["count"] += 1
            entry["shape"] = merge(s for s in (entry["shape"], shape) if s is not None)

    def dumps(self) -> bytes:
        return orjson.dumps({"format": FORMAT, "provider": self.provider,
                             "replies": [self.replies[k] for k in sorted(self.replies)]},
                            option=orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS) + b"\n"
