"""What the review pages show, computed from archived JSON (pure: no git, no HTTP).

A version's **step graph** (SVG: steps as boxes, routes/children/parents as arrows; canvas
positions when the archive has them, otherwise a layered layout). What changed, and the
masking that keeps every secret value off a page, come from ``flowdiff`` (re-exported here).
"""

from __future__ import annotations

import itertools

from html import escape
from typing import Any

from ..flowdiff import (  # the one change engine: the UI renders what it says
    COSMETIC,
    Change,
    Changes,
    _sid,
    changes,
    masked,
    pair_steps,
    shown,
    step_marks,
)

BOX_W, BOX_H, GAP_X, GAP_Y, PAD = 190, 54, 60, 26, 16


# -- step graph ---------------------------------------------------------------------


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


__all__ = ["COSMETIC", "Change", "Changes", "changes", "masked", "pair_steps", "shown", "step_graph",
           "step_marks"]
