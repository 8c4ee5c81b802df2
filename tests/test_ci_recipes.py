"""CI as the scheduler (#23): the GitHub Actions workflow and the GitLab CI job in samples/ci run
their shell steps here, as the runner would after its checkout, in a clone of a local bare
repository that stands for the archive repository; the export lands there as one commit."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path
from typing import Any

import yaml

from .conftest import git

CI = Path(__file__).resolve().parent.parent / "samples" / "ci"


def archive_repository(server: Any, tmp_path: Path, recipe: str) -> tuple[Path, Path]:
    """A bare repository holding what the user commits (flowvault.toml, the CI file), and the
    runner's checkout of it."""
    seed, bare, checkout = tmp_path / "seed", tmp_path / "archive.git", tmp_path / "checkout"
    git(tmp_path, "init", "-q", "-b", "main", str(seed))
    (seed / "flowvault.toml").write_text(f'[profiles.acme]\nbase_url = "{server.url}"\n'
                                         'api_key_env = "FLOWVAULT_ACME_KEY"\nrate_limit = 0\n')
    (seed / recipe).write_text((CI / recipe).read_text())
    git(seed, "add", ".")
    git(seed, "-c", "user.name=u", "-c", "user.email=u@x", "commit", "-qm", "set up the nightly backup")
    git(tmp_path, "clone", "-q", "--bare", str(seed), str(bare))
    git(tmp_path, "clone", "-q", str(bare), str(checkout))  # actions/checkout, GIT_STRATEGY: clone
    return bare, checkout


def run(lines: str, checkout: Path, env: dict[str, str]) -> None:
    done = subprocess.run(["bash", "-eo", "pipefail", "-c", lines], cwd=checkout, env={**os.environ, **env},
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]


def landed(bare: Path, server: Any) -> None:
    subjects = git(bare, "log", "--format=%s", "main").splitlines()
    assert subjects[0] == f"export acme: {len(server.sim.company(0).flows)} added, 0 changed, 0 removed"
    assert subjects[1] == "set up the nightly backup"  # the user's own files were left as they were
    files = git(bare, "ls-tree", "-r", "--name-only", "main").splitlines()
    assert "manifest.json" in files and "flowvault.toml" in files and not any("report" in f for f in files)


def test_the_github_actions_workflow_runs_the_export_into_the_repository(server: Any, tmp_path: Path) -> None:
    workflow = yaml.safe_load((CI / "github-actions.yml").read_text())
    bare, checkout = archive_repository(server, tmp_path, "github-actions.yml")
    secrets = {"FLOWVAULT_ACME_KEY": server.sim.company(0).api_key, "FLOWVAULT_FINGERPRINT_KEY": "ab" * 32}
    steps = [s for s in workflow["jobs"]["export"]["steps"] if "run" in s and s.get("name") != "Install flowvault"]
    assert steps
    for step in steps:
        env = {k: secrets[v.split("secrets.")[1].strip(" }")] if "secrets." in str(v) else str(v)
               for k, v in (step.get("env") or {}).items()}
        run(step["run"], checkout, {**env, "RUNNER_TEMP": str(tmp_path)})
    landed(bare, server)
    assert (tmp_path / "flowvault-report.json").exists()  # the artifact step's file


def test_the_gitlab_ci_job_runs_the_export_into_the_repository(server: Any, tmp_path: Path) -> None:
    job = yaml.safe_load((CI / "gitlab-ci.yml").read_text())["flowvault-nightly"]
    bare, checkout = archive_repository(server, tmp_path, "gitlab-ci.yml")
    git(checkout, "checkout", "-q", "--detach")  # GitLab's runner leaves HEAD detached
    env = {"FLOWVAULT_ACME_KEY": server.sim.company(0).api_key, "FLOWVAULT_FINGERPRINT_KEY": "cd" * 32,
           "FLOWVAULT_PUSH_URL": str(bare), "CI_COMMIT_REF_NAME": "main", **job["variables"]}
    run("\n".join(job["script"]), checkout, env)
    landed(bare, server)
