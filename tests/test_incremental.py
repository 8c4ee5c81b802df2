"""About one request per flow, and nightly runs that fetch only what changed — checked by a
sample, and by a full run when the sample says the listing's stamps cannot be trusted."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import orjson
import pytest
from click.testing import CliRunner

from flowvault.exportrun import run_export
from flowvault.history import STATE
from flowvault.config import load_config
from flowvault.exportplan import sample_size
from flowvault.history import History

from .conftest import cli, git, manifest, tree_bytes, write_config

RELATIONS = ("webhooks", "callbacks", "notificationGroups", "messageBrokers", "messageBrokerQueues", "deployments")


def settings(archive: Path, fid: int) -> dict[str, Any]:
    folder = manifest(archive)["flows"][str(fid)]["folder"]
    return orjson.loads((archive / "flows" / folder / "flow.json").read_bytes())  # type: ignore[no-any-return]


def test_a_full_export_is_about_one_request_per_flow_and_archives_the_relations(make_server: Any, tmp_path: Path,
                                                                                monkeypatch: Any) -> None:
    server = make_server(flows=150, companies=1)  # more than one listing page
    prof = load_config(write_config(tmp_path / "fv.toml", server, monkeypatch)).profile("company-a")
    archive = tmp_path / "archive"
    result = run_export(prof, archive)
    assert result.exported == 150 and not result.failed and not result.warnings
    assert result.requests == 150 + math.ceil(150 / 100)  # one export each, and the listing's pages
    company = server.sim.company(0)
    with_hook = [f for f in company.flows.values() if f.get("_webhooks")]
    assert with_hook
    for f in company.flows.values():
        saved = settings(archive, f["id"])
        assert set(RELATIONS) <= set(saved), saved.keys()
        assert [h["url"] for h in saved["webhooks"]] == [h["url"] for h in f.get("_webhooks", [])]
        for hook in saved["webhooks"]:  # the HMAC key is a secret: never in the archive
            assert hook["hmac_secret_key"] == "<redacted by flowvault>"
        deployed = [v for v in server.sim.state.flow_version_ids(company, f["id"])
                    if company.versions[v]["status"] == "Deployed"]
        assert [d["flow_version_id"] for d in saved["deployments"]] == deployed
        assert all(d["virtual_environment"]["name"] == "production" for d in saved["deployments"])
    secrets = [h["hmac_secret_key"] for f in with_hook for h in f["_webhooks"]]
    everything = b"".join(tree_bytes(archive).values()) + git(archive, "log", "-p").encode()
    assert not any(s.encode() in everything for s in secrets)


def test_a_server_that_ignores_the_listing_includes_still_gives_a_complete_archive(server: Any, profile_a: Any,
                                                                                  tmp_path: Path) -> None:
    """Versions, their steps, variables and schedules, webhooks and callbacks are fetched per flow
    instead; what the reference gives no other way to read is named in the warnings."""
    run_export(profile_a, tmp_path / "honoured")
    server.sim.honour_listing_include = False
    result = run_export(profile_a, tmp_path / "ignored")
    assert not result.failed and result.exported == 20
    assert result.requests > 3 * 20  # not faster: the versions list and two relation lists per flow
    one, two = tree_bytes(tmp_path / "honoured"), tree_bytes(tmp_path / "ignored")
    assert {p: b for p, b in one.items() if "/versions/" in p or p.endswith("export.json")} == \
        {p: b for p, b in two.items() if "/versions/" in p or p.endswith("export.json")}
    for fid in server.sim.company(0).flows:
        a, b = settings(tmp_path / "honoured", fid), settings(tmp_path / "ignored", fid)
        assert a["webhooks"] == b["webhooks"] and a["callbacks"] == b["callbacks"]
    for what in ("notificationGroups", "messageBrokers", "messageBrokerQueues", "deployments"):
        assert any(f"{what} not captured for 20 flow(s)" in w for w in result.warnings), result.warnings


def test_a_nightly_run_without_edits_fetches_only_a_sample_and_commits_nothing(server: Any, config: Path,
                                                                              exported: Path,
                                                                              runner: CliRunner) -> None:
    head = History.open(exported).head()
    before = tree_bytes(exported)
    server.sim.arrivals.clear()
    result = cli(runner, "export", "--config", config, "-p", "company-a", "-a", exported, "--log-format", "json")
    assert result.exit_code == 0, result.output
    summary = orjson.loads(result.output.strip().splitlines()[-1])
    assert summary["full_run"] is None and summary["commit"] is None
    assert (summary["fetched"], summary["unchanged"], summary["sampled"]) == (1, 19, 1)
    assert summary["requests"] == 1 + 1  # the listing page and the sampled flow's export
    assert History.open(exported).head() == head and tree_bytes(exported) == before


def test_a_nightly_run_fetches_and_commits_every_edit(server: Any, config: Path, exported: Path,
                                                     runner: CliRunner) -> None:
    company, state = server.sim.company(0), server.sim.state
    edited = sorted(company.flows)[3]
    vid = state.flow_version_ids(company, edited)[-1]
    company.versions[vid]["steps"][0]["name"] = "renamed step"  # an edit, as the API stamps it
    state.touch(company, vid)
    renamed = sorted(company.flows)[9]
    state.update_flow(company, renamed, {"flow": {"name": "a new name"}})
    result = cli(runner, "export", "--config", config, "-p", "company-a", "-a", exported)
    assert result.exit_code == 0, result.output
    assert "fetched            3" in result.output and "unchanged          17" in result.output
    message = git(exported, "log", "-1", "--format=%B")
    assert f"changed: a new name (#{renamed})" in message and f"(#{edited})" in message
    saved = orjson.loads((exported / "flows" / manifest(exported)["flows"][str(edited)]["folder"] / "versions"
                          / f"{vid}.json").read_bytes())
    assert saved["steps"][0]["name"] == "renamed step"


def test_when_the_stamps_lie_the_sample_catches_it_and_the_run_fetches_everything(server: Any, config: Path,
                                                                                 exported: Path,
                                                                                 runner: CliRunner) -> None:
    """Every flow edited without its update stamp moving: whichever flow the sample takes
    differs from the archive, so the run falls back to fetching every flow, and says so."""
    company = server.sim.company(0)
    for v in company.versions.values():
        v["steps"][0]["config"] = {"quietly": "edited"}
    result = cli(runner, "export", "--config", config, "-p", "company-a", "-a", exported, "--log-format", "json")
    assert result.exit_code == 0, result.output
    lines = [orjson.loads(x) for x in result.output.strip().splitlines()]
    summary = lines[-1]
    assert "cannot be trusted" in summary["full_run"]
    assert summary["fetched"] == 20 and summary["unchanged"] == 0 and summary["sampled"] == 1
    assert summary["changed"] == 20
    assert any(e.get("event") == "warning" and "fetching every flow" in e.get("message", "") for e in lines)
    for fid in company.flows:
        folder = exported / "flows" / manifest(exported)["flows"][str(fid)]["folder"]
        for vid in server.sim.state.flow_version_ids(company, fid):
            saved = orjson.loads((folder / "versions" / f"{vid}.json").read_bytes())
            assert saved["steps"][0]["config"] == {"quietly": "edited"}


def test_full_runs_on_request_on_schedule_and_after_the_archive_moved(server: Any, config: Path, exported: Path,
                                                                      runner: CliRunner, tmp_path: Path,
                                                                      monkeypatch: Any) -> None:
    def fetched(*extra: Any, cfg: Path = config, archive: Path = exported) -> tuple[int, str | None]:
        out = cli(runner, "export", "--config", cfg, "-p", "company-a", "-a", archive, "--log-format", "json",
                  *extra)
        assert out.exit_code == 0, out.output
        summary = orjson.loads(out.output.strip().splitlines()[-1])
        return summary["fetched"], summary["full_run"]

    assert fetched() == (1, None)
    assert fetched("--full") == (20, "--full")
    every_run = write_config(tmp_path / "daily.toml", server, monkeypatch, max_retries=8, full_every_days=0)
    count, why = fetched(cfg=every_run)
    assert count == 20 and why is not None and "full_every_days = 0" in why
    clone = tmp_path / "clone"
    git(tmp_path, "clone", "-q", str(exported), str(clone))
    count, why = fetched(archive=clone)
    assert count == 20 and why is not None and "first run" in why
    state = exported / ".git" / STATE["fetch state"]
    data = orjson.loads(state.read_bytes())
    assert len(data["flows"]) == 20 and data["head"] == History.open(exported).head()
    git(exported, "commit", "-q", "--allow-empty", "-m", "someone else's commit")
    count, why = fetched()
    assert count == 20 and why is not None and "not the one the last run made" in why


@pytest.mark.parametrize(("unchanged", "rate", "size"), [(0, 0.02, 0), (1, 0.02, 1), (49, 0.02, 1), (51, 0.02, 2),
                                                        (2000, 0.02, 40), (10, 0.0, 1), (10, 1.0, 10)])
def test_the_sample_is_the_configured_share_and_at_least_one(unchanged: int, rate: float, size: int) -> None:
    assert sample_size(unchanged, rate) == size


def test_webhooks_and_deployments_show_in_diff(server: Any, config: Path, exported: Path, runner: CliRunner) -> None:
    company, state = server.sim.company(0), server.sim.state
    fid = next(f for f in sorted(company.flows) if len(state.flow_version_ids(company, f)) == 3
               and any(company.versions[v]["status"] == "Deployed" for v in state.flow_version_ids(company, f)))
    hook = state.create_relation(company, fid, "webhooks", {"status": "active", "format": "xml"})
    draft = state.flow_version_ids(company, fid)[-1]
    state.update_version(company, fid, draft, {"deployed_at": "2026-11-28T01:00:00Z"})
    assert cli(runner, "export", "--config", config, "-p", "company-a", "-a", exported).exit_code == 0
    out = cli(runner, "diff", "--archive", exported, "HEAD~1", "HEAD").output
    assert f"webhooks: added '{hook['url']}'" in out
    assert f"deployments: added version {draft} in production" in out and "deployments: removed version" in out


def test_a_run_of_selected_flows_keeps_the_others_fingerprints(server: Any, config: Path, exported: Path,
                                                               runner: CliRunner) -> None:
    one = str(sorted(server.sim.company(0).flows)[0])
    base = ("export", "--config", config, "-p", "company-a", "-a", exported, "--log-format", "json")
    chosen = cli(runner, *base, "--flow", one, "--full")
    assert chosen.exit_code == 0, chosen.output
    assert orjson.loads(chosen.output.strip().splitlines()[-1])["fetched"] == 1
    nightly = cli(runner, *base)
    summary = orjson.loads(nightly.output.strip().splitlines()[-1])
    assert summary["full_run"] is None and summary["fetched"] == 1 and summary["unchanged"] == 19


def test_a_server_that_refuses_the_includes_is_asked_again_without_them(server: Any, profile_a: Any,
                                                                         tmp_path: Path) -> None:
    """A query builder answers 400 for an include it does not allow (here: only those of the
    reference's parameter list, which names neither `versions` nor `labels`)."""
    run_export(profile_a, tmp_path / "honoured")
    server.sim.allowed_listing_includes = {"latestVersion", "deployedVersion"}
    server.sim.honour_version_include = None  # and the versions list refuses its include too
    result = run_export(profile_a, tmp_path / "refused")
    assert not result.failed and result.exported == 20 and result.complete
    one, two = tree_bytes(tmp_path / "honoured"), tree_bytes(tmp_path / "refused")
    assert {p: b for p, b in one.items() if "/versions/" in p or p.endswith("export.json")} == \
        {p: b for p, b in two.items() if "/versions/" in p or p.endswith("export.json")}
    assert any("deployments not captured" in w for w in result.warnings)


@pytest.mark.parametrize(("dialect", "flag"), [("flat", "int"), ("relations", "string-1"),
                                               ("config-json", "string-true"), ("other-ids", "yes"),
                                               ("export-systems", "ON"), ("dangling", "bool")])
def test_nightly_runs_in_every_dialect_and_flag_spelling(make_server: Any, tmp_path: Path, monkeypatch: Any,
                                                         dialect: str, flag: str) -> None:
    """One request a flow, a quiet night commits nothing, an edit lands, no secret value in git."""
    server = make_server(flows=12, companies=1, dialect=dialect, secret_flag=flag)
    prof = load_config(write_config(tmp_path / "fv.toml", server, monkeypatch)).profile("company-a")
    archive = tmp_path / "archive"
    first = run_export(prof, archive)
    assert first.requests == 12 + 1 and not first.failed and not first.warnings
    quiet = run_export(prof, archive)
    assert (quiet.fetched, quiet.unchanged, quiet.commit) == (1, 11, None)
    company, state = server.sim.company(0), server.sim.state
    fid = sorted(company.flows)[5]
    vid = state.flow_version_ids(company, fid)[0]
    company.versions[vid]["steps"][0]["name"] = "edited tonight"
    state.touch(company, vid)
    night = run_export(prof, archive)
    assert night.full_because is None and night.changes.changed == [f"{company.flows[fid]['name']} (#{fid})"]
    saved = orjson.loads((archive / "flows" / manifest(archive)["flows"][str(fid)]["folder"] / "versions"
                          / f"{vid}.json").read_bytes())
    assert saved["steps"][0]["name"] == "edited tonight"
    secrets = {v["value"] for v in company.versions.values() for v in v["variables"] if v["secret"]}
    everything = b"".join(tree_bytes(archive).values()) + git(archive, "log", "-p").encode()
    assert secrets and not any(s.encode() in everything for s in secrets)


@pytest.mark.parametrize("shape", ["camel", "snake", "wrapped"])
def test_relations_in_every_shape_a_listing_may_use(make_server: Any, tmp_path: Path, monkeypatch: Any,
                                                    shape: str) -> None:
    """`notificationGroups` or `notification_groups`, a list or `{"data": [...]}`: archived, in
    diff, and the nightly run still needs only the listing."""
    server = make_server(flows=15, companies=1)
    server.sim.state.relation_shape = shape
    prof = load_config(write_config(tmp_path / "fv.toml", server, monkeypatch)).profile("company-a")
    archive = tmp_path / "archive"
    first = run_export(prof, archive)
    assert first.requests == 15 + 1 and not first.warnings
    company = server.sim.company(0)
    fid = next(f for f in sorted(company.flows) if company.flows[f].get("_notification_groups"))
    key = "notification_groups" if shape == "snake" else "notificationGroups"
    saved = settings(archive, fid)[key]
    saved = saved["data"] if shape == "wrapped" else saved
    assert [g["name"] for g in saved] == [g["name"] for g in company.flows[fid]["_notification_groups"]]
    hook = server.sim.state.create_relation(company, fid, "webhooks", {"status": "inactive"})
    night = run_export(prof, archive)
    assert night.full_because is None and night.fetched == 2  # the edited flow and the sample
    out = cli(CliRunner(), "diff", "--archive", archive, "HEAD~1", "HEAD").output
    assert f"(#{fid})" in out and f"webhooks: added '{hook['url']}'" in out
