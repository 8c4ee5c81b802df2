"""What the review pages show, computed from archived JSON (pure: no git, no HTTP).

A version's **step graph** (SVG: steps as boxes, routes/children/parents as arrows; canvas
positions when the archive has them, otherwise a layered layout), the **field-level changes**
between two documents as parameter paths (position-only changes folded as cosmetic), and the
masking that keeps every secret value off a page.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from html import escape
from typing import Any

from ..canonical import ENCRYPTED_PREFIX, REDACTED, is_hidden, secret_fields

BOX_W, BOX_H, GAP_X, GAP_Y, PAD = 190, 54, 60, 26, 16
COSMETIC = frozenset({"position", "x", "y", "layout", "canvas", "width", "height"})


# -- secrets ---------------------------------------------------------------------


def shown(value: Any) -> str:
    """How a stored value may appear on a page: hidden ones by kind, never their content."""
    if isinstance(value, str) and value == REDACTED:
        return "(secret, redacted)"
    if isinstance(value, str) and value.startswith(ENCRYPTED_PREFIX):
        return "(secret, encrypted)"
    text = value if isinstance(value, str) else repr(value) if not isinstance(value, (dict, list)) else ""
    return text if len(text) <= 120 else text[:119] + "…"


def masked(data: Any) -> Any:
    """A copy fit for a page: every value a secret flag (any spelling), a credential-like name
    or flowvault's own marker says is secret shows as ``(secret …)`` — also when the archive
    kept it in plain text (``--keep-secrets``)."""
    if isinstance(data, dict):
        fields = secret_fields(data)
        return {k: (shown(v) if is_hidden(v) else "(secret)") if k in fields else masked(v)
                for k, v in data.items()}
    if isinstance(data, list):
        return [masked(v) for v in data]
    return data


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
        before = "" if old is _MISSING else _brief(old)
        after = "" if new is _MISSING else _brief(new)
    change = Change(path, before, after, kind)
    (out.cosmetic if leaf in COSMETIC or parts & {"position", "layout", "canvas"} else out.real).append(change)


_MISSING = object()


def _brief(v: Any) -> str:
    if isinstance(v, dict):
        return "{" + ", ".join(list(v)[:4]) + ("…" if len(v) > 4 else "") + "}"
    if isinstance(v, list):
        return f"[{len(v)} items]"
    return shown(v) if isinstance(v, str) else repr(v)


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


# -- step graph ---------------------------------------------------------------------


def _sid(step: Any) -> str:
    return str(step.get("id")) if isinstance(step, dict) else ""


def _by_name(steps: list[Any]) -> dict[str, dict[str, Any]]:
    """Steps keyed by name and type (the n-th of equal ones): how two versions' steps pair up,
    since each version has its own step IDs."""
    out: dict[str, dict[str, Any]] = {}
    for s in steps:
        if isinstance(s, dict):
            base = f"{s.get('name')}\0{s.get('type') or s.get('microservice')}"
            n = 0
            while f"{base}\0{n}" in out:
                n += 1
            out[f"{base}\0{n}"] = s
    return out


def step_marks(old: list[Any], new: list[Any], across_versions: bool = False
               ) -> tuple[dict[str, str], list[dict[str, Any]]]:
    """Per step ID of ``new``: "added" or "changed" (cosmetic-only changes do not count); and
    the steps of ``old`` that ``new`` no longer has. Steps pair up by ID, or — between two
    versions, whose step IDs differ — by name and type."""
    pair = _by_name if across_versions else (lambda xs: {_sid(s): s for s in xs if isinstance(s, dict)})
    before, after = pair(old), pair(new)
    marks: dict[str, str] = {}
    ignore = {"id", "flow_version_id", "version_id"} if across_versions else set()
    for key, s in after.items():
        prev = before.get(key)
        if prev is None:
            marks[_sid(s)] = "added"
        elif changes({k: v for k, v in prev.items() if k not in ignore},
                     {k: v for k, v in s.items() if k not in ignore}).real:
            marks[_sid(s)] = "changed"
    return marks, [s for k, s in before.items() if k not in after]


def _edges(steps: list[dict[str, Any]]) -> list[tuple[str, str]]:
    ids = {_sid(s) for s in steps}
    edges: list[tuple[str, str]] = []

    def refs(node: Any) -> list[str]:
        if isinstance(node, dict):
            hits = []
            for k, v in node.items():
                if k in ("id", "position"):
                    continue
                hits += refs(v)
            return hits
        if isinstance(node, list):
            return [h for v in node for h in refs(v)]
        return [str(node)] if str(node) in ids and not isinstance(node, bool) else []

    for s in steps:
        me = _sid(s)
        for child in refs(s.get("children")) + refs(s.get("routes")) + refs(s.get("first_step_id")):
            if child != me:
                edges.append((me, child))
        parent = s.get("parent_id")
        if parent is not None and str(parent) in ids and str(parent) != me:
            edges.append((str(parent), me))
    if not edges:  # no structure in the archive: the steps run in their order
        def place(s: dict[str, Any]) -> float:
            p = s.get("position")
            return float(p) if isinstance(p, (int, float)) else 0.0

        order = sorted(steps, key=place)
        edges = [(_sid(x), _sid(y)) for x, y in itertools.pairwise(order)]
    return list(dict.fromkeys(edges))


def _layout(steps: list[dict[str, Any]], edges: list[tuple[str, str]]) -> dict[str, tuple[float, float]]:
    pos = [s.get("position") for s in steps]
    if steps and all(isinstance(p, dict) and isinstance(p.get("x"), (int, float))
                     and isinstance(p.get("y"), (int, float)) for p in pos):
        xs, ys = [p["x"] for p in pos], [p["y"] for p in pos]  # type: ignore[index]
        span_x, span_y = max(xs) - min(xs) or 1, max(ys) - min(ys) or 1
        scale = min(1.0, (BOX_W + GAP_X) * max(1, len(steps) ** 0.5) / span_x)
        scale_y = min(1.0, (BOX_H + GAP_Y) * max(1, len(steps) ** 0.5) / span_y)
        return {_sid(s): (PAD + (p["x"] - min(xs)) * scale, PAD + (p["y"] - min(ys)) * scale_y)  # type: ignore[index]
                for s, p in zip(steps, pos, strict=True)}
    depth = {_sid(s): 0 for s in steps}
    for _ in range(len(steps)):  # longest path from a root, bounded (cycles stop growing)
        moved = False
        for a, b in edges:
            if depth[b] < depth[a] + 1 <= len(steps):
                depth[b], moved = depth[a] + 1, True
        if not moved:
            break
    rows: dict[int, int] = {}
    out: dict[str, tuple[float, float]] = {}
    for s in steps:
        d = depth[_sid(s)]
        out[_sid(s)] = (PAD + d * (BOX_W + GAP_X), PAD + rows.get(d, 0) * (BOX_H + GAP_Y))
        rows[d] = rows.get(d, 0) + 1
    return out


def step_graph(steps: list[Any], marks: dict[str, str] | None = None,
               removed: list[dict[str, Any]] | None = None) -> str:
    """The SVG of one version's steps; ``marks`` colour added/changed steps, ``removed`` steps
    are drawn dashed below. Every name is escaped: the SVG is safe to put in a page."""
    marks = marks or {}
    items = [s for s in steps if isinstance(s, dict)]
    edges = _edges(items)
    at = _layout(items, edges)
    gone = [s for s in removed or [] if isinstance(s, dict)]
    bottom = max((y for _, y in at.values()), default=PAD - BOX_H - GAP_Y) + BOX_H + GAP_Y
    for i, s in enumerate(gone):
        at[f"removed-{_sid(s)}"] = (PAD + i * (BOX_W + GAP_X / 2), bottom)
    width = max((x for x, _ in at.values()), default=0) + BOX_W + PAD
    height = max((y for _, y in at.values()), default=0) + BOX_H + PAD
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" class="graph" width="{width:.0f}" height="{height:.0f}" '
             f'viewBox="0 0 {width:.0f} {height:.0f}" role="img" aria-label="step graph">',
             '<defs><marker id="arrow" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="7" markerHeight="7" '
             'orient="auto-start-reverse"><path d="M 0 0 L 10 5 L 0 10 z" fill="#667"/></marker></defs>']
    for a, b in edges:
        (x1, y1), (x2, y2) = at[a], at[b]
        parts.append(f'<line class="edge" x1="{x1 + BOX_W:.0f}" y1="{y1 + BOX_H / 2:.0f}" x2="{x2:.0f}" '
                     f'y2="{y2 + BOX_H / 2:.0f}" stroke="#667" marker-end="url(#arrow)"/>')

    def box(s: dict[str, Any], key: str, status: str) -> None:
        x, y = at[key]
        name = escape(str(s.get("name") or "(unnamed step)"))
        kind = escape(str(s.get("type") or s.get("microservice") or "step"))
        label = name if len(name) <= 30 else name[:29] + "…"
        parts.append(f'<g class="step step-{status}" data-step-id="{escape(_sid(s))}" data-status="{status}">'
                     f'<title>{name} ({kind}){" — " + status if status != "same" else ""}</title>'
                     f'<rect x="{x:.0f}" y="{y:.0f}" width="{BOX_W}" height="{BOX_H}" rx="6"/>'
                     f'<text class="name" x="{x + 10:.0f}" y="{y + 22:.0f}">{label}</text>'
                     f'<text class="type" x="{x + 10:.0f}" y="{y + 42:.0f}">{kind}'
                     f'{" · " + status if status != "same" else ""}</text></g>')

    for s in items:
        box(s, _sid(s), marks.get(_sid(s), "same"))
    for s in gone:
        box(s, f"removed-{_sid(s)}", "removed")
    parts.append("</svg>")
    return "".join(parts)
