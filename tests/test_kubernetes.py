"""The fleet's Kubernetes recipe (#23): every manifest validates against the Kubernetes schemas
(kubernetes-validate, no cluster), the image recipe runs as a non-root user, and the pod's own
script, run here once per index with local bare repositories as the remotes, exports each
profile exactly once and pushes it to its own remote."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

from .conftest import git, write_config

SAMPLES = Path(__file__).resolve().parent.parent / "samples"
FLEET = SAMPLES / "kubernetes" / "fleet.yaml"
VERSION = "1.30.0"


@pytest.mark.parametrize("path", [FLEET, SAMPLES / "unattended" / "k8s-cronjob.yaml"], ids=lambda p: p.name)
def test_every_manifest_validates_against_the_kubernetes_schemas(path: Path) -> None:
    docs = [d for d in yaml.safe_load_all(path.read_text(encoding="utf-8")) if d]
    assert docs
    for doc in docs:
        kubernetes_validate.validate(doc, VERSION, strict=True)  # raises on any unknown or wrong field
    jobs = [d for d in docs if d["kind"] == "CronJob"]
    assert jobs and all(j["spec"]["concurrencyPolicy"] == "Forbid" for j in jobs)


def test_the_fleet_job_is_indexed_read_only_and_non_root() -> None:
    docs = {d["kind"]: d for d in yaml.safe_load_all(FLEET.read_text(encoding="utf-8")) if d}
    job = docs["CronJob"]["spec"]["jobTemplate"]["spec"]
    pod = job["template"]["spec"]
    assert job["completionMode"] == "Indexed" and job["completions"] == job["parallelism"]
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["containers"][0]["securityContext"]["readOnlyRootFilesystem"] is True
    assert "FLOWVAULT_FINGERPRINT_KEY" in docs["Secret"]["stringData"]
    from flowvault.config import parse_config

    config = parse_config(docs["ConfigMap"]["data"]["flowvault.toml"], Path("fleet.yaml"))  # as flowvault reads it
    assert len(config.profiles) == 3 and config.max_in_flight == 64
    dockerfile = (SAMPLES / "kubernetes" / "Dockerfile").read_text(encoding="utf-8")
    assert "USER 10001" in dockerfile and "git" in dockerfile and "python:3.11-slim" in dockerfile


def test_the_pods_script_exports_each_profile_once_into_its_own_remote(make_server: Any, tmp_path: Path,
                                                                       monkeypatch: Any) -> None:
    server = make_server(flows=3, companies=3, empty_companies=0)
    docs = {d["kind"]: d for d in yaml.safe_load_all(FLEET.read_text(encoding="utf-8")) if d}
    etc, work, remotes = tmp_path / "etc", tmp_path / "work", tmp_path / "remotes"
    etc.mkdir()
    write_config(etc / "flowvault.toml", server, monkeypatch)
    profiles = [c.name for c in server.sim.state.companies]
    for name in profiles:
        subprocess.run(["git", "init", "-q", "--bare", str(remotes / f"{name}.git")], check=True)
    script = docs["ConfigMap"]["data"]["run.sh"].replace("/etc/flowvault", str(etc)).replace("/work", str(work))
    (etc / "run.sh").write_text(script)
    count = docs["CronJob"]["spec"]["jobTemplate"]["spec"]["completions"]
    for index in range(count):  # the pods of one night, one after another here
        env = {**os.environ, "JOB_COMPLETION_INDEX": str(index), "JOB_COMPLETIONS": str(count),
               "ARCHIVE_REMOTE_BASE": str(remotes), "SPREAD_SECONDS": "0", "HOME": str(tmp_path)}
        pod = subprocess.run(["/bin/sh", str(etc / "run.sh")], env=env, capture_output=True, text=True, timeout=120)
        assert pod.returncode == 0, pod.stderr  # an index the hash gave no profile says so and exits 0
        subprocess.run(["rm", "-rf", str(work)], check=True)  # the pod's emptyDir goes with it
    for name in profiles:  # each remote holds exactly one export of its own company
        log = git(remotes / f"{name}.git", "log", "--format=%s", "--all")
        assert log.splitlines() == [f"export {name}: 3 added, 0 changed, 0 removed"], (name, log)
