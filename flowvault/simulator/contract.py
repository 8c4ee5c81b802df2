"""The vendor's contract, enforced on every request the simulator receives.

``patchworks-openapi.json`` beside this module is the merged Patchworks OpenAPI document, carried
byte for byte from the reference: the **vendor's own JSON fragments** of the Flow Versions pages
(operations without ``x-source``), plus the Flows paths **written from the vendor's text pages**
(operations marked ``x-source``: our reading of the vendor's words, not the vendor's JSON).
:func:`provenance` says which operation is which.

Each request is validated with ``openapi-core`` (parameters and body against the operation's
schema) and, beyond what openapi-core checks, refused when it carries a query parameter the
operation does not list. A violation is answered as the vendor's Laravel application answers a
failed validation — 422, ``{"message": …, "errors": {field: [...]}}`` naming the field — and kept
in ``violations`` so a test sees one the client swallowed. A path the document does not hold is
``UNDOCUMENTED``: the app serves it only where it has a route and counts it in ``undocumented``
(the product lists the few it uses, each with why, in one table of its Patchworks provider).
Only the Patchworks paths (``/api/v1/``) are judged; OCP's orchestrator has a reference of its own.
"""

from __future__ import annotations

import functools
import re
import threading
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

SPEC_PATH = Path(__file__).with_name("patchworks-openapi.json")
JUDGED_PREFIX = "/api/v1/"
_CACHE_BODY_LIMIT = 4096  # replies to small requests are remembered (a listing page costs ~7 ms to validate)


@dataclass(frozen=True)
class Violation:
    """One request the contract does not accept: what was sent, and the Laravel-style reply."""

    method: str
    path: str
    message: str
    errors: dict[str, list[str]]


class Undocumented:
    """The verdict for a path the vendor's document does not hold."""


UNDOCUMENTED = Undocumented()


@functools.cache
def spec() -> dict[str, Any]:
    return orjson.loads(SPEC_PATH.read_bytes())  # type: ignore[no-any-return]


def provenance() -> dict[tuple[str, str], str]:
    """(METHOD, path template) → "vendor" (the vendor's JSON fragment) or "text pages" (written
    by us from the vendor's text pages)."""
    out = {}
    for path, item in spec()["paths"].items():
        for method, op in item.items():
            if isinstance(op, dict) and "responses" in op:
                out[(method.upper(), path)] = "text pages" if "x-source" in op else "vendor"
    return out


def _template_regex(template: str) -> re.Pattern[str]:
    parts = re.split(r"(\{[^}]+\})", template)
    return re.compile("".join("[^/]+" if p.startswith("{") else re.escape(p) for p in parts) + "/?")


@functools.cache
def _routes() -> tuple[tuple[re.Pattern[str], str, int], ...]:
    """Every path template of the document, literal ones first (``/flows/export`` before ``/flows/{flow}``)."""
    found = []
    for template in spec()["paths"]:
        literal = sum(len(p) for p in re.split(r"\{[^}]+\}", template))
        found.append((_template_regex(template), template, -literal))
    return tuple(sorted(found, key=lambda r: r[2]))


def template_of(path: str) -> str | None:
    """The document's path template a concrete path falls under, or None."""
    for regex, template, _ in _routes():
        if regex.fullmatch(path):
            return template
    return None


def _declared_query(template: str, method: str) -> frozenset[str]:
    item = spec()["paths"][template]
    params = list(item.get("parameters") or []) + list(item.get(method.lower(), {}).get("parameters") or [])
    return frozenset(p["name"] for p in params if isinstance(p, dict) and p.get("in") == "query")


@functools.cache
def _openapi() -> Any:
    from openapi_core import OpenAPI

    return OpenAPI.from_dict(spec())  # ~0.1 s: once a process


_verdicts: dict[tuple[Any, ...], Violation | None] = {}  # a verdict depends on the request alone
_verdicts_lock = threading.Lock()


class Contract:
    """Judges requests against the document; thread-safe (the simulator's server runs on a thread)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.violations: list[Violation] = []  # every request refused, in order
        self.undocumented: Counter[tuple[str, str]] = Counter()  # (METHOD, path with IDs as {id}) → requests

    def check(self, method: str, path: str, query: list[tuple[str, str]], headers: dict[str, str],
              body: bytes) -> Violation | Undocumented | None:
        """None when the contract accepts the request; ``UNDOCUMENTED`` for a path outside it."""
        if not path.startswith(JUDGED_PREFIX):
            return None
        template = template_of(path)
        if template is None or method.lower() not in spec()["paths"][template]:
            with self._lock:
                self.undocumented[(method, re.sub(r"/\d+(?=/|$)", "/{id}", path))] += 1
            return UNDOCUMENTED
        # path parameters are typed as strings throughout: the verdict depends on the template only
        key = (method, template, tuple(sorted(query)), body) if len(body) <= _CACHE_BODY_LIMIT else None
        with _verdicts_lock:
            cached = _verdicts.get(key, False) if key is not None else False
        verdict = self._judge(method, path, template, query, headers, body) if cached is False else cached
        with _verdicts_lock:
            if key is not None and len(_verdicts) < 20_000:
                _verdicts[key] = verdict
        with self._lock:
            if isinstance(verdict, Violation):
                self.violations.append(Violation(method, path, verdict.message, verdict.errors))
        return verdict

    def _judge(self, method: str, path: str, template: str, query: list[tuple[str, str]],
               headers: dict[str, str], body: bytes) -> Violation | None:
        from openapi_core.testing import MockRequest
        from openapi_core.validation.request.exceptions import RequestValidationError

        stray = sorted({name for name, _ in query} - _declared_query(template, method))
        if stray:
            return Violation(method, path, f"The {stray[0]} parameter is not accepted by {method} {template}.",
                             {name: [f"The {name} parameter is not accepted by {method} {template}."]
                              for name in stray})
        request = MockRequest("http://127.0.0.1", method.lower(), path, args=query, headers=headers,
                              data=body or None, content_type=headers.get("content-type") or "application/json")
        try:
            _openapi().validate_request(request)
        except RequestValidationError as e:
            return Violation(method, path, *_laravel(e))
        return None


def _laravel(error: Exception) -> tuple[str, dict[str, list[str]]]:
    """An openapi-core refusal as Laravel words it: a message and the errors by field (``a.0.b``)."""
    from openapi_core.validation.request.exceptions import InvalidParameter

    cause = error.__cause__
    schema_errors = list(getattr(cause, "schema_errors", None) or getattr(error, "schema_errors", None) or ())
    errors: dict[str, list[str]] = {}
    prefix = [error.name] if isinstance(error, InvalidParameter) else []  # type: ignore[attr-defined]
    for e in schema_errors:
        path = prefix + [str(p) for p in getattr(e, "absolute_path", ())]
        text = str(getattr(e, "message", e))
        if getattr(e, "validator", None) == "required":
            missing = re.match(r"'([^']+)'", text)
            path += [missing.group(1)] if missing else []
            text = "is required"
        field = ".".join(path) or "body"
        errors.setdefault(field, [f"The {field} field {_reason(text)}."])  # one message a field, as Laravel
    if not errors:
        field = prefix[0] if prefix else "body"
        errors[field] = [f"The {field} field is invalid: {str(cause or error)[:200]}."]
    first = next(iter(errors.values()))[0]
    more = sum(len(v) for v in errors.values()) - 1
    return (first if not more else f"{first} (and {more} more error{'s' if more > 1 else ''})"), errors


def _reason(text: str) -> str:
    m = re.search(r"is not of type '(\w+)'", text)
    if m:
        return f"must be of type {m.group(1)}"
    if "for not nullable" in text:
        return "must not be null"
    return text if text == "is required" else f"is invalid ({text[:120]})"
