"""Pure: JSON held in a string (a step's ``config`` often is), parsed with the span of every
scalar, so that one value can be replaced and the rest of the text kept byte for byte."""

from __future__ import annotations

import json
import re
from json.decoder import scanstring  # type: ignore[attr-defined]
from typing import Any


def holds_json(text: str) -> bool:
    """Whether a string may hold a JSON object or array (cheap: its first non-blank character)."""
    first = text[:1]
    if first.isspace():
        first = text.lstrip()[:1]
    return first in ("{", "[") and len(text) < 2_000_000


_SCALAR = re.compile(r"-?(0|[1-9]\d*)(\.\d+)?([eE][+-]?\d+)?|true|false|null")


def parse_with_spans(text: str) -> tuple[Any, dict[tuple[str | int, ...], tuple[int, int]]]:
    """Parse JSON, and give the span (start, end) of every scalar by its path, so that one
    value can be replaced with the rest of the text unchanged. ValueError if not JSON."""
    spans: dict[tuple[str | int, ...], tuple[int, int]] = {}
    n = len(text)

    def ws(i: int) -> int:
        while i < n and text[i] in " \t\r\n":
            i += 1
        return i

    def value(i: int, path: tuple[str | int, ...], depth: int) -> tuple[Any, int]:
        if depth > 200:
            raise ValueError("nested too deep")
        i = ws(i)
        if i >= n:
            raise ValueError("unexpected end")
        c = text[i]
        if c == "{":
            obj: dict[str, Any] = {}
            i = ws(i + 1)
            if i < n and text[i] == "}":
                return obj, i + 1
            while True:
                i = ws(i)
                if i >= n or text[i] != '"':
                    raise ValueError("expected a key")
                key, i = scanstring(text, i + 1)
                i = ws(i)
                if i >= n or text[i] != ":":
                    raise ValueError("expected ':'")
                obj[key], i = value(i + 1, (*path, key), depth + 1)
                i = ws(i)
                if i < n and text[i] == ",":
                    i += 1
                    continue
                if i < n and text[i] == "}":
                    return obj, i + 1
                raise ValueError("expected ',' or '}'")
        if c == "[":
            arr: list[Any] = []
            i = ws(i + 1)
            if i < n and text[i] == "]":
                return arr, i + 1
            while True:
                item, i = value(i, (*path, len(arr)), depth + 1)
                arr.append(item)
                i = ws(i)
                if i < n and text[i] == ",":
                    i += 1
                    continue
                if i < n and text[i] == "]":
                    return arr, i + 1
                raise ValueError("expected ',' or ']'")
        if c == '"':
            s, end = scanstring(text, i + 1)
            spans[path] = (i, end)
            return s, end
        m = _SCALAR.match(text, i)
        if not m:
            raise ValueError(f"unexpected character at {i}")
        spans[path] = (i, m.end())
        return json.loads(m.group()), m.end()

    result, end = value(0, (), 0)
    if ws(end) != n:
        raise ValueError("trailing text")
    return result, spans


def replace_spans(text: str, spans: dict[tuple[str | int, ...], tuple[int, int]],
                  edits: dict[tuple[str | int, ...], Any]) -> str:
    """``text`` with the value at each edited path replaced by its JSON, the rest unchanged."""
    out = text
    for where in sorted(edits, key=lambda p: spans[p][0], reverse=True):
        start, end = spans[where]
        out = out[:start] + json.dumps(edits[where], ensure_ascii=False) + out[end:]
    return out
