"""Monitoring people already run (#23): ``export --metrics FILE`` leaves a Prometheus textfile that
prometheus-client's own parser reads, one series per profile; a failed night keeps the last
success time of the night before, so "no success in 26 h" alerts on the truth."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from click.testing import CliRunner
from prometheus_client.parser import text_string_to_metric_families

from flowvault.cli import main

from .conftest import write_config

ALERTS = Path(__file__).resolve().parent.parent / "samples" / "monitoring" / "flowvault-alerts.yml"


def read(path: Path) -> dict[str, dict[str, float]]:
    """metric → profile → value, as Prometheus would scrape it."""
    return {f.name: {s.labels["profile"]: s.value for s in f.samples}
            for f in text_string_to_metric_families(path.read_text(encoding="utf-8"))}


def test_the_textfile_parses_and_a_failed_night_keeps_the_last_success(server: Any, tmp_path: Path,
                                                                      monkeypatch: Any) -> None:
    config = write_config(tmp_path / "fv.toml", server, monkeypatch, max_retries=0)
    metrics = tmp_path / "textfile" / "flowvault.prom"
    metrics.parent.mkdir()
    args = ["export", "--config", str(config), "--all-profiles", "--archive", str(tmp_path / "root"),
            "--metrics", str(metrics)]
    first = CliRunner().invoke(main, args)
    assert first.exit_code == 0, first.output
    night = read(metrics)
    company = server.sim.company(0)
    assert night["flowvault_flows"]["company-a"] == len(company.flows)
    assert night["flowvault_failed_flows"]["company-a"] == 0 and night["flowvault_exit_code"]["company-a"] == 0
    assert night["flowvault_requests"]["company-a"] > 0 and "company-b" in night["flowvault_flows"]
    succeeded = night["flowvault_last_success_timestamp_seconds"]["company-a"]

    server.sim.refused[("POST", r"/api/v1/flows/export")] = 500  # every export document fails tonight
    second = CliRunner().invoke(main, args)
    assert second.exit_code == 3, second.output
    after = read(metrics)
    assert after["flowvault_failed_flows"]["company-a"] >= 1  # the nightly fetches only its sample
    assert after["flowvault_exit_code"]["company-a"] == 3
    assert after["flowvault_last_success_timestamp_seconds"]["company-a"] == succeeded  # not tonight's time
    assert set(after) >= {"flowvault_removed_flows", "flowvault_run_duration_seconds", "flowvault_throttled_replies"}


def test_the_sample_alert_rules_name_the_metrics_the_textfile_has() -> None:
    rules = ALERTS.read_text(encoding="utf-8")
    for metric in ("flowvault_last_success_timestamp_seconds", "flowvault_failed_flows", "flowvault_exit_code"):
        assert metric in rules
    assert "26 * 3600" in rules
