"""Every command's error paths, driven as a user would: each bad input ends in one line on
stderr and its documented exit code — never a traceback, never the internal-error code, and
exit 1 only for `diff --exit-code` finding a difference."""

from __future__ import annotations

import socket
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from flowvault.exportrun import run_export
from flowvault.cli import main
from flowvault.errors import EXIT_API, EXIT_ARCHIVE, EXIT_AUTH, EXIT_CONFIG, EXIT_DOCTOR, EXIT_USAGE

from .conftest import write_config

DOCUMENTED = {0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 129, 130, 137, 143}  # README's table; 70 is a bug


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Any:
    """One simulator, a good config, an archive with a commit, and bad inputs of each kind."""
    from flowvault.config import load_config
    from flowvault.simulator import Simulator, SimulatorServer, generate

    root = tmp_path_factory.mktemp("errors")
    server = SimulatorServer(Simulator(generate(flows=6, companies=1, empty_companies=1))).start()
    mp = pytest.MonkeyPatch()
    cfg = write_config(root / "fv.toml", server, mp, max_retries=0)
    archive = root / "archive"
    run_export(load_config(cfg).profile("company-a"), archive)
    busy = socket.socket()
    busy.bind(("127.0.0.1", 0))
    busy.listen()
    bad = {
        "missing": root / "missing.toml",
        "malformed": root / "malformed.toml",
        "wrongtype": root / "wrongtype.toml",
        "dir": root,
        "file": root / "plain-file",
        "map_bad": root / "map.toml",
        "bom": root / "bom.toml",
        "down": root / "down.toml",
        "wrongkey": root / "wrongkey.toml",
        "notdemo": root / "notdemo",
    }
    bad["malformed"].write_text("[profiles.x\n")
    bad["wrongtype"].write_text('[profiles.x]\nbase_url = 5\napi_key_env = "K"\n')
    bad["file"].write_text("just a file\n")
    bad["map_bad"].write_text("[connector]\nabc = 1\n")
    bad["bom"].write_bytes(b"\xef\xbb\xbf" + cfg.read_bytes())
    bad["down"].write_text(cfg.read_text().replace(server.url, "http://127.0.0.1:9"))
    mp.setenv("FV_WRONG", "pwk_wrong_wrong_wrong")
    bad["wrongkey"].write_text(cfg.read_text().replace('api_key_env = "FV_TEST_KEY_0"', 'api_key_env = "FV_WRONG"'))
    (bad["notdemo"]).mkdir()
    (bad["notdemo"] / "keep.txt").write_text("mine")
    yield {"cfg": cfg, "archive": archive, "port": busy.getsockname()[1], **bad}
    busy.close()
    server.stop()
    mp.undo()


CASES: list[tuple[str, list[str], int]] = [
    ("export: config missing", ["export", "-c{missing}", "-p", "company-a", "-a", "{root}/new"], EXIT_CONFIG),
    ("export: config malformed", ["export", "-c{malformed}", "-p", "x", "-a", "{root}/new"], EXIT_CONFIG),
    ("export: config wrong type", ["export", "-c{wrongtype}", "-p", "x", "-a", "{root}/new"], EXIT_CONFIG),
    ("export: config is a folder", ["export", "-c{dir}", "-p", "x", "-a", "{root}/new"], EXIT_CONFIG),
    ("export: unknown profile", ["export", "-c{cfg}", "-p", "nope", "-a", "{root}/new"], EXIT_CONFIG),
    ("export: archive is a file", ["export", "-c{cfg}", "-p", "company-a", "-a", "{file}"], EXIT_ARCHIVE),
    ("export: API down", ["export", "-c{down}", "-p", "company-a", "-a", "{root}/down-archive"], EXIT_API),
    ("export: key refused", ["export", "-c{wrongkey}", "-p", "company-a", "-a", "{root}/k-archive"], EXIT_AUTH),
    ("export: report is a folder", ["export", "-c{cfg}", "-p", "company-a", "-a", "{archive}", "--report", "{dir}"],
     EXIT_ARCHIVE),
    ("export: unknown flow", ["export", "-c{cfg}", "-p", "company-a", "-a", "{archive}", "--flow", "zz"],
     EXIT_USAGE),
    ("import: not an archive", ["import", "-c{cfg}", "-t", "company-b", "-a", "{dir}"], EXIT_ARCHIVE),
    ("import: archive missing", ["import", "-c{cfg}", "-t", "company-b", "-a", "{root}/none"], EXIT_ARCHIVE),
    ("import: unknown revision", ["import", "-c{cfg}", "-t", "company-b", "-a", "{archive}", "--at", "deadbeef"],
     EXIT_USAGE),
    ("import: map missing", ["import", "-c{cfg}", "-t", "company-b", "-a", "{archive}", "--map", "{missing}"],
     EXIT_CONFIG),
    ("import: map malformed", ["import", "-c{cfg}", "-t", "company-b", "-a", "{archive}", "--map", "{map_bad}"],
     EXIT_CONFIG),
    ("import: map is a folder", ["import", "-c{cfg}", "-t", "company-b", "-a", "{archive}", "--map", "{dir}"],
     EXIT_CONFIG),
    ("import: unknown flow", ["import", "-c{cfg}", "-t", "company-b", "-a", "{archive}", "--flow", "zz"],
     EXIT_USAGE),
    ("restore: unknown flow", ["restore", "-c{cfg}", "-t", "company-a", "-a", "{archive}", "--flow", "zz"],
     EXIT_USAGE),
    ("restore: unknown revision", ["restore", "-c{cfg}", "-t", "company-a", "-a", "{archive}", "--flow", "zz",
                                   "--at", "HEAD~999"], EXIT_USAGE),
    ("history: not an archive", ["history", "-a", "{dir}"], EXIT_ARCHIVE),
    ("history: unknown flow", ["history", "-a", "{archive}", "--flow", "zz"], EXIT_USAGE),
    ("deleted: archive is a file", ["deleted", "-a", "{file}"], EXIT_ARCHIVE),
    ("verify: archive missing", ["verify", "-a", "{root}/none"], EXIT_ARCHIVE),
    ("verify: unknown revision", ["verify", "-a", "{archive}", "--at", "nosuchbranch"], EXIT_USAGE),
    ("diff: unknown revision", ["diff", "-a", "{archive}", "nosuchrev", "HEAD"], EXIT_USAGE),
    ("diff: three revisions", ["diff", "-a", "{archive}", "HEAD", "HEAD", "HEAD"], EXIT_USAGE),
    ("diff: unknown profile", ["diff", "-c{cfg}", "-p", "nope", "-a", "{archive}"], EXIT_CONFIG),
    ("doctor: config missing", ["doctor", "-c{missing}"], EXIT_DOCTOR),
    ("doctor: config malformed", ["doctor", "-c{malformed}"], EXIT_DOCTOR),
    ("map init: not an archive", ["map", "init", "-a", "{dir}", "-o", "{root}/m1.toml"], EXIT_ARCHIVE),
    ("map init: output exists", ["map", "init", "-a", "{archive}", "-o", "{file}"], EXIT_USAGE),
    ("map init: output under a file", ["map", "init", "-a", "{archive}", "-o", "{file}/m.toml"], EXIT_CONFIG),
    ("map init: unknown revision", ["map", "init", "-a", "{archive}", "--at", "deadbeef", "-o", "{root}/m2.toml"],
     EXIT_USAGE),
    ("simulator: busy port", ["simulator", "--port", "{port}"], EXIT_USAGE),
    ("simulator: bad knob", ["simulator", "--error-rate", "5"], EXIT_USAGE),
    ("demo: folder not a demo's", ["demo", "--dir", "{notdemo}"], EXIT_CONFIG),
    ("unknown command", ["frobnicate"], EXIT_USAGE),
]


@pytest.mark.parametrize("what, args, code", CASES, ids=[c[0] for c in CASES])
def test_bad_input_is_one_line_and_a_documented_exit_code(world: Any, what: str, args: list[str], code: int) -> None:
    values = {k: str(v) for k, v in world.items()} | {"root": str(Path(world["cfg"]).parent)}
    argv = [a.replace("-c{", "--config={").format(**values) for a in args]
    result = CliRunner().invoke(main, argv)
    assert result.exit_code == code, (what, result.output)
    assert result.exit_code in DOCUMENTED
    assert isinstance(result.exception, SystemExit) or result.exception is None
    assert "Traceback" not in result.output and "internal error" not in result.output
    errors = [line for line in result.stderr.splitlines() if line.strip()]
    if what.startswith("doctor"):
        assert "✗" in result.stdout
    else:
        assert errors and len(errors) <= 3, result.output  # click's usage errors add "Usage:" and "Try"
        assert errors[-1].startswith(("flowvault: error: ", "Error: ")), errors


def test_one_consistent_command_line(world: Any) -> None:
    """-h everywhere, a BOM in the config is no error, no doubled prefixes."""
    runner = CliRunner()
    for args in (["-h"], ["export", "-h"], ["import", "-h"], ["map", "-h"], ["map", "init", "-h"], ["doctor", "-h"]):
        result = runner.invoke(main, args)
        assert result.exit_code == 0 and "Usage:" in result.output
    bom = runner.invoke(main, ["doctor", f"--config={world['bom']}", "-p", "company-a"])
    assert "not valid TOML" not in bom.output and "✓ config" in bom.output
    unset = runner.invoke(main, ["export", f"--config={world['cfg']}", "--all-profiles", "-a",
                                 str(Path(world["cfg"]).parent / "root-unset")], env={"FV_TEST_KEY_1": ""})
    assert unset.exit_code == 4 and "profile 'company-b': profile 'company-b'" not in unset.output


def test_json_log_ends_with_an_error_event_on_a_fatal_error(world: Any) -> None:
    import orjson

    result = CliRunner().invoke(main, ["export", f"--config={world['down']}", "-p", "company-a", "-a",
                                       str(Path(world["cfg"]).parent / "json-down"), "--log-format", "json"])
    assert result.exit_code == EXIT_API
    last = orjson.loads(result.stdout.splitlines()[-1])
    assert last["event"] == "error" and last["exit_code"] == EXIT_API and "could not connect" in last["message"]
