"""Canonical JSON: same data, same bytes (sorted keys, 2-space indent, trailing newline)."""

from __future__ import annotations

from typing import Any

import orjson

#: Fields that change without anyone editing a flow (runs, counters, clocks, export time).
#: They are left out of the archive so that a nightly run with no edit commits nothing.
VOLATILE_FIELDS = frozenset({
    "updated_at", "saved_at", "last_run_at", "latest_run", "runs_count", "exported_at",
    "latest_run_at", "run_count", "runs", "versions_count", "steps_count",
})

REDACTED = "<redacted by flowvault>"


def dumps(data: Any) -> bytes:
    return orjson.dumps(data, option=orjson.OPT_SORT_KEYS | orjson.OPT_INDENT_2) + b"\n"


def loads(raw: bytes | str) -> Any:
    return orjson.loads(raw)


def strip_volatile(data: Any) -> Any:
    """A copy of ``data`` without the volatile fields, at any depth."""
    if isinstance(data, dict):
        return {k: strip_volatile(v) for k, v in data.items() if k not in VOLATILE_FIELDS}
    if isinstance(data, list):
        return [strip_volatile(v) for v in data]
    return data


def redact_secrets(data: Any, found: list[str] | None = None) -> Any:
    """A copy with the value of every variable marked ``"secret": true`` replaced by
    the redaction marker (its key stays). Keys of redacted variables go into ``found``."""
    if isinstance(data, dict):
        out = {k: redact_secrets(v, found) for k, v in data.items()}
        if out.get("secret") is True and "value" in out and out["value"] not in (None, "", REDACTED):
            out["value"] = REDACTED
            if found is not None:
                found.append(str(out.get("key")))
        return out
    if isinstance(data, list):
        return [redact_secrets(v, found) for v in data]
    return data
