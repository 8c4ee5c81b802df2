"""Off-site copies that are proven (#23): ``export --push`` retries, checks that each remote holds
the commit, takes a remote that moved when its new commits leave flowvault's files alone, and
refuses by name when they do not. Real bare repositories stand in for the remotes."""

from __future__ import annotations

import stat
import subprocess
from pathlib import Path
from typing import Any

import orjson
from click.testing import CliRunner

from flowvault.cli import main

from .conftest import git, write_config


def bare(path: Path, hook: str | None = None, body: str = "") -> Path:
    subprocess.run(["git", "init", "-q", "--bare", str(path)], check=True)
    if hook:
        script = path / "hooks" / hook
        script.write_text("#!/bin/sh\n" + body)
        script.chmod(script.stat().st_mode | stat.S_IEXEC)
    return path


def export(config: Path, archive: Path) -> Any:
    return CliRunner().invoke(main, ["export", "--config", str(config), "-p", "company-a", "--archive", str(archive),
                                     "--push", "--log-format", "json"])


def events(output: str, kind: str) -> list[dict[str, Any]]:
    return [e for e in map(orjson.loads, filter(None, output.splitlines())) if e.get("event") == kind]


def remote_head(remote: Path, archive: Path) -> str:
    branch = git(archive, "rev-parse", "--abbrev-ref", "HEAD").strip()
    return git(remote, "rev-parse", f"refs/heads/{branch}").strip()


def test_a_push_that_fails_once_is_retried_and_proven(server: Any, tmp_path: Path, monkeypatch: Any) -> None:
    remote = bare(tmp_path / "remote.git", "pre-receive",
                  f'if [ ! -f "{tmp_path}/failed-once" ]; then touch "{tmp_path}/failed-once"; '
                  'echo "remote: disk full" >&2; exit 1; fi\nexit 0\n')
    archive = tmp_path / "archive"
    git(tmp_path, "init", "-q", str(archive))
    git(archive, "remote", "add", "origin", str(remote))
    config = write_config(tmp_path / "fv.toml", server, monkeypatch)
    result = export(config, archive)
    assert result.exit_code == 0, result.output
    assert any("trying again" in w["message"] for w in events(result.output, "warning"))
    head = git(archive, "rev-parse", "HEAD").strip()
    assert remote_head(remote, archive) == head and events(result.output, "pushed")[0]["commit"] == head


def test_a_remote_that_does_not_keep_the_commit_is_a_push_failure(server: Any, tmp_path: Path,
                                                                   monkeypatch: Any) -> None:
    """The push is accepted, then the remote's branch is put back (a hook, a mirror that lags): the
    proof finds the commit missing there, exit 8, the local commit kept."""
    remote = bare(tmp_path / "remote.git", "post-receive",
                  'while read old new ref; do [ "$old" != 0000000000000000000000000000000000000000 ] && '
                  'git update-ref "$ref" "$old"; [ "$old" = 0000000000000000000000000000000000000000 ] && '
                  'git update-ref -d "$ref"; done; exit 0\n')
    archive = tmp_path / "archive"
    git(tmp_path, "init", "-q", str(archive))
    git(archive, "remote", "add", "origin", str(remote))
    config = write_config(tmp_path / "fv.toml", server, monkeypatch, push_attempts=1)
    result = export(config, archive)
    assert result.exit_code == 8 and "names nothing after the push" in result.output, result.output
    assert git(archive, "rev-parse", "HEAD").strip()


def test_a_remote_that_moved_is_taken_when_it_leaves_flowvaults_files_alone(server: Any, tmp_path: Path,
                                                                            monkeypatch: Any) -> None:
    remote, archive = bare(tmp_path / "remote.git"), tmp_path / "archive"
    git(tmp_path, "init", "-q", str(archive))
    git(archive, "remote", "add", "origin", str(remote))
    config = write_config(tmp_path / "fv.toml", server, monkeypatch)
    assert export(config, archive).exit_code == 0
    other = tmp_path / "colleague"
    git(tmp_path, "clone", "-q", str(remote), str(other))
    (other / "README.md").write_text("our flows, backed up nightly\n")
    git(other, "add", "README.md")
    git(other, "-c", "user.name=c", "-c", "user.email=c@x", "commit", "-qm", "add a README")
    git(other, "push", "-q", "origin", "HEAD")
    company = server.sim.company(0)
    server.sim.state.update_flow(company, sorted(company.flows)[0], {"flow": {"name": "renamed tonight"}})
    result = export(config, archive)
    assert result.exit_code == 0, result.output
    head = git(archive, "rev-parse", "HEAD").strip()
    assert remote_head(remote, archive) == head and (archive / "README.md").exists()
    assert "add a README" in git(archive, "log", "--format=%s", "-3")

    git(other, "fetch", "-q", "origin")
    git(other, "reset", "-q", "--hard", "origin/" + git(archive, "rev-parse", "--abbrev-ref", "HEAD").strip())
    (other / "manifest.json").write_text("{}")  # someone edits flowvault's own files on the remote
    git(other, "add", "manifest.json")
    git(other, "-c", "user.name=c", "-c", "user.email=c@x", "commit", "-qm", "hand edit")
    git(other, "push", "-q", "origin", "HEAD")
    server.sim.state.update_flow(company, sorted(company.flows)[0], {"flow": {"name": "renamed again"}})
    refused = export(config, archive)
    assert refused.exit_code == 8 and "manifest.json" in refused.output and "hand edit" in refused.output
    assert git(archive, "log", "-1", "--format=%s").startswith("export company-a")  # the local commit is kept
    assert remote_head(remote, archive) != git(archive, "rev-parse", "HEAD").strip()


def test_every_remote_is_pushed_and_one_failing_is_named(server: Any, tmp_path: Path, monkeypatch: Any) -> None:
    good = bare(tmp_path / "good.git")
    archive = tmp_path / "archive"
    git(tmp_path, "init", "-q", str(archive))
    git(archive, "remote", "add", "origin", str(good))
    git(archive, "remote", "add", "offsite", str(tmp_path / "no-such-remote.git"))
    config = write_config(tmp_path / "fv.toml", server, monkeypatch, push_remotes=["offsite", "origin"],
                          push_attempts=1)
    result = export(config, archive)
    assert result.exit_code == 8 and "'offsite'" in result.output and "'origin'" not in result.output.split(
        "error")[-1], result.output
    assert remote_head(good, archive) == git(archive, "rev-parse", "HEAD").strip()


def test_doctor_checks_each_remote_the_profile_pushes_to(server: Any, tmp_path: Path, monkeypatch: Any) -> None:
    good = bare(tmp_path / "good.git")
    archive = tmp_path / "archive"
    git(tmp_path, "init", "-q", str(archive))
    git(archive, "remote", "add", "origin", str(good))
    config = write_config(tmp_path / "fv.toml", server, monkeypatch, push_remotes=["origin", "offsite"])
    assert export(config, archive).exit_code == 8  # offsite is missing: the commit is kept, origin has it
    doctor = CliRunner().invoke(main, ["doctor", "--config", str(config), "-p", "company-a", "--archive", str(archive)])
    lines = doctor.output.splitlines()
    assert any("'origin' reachable and writable" in line for line in lines), doctor.output
    assert any("no git remote 'offsite'" in line and "✗" in line for line in lines) and doctor.exit_code == 9
