"""Every command in the README and the manual runs as written.

Each ```` ```sh ```` block of README.md and docs/*.md is a runnable block: each of its commands
is run, in the page's order, by bash in a sandbox — a home and a working folder of its own, a
``flowvault.toml`` whose profiles ``acme`` and ``acme-staging`` are two companies of the
simulator, their keys in the variables the README names — and must exit 0 (or the code a
trailing ``# exits N`` names). The commands that cannot run here are listed below with the
reason; every other block in the manual is text, not a command (```` ```toml ````, plain fences).
"""

from __future__ import annotations

import os
import re
import shlex
import subprocess
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parent.parent
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]

#: commands of the manual that are not run here, and why (each must still be in the manual)
NOT_RUN = {
    "pip install -e '.[test]'": "the install itself: CI runs it before the suite",
    "python -m pytest": "the suite itself",
    "flowvault ui --archive flowvault-demo/archive --config flowvault-demo/flowvault.toml":
        "serves until stopped: tests/test_ui.py drives it in a browser",
    "flowvault demo --serve": "serves until Ctrl-C: tests/test_ui.py runs it and the restore command it prints",
    "flowvault simulator --replay acme-shapes.json": "serves until stopped: tests/test_record.py replays a recording",
    "python -m bench": "benchmarks take minutes to hours (bench/)",
}


def commands(page: Path) -> list[str]:
    """The commands of a page's ```sh blocks, continuation lines joined, comments kept."""
    text = page.read_text(encoding="utf-8")
    found = []
    for block in re.finditer(r"^( *)```sh\n(.*?)^\1```", text, re.MULTILINE | re.DOTALL):
        pending = ""
        for raw in block.group(2).splitlines():
            line = raw.strip()
            if not line or line.startswith("#"):
                continue
            if line.endswith("\\"):
                pending += line[:-1] + " "
                continue
            found.append(pending + line)
            pending = ""
    return found


def without_comment(command: str) -> str:
    return re.sub(r"\s+#.*$", "", command).strip()


def skipped(command: str) -> str | None:
    bare = without_comment(command)
    return next((why for start, why in NOT_RUN.items() if bare == start or bare.startswith(start + " ")), None)


def test_the_manual_has_runnable_blocks_and_lists_what_it_does_not_run() -> None:
    """The list of commands not run names only commands the manual holds (no stale excuse), and
    the README has commands that do run."""
    every = [without_comment(c) for page in PAGES for c in commands(page)]
    for start in NOT_RUN:
        assert any(c == start or c.startswith(start + " ") for c in every), f"NOT_RUN lists {start!r}, gone"
    assert sum(1 for c in commands(ROOT / "README.md") if skipped(c) is None) >= 5


@pytest.fixture()
def sandbox(tmp_path: Path, server: Any) -> dict[str, Any]:
    home, work = tmp_path / "home", tmp_path / "work"
    home.mkdir()
    work.mkdir()
    env = dict(os.environ, HOME=str(home), GIT_CONFIG_NOSYSTEM="1")
    lines = []
    for name, company in (("acme", server.sim.company(0)), ("acme-staging", server.sim.company(1))):
        var = f"FLOWVAULT_{name.upper().replace('-', '_')}_KEY"
        env[var] = company.api_key
        lines += [f"[profiles.{name}]", f'base_url = "{server.url}"', f'api_key_env = "{var}"', "rate_limit = 0", ""]
    (work / "flowvault.toml").write_text("\n".join(lines))
    return {"env": env, "cwd": work, "home": home}


def run(command: str, sandbox: dict[str, Any], *, shell: bool) -> subprocess.CompletedProcess[str]:
    """The command as bash runs it (the README's: the first hour, as a user types it); a plain
    ``flowvault …`` of the manual's pages — no pipe, redirection or variable — through the same
    CLI in this process, with the argv bash would give it (``~`` is the sandbox's home): a
    child would only add Python's start to the suite."""
    words = shlex.split(command, comments=True)
    plain = words[:1] == ["flowvault"] and not re.search(r"[|<>;&$`]", without_comment(command))
    if shell or not plain:
        return subprocess.run(command, shell=True, text=True, capture_output=True, env=sandbox["env"],
                              cwd=sandbox["cwd"], executable="/bin/bash", timeout=300)
    from click.testing import CliRunner

    from flowvault.cli import main

    argv = [str(sandbox["home"]) + w[1:] if w == "~" or w.startswith("~/") else w for w in words[1:]]
    here = os.getcwd()
    os.chdir(sandbox["cwd"])
    try:
        result = CliRunner().invoke(main, argv, env=sandbox["env"])
    finally:
        os.chdir(here)
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    return subprocess.CompletedProcess(command, result.exit_code, result.stdout, result.stderr)


@pytest.mark.parametrize("page", [p for p in PAGES if any(skipped(c) is None for c in commands(p))],
                         ids=lambda p: p.name)
def test_every_command_of_the_page_runs_as_written(page: Path, sandbox: dict[str, Any]) -> None:
    """The page's commands, in order, in one sandbox: each exits as the page says (0 unless a
    trailing ``# exits N``). A page other than the README starts from an export of ``acme``
    into ``~/flow-archive``, as the README's five steps leave it."""
    if page.name != "README.md":
        first = subprocess.run("flowvault export --profile acme --archive ~/flow-archive", shell=True, text=True,
                               capture_output=True, env=sandbox["env"], cwd=sandbox["cwd"], executable="/bin/bash")
        assert first.returncode == 0, first.stdout + first.stderr
    for command in commands(page):
        if skipped(command):
            continue
        expected = re.search(r"#\s*exits (\d+)\s*$", command)
        done = run(command, sandbox, shell=page.name == "README.md")
        want = int(expected.group(1)) if expected else 0
        assert done.returncode == want, f"{page.name}: `{command}` exited {done.returncode}:\n" \
                                        f"{done.stdout[-2000:]}\n{done.stderr[-2000:]}"
        assert "Traceback" not in done.stderr, (command, done.stderr)
