"""Canonical JSON: same data, same bytes (sorted keys, 2-space indent, trailing newline);
the volatile fields left out; the one function that decides whether a flag means secret, and
the one place where secret values are hidden (flag in any spelling, or a credential's name)."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import orjson

from .jsontext import holds_json, parse_with_spans, replace_spans

#: Fields that change without anyone editing a flow (runs, counters, clocks, export time).
#: They are left out of the archive so that a nightly run with no edit commits nothing.
VOLATILE_FIELDS = frozenset({
    "updated_at", "saved_at", "last_run_at", "latest_run", "runs_count", "exported_at",
    "latest_run_at", "run_count", "runs", "versions_count", "steps_count",
})

REDACTED = "<redacted by flowvault>"
ENCRYPTED_PREFIX = "<encrypted by flowvault>"  # then "age:" fingerprint ":" base64 of the age file
_TRUE_WORDS = frozenset({"1", "true", "yes", "on"})


def is_secret(flag: Any) -> bool:
    """Whether a variable's ``secret`` flag says secret, in any spelling the API may use:
    ``true``, ``1``, ``"1"``, ``"true"``, ``"yes"``, ``"on"`` (any case). Anything else: no."""
    if isinstance(flag, bool):
        return flag
    if isinstance(flag, int):
        return flag == 1
    if isinstance(flag, str):
        return flag.strip().lower() in _TRUE_WORDS
    return False


def dumps(data: Any) -> bytes:
    return orjson.dumps(data, option=orjson.OPT_SORT_KEYS | orjson.OPT_INDENT_2) + b"\n"


def loads(raw: bytes | str) -> Any:
    return orjson.loads(raw)


#: names that say "credential": a value under such a key is hidden even when no flag says secret
_CREDENTIAL = re.compile(r"pass(word|wd|phrase)?$|^pwd$|secret|token|api[_-]?key|private[_-]?key|"
                         r"authori[sz]ation|access[_-]?key|credential|auth[_-]?key", re.IGNORECASE)


def looks_like_credential(name: Any) -> bool:
    if name.__class__ is str:
        hit = _NAMES.get(name)
        return _credential_name(name) if hit is None else hit
    return isinstance(name, str) and _credential_name(str(name))


#: name → whether it looks like a credential: a document repeats its few hundred key names many times
_NAMES: dict[str, bool] = {}


def _credential_name(name: str) -> bool:
    hit = name != "secret" and bool(_CREDENTIAL.search(name))
    if len(_NAMES) < 65_536:
        _NAMES[name] = hit
    return hit


#: exact types that are never cleaned into (no isinstance call for each of them)
_LEAVES = frozenset({int, float, bool, type(None)})


def is_hidden(value: Any) -> bool:
    """A value flowvault replaced: redacted, or encrypted to the profile's recipient."""
    return isinstance(value, str) and value[:1] == "<" and (value == REDACTED or value.startswith(ENCRYPTED_PREFIX))


def _named(name: Any, allow: frozenset[str]) -> bool:
    return looks_like_credential(name) and str(name) not in allow


def secret_fields(node: dict[str, Any], allow: frozenset[str] = frozenset()) -> dict[str, tuple[str, bool]]:
    """THE rule for where a document holds secrets, one object at a time: field → (name, flagged).
    A variable's ``value`` when its ``secret`` flag says so in any spelling (flagged) or its ``key``
    is named like a credential; any other string field named like a credential; and any value
    flowvault already hid. ``name``: the variable's key, else the field's. Names in ``allow``
    only look like credentials. Export cleaning, the fingerprint, the UI's masking, the import's
    secret filling and the live secrets a replace keeps all decide through this function."""
    flag = node.get("secret")
    flagged = flag is not None and is_secret(flag)
    key = node.get("key")
    variable = flagged or key is not None and _named(key, allow)
    out: dict[str, tuple[str, bool]] = {}
    names = _NAMES
    for k, v in node.items():  # the hot loop of every export: a dict lookup a field, no call
        kind = v.__class__
        if kind is not str and (kind in _LEAVES or not isinstance(v, str)) or not v:
            continue
        hidden = v[0] == "<" and is_hidden(v)
        if k == "value":
            if variable or hidden:
                out[k] = (str(node["key"]) if "key" in node else k, flagged)
            continue
        named = names.get(k) if k.__class__ is str else None
        if named is None:
            named = looks_like_credential(k)
        if hidden or named and str(k) not in allow:
            out[k] = (k, False)
    return out


#: what to do with one secret value: (name, value, flagged) → its new value, or None to keep it
Edit = Callable[[str, str, bool], "str | None"]


def map_secrets(data: Any, edit: Edit, allow: frozenset[str] = frozenset()) -> Any:
    """A copy of ``data`` with each secret value — where ``secret_fields`` says, at any depth, and
    inside JSON held in strings (a step's ``config``) — replaced by ``edit(name, value, flagged)``
    (None: kept). JSON text keeps every byte but the values edited."""
    if isinstance(data, dict):
        fields = secret_fields(data, allow)
        out: dict[str, Any] = {}
        for k, v in data.items():
            if k in fields:
                new = edit(fields[k][0], v, fields[k][1])
                out[k] = v if new is None else new
            else:
                out[k] = map_secrets(v, edit, allow)
        return out
    if isinstance(data, list):
        return [map_secrets(v, edit, allow) for v in data]
    if isinstance(data, str) and holds_json(data):
        return _map_in_text(data, edit, allow)
    return data


def _map_in_text(text: str, edit: Edit, allow: frozenset[str]) -> str:
    try:
        value, spans = parse_with_spans(text)
    except ValueError:
        return text  # not JSON after all: plain text
    edits: dict[tuple[str | int, ...], Any] = {}

    def walk(node: Any, path: tuple[str | int, ...]) -> None:
        if isinstance(node, dict):
            fields = secret_fields(node, allow)
            for k, v in node.items():
                here = (*path, k)
                if k in fields:
                    new = edit(fields[k][0], v, fields[k][1])
                    if new is not None and new != v and here in spans:
                        edits[here] = new
                else:
                    walk(v, here)
        elif isinstance(node, list):
            for i, v in enumerate(node):
                walk(v, (*path, i))
        elif isinstance(node, str) and holds_json(node) and path in spans:
            new = _map_in_text(node, edit, allow)
            if new != node:
                edits[path] = new

    walk(value, ())
    return replace_spans(text, spans, edits) if edits else text


@dataclass
class Secrets:
    """How a run treats secret values — ``redact`` (default), ``keep`` (plain text, warned) or
    ``encrypt`` (``seal`` turns a value into its stored form) — and what it met: counts by
    kind, and (in memory only, for the gate before the commit) the values themselves."""

    mode: str = "redact"
    allow: frozenset[str] = frozenset()  # names that look like credentials but are not
    seal: Callable[[str], str] | None = None
    recipient: str | None = None  # the age recipient ``seal`` encrypts to (public; the manifest names it)
    flagged: int = 0
    by_name: int = 0
    values: set[str] = field(default_factory=set, repr=False)

    def fork(self) -> Secrets:
        """Fresh counters with the same policy (one per flow)."""
        return Secrets(self.mode, self.allow, self.seal, self.recipient)

    def add(self, other: Secrets) -> None:
        self.flagged += other.flagged
        self.by_name += other.by_name

    def hide(self, value: str, flagged: bool) -> str:
        if flagged:
            self.flagged += 1
        else:
            self.by_name += 1
        self.values.add(value)
        if self.mode == "keep":
            return value
        if self.mode == "encrypt" and self.seal is not None:
            return self.seal(value)
        return REDACTED



def clean(data: Any, secrets: Secrets | None, drop: frozenset[str] = VOLATILE_FIELDS) -> Any:
    """A copy of ``data`` without the volatile fields (``drop``), at any depth, and (``secrets``
    given) every secret value hidden by its policy: a variable flagged secret in any spelling, and —
    the second net — any string under a key named like a credential (its key stays).
    ``secrets`` None: nothing hidden (comparisons)."""
    kind = data.__class__
    if kind is dict or kind is not list and isinstance(data, dict):
        out = {}
        for k, v in data.items():  # one pass; only containers and JSON text go deeper (no call per scalar)
            if k in drop:
                continue
            of = v.__class__
            if of is str:
                if secrets is not None and v and (v[0] in "{[" or v[0].isspace()) and holds_json(v):
                    v = clean(v, secrets, drop)
            elif of is dict or of is list:
                v = clean(v, secrets, drop)
            elif of not in _LEAVES and isinstance(v, (dict, list, str)):
                v = clean(v, secrets, drop)
            out[k] = v
        if secrets is None:
            return out
        for k, (_, flagged) in secret_fields(out, secrets.allow).items():
            if not is_hidden(out[k]):
                out[k] = secrets.hide(out[k], flagged)
        return out
    if kind is list or isinstance(data, list):
        return [v if v.__class__ in _LEAVES else clean(v, secrets, drop) for v in data]
    if secrets is not None and isinstance(data, str) and holds_json(data):  # a config held as JSON text
        return _map_in_text(data, lambda _n, v, flagged: None if is_hidden(v) else secrets.hide(v, flagged),
                            secrets.allow)
    return data


#: the update stamps a fingerprint keeps (they are left out of the archive itself)
STAMP_FIELDS = frozenset({"updated_at", "saved_at"})
_COUNTERS = VOLATILE_FIELDS - STAMP_FIELDS


def fingerprint(data: Any, allow: frozenset[str] = frozenset()) -> str:
    """A digest of what a listing says about one flow: its content without the run counters
    (secret values replaced, so the digest says nothing about them), every update stamp at any
    depth kept where it is. Equal digests: the listing saw no edit (the sample checks that the
    stamps tell the truth). One cleaning pass, compact sorted JSON, sha256."""
    body = clean(data, Secrets("redact", allow), _COUNTERS)
    return hashlib.sha256(orjson.dumps(body, option=orjson.OPT_SORT_KEYS)).hexdigest()
