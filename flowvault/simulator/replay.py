"""``flowvault simulator --replay FILE``: replies with exactly the shapes a recording holds.

A recording (``flowvault doctor --record``, format ``flowvault-shapes/1``) names each reply of a
real account by method, path template, status, the headers that matter and its JSON structure,
without a value. The simulator keeps serving its own coherent company (IDs that lead somewhere,
steps that import), but reshapes each reply of a recorded endpoint to the recorded structure: keys
the recording lacks are dropped, keys it has are added, each value is given the recorded type (an
integer as a string, a list as JSON text); a recorded refusal (a 4xx) is answered as recorded.
Endpoints the recording does not hold answer as the simulator does.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

import orjson

FORMAT = "flowvault-shapes/1"


class ReplayError(ValueError):
    """A recording this simulator cannot serve (named, with why)."""


def _norm(template: str) -> str:
    return re.sub(r"\{[^}]*\}", "{}", template.rstrip("/"))


def _matches(template: str, path: str) -> bool:
    parts = re.split(r"(\{\})", _norm(template))
    return re.fullmatch("".join("[^/]+" if p == "{}" else re.escape(p) for p in parts) + "/?", path) is not None


@dataclass(frozen=True)
class Recorded:
    method: str
    path: str
    include: str
    status: int
    headers: dict[str, str]
    shape: dict[str, Any] | None


class Replay:
    def __init__(self, replies: list[Recorded]) -> None:
        self.replies = replies

    @classmethod
    def load(cls, raw: bytes, where: str) -> Replay:
        try:
            data = orjson.loads(raw)
        except orjson.JSONDecodeError as e:
            raise ReplayError(f"{where}: not JSON ({e})") from None
        if not isinstance(data, dict) or data.get("format") != FORMAT:
            raise ReplayError(f"{where}: not a flowvault recording (format {FORMAT!r} expected; "
                              "make one with flowvault doctor --record FILE)")
        out = []
        for n, r in enumerate(data.get("replies") or []):
            try:
                out.append(Recorded(str(r["method"]), str(r["path"]), str((r.get("query") or {}).get("include") or ""),
                                    int(r["status"]), {str(k): str(v) for k, v in (r.get("headers") or {}).items()},
                                    r.get("shape")))
            except (KeyError, TypeError, ValueError, AttributeError):
                raise ReplayError(f"{where}: reply {n + 1} lacks its method, path or status") from None
        return cls(out)

    def find(self, method: str, path: str, include: str) -> Recorded | None:
        """The recorded reply for a request: the one asked with the same include, else a success."""
        here = [r for r in self.replies if r.method == method and _matches(r.path, path)]
        same = [r for r in here if r.include == include]
        return (same or [r for r in here if r.status < 300] or [None])[0]

    def answer(self, method: str, path: str, include: str, result: Any) -> tuple[int, Any, dict[str, str]] | None:
        """(status, body, headers) for a recorded endpoint, ``result`` (the simulator's own reply)
        reshaped; None when the recording does not hold this endpoint."""
        found = self.find(method, path, include)
        if found is None:
            return None
        headers = {k: v for k, v in found.headers.items() if k.lower() != "content-type"}
        if found.shape is None:
            return found.status, result, headers
        if found.status >= 300:
            return found.status, synthesize(found.shape), headers
        return found.status, reshape(result, found.shape), headers


def synthesize(shape: dict[str, Any] | None) -> Any:
    """A value of the shape, made up (no recording holds a value)."""
    if not shape:
        return None
    if "anyOf" in shape:
        return synthesize(shape["anyOf"][0])
    kind = shape.get("type")
    if kind == "object":
        return {k: synthesize(v) for k, v in (shape.get("properties") or {}).items() if k != "<id>"}
    if kind == "array":
        return []
    if kind == "string":
        if "json" in shape:
            return json.dumps(synthesize(shape["json"]))
        return "2026-01-01T00:00:00Z" if shape.get("format") == "date-time" else "x"
    return {"integer": 1, "number": 0.5, "boolean": False}.get(str(kind))


def _kind(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    return {float: "number", str: "string", list: "array", dict: "object"}.get(type(value), "unknown")


def reshape(value: Any, shape: dict[str, Any] | None) -> Any:
    """``value`` given the recorded structure: what the shape has is kept (of the shape's type), what
    it lacks is dropped; a value of another type is converted, or made up where it cannot be."""
    if not shape:
        return value
    if "anyOf" in shape:
        same = [s for s in shape["anyOf"] if s.get("type") == _kind(value)]
        return reshape(value, same[0] if same else shape["anyOf"][0])
    kind = shape.get("type")
    if kind == "object":
        props = shape.get("properties") or {}
        if not isinstance(value, dict):
            return synthesize(shape)
        if set(props) == {"<id>"}:  # a map keyed by IDs: every entry, each of the recorded shape
            return {k: reshape(v, props["<id>"]) for k, v in value.items()}
        # a key one reply had and another not is optional: left out where the value lacks it (never
        # made up: an invented ID would be a reference to nothing)
        return {k: reshape(value[k], s) for k, s in props.items() if k in value}
    if kind == "array":
        if not isinstance(value, list):
            return []
        return [reshape(v, shape["items"]) for v in value] if shape.get("items") else value
    if kind == "string":
        if "json" in shape:
            inner = value if not isinstance(value, str) else _json_or_none(value)
            return json.dumps(reshape(inner, shape["json"])) if inner is not None else synthesize(shape)
        if isinstance(value, str):
            return value
        if isinstance(value, bool):
            return "true" if value else "false"
        return synthesize(shape) if value is None or isinstance(value, (dict, list)) else str(value)
    if kind == "integer":
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        return int(value) if isinstance(value, str) and value.isdigit() else synthesize(shape)
    if kind == "boolean":
        return value if isinstance(value, bool) else bool(value)
    if kind == "null":
        return None
    return value


def _json_or_none(text: str) -> Any:
    try:
        return json.loads(text)
    except ValueError:
        return None
