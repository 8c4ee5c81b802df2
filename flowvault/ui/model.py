"""What the review pages show, computed from archived JSON (pure: no git, no HTTP).

A version's **step graph** (SVG: steps as boxes, routes/children/parents as arrows; canvas
positions when the archive has them, otherwise a layered layout). What changed, and the
masking that keeps every secret value off a page, come from ``flowdiff`` (re-exported here).
"""

from __future__ import annotations

import itertools

import json
from html import escape
from typing import Any

from ..jsontext import holds_json
from ..references import scan

from ..flowdiff import (  # the one change engine: the UI renders what it says
    COSMETIC,
    Change,
    Changes,
    _sid,
    changes,
    masked,
    pair_steps,
    shown,
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


COLS = 5  # a layered graph wraps after this many layers: a 50-step chain is rows, not one line 12,000 px wide
CELL_W, CELL_H = BOX_W + GAP_X, BOX_H + GAP_Y


def _layout(steps: list[dict[str, Any]], edges: list[tuple[str, str]]) -> dict[str, tuple[float, float]]:
    """Where each step's box goes: on a grid, one box per cell, so no two boxes ever overlap.
    Canvas positions (when every step has them) keep their order: each distinct x (within a
    few pixels) is a column, each distinct y a row, and a step whose cell is taken moves right;
    otherwise layers by longest path, wrapped after COLS layers."""
    pos = [s.get("position") for s in steps]
    cells: dict[str, tuple[int, int]] = {}
    if steps and all(isinstance(p, dict) and isinstance(p.get("x"), (int, float))
                     and isinstance(p.get("y"), (int, float)) for p in pos):
        col, row = _ranks([p["x"] for p in pos]), _ranks([p["y"] for p in pos])  # type: ignore[index]
        wanted = {_sid(s): (col[p["x"]], row[p["y"]]) for s, p in zip(steps, pos, strict=True)}  # type: ignore[index]
        taken: set[tuple[int, int]] = set()
        for sid, (cx, cy) in sorted(wanted.items(), key=lambda kv: (kv[1][1], kv[1][0])):
            while (cx, cy) in taken:  # closer than a box: the next free cell to the right
                cx += 1
            taken.add((cx, cy))
            cells[sid] = (cx, cy)
    else:
        depth = {_sid(s): 0 for s in steps}
        for _ in range(len(steps)):  # longest path from a root, bounded (cycles stop growing)
            moved = False
            for a, b in edges:
                if depth[b] < depth[a] + 1 <= len(steps):
                    depth[b], moved = depth[a] + 1, True
            if not moved:
                break
        rows: dict[int, int] = {}
        for s in steps:
            d = depth[_sid(s)]
            cells[_sid(s)] = (d, rows.get(d, 0))
            rows[d] = rows.get(d, 0) + 1
        band_rows = [max((n for d, n in rows.items() if d // COLS == band), default=0)
                     for band in range(max(rows, default=0) // COLS + 1)]
        top = list(itertools.accumulate([0, *band_rows]))
        cells = {sid: (d % COLS, top[d // COLS] + r) for sid, (d, r) in cells.items()}
    return {sid: (PAD + cx * CELL_W, PAD + cy * CELL_H) for sid, (cx, cy) in cells.items()}


def _ranks(values: list[float], within: float = 8.0) -> dict[float, int]:
    """Each value's rank among the distinct values, values within ``within`` of a group's first one sharing it."""
    out: dict[float, int] = {}
    rank, start = -1, None
    for v in sorted(set(values)):
        if start is None or v - start > within:
            rank, start = rank + 1, v
        out[v] = rank
    return out


def _label(text: str, limit: int) -> str:
    """Cut to ``limit`` characters before escaping: an entity is never cut in half."""
    return escape(text if len(text) <= limit else text[: limit - 1] + "…")


def step_graph(steps: list[Any], marks: dict[str, str] | None = None,
               removed: list[dict[str, Any]] | None = None) -> str:
    """The SVG of one version's steps; ``marks`` colour added/changed steps, ``removed`` steps
    are drawn dashed below. Every name is escaped: the SVG is safe to put in a page. Each step
    can take the keyboard's focus (its details open on Enter, as on a click)."""
    marks = marks or {}
    items = [s for s in steps if isinstance(s, dict)]
    edges = _edges(items)
    at = _layout(items, edges)
    gone = [s for s in removed or [] if isinstance(s, dict)]
    bottom = max((y for _, y in at.values()), default=PAD - CELL_H) + CELL_H
    for i, s in enumerate(gone):
        at[f"removed-{_sid(s)}"] = (PAD + (i % COLS) * CELL_W, bottom + (i // COLS) * CELL_H)
    width = max((x for x, _ in at.values()), default=0) + BOX_W + PAD
    height = max((y for _, y in at.values()), default=0) + BOX_H + PAD
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" class="graph" width="{width:.0f}" height="{height:.0f}" '
             f'viewBox="0 0 {width:.0f} {height:.0f}" role="group" aria-label="step graph">',
             '<defs><marker id="arrow" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="7" markerHeight="7" '
             'orient="auto-start-reverse"><path d="M 0 0 L 10 5 L 0 10 z" fill="#667"/></marker></defs>']
    for a, b in edges:
        (x1, y1), (x2, y2) = at[a], at[b]
        if x2 > x1:  # forwards: right side to left side
            ends = (x1 + BOX_W, y1 + BOX_H / 2, x2, y2 + BOX_H / 2)
        else:  # a wrapped or backward edge: bottom to top
            ends = (x1 + BOX_W / 2, y1 + BOX_H, x2 + BOX_W / 2, y2)
        parts.append('<line class="edge" x1="{:.0f}" y1="{:.0f}" x2="{:.0f}" y2="{:.0f}" stroke="#667" '
                     'marker-end="url(#arrow)"/>'.format(*ends))

    def box(s: dict[str, Any], key: str, status: str) -> None:
        x, y = at[key]
        full = str(s.get("name") or "(unnamed step)")
        name = escape(full)
        kind = str(s.get("type") or s.get("microservice") or "step")
        note = " — " + status if status != "same" else ""
        parts.append(f'<g class="step step-{status}" data-step-id="{escape(_sid(s))}" data-status="{status}" '
                     f'tabindex="0" role="button" aria-label="{name} ({escape(kind)}){note}">'
                     f'<title>{name} ({escape(kind)}){note}</title>'
                     f'<rect x="{x:.0f}" y="{y:.0f}" width="{BOX_W}" height="{BOX_H}" rx="6"/>'
                     f'<text class="name" x="{x + 10:.0f}" y="{y + 22:.0f}">{_label(full, 24)}</text>'
                     f'<text class="type" x="{x + 10:.0f}" y="{y + 42:.0f}">{_label(kind, 20)}'
                     f'{" · " + status if status != "same" else ""}</text></g>')

    for s in items:
        box(s, _sid(s), marks.get(_sid(s), "same"))
    for s in gone:
        box(s, f"removed-{_sid(s)}", "removed")
    parts.append("</svg>")
    return "".join(parts)


SHOWN_ELSEWHERE = {"id", "name", "type", "position"}  # the box and the panel's title say these


def step_details(steps: list[Any], rules: dict[str, str] | None = None) -> list[dict[str, Any]]:
    """What a step's panel shows: its parameters (secret values masked; JSON held in a string
    parsed, so a config reads as a structure) and the references found in it, by type and ID."""
    out = []
    for s in steps:
        if not isinstance(s, dict):
            continue
        refs, _, _ = scan({"flow": {"versions": [{"iteration": 0, "steps": [s]}]}}, "", "", rules or {})
        shown_step = masked(s)
        params = []
        for key, value in shown_step.items():
            if key in SHOWN_ELSEWHERE:
                continue
            if isinstance(value, str) and holds_json(value):
                try:
                    value = json.loads(value)
                except ValueError:
                    pass
            text = value if isinstance(value, str) else json.dumps(value, indent=2, ensure_ascii=False)
            params.append((key, text))
        out.append({"id": _sid(s), "name": str(s.get("name") or "(unnamed step)"),
                    "type": str(s.get("type") or s.get("microservice") or "step"), "params": params,
                    "refs": [(r.rtype, r.source_id, r.source_name, r.field) for r in refs]})
    return out


__all__ = ["COSMETIC", "Change", "Changes", "changes", "masked", "pair_steps", "shown", "step_details",
           "step_graph"]
