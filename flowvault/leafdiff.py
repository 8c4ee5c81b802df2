"""Every leaf that differs between two JSON values, as parameter paths, and how a stored value
may appear on a page (secrets by kind, never their content). Pure; ``flowdiff`` builds the change
set of two snapshots from it."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import orjson

from .canonical import ENCRYPTED_PREFIX, REDACTED, is_hidden, map_secrets, secret_fields

COSMETIC = frozenset({"position", "x", "y", "layout", "canvas", "width", "height"})


# -- secrets ---------------------------------------------------------------------


def shown(value: Any) -> str:
    """How a stored value may appear on a page: hidden ones by kind, never their content."""
    if isinstance(value, str) and value == REDACTED:
        return "(secret, redacted)"
    if isinstance(value, str) and value.startswith(ENCRYPTED_PREFIX):
        return "(secret, encrypted)"
    text = value if isinstance(value, str) else _json(value) if not isinstance(value, (dict, list)) else ""
    return text if len(text) <= 120 else text[:119] + "…"


def masked(data: Any) -> Any:
    """A copy fit for a page: every value a secret flag (any spelling), a credential-like name
    or flowvault's own marker says is secret shows as ``(secret …)`` — also when the archive
    kept it in plain text (``--keep-secrets``), and inside JSON held in a string."""
    return map_secrets(data, lambda _name, v, _flagged: shown(v) if is_hidden(v) else "(secret)")


# -- field-level changes ------------------------------------------------------------


@dataclass
class Change:
    path: str
    old: str
    new: str
    kind: str  # "added" | "removed" | "changed"


@dataclass
class Changes:
    real: list[Change] = field(default_factory=list)
    cosmetic: list[Change] = field(default_factory=list)

    def __bool__(self) -> bool:
        return bool(self.real or self.cosmetic)


def _key_of(item: Any) -> str | None:
    if isinstance(item, dict):
        for k in ("id", "key", "name", "iteration", "cron_string"):
            if k in item and isinstance(item[k], (str, int)):
                return f"{k}={item[k]}"
    return None


def changes(a: Any, b: Any) -> Changes:
    """Every leaf that differs, as a parameter path (``versions[id=7].steps[id=9].config.mode``);
    lists of objects are matched by their ID (or key, name…), so a move is not a change. A
    secret value is compared but never shown: ``(secret)`` → ``(secret, changed)``."""
    out = Changes()
    _walk(a, b, "", out, False)
    return out


def _secret_keys(a: Any, b: Any) -> set[str]:
    """The keys of a dict (on either side) whose string values are secret."""
    return {k for d in (a, b) if isinstance(d, dict) for k in secret_fields(d)}


def _add(out: Changes, path: str, old: Any, new: Any, secret: bool = False) -> None:
    kind = "added" if old is _MISSING else "removed" if new is _MISSING else "changed"
    leaf = path.rsplit(".", 1)[-1].split("[", 1)[0]
    parts = {p.split("[", 1)[0] for p in path.split(".")}
    if secret:
        before = "" if old is _MISSING else shown(old) if is_hidden(old) else "(secret)"
        after = "" if new is _MISSING else (shown(new) if is_hidden(new) else "(secret)").rstrip(")") + \
            (", changed)" if kind == "changed" else ")")
    else:
        before = "" if old is _MISSING else brief(old)
        after = "" if new is _MISSING else brief(new)
    change = Change(path, before, after, kind)
    (out.cosmetic if leaf in COSMETIC or parts & {"position", "layout", "canvas"} else out.real).append(change)


_MISSING = object()


def brief(v: Any) -> str:
    if isinstance(v, dict):
        return "{" + ", ".join(list(v)[:4]) + ("…" if len(v) > 4 else "") + "}"
    if isinstance(v, list):
        return f"[{len(v)} items]"
    return shown(v) if isinstance(v, str) else _json(v)


def _json(v: Any) -> str:
    """A scalar as JSON writes it (``true``, ``null``, ``2.5``), not as Python would."""
    try:
        return orjson.dumps(v).decode()
    except TypeError:
        return repr(v)


def _walk(a: Any, b: Any, path: str, out: Changes, secret: bool) -> None:
    if a == b:
        return
    if isinstance(a, dict) and isinstance(b, dict):
        hidden = _secret_keys(a, b)
        for k in sorted(set(a) | set(b), key=str):
            sub = f"{path}.{k}" if path else str(k)
            if k not in a:
                _add(out, sub, _MISSING, masked(b[k]) if k not in hidden else b[k], k in hidden)
            elif k not in b:
                _add(out, sub, masked(a[k]) if k not in hidden else a[k], _MISSING, k in hidden)
            else:
                _walk(a[k], b[k], sub, out, k in hidden)
        return
    if isinstance(a, list) and isinstance(b, list):
        ka, kb = [_key_of(x) for x in a], [_key_of(x) for x in b]
        if all(ka) and all(kb) and len(set(ka)) == len(ka) and len(set(kb)) == len(kb):
            ma, mb = dict(zip(ka, a, strict=True)), dict(zip(kb, b, strict=True))
            for k in [*ka, *(x for x in kb if x not in ma)]:
                sub = f"{path}[{k}]"
                if k not in mb:
                    _add(out, sub, masked(ma[k]), _MISSING)
                elif k not in ma:
                    _add(out, sub, _MISSING, masked(mb[k]))
                else:
                    _walk(ma[k], mb[k], sub, out, secret)
            return
        for i in range(max(len(a), len(b))):
            sub = f"{path}[{i}]"
            if i >= len(a):
                _add(out, sub, _MISSING, masked(b[i]))
            elif i >= len(b):
                _add(out, sub, masked(a[i]), _MISSING)
            else:
                _walk(a[i], b[i], sub, out, secret)
        return
    _add(out, path, a, b, secret or is_hidden(a) or is_hidden(b))
