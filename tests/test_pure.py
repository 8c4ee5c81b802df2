"""Unit tests of the pure parts, from values: no loop, no socket (History.resolve uses a tmp repo)."""

from __future__ import annotations

import copy
import dataclasses
import datetime as dt
from pathlib import Path
from typing import Any

import pytest

from flowvault.canonical import REDACTED, Secrets, clean, is_secret
from flowvault.errors import UsageError
from flowvault.history import History
from flowvault.models import ArchivedFlow, Ref
from flowvault.plan import Resolver, dependency_order, plan_flow, refuse_shared_targets, unique_name, waves
from flowvault.references import remap_flow_doc, scan


def flow(fid: str, name: str = "", calls: tuple[str, ...] = (), refs: tuple[Ref, ...] = (),
         secrets: tuple[str, ...] = ()) -> ArchivedFlow:
    flow_refs = tuple(Ref(fid, name or fid, 1, i, f"call {c}", "target_flow_id", "flow", int(c), None)
                      for i, c in enumerate(calls))
    return ArchivedFlow(fid, name or f"flow {fid}", f"{fid}-x", {}, flow_refs + refs, secrets)


def plan_all(flows: dict[str, ArchivedFlow], **kw: Any) -> dict[str, Any]:
    order, cycles = dependency_order(flows)
    resolver = Resolver(kw.pop("explicit", {}), {}, kw.pop("by_name", {}))
    args = {"done": {}, "target_names": {}, "in_run": set(order), "cycle_edges": cycles, "on_conflict": "skip",
            "secrets": {}} | kw
    return {fid: plan_flow(flows[fid], resolver, **args) for fid in order}


def test_dependency_order_puts_referenced_flows_first_and_reports_cycle_edges() -> None:
    flows = {f.flow_id: f for f in [flow("1", calls=("2",)), flow("2", calls=("3",)), flow("3"),
                                    flow("4", calls=("5",)), flow("5", calls=("4",))]}
    order, back = dependency_order(flows)
    assert order.index("3") < order.index("2") < order.index("1")
    assert sorted(order) == ["1", "2", "3", "4", "5"]
    assert len(back) == 1 and back <= {("4", "5"), ("5", "4")}


def test_waves_run_dependencies_in_earlier_waves_and_cycles_together() -> None:
    flows = {f.flow_id: f for f in [flow("1", calls=("2",)), flow("2"), flow("3"),
                                    flow("4", calls=("5",)), flow("5", calls=("4",))]}
    plans = plan_all(flows)
    groups = [{p.flow.flow_id for p in w} for w in waves(plans)]
    level = {fid: i for i, g in enumerate(groups) for fid in g}
    assert level["2"] < level["1"] and level["3"] == 0
    deferred = [p for p in plans.values() if p.deferred]
    assert len(deferred) == 1  # the cycle is broken once, by a reference patched later
    assert abs(level["4"] - level["5"]) == 1


def test_plan_flow_conflicts_renames_replaces_and_refuses_an_ambiguous_replace() -> None:
    f = flow("1", name="Sync orders")
    names = {"Sync orders": [77]}
    assert plan_all({"1": f}, target_names=names)["1"].action == "conflict"
    assert plan_all({"1": f}, target_names=names, on_conflict="rename")["1"].action == "rename"
    replace = plan_all({"1": f}, target_names=names, on_conflict="replace")["1"]
    assert replace.action == "replace" and replace.target_id == 77
    two = plan_all({"1": f}, target_names={"Sync orders": [77, 78]}, on_conflict="replace")["1"]
    assert two.action == "conflict" and "#77, #78" in two.reason
    done = plan_all({"1": f}, done={"1": 99}, target_names=names)["1"]
    assert done.action == "skip" and done.target_id == 99


def test_plan_flow_resolves_by_map_then_unique_name_and_lists_the_rest() -> None:
    refs = (Ref("1", "f", 1, 0, "s", "cache_id", "cache", 501, "sku lookup"),
            Ref("1", "f", 1, 1, "s", "connector_id", "connector", 601, "Shopify"),
            Ref("1", "f", 1, 2, "s", "script_version_id", "script", 701, "dupe"))
    f = flow("1", refs=refs, secrets=("API_TOKEN", "SFTP_PASSWORD"))
    plan = plan_all({"1": f}, explicit={"connector": {601: 9601}},
                    by_name={"cache": {"sku lookup": [8501]}, "script": {"dupe": [1, 2]}},
                    secrets={"API_TOKEN": "x"})["1"]
    assert [r.source_id for r in plan.unresolved] == [701]  # a name two resources share is no match
    assert plan.missing_secrets == ("SFTP_PASSWORD",) and plan.blocked
    # resolved once, while planning: the create resolves from this, not by asking again
    assert dict(plan.resolved) == {("cache", 501): 8501, ("connector", 601): 9601}


def test_plans_are_values_a_refusal_is_a_new_plan() -> None:
    one, two = flow("1", name="Sync"), flow("2", name="Sync")
    plans = list(plan_all({"1": one, "2": two}, target_names={"Sync": [77]}, on_conflict="replace").values())
    refused = refuse_shared_targets(plans)
    assert [p.action for p in plans] == ["replace", "replace"]  # the plans given are untouched
    assert [p.action for p in refused] == ["conflict", "conflict"] and "#77" in refused[0].reason
    with pytest.raises(dataclasses.FrozenInstanceError):
        plans[0].action = "create"  # type: ignore[misc]


def test_unique_name_skips_taken_names() -> None:
    assert unique_name("a", {"a", "a (2)"}, lambda n, i: f"{n} ({i})") == "a (3)"
    assert unique_name("X", {"x", "x_2"}, lambda n, i: f"{n}_{i}", str.lower) == "X_3"


EXPORT = {"flow": {"name": "f", "versions": [{"iteration": 1, "steps": [
    {"name": "get", "connector_id": 11, "config": {"keep": True}},
    {"name": "call", "target_flow_id": 5},
    {"name": "not a ref", "connector_id": True},
]}], "variables": [{"key": "T", "value": REDACTED, "secret": "1"}]},
    "metadata": {"dependencies": [{"type": "connector", "id": 11, "name": "Shopify"}]}}


def test_find_refs_and_remap_keep_the_document_and_rewrite_ids_only() -> None:
    refs, unclassified, _ = scan(EXPORT, "9", "f")
    assert [(r.rtype, r.source_id, r.source_name) for r in refs] == [("connector", 11, "Shopify"), ("flow", 5, None)]
    assert unclassified == []
    before = copy.deepcopy(EXPORT)
    doc = remap_flow_doc(EXPORT, lambda t, i: {"connector": 22, "flow": 55}[t], [refs[1]], {"T": "s3cret"}, name="g")
    assert before == EXPORT  # the archive's document is not touched
    steps = doc["versions"][0]["steps"]
    assert steps[0] == {"name": "get", "connector_id": 22, "config": {"keep": True}}
    assert steps[1]["target_flow_id"] is None  # deferred: patched once the flow exists
    assert steps[2]["connector_id"] is True and doc["name"] == "g"
    assert doc["variables"][0]["value"] == "s3cret"


@pytest.mark.parametrize("flag, secret", [
    (True, True), (1, True), ("1", True), ("true", True), ("TRUE", True), ("yes", True), ("On", True),
    (False, False), (0, False), ("0", False), ("false", False), ("", False), (None, False), (2, False),
    ("secret", False),
])
def test_a_secret_flag_in_any_spelling(flag: Any, secret: bool) -> None:
    assert is_secret(flag) is secret
    found = Secrets()
    out = clean({"variables": [{"key": "K", "value": "v", "secret": flag}]}, found)
    assert (out["variables"][0]["value"] == REDACTED) is secret and found.flagged == int(secret)


def test_clean_drops_volatile_fields_at_any_depth() -> None:
    data = {"updated_at": 1, "a": [{"last_run_at": 2, "b": {"runs_count": 3, "c": 4}}]}
    assert clean(data, None) == {"a": [{"b": {"c": 4}}]}


def test_history_resolve_is_strict(tmp_path: Path) -> None:
    tomorrow = (dt.date.today() + dt.timedelta(days=1)).isoformat()
    history = History.open(tmp_path / "a", create=True)
    (history.root / "manifest.json").write_text("{}")
    first = history.commit_all("one")
    (history.root / "manifest.json").write_text("{\"x\": 1}")
    second = history.commit_all("two")
    assert history.resolve(None) == second and history.resolve("HEAD~1") == first
    assert history.resolve(first[:8]) == first and history.resolve(tomorrow) == second
    for bad in ("deadbeef", "nosuchbranch", "HEAD~999", "--all"):
        with pytest.raises(UsageError, match="unknown revision"):
            history.resolve(bad)
    with pytest.raises(UsageError, match="no commit at or before"):
        history.resolve("2001-01-01")


def test_the_commit_gate_reads_values_under_long_names_and_urls_with_credentials() -> None:
    from flowvault.secretscan import leaks

    token = "ghp_" + "0123456789abcdefghijABCDEFGHIJ012345"
    files = [("under-a-long-name.json", f'  "github_token_for_the_nightly_ci": "{token}",\n'.encode()),
             ("names-only.json", b'  "virtual_environment_id": 12,\n  "cross_reference_lookup_id": null,\n'),
             ("url.json", b'  "endpoint_with_credentials": "https://svc:hunter22@example.com/x",\n'),
             ("hidden.json", b'  "note": "the password is swordfish-42"\n')]
    assert leaks(files, {"swordfish-42"}) == [("under-a-long-name.json", "GitHub Token"),
                                              ("url.json", "Basic Auth Credentials"),
                                              ("hidden.json", "a secret value this run hid")]


# -- a Patchworks flow's versions from its sources (providers/pwreading.py) -----------------------

def test_a_versions_detail_never_replaces_what_was_read() -> None:
    from flowvault.providers.pwreading import merge_detail

    known = {"id": 5, "status": "Draft", "variables": [{"key": "A"}]}
    detail = {"id": 5, "status": "Deployed", "variables": "[]", "steps": [{"id": 1}]}
    merged = merge_detail(known, detail, [{"id": 9, "cron_string": "* * * * *"}])
    assert merged["variables"] == [{"key": "A"}] and merged["steps"] == [{"id": 1}]
    assert merged["status"] == "Deployed" and merged["schedules"][0]["id"] == 9
    assert "schedules" not in merge_detail(known, {}, "[...]")  # read nowhere as a list: left out


def test_the_export_documents_steps_win_and_its_variables_stand_in_by_id_or_by_iteration() -> None:
    from flowvault.providers.pwreading import Exported, finished, lacks, needs_detail

    by_id = Exported({"flow": {"versions": [{"id": 7, "steps": [{"id": 1}], "variables": [{"key": "X"}]}]}})
    by_iteration = Exported({"flow": {"versions": [{"iteration": 2, "steps": [{"id": 3}]}]}})
    read = {7: {"id": 7, "iteration": "2", "steps": [{"id": 99}], "variables": "text",
                "schedules": [{"id": 4}, {"id": "b"}, {"id": 2}]}}
    [v] = finished(read, by_id)
    assert v["steps"] == [{"id": 1}] and v["variables"] == [{"key": "X"}]
    assert [s["id"] for s in v["schedules"]] == [2, 4, "b"]  # IDs of either type, in order
    [v] = finished(read, by_iteration)
    assert v["steps"] == [{"id": 3}] and v["variables"] == "text"  # no list anywhere: as read
    assert not lacks(7, read[7], "variables", by_id) and lacks(7, read[7], "variables", by_iteration)
    assert not needs_detail(7, {"id": 7}, by_id) and needs_detail(8, {"id": 8}, by_id)
    assert lacks(7, {"id": 7}, "schedules", by_id)  # schedules come from the version's own sources


def test_a_relation_given_as_text_is_named_not_read() -> None:
    from flowvault.providers.pwreading import carried, listed_versions, present, unreadable

    flow = {"labels": '[{"id": 1}]', "notification_groups": {"data": [{"id": 2}]}, "webhooks": None,
            "versions": [{"id": 1, "schedules": [], "variables": []}], "versions_count": 2}
    assert set(unreadable(flow, ("labels", "notificationGroups", "webhooks"))) == {"labels"}
    assert "as str" in unreadable(flow, ("labels",))["labels"]
    assert carried(flow, "notificationGroups") == [{"id": 2}] and not present(flow, "webhooks")
    assert listed_versions(flow) is None  # two versions claimed, one listed
    assert listed_versions({**flow, "versions_count": 1}) == flow["versions"]


# -- the export loop's decisions (exportplan.py) ------------------------------------------------

def test_what_an_export_fetches_and_what_it_keeps() -> None:
    from flowvault.exportplan import must_fetch

    known = {"1": "abc"}
    assert not must_fetch("1", "abc", known, True, False, None)  # unchanged since the last run: kept
    assert must_fetch("1", "abd", known, True, False, None)  # the listing shows an edit
    assert must_fetch("1", None, known, True, False, None)  # no fingerprint: the listing proves nothing
    assert must_fetch("1", "abc", known, False, False, None)  # not archived (a file put back, a new archive)
    assert must_fetch("1", "abc", known, True, True, None)  # named on the command line
    assert must_fetch("1", "abc", known, True, False, "every 7 days")  # a full run


def test_the_sample_is_the_rate_at_least_one_and_the_rest_is_kept() -> None:
    import random

    from flowvault.exportplan import split_sample

    sample, rest = split_sample(list(range(200)), 0.02, random.Random(1))
    assert len(sample) == 4 and sorted(sample + rest) == list(range(200))
    assert [len(x) for x in split_sample([7], 0.02)] == [1, 0] and split_sample([], 0.5) == ([], [])


def test_only_a_complete_listing_of_every_flow_removes_and_a_mass_removal_is_refused() -> None:
    from flowvault.exportplan import listing_shortfall, mass_removal, removed

    assert listing_shortfall(10, 10, 10) is None
    assert "9 distinct flows but meta.total says 10" in str(listing_shortfall(10, 9, 10))  # a repeated ID
    assert listing_shortfall(9, 9, 10) is not None  # a page short
    archived = ["1", "2", "3"]
    assert removed(archived, {"1"}, {"1", "2"}, selected=False, complete=True) == ["3"]
    assert removed(archived, {"1"}, {"1"}, selected=True, complete=True) == []  # a run of named flows
    assert removed(archived, {"1"}, {"1"}, selected=False, complete=False) == []  # the listing proves nothing
    assert mass_removal(4, 6, 2) is None  # fewer than five
    assert mass_removal(5, 10, 5) is None  # half, not more
    assert "--allow-mass-removal" in str(mass_removal(6, 10, 4))


def test_whose_archive_is_read_once_with_one_same_company_rule() -> None:
    from flowvault.models import Source

    manifest = {"source": {"profile": "acme", "base_url": "https://core.example/", "provider": "patchworks"}}
    source = Source.of(manifest)
    assert source == Source("acme", "https://core.example", "patchworks")
    assert source.is_company("acme", "https://core.example") and source.is_company("acme", "https://core.example/")
    assert not source.is_company("acme-2", "https://core.example")  # one vendor URL serves every company
    assert Source.of({}) is None and Source.of({"source": "x"}) is None
    assert Source.of({"source": {"base_url": "u"}}) == Source(None, "u", "patchworks")
    assert Source.of({"source": source.as_json()}) == source
