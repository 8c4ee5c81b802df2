"""The review pages' pure parts: step graphs, parameter paths, secret masking."""

from __future__ import annotations

import re

from flowvault.canonical import REDACTED
from flowvault.flowdiff import step_marks, version_change
from flowvault.ui.model import changes, masked, step_graph


def boxes(svg: str) -> dict[str, tuple[float, float]]:
    """step ID → the (x, y) of its box."""
    found = re.findall(r'data-step-id="([^"]*)"[^>]*>.*?<rect x="([\d.]+)" y="([\d.]+)"', svg)
    return {sid: (float(x), float(y)) for sid, x, y in found}


def test_canvas_positions_are_kept_when_the_archive_has_them() -> None:
    steps = [{"id": 1, "name": "a", "position": {"x": 0, "y": 0}},
             {"id": 2, "name": "b", "position": {"x": 300, "y": 0}},
             {"id": 3, "name": "c", "position": {"x": 300, "y": 200}}]
    at = boxes(step_graph(steps))
    assert at["1"][0] < at["2"][0] == at["3"][0] and at["2"][1] < at["3"][1]


def test_routes_and_children_make_a_layered_graph_with_arrows() -> None:
    steps = [{"id": 10, "name": "trigger", "children": [11, 12]},
             {"id": 11, "name": "left", "routes": [{"target_step_id": 13}]},
             {"id": 12, "name": "right"},
             {"id": 13, "name": "end", "parent_id": 12}]
    svg = step_graph(steps)
    at = boxes(svg)
    assert at["10"][0] < at["11"][0] == at["12"][0] < at["13"][0]  # layers follow the arrows
    assert svg.count('class="edge"') == 4  # 10→11, 10→12, 11→13, 12→13


def test_names_are_escaped_in_the_svg() -> None:
    svg = step_graph([{"id": 1, "name": "<script>alert(1)</script>", "type": "<b>"}])
    assert "<script>" not in svg and "&lt;script&gt;" in svg and "<b>" not in svg


def test_marks_pair_steps_by_id_and_ignore_moves() -> None:
    old = [{"id": 1, "name": "a", "config": {"n": 1}, "position": {"x": 0, "y": 0}},
           {"id": 2, "name": "b", "position": {"x": 1, "y": 0}}, {"id": 3, "name": "gone"}]
    new = [{"id": 1, "name": "a", "config": {"n": 2}, "position": {"x": 0, "y": 0}},
           {"id": 2, "name": "b", "position": {"x": 9, "y": 9}}, {"id": 4, "name": "new"}]
    marks, removed = step_marks(version_change("1", {"steps": old}, {"steps": new}).steps)
    assert marks == {"1": "changed", "4": "added"} and [s["id"] for s in removed] == [3]
    svg = step_graph(new, marks, removed)
    assert 'data-step-id="3" data-status="removed"' in svg and 'data-step-id="2" data-status="same"' in svg


def test_changes_are_parameter_paths_with_cosmetic_ones_folded() -> None:
    a = {"steps": [{"id": 9, "config": {"mode": "append"}, "position": {"x": 1, "y": 2}}], "name": "x"}
    b = {"steps": [{"id": 9, "config": {"mode": "replace"}, "position": {"x": 5, "y": 2}}], "name": "x",
         "description": "new"}
    ch = changes(a, b)
    assert [(c.path, c.old, c.new, c.kind) for c in ch.real] == [
        ("description", "", "new", "added"), ("steps[id=9].config.mode", "append", "replace", "changed")]
    assert [c.path for c in ch.cosmetic] == ["steps[id=9].position.x"]


def test_no_secret_value_survives_masking() -> None:
    doc = {"variables": [{"key": "API_TOKEN", "value": "sk_live_1", "secret": "1"},
                         {"key": "REGION", "value": "eu", "secret": "0"},
                         {"key": "DB_PASSWORD", "value": "hunter2", "secret": False},
                         {"key": "OLD", "value": REDACTED, "secret": True}],
           "hmac_secret_key": "hk_123"}
    shown = str(masked(doc))
    assert not any(v in shown for v in ("sk_live_1", "hunter2", "hk_123")) and "eu" in shown
    assert "(secret, redacted)" in shown
    edited = {**doc, "hmac_secret_key": "hk_456",
              "variables": [{**doc["variables"][0], "value": "sk_live_2"}, *doc["variables"][1:]]}
    ch = changes(doc, edited)
    assert [(c.path, c.old, c.new) for c in ch.real] == [
        ("hmac_secret_key", "(secret)", "(secret, changed)"),
        ("variables[key=API_TOKEN].value", "(secret)", "(secret, changed)")]
    sealed = changes({"v": "<encrypted by flowvault>age:aa:AAA"}, {"v": "<encrypted by flowvault>age:bb:BBB"})
    assert [(c.old, c.new) for c in sealed.real] == [("(secret, encrypted)", "(secret, encrypted, changed)")]


def test_values_read_as_json_not_python() -> None:
    found = changes({"enabled": False, "limit": None, "ratio": 2.5}, {"enabled": True, "limit": 10, "ratio": 2.5})
    assert {(c.path, c.old, c.new) for c in found.real} == {("enabled", "false", "true"), ("limit", "null", "10")}
