"""Unattended runs: every profile, the run report, heartbeats and doctor."""

from __future__ import annotations

import subprocess
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import orjson
import pytest
from click.testing import CliRunner

from flowvault.cli import main
from flowvault.errors import EXIT_CONFIG, EXIT_DOCTOR, EXIT_PARTIAL

from .conftest import write_config


class Pings:
    """A real HTTP server on 127.0.0.1 recording what it receives (a healthchecks.io stand-in)."""

    def __init__(self) -> None:
        self.hits: list[tuple[str, str, str]] = []
        hits = self.hits

        class Handler(BaseHTTPRequestHandler):
            def _record(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                hits.append((self.command, self.path, self.rfile.read(length).decode()))
                self.send_response(200)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"OK")

            do_GET = do_POST = _record

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/ping/abc"
        threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True).start()


@pytest.fixture
def pings() -> Iterator[Pings]:
    p = Pings()
    yield p
    p.server.shutdown()
    p.server.server_close()


def broken_config(tmp_path: Path, server: Any, monkeypatch: Any) -> Path:
    cfg = write_config(tmp_path / "fv.toml", server, monkeypatch)
    monkeypatch.delenv("FV_BROKEN_KEY", raising=False)
    cfg.write_text(cfg.read_text() + f'[profiles.broken]\nbase_url = "{server.url}"\napi_key_env = "FV_BROKEN_KEY"\n')
    return cfg


def test_all_profiles_with_one_broken_profile(server: Any, tmp_path: Path, monkeypatch: Any, runner: CliRunner,
                                              pings: Pings) -> None:
    cfg = broken_config(tmp_path, server, monkeypatch)
    root, report = tmp_path / "archives", tmp_path / "report.json"
    result = runner.invoke(main, ["export", "--config", str(cfg), "--all-profiles", "--archive", str(root),
                                  "--report", str(report), "--heartbeat-url", pings.url])
    assert result.exit_code == EXIT_CONFIG, result.output
    assert "profile 'broken'" in result.output and "FV_BROKEN_KEY is not set" in result.output
    for name in ("company-a", "company-b"):
        log = subprocess.run(["git", "-C", str(root / name), "log", "--format=%s"], capture_output=True, text=True)
        assert log.stdout.startswith(f"export {name}: 20 added")
    data = orjson.loads(report.read_bytes())
    assert data["exit_code"] == EXIT_CONFIG
    a, broken = data["profiles"]["company-a"], data["profiles"]["broken"]
    assert a["status"] == "ok" and a["flows"] == 20 and len(a["added"]) == 20 and len(a["commit"]) == 40
    assert a["requests"] > 0 and a["duration_s"] > 0 and a["failed"] == {}
    assert broken["status"] == "error" and "FV_BROKEN_KEY" in broken["error"]
    assert [(m, p) for m, p, _ in pings.hits] == [("POST", "/ping/abc/fail")]
    assert "broken: error (exit 4)" in pings.hits[0][2] and "company-a: ok" in pings.hits[0][2]


def test_report_and_heartbeat_on_success_and_partial_failure(server: Any, tmp_path: Path, monkeypatch: Any,
                                                             runner: CliRunner, pings: Pings) -> None:
    config = write_config(tmp_path / "fv.toml", server, monkeypatch, max_retries=1)
    archive, report = tmp_path / "archive", tmp_path / "report.json"
    args = ["export", "--config", str(config), "-p", "company-a", "--archive", str(archive),
            "--report", str(report), "--heartbeat-url", pings.url]
    assert runner.invoke(main, args).exit_code == 0
    assert pings.hits == [("GET", "/ping/abc", "")]
    server.sim.failing_flows.add(sorted(server.sim.company(0).flows)[0])
    server.sim.state.update_flow(server.sim.company(0), sorted(server.sim.company(0).flows)[0],
                                 {"flow": {"description": "edited: fetched, and failing"}})
    server.sim.state.update_flow(server.sim.company(0), sorted(server.sim.company(0).flows)[1],
                                 {"flow": {"description": "x"}})
    partial = runner.invoke(main, args)
    assert partial.exit_code == EXIT_PARTIAL
    data = orjson.loads(report.read_bytes())["profiles"]["company-a"]
    assert data["status"] == "partial" and len(data["failed"]) == 1 and len(data["changed"]) == 1
    assert pings.hits[-1][:2] == ("POST", "/ping/abc/fail") and "partial (exit 3)" in pings.hits[-1][2]
    page = (tmp_path / "report.html").read_text()  # the night's commit as a page, beside the report
    changed = sorted(server.sim.company(0).flows)[1]
    assert "0 added, 1 changed, 0 removed" in page and f'data-flow="{changed}"' in page


def test_unreachable_heartbeat_is_a_warning_not_a_failure(server: Any, config: Path, tmp_path: Path,
                                                          runner: CliRunner) -> None:
    result = runner.invoke(main, ["export", "--config", str(config), "-p", "company-a", "--archive",
                                  str(tmp_path / "a"), "--heartbeat-url", "http://127.0.0.1:9/ping",
                                  "--log-format", "json"])
    assert result.exit_code == 0
    assert '"heartbeat not delivered' in result.output


def test_doctor_all_green_then_each_check_failing(server: Any, tmp_path: Path, monkeypatch: Any,
                                                  runner: CliRunner, config: Path) -> None:
    archive = tmp_path / "archive"
    first = runner.invoke(main, ["export", "--config", str(config), "-p", "company-a", "-a", str(archive)])
    assert first.exit_code == 0
    ok = runner.invoke(main, ["doctor", "--config", str(config), "--archive", str(archive)])
    assert ok.exit_code == 0, ok.output
    assert "✓ profile company-a: API" in ok.output and "key accepted, 20 flows" in ok.output
    assert "✓ archive" in ok.output and "committer" in ok.output
    assert "next export" in ok.output and "only what the listing shows changed" in ok.output \
        and "20 flows known" in ok.output

    missing = runner.invoke(main, ["doctor", "--config", str(tmp_path / "nope.toml")])
    assert missing.exit_code == EXIT_DOCTOR and "✗ config" in missing.output and "not found" in missing.output

    cfg = broken_config(tmp_path, server, monkeypatch)
    unset = runner.invoke(main, ["doctor", "--config", str(cfg), "-p", "broken"])
    assert unset.exit_code == EXIT_DOCTOR and "✗ profile broken: key" in unset.output

    monkeypatch.setenv("FV_BROKEN_KEY", "pwk_not_a_real_key_000")
    refused = runner.invoke(main, ["doctor", "--config", str(cfg), "-p", "broken"])
    assert refused.exit_code == EXIT_DOCTOR
    assert "✗ profile broken: API" in refused.output and "refused the API key" in refused.output
    assert "pwk_not_a_real_key_000" not in refused.output

    cfg.write_text(cfg.read_text().replace(server.url, "http://127.0.0.1:9"))
    down = runner.invoke(main, ["doctor", "--config", str(cfg), "-p", "company-a"])
    assert down.exit_code == EXIT_DOCTOR and "could not connect" in down.output

    not_repo = tmp_path / "plain"
    not_repo.mkdir()
    bad_archive = runner.invoke(main, ["doctor", "--config", str(config), "-p", "company-a", "-a", str(not_repo)])
    assert bad_archive.exit_code == EXIT_DOCTOR and "not an archive" in bad_archive.output

    subprocess.run(["git", "-C", str(archive), "remote", "add", "origin", str(tmp_path / "gone.git")], check=True)
    remote = runner.invoke(main, ["doctor", "--config", str(config), "-p", "company-a", "-a", str(archive)])
    assert remote.exit_code == EXIT_DOCTOR and "✗ archive" in remote.output and "unreachable" in remote.output
