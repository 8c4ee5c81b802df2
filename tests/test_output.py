"""JSON lines a machine can rely on: the manual's event table (docs/output.md) is the code's, and every line real
runs print validates against it; stdout holds nothing but JSON and ends with one final object."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import orjson
from click.testing import CliRunner

from flowvault.output import EVENTS

from .conftest import cli, write_config

MANUAL = Path(__file__).resolve().parent.parent / "docs" / "output.md"
TYPES = {"int": int, "str": str, "float": float, "bool": bool, "object": dict, "list": list}


def documented() -> dict[str, dict[str, tuple[type, ...]]]:
    out = {}
    text = MANUAL.read_text(encoding="utf-8")
    section = text[text.index("## Output"):]
    for m in re.finditer(r"^\| `(\w+)` \| (.*) \|$", section, re.MULTILINE):
        fields = re.findall(r"`(\w+)` \(([\w|]+)\)", m.group(2))
        out[m.group(1)] = {k: tuple(TYPES[t] for t in ts.split("|")) for k, ts in fields}
    return out


def validate(stdout: str) -> list[dict[str, Any]]:
    events = [orjson.loads(line) for line in stdout.splitlines()]  # nothing but JSON
    for e in events:
        assert e["event"] in EVENTS, e
        for key, types in EVENTS[e["event"]].items():
            assert type(e[key]) in types or (float in types and type(e[key]) is int), (e, key)
    assert events and events[-1]["event"] in ("summary", "error")
    return events


def test_the_readme_documents_every_event_the_code_knows() -> None:
    assert documented() == EVENTS


def test_every_event_of_real_runs_validates(server: Any, tmp_path: Path, monkeypatch: Any) -> None:
    config = write_config(tmp_path / "fv.toml", server, monkeypatch, max_retries=1)
    runner = CliRunner()
    archive = tmp_path / "archive"
    company = server.sim.company(0)
    server.sim.failing_flows.add(sorted(company.flows)[0])
    server.sim.faults.error_rate = 0.05  # retries
    seen: set[str] = set()
    runs = [
        ["export", "--config", config, "-p", "company-a", "-a", archive],
        ["import", "--config", config, "-t", "company-b", "-a", archive, "--dry-run"],
        ["import", "--config", config, "-t", "company-b", "-a", archive],
        ["export", "--config", config, "--all-profiles", "-a", tmp_path / "root"],
    ]
    for args in runs:
        result = cli(runner, *args, "--log-format", "json")
        assert result.exit_code in (0, 3), result.output
        events = validate(result.stdout)
        seen |= {e["event"] for e in events}
        numbers = [v for e in events for k, v in e.items() if k.endswith(("_s", "_mb"))]
        assert all(isinstance(v, (int, float)) for v in numbers)
    monkeypatch.setenv("FV_TEST_KEY_0", "pwk_wrong")
    fatal = cli(runner, "export", "--config", config, "-p", "company-a", "-a", archive, "--log-format", "json")
    last = validate(fatal.stdout)[-1]  # the run could not finish: its last word is the error, on stdout
    assert fatal.exit_code == 5 and (last["event"], last["exit_code"]) == ("error", 5)
    assert "refused the API key" in last["message"] and "pwk_wrong" not in fatal.stdout
    seen |= {e["event"] for e in validate(fatal.stdout)}
    assert {"start", "flow_exported", "flow_failed", "flow_imported", "retry", "summary", "error"} <= seen
