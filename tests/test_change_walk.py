"""One change walk, shown over generated pairs of companies: what the CLI prints as JSON and what
the UI's diff page draws name the same flows, versions and steps, and the change set is empty
exactly when the two sides hold the same bytes (``--exit-code`` answers 1 exactly when it is not).
The flows take the shapes the simulator's dialects give: IDs as numbers or strings, relations as
lists or ``{"data": [...]}`` collections, steps with positions, schedules and variables."""

from __future__ import annotations

from typing import Any

import orjson
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from flowvault.canonical import dumps
from flowvault.flowdiff import MemorySide, View, change_set
from flowvault.ui.pages import compare

NAMES = st.sampled_from(["Fetch orders", "Map fields", "Send", "Map fields", "Filter"])
ID = st.one_of(st.integers(1, 6), st.integers(1, 6).map(str))  # the literal dialect gives IDs as strings


def step() -> st.SearchStrategy[dict[str, Any]]:
    return st.fixed_dictionaries({
        "id": ID, "name": NAMES, "type": st.sampled_from(["map", "connector"]),
        "config": st.dictionaries(st.sampled_from(["mode", "page_size", "url"]), st.integers(0, 3), max_size=2),
        "position": st.fixed_dictionaries({"x": st.integers(0, 2), "y": st.integers(0, 1)})})


def version() -> st.SearchStrategy[dict[str, Any]]:
    return st.fixed_dictionaries({
        "status": st.sampled_from(["draft", "active"]),
        "steps": st.lists(step(), max_size=4, unique_by=lambda s: str(s["id"])),
        "schedules": st.lists(st.fixed_dictionaries({"id": st.integers(1, 3),
                                                     "cron_string": st.sampled_from(["0 * * * *", "5 4 * * *"])}),
                              max_size=2, unique_by=lambda s: s["id"]),
        "variables": st.lists(st.fixed_dictionaries({"key": st.sampled_from(["a", "b"]), "value": st.integers(0, 2)}),
                              max_size=2, unique_by=lambda v: v["key"])})


def relation(items: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    listed = st.lists(items, max_size=2, unique_by=lambda x: x["id"])
    return st.one_of(listed, listed.map(lambda xs: {"data": xs}))  # a list, or a collection


def flow(fid: str) -> st.SearchStrategy[tuple[str, dict[str, bytes]]]:
    settings_ = st.fixed_dictionaries({
        "id": st.just(fid), "name": st.sampled_from(["Orders", "Stock"]),
        "description": st.sampled_from(["", "nightly"]),
        "labels": relation(st.fixed_dictionaries({"id": st.integers(1, 3), "name": st.sampled_from(["a", "b"])})),
        "webhooks": relation(st.fixed_dictionaries({"id": st.integers(1, 3), "url": st.sampled_from(["u", "v"])}))})
    versions = st.dictionaries(st.sampled_from(["7", "8", "10"]), version(), max_size=2)

    def files(s: dict[str, Any], vs: dict[str, dict[str, Any]]) -> tuple[str, dict[str, bytes]]:
        out = {"flow.json": dumps(s), "export.json": dumps({"flow": {"name": s["name"]}})}
        out |= {f"versions/{vid}.json": dumps({"id": vid, "flow_name": s["name"], **v}) for vid, v in vs.items()}
        return s["name"], out
    return st.builds(files, settings_, versions)


def company() -> st.SearchStrategy[View]:
    return st.dictionaries(st.sampled_from(["1", "2", "3"]), st.none(), max_size=3).flatmap(
        lambda ids: st.fixed_dictionaries({fid: flow(fid) for fid in ids}))


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(company(), company())
def test_cli_json_and_the_ui_name_the_same_changes(old: View, new: View) -> None:
    a, b = MemorySide(old), MemorySide(new)
    found = change_set(a, b)
    printed = orjson.loads(orjson.dumps(found.as_json()))  # what `diff --format json` prints
    page = compare(a, b)  # what the diff page draws

    assert [x["id"] for x in printed["added"]] == [f for f, _ in page["added"]]
    assert [x["id"] for x in printed["removed"]] == [f for f, _ in page["removed"]]
    assert [x["id"] for x in printed["changed"]] == [f["fid"] for f in page["changed"]]
    for cli_flow, ui_flow in zip(printed["changed"], page["changed"], strict=True):
        assert [(v["id"], v["status"]) for v in cli_flow["versions"]] == \
            [(v["id"], v["status"]) for v in ui_flow["versions"]]
        for cli_v, ui_v in zip(cli_flow["versions"], ui_flow["versions"], strict=True):
            assert [(s["name"], s["status"]) for s in cli_v["steps"]] == \
                [(name, status) for _, name, status in ui_v.get("marked", [])]
        assert cli_flow["details"], cli_flow  # a changed flow always says what changed
    # --exit-code: 1 exactly when the change set is not empty, which is exactly when the bytes differ
    assert found.empty == ({f: files for f, (_, files) in old.items()} == {f: files for f, (_, files) in new.items()})
    assert (found.lines() == ["no differences"]) == found.empty


def test_a_step_moved_on_the_canvas_is_said_as_cosmetic() -> None:
    def side(x: int) -> MemorySide:
        doc = {"id": 7, "steps": [{"id": 1, "name": "Map", "type": "map", "position": {"x": x, "y": 0}}]}
        return MemorySide({"1": ("Orders", {"flow.json": dumps({"name": "Orders"}), "versions/7.json": dumps(doc)})})

    found = change_set(side(0), side(5))
    assert found.lines() == ["~ Orders (#1)", "    version 7: cosmetic changes only (positions, layout)"]
    page = compare(side(0), side(5))
    block = page["changed"][0]["versions"][0]
    assert (block["id"], block["status"], block["marked"]) == ("7", "changed", [])  # drawn, no step marked
