"""Export against the simulator over HTTP into a real git repo."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import orjson
from click.testing import CliRunner

from flowvault.exportrun import run_export
from flowvault.archive import MANIFEST, Archive, slugify
from flowvault.canonical import REDACTED, dumps, looks_like_credential
from flowvault.cli import main
from flowvault.config import load_config
from flowvault.errors import EXIT_PARTIAL
from flowvault.history import MARKER, History

from .conftest import git, manifest, tree_bytes, write_config


def test_every_flow_version_and_schedule_is_archived_as_served(make_server: Any, tmp_path: Path,
                                                               monkeypatch: Any) -> None:
    server = make_server(flows=150, versions=3)
    cfg = write_config(tmp_path / "fv.toml", server, monkeypatch)
    archive = tmp_path / "archive"
    result = run_export(load_config(cfg).profile("company-a"), archive)
    company = server.sim.company(0)
    m = manifest(archive)
    assert result.exported == 150 and not result.failed
    assert sorted(int(k) for k in m["flows"]) == sorted(company.flows)
    for fid, flow in company.flows.items():
        entry = m["flows"][str(fid)]
        folder = archive / "flows" / entry["folder"]
        assert orjson.loads((folder / "flow.json").read_bytes())["name"] == flow["name"]
        vids = server.sim.state.flow_version_ids(company, fid)
        assert entry["versions"] == len(vids) == 3
        for vid in vids:
            saved = orjson.loads((folder / "versions" / f"{vid}.json").read_bytes())
            served = company.versions[vid]
            assert saved["status"] == served["status"] and saved["deployed_at"] == served["deployed_at"]
            assert [s["id"] for s in saved["steps"]] == [s["id"] for s in served["steps"]]
            assert [s["config"] for s in saved["steps"]] == [s["config"] for s in served["steps"]]
            crons = [s["cron_string"] for s in server.sim.state.version_schedules(company, vid)]
            assert [s["cron_string"] for s in saved["schedules"]] == crons
            assert len(saved["variables"]) == len(served["variables"])
            for var, real in zip(saved["variables"], served["variables"], strict=True):
                assert var["key"] == real["key"]
                hidden = real["secret"] or looks_like_credential(real["key"])  # the flag, or the name net
                assert var["value"] == (REDACTED if hidden else real["value"])
        for rel, digest in entry["files"].items():
            import hashlib
            assert hashlib.sha256((folder / rel).read_bytes()).hexdigest() == digest
    assert len(git(archive, "log", "--oneline").splitlines()) == 1
    assert "150 added" in git(archive, "log", "-1", "--format=%s")


def test_no_change_no_commit_no_rewrite_then_edit_and_delete(server: Any, profile_a: Any, tmp_path: Path) -> None:
    archive = tmp_path / "archive"
    run_export(profile_a, archive)
    head = History.open(archive).head()
    mtimes = {p: p.stat().st_mtime_ns for p in archive.rglob("*.json")}
    company = server.sim.company(0)
    server.sim.state.companies[0].flows[next(iter(company.flows))]["last_run_at"] = "2099-01-01T00:00:00Z"
    again = run_export(profile_a, archive)
    assert again.commit is None and History.open(archive).head() == head
    assert again.changes.files_written == 0
    assert {p: p.stat().st_mtime_ns for p in archive.rglob("*.json")} == mtimes

    ids = sorted(company.flows)
    edited, deleted = ids[2], ids[3]
    edited_folder = manifest(archive)["flows"][str(edited)]["folder"]
    deleted_name = company.flows[deleted]["name"]
    deleted_folder = manifest(archive)["flows"][str(deleted)]["folder"]
    server.sim.state.update_flow(company, edited, {"flow": {"description": "new words"}})
    run_export(profile_a, archive)
    changed = git(archive, "diff", "--name-only", "HEAD~1", "HEAD").split()
    assert changed and all(p.startswith(f"flows/{edited_folder}/") or p == MANIFEST for p in changed)

    server.sim.state.delete_flow(company, deleted)
    run_export(profile_a, archive)
    assert not (archive / "flows" / deleted_folder).exists()
    log = git(archive, "log", "-1", "--format=%B")
    assert "1 removed" in log and f"removed: {deleted_name} (#{deleted})" in log


def test_failed_flow_keeps_its_files_and_exits_partial(server: Any, tmp_path: Path, runner: CliRunner,
                                                      monkeypatch: Any) -> None:
    config = write_config(tmp_path / "fv.toml", server, monkeypatch, max_retries=2)
    archive = tmp_path / "archive"
    args = ["export", "--config", str(config), "--profile", "company-a", "--archive", str(archive)]
    assert runner.invoke(main, args).exit_code == 0
    company = server.sim.company(0)
    victim = sorted(company.flows)[5]
    before = tree_bytes(archive)
    server.sim.failing_flows.add(victim)
    server.sim.state.update_flow(company, victim, {"flow": {"description": "edited, so this run fetches it"}})
    server.sim.state.delete_flow(company, sorted(company.flows)[6])
    result = runner.invoke(main, args)
    assert result.exit_code == EXIT_PARTIAL, result.output
    assert "failed" in result.output and f"#{victim}" in result.output
    folder = manifest(archive)["flows"][str(victim)]["folder"]
    after = tree_bytes(archive)
    for rel, data in before.items():
        if rel.startswith(f"flows/{folder}/"):
            assert after[rel] == data
    assert "failed (kept previous copy)" in git(archive, "log", "-1", "--format=%B")


def test_incomplete_listing_removes_nothing(server: Any, profile_a: Any, tmp_path: Path) -> None:
    archive = tmp_path / "archive"
    run_export(profile_a, archive)
    company = server.sim.company(0)
    gone = sorted(company.flows)[0]
    server.sim.state.delete_flow(company, gone)
    server.sim.total_skew = 1
    result = run_export(profile_a, archive)
    assert not result.complete and "meta.total" in result.warnings[0]
    assert str(gone) in manifest(archive)["flows"]
    assert not result.changes.removed


def test_faulty_server_gives_a_byte_identical_archive(make_server: Any, tmp_path: Path, monkeypatch: Any) -> None:
    server = make_server(flows=40)
    cfg = write_config(tmp_path / "fv.toml", server, monkeypatch, max_retries=12)
    prof = load_config(cfg).profile("company-a")
    clean, faulty = tmp_path / "clean", tmp_path / "faulty"
    run_export(prof, clean)
    server.sim.faults.error_rate = 0.1
    server.sim.faults.rate_limit = 150
    server.sim.faults.burst = 10
    result = run_export(prof, faulty)
    assert result.retries > 0 and not result.failed
    assert tree_bytes(clean) == tree_bytes(faulty)


def test_versions_without_includes_are_fetched_one_by_one(server: Any, profile_a: Any, tmp_path: Path) -> None:
    """If the API ignores ?include= on the listing and on the versions list, each version's
    detail and schedules are fetched instead, and the versions and export documents are the same."""
    run_export(profile_a, tmp_path / "one")
    server.sim.honour_listing_include = {"versions"}  # versions without their schedules and variables
    server.sim.honour_version_include = False
    result = run_export(profile_a, tmp_path / "two")
    one, two = tree_bytes(tmp_path / "one"), tree_bytes(tmp_path / "two")
    assert {p: b for p, b in one.items() if "/versions/" in p or p.endswith("export.json")} == \
        {p: b for p, b in two.items() if "/versions/" in p or p.endswith("export.json")}
    assert result.requests > 2 * result.exported + 1


def test_no_api_key_or_secret_value_anywhere_in_the_repo(server: Any, profile_a: Any, tmp_path: Path) -> None:
    archive = tmp_path / "archive"
    run_export(profile_a, archive)
    company = server.sim.company(0)
    secrets = {var["value"] for v in company.versions.values() for var in v["variables"] if var["secret"]}
    assert secrets
    for needle in [company.api_key, *secrets]:
        hits = subprocess.run(["git", "-C", str(archive), "grep", "-F", needle, "HEAD"], capture_output=True)
        assert hits.returncode == 1, f"found a secret in the archive: {needle[:6]}…"
        assert needle.encode() not in b"".join(tree_bytes(archive).values())


def test_interrupted_run_is_rolled_back_before_the_next(server: Any, profile_a: Any, tmp_path: Path) -> None:
    archive = tmp_path / "archive"
    run_export(profile_a, archive)
    head = History.open(archive).head()
    (archive / "flows" / "half-written").mkdir()
    (archive / "flows" / "half-written" / "flow.json").write_text("{")
    (archive / MANIFEST).write_text("{")
    (archive / ".git" / MARKER).write_text("12345")
    result = run_export(profile_a, archive)
    assert result.commit is None and History.open(archive).head() == head
    assert not (archive / "flows" / "half-written").exists()
    assert History.open(archive).dirty_paths() == []


def test_hostile_names_stay_inside_their_folder() -> None:
    for name in ["../../etc/passwd", "CON", "📦🚚", "x" * 300, "a/b\\c", "..", ""]:
        slug = slugify(name)
        assert slug and "/" not in slug and "\\" not in slug and slug not in (".", "..")
        assert len(slug) <= 60 and slug.lower() != "con"


def test_canonical_json_is_stable() -> None:
    assert dumps({"b": 1, "a": [1, {"d": 2, "c": 3}]}) == dumps({"a": [1, {"c": 3, "d": 2}], "b": 1})
    assert dumps({"a": 1}).endswith(b"}\n") and b'\n  "a": 1' in dumps({"a": 1})


def test_flow_selection_and_unknown_flow(server: Any, config: Path, tmp_path: Path, runner: CliRunner) -> None:
    archive = tmp_path / "archive"
    fid = sorted(server.sim.company(0).flows)[0]
    base = ["export", "--config", str(config), "-p", "company-a", "--archive", str(archive)]
    ok = runner.invoke(main, [*base, "--flow", str(fid)])
    assert ok.exit_code == 0, ok.output
    assert list(manifest(archive)["flows"]) == [str(fid)]
    bad = runner.invoke(main, [*base, "--flow", "no such flow"])
    assert bad.exit_code == 2 and "no flow with ID or name 'no such flow'" in bad.output
    assert len(Archive(archive).read_manifest()["flows"]) == 1


def test_json_log_lines_and_wrong_key_exit_code(server: Any, config: Path, tmp_path: Path, runner: CliRunner,
                                               monkeypatch: Any) -> None:
    args = ["export", "--config", str(config), "-p", "company-a", "--archive", str(tmp_path / "a"),
            "--log-format", "json"]
    result = runner.invoke(main, args)
    events = [orjson.loads(line) for line in result.output.splitlines()]
    assert events[-1]["event"] == "summary" and events[-1]["flows_exported"] == 20
    assert sum(e["event"] == "flow_exported" for e in events) == 20
    monkeypatch.setenv("FV_TEST_KEY_0", "pwk_wrong_key_value_abcdef")
    bad = runner.invoke(main, args)
    assert bad.exit_code == 5 and "refused the API key" in bad.output
    assert "pwk_wrong_key_value_abcdef" not in bad.output


def test_push_failure_keeps_the_local_commit(server: Any, config: Path, tmp_path: Path, runner: CliRunner) -> None:
    archive = tmp_path / "archive"
    args = ["export", "--config", str(config), "-p", "company-a", "--archive", str(archive), "--push"]
    result = runner.invoke(main, args)
    assert result.exit_code == 8 and "no git remote 'origin'" in result.output
    assert History.open(archive).head() is not None
    remote = tmp_path / "remote.git"
    subprocess.run(["git", "init", "-q", "--bare", str(remote)], check=True)
    git(archive, "remote", "add", "origin", str(remote))
    assert runner.invoke(main, args).exit_code == 0
    assert git(remote, "log", "--oneline", "-1")


def test_demo_runs_with_no_account(tmp_path: Path, runner: CliRunner) -> None:
    result = runner.invoke(main, ["demo", "--dir", str(tmp_path / "demo"), "--flows", "8"])
    assert result.exit_code == 0, result.output
    assert "1 changed, 1 removed" in result.output and "8 added" in result.output
