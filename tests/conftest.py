"""Shared fixtures: a real simulator on 127.0.0.1, a config pointing at it, a CLI runner."""

from __future__ import annotations

import contextlib
import fcntl
import os
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest
from click.testing import CliRunner

from flowvault.cli import main
from flowvault.config import load_config
from flowvault.simulator import Faults, Simulator, SimulatorServer, generate


def pytest_configure(config: pytest.Config) -> None:
    """The commands tests start by name (`flowvault` in the CI recipes, the pod script, a command
    run as printed) are this interpreter's, venv activated or not (`/path/to/venv/bin/python -m pytest`)."""
    import sys
    import sysconfig

    scripts = {sysconfig.get_path("scripts"), str(Path(sys.executable).parent)}
    path = os.environ.get("PATH", "").split(os.pathsep)
    os.environ["PATH"] = os.pathsep.join([*sorted(s for s in scripts if s not in path), *path])


@pytest.fixture(autouse=True)
def _close_repositories() -> Iterator[None]:
    """Repositories a test opened through the Python API (not the CLI, which closes its own) are
    closed when it ends: their git reader processes never outlive it."""
    yield
    from flowvault.history import close_all

    close_all()


@pytest.fixture
def make_server() -> Iterator[Callable[..., SimulatorServer]]:
    servers: list[SimulatorServer] = []

    def make(*, flows: int = 20, versions: int = 3, companies: int = 2, empty_companies: int = 0,
             seed: int = 7, ocp_flows: int = 0, dialect: str = "flat", secret_flag: str = "bool",
             **faults: Any) -> SimulatorServer:
        state = generate(seed=seed, companies=companies, flows=flows, versions=versions,
                         empty_companies=empty_companies, ocp_flows=ocp_flows)
        state.dialect, state.secret_flag = dialect, secret_flag
        server = SimulatorServer(Simulator(state, Faults(seed=seed, **faults))).start()
        servers.append(server)
        return server

    yield make
    for s in servers:
        s.stop()
    for s in servers:
        assert_contract_kept(s.sim)


def assert_contract_kept(sim: Simulator) -> None:
    """Every request flowvault sent is one the vendor's document accepts, or an undocumented
    endpoint the Patchworks provider lists (with why, and what a 404 does)."""
    from flowvault.providers.pwpaths import UNDOCUMENTED

    assert not sim.contract.violations, f"requests the vendor's contract refuses: {sim.contract.violations[:3]}"
    stray = sorted(set(sim.contract.undocumented) - set(UNDOCUMENTED))
    assert not stray, f"undocumented endpoints not in providers/pwpaths.UNDOCUMENTED: {stray}"


@pytest.fixture
def server(make_server: Callable[..., SimulatorServer]) -> SimulatorServer:
    return make_server()


def write_config(path: Path, server: SimulatorServer, monkeypatch: pytest.MonkeyPatch, **extra: Any) -> Path:
    """A config with one profile per simulated company (company-a, company-b, …)."""
    extra = {"rate_limit": 0, **extra}  # the simulator has no limit unless a test gives it one
    lines = []
    for i, company in enumerate(server.sim.state.companies):
        var = f"FV_TEST_KEY_{i}"
        monkeypatch.setenv(var, company.api_key)
        lines += [f"[profiles.{company.name}]", f'base_url = "{server.url}"', f'api_key_env = "{var}"']
        lines += [f"{k} = {v!r}".replace("'", '"') for k, v in extra.items()] + [""]
    path.write_text("\n".join(lines))
    return path


@pytest.fixture
def config(tmp_path: Path, server: SimulatorServer, monkeypatch: pytest.MonkeyPatch) -> Path:
    return write_config(tmp_path / "flowvault.toml", server, monkeypatch, max_retries=8)


@pytest.fixture
def profile_a(config: Path) -> Any:
    return load_config(config).profile("company-a")


@pytest.fixture
def runner() -> CliRunner:
    return CliRunner()


def git(repo: Path, *args: str) -> str:
    return subprocess.run(["git", "-C", str(repo), *args], check=True, capture_output=True, text=True).stdout


def tree_bytes(root: Path) -> dict[str, bytes]:
    """Every file of an archive's work tree (outside .git) and its bytes."""
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*"))
            if p.is_file() and ".git" not in p.parts}


def manifest(root: Path) -> dict[str, Any]:
    return orjson.loads((root / "manifest.json").read_bytes())


def cli(runner: CliRunner, *args: Any) -> Any:
    """Run the command line as a user types it (every argument as text)."""
    return runner.invoke(main, [str(a) for a in args])


def flowvault_here(*args: Any) -> subprocess.CompletedProcess[str]:
    """``flowvault ARGS`` run in this process (on a thread of its own: Playwright's sync API holds
    this thread's event loop), its outcome as a finished process's. For the commands a test needs
    done but does not test as a process: a child pays Python's start and flowvault's imports."""
    import concurrent.futures

    def run() -> Any:
        return CliRunner().invoke(main, [str(a) for a in args])

    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        result = pool.submit(run).result(timeout=300)
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    return subprocess.CompletedProcess(["flowvault", *map(str, args)], result.exit_code, result.stdout, result.stderr)


def flowvault_process(*args: Any) -> subprocess.Popen[str]:
    """``python -m flowvault ARGS`` as its own process (for signals), JSON lines on stdout."""
    import os
    import sys

    return subprocess.Popen([sys.executable, "-m", "flowvault", *[str(a) for a in args]], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=dict(os.environ))


def interrupt_at_gate(server: SimulatorServer, gate: Any, proc: subprocess.Popen[str], sig: int, *,
                      after_line: str | None = None) -> tuple[int, str]:
    """Send ``sig`` to ``proc`` while the simulator holds one of its requests at ``gate`` (and,
    with ``after_line``, once stdout has shown such a line); then let the held request finish
    server-side. The run is provably mid-way when the signal lands: it cannot finish while held."""
    try:
        if after_line is not None:
            assert proc.stdout is not None
            for line in proc.stdout:
                if after_line in line:
                    break
        assert gate.arrived.wait(timeout=60), "the run never reached the gate"
        proc.send_signal(sig)
        _, err = proc.communicate(timeout=60)
    finally:
        gate.release()
    assert gate.finished.wait(timeout=30)
    server.sim.gate = None
    return proc.returncode, err


@pytest.fixture
def exported(config: Path, tmp_path: Path, runner: CliRunner) -> Path:
    """An archive holding one export of company-a (config's simulator), made as a user does."""
    archive = tmp_path / "archive"
    result = cli(runner, "export", "--config", config, "-p", "company-a", "-a", archive)
    assert result.exit_code == 0, result.output
    return archive


def git_stopping_at(folder: Path, step: str, *, first: str = "", then: str = "",
                    once: bool = False) -> tuple[dict[str, str], Path]:
    """The environment of a flowvault whose git stops at ``git STEP`` (the first time only, with
    ``once``): git runs the shell lines ``first`` (take the index lock…), writes "in" to the FIFO
    returned — the test blocks reading it until git is there — then runs ``then`` (wait on a
    FIFO, ``exec sleep``…) and, unless that execs, the real git."""
    import os
    import shutil

    ready, done = folder / f"ready-{step}", folder / f"once-{step}"
    os.mkfifo(ready)
    guard = f' && mkdir "{done}" 2>/dev/null' if once else ""  # mkdir: one git wins, even two at once
    script = [f'if [ "$1" = "{step}" ]{guard}; then', first, f'  echo in > "{ready}"', then, "fi",
              f'exec "{shutil.which("git")}" "$@"']
    wrapper = folder / f"git-{step}"
    wrapper.write_text("#!/bin/sh\n" + "\n".join(line for line in script if line) + "\n")
    wrapper.chmod(0o755)
    return dict(os.environ, GIT_PYTHON_GIT_EXECUTABLE=str(wrapper)), ready


@contextlib.contextmanager
def simulated(folder: Path, *, seed: int, dialect: str = "flat",
              **generate_args: Any) -> Iterator[tuple[SimulatorServer, Path]]:
    """A simulator and a config for it, for a module-scoped fixture (which cannot use ``monkeypatch``)."""
    state = generate(seed=seed, **generate_args)
    state.dialect = dialect
    server = SimulatorServer(Simulator(state, Faults(seed=seed))).start()
    env = pytest.MonkeyPatch()
    try:
        yield server, write_config(folder / "flowvault.toml", server, env, max_retries=8)
    finally:
        env.undo()
        server.stop()
    assert_contract_kept(server.sim)


def made_once(factory: pytest.TempPathFactory, name: str, build: Callable[[Path], dict[str, Any]]) -> dict[str, Any]:
    """What ``build(folder)`` returns (JSON values; "archive" comes back a Path), made once per test
    run by whichever worker asks first — the others wait on a lock and read what it left. For the
    archives that read-only tests share: making one takes seconds, and every worker would."""
    base = factory.getbasetemp()
    root = base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base  # the run's folder, all workers'
    folder = root / f"made-once-{name}"
    with open(root / f"made-once-{name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # released when the file closes, by this worker or its death
        made = folder / "made.json"
        if not made.exists():
            folder.mkdir(exist_ok=True)
            made.write_bytes(orjson.dumps(build(folder), default=lambda v: sorted(v) if isinstance(v, set) else str(v)))
        data: dict[str, Any] = orjson.loads(made.read_bytes())
    data["archive"] = Path(data["archive"])
    return data
