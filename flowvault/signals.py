"""Signals held while git writes a commit: a stop that arrives during ``git add``/``git commit``
takes effect once the commit has landed, and is reported as such (never as a rollback)."""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Iterator
from typing import Any

HELD = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


#: the stop signals (SIGTERM, SIGHUP) this process received, newest last (its exit code is 128+N)
RECEIVED: list[int] = []


def terminate(signum: int, _frame: Any) -> None:
    """SIGTERM or SIGHUP (systemd, Kubernetes, timeout, a closed terminal) unwinds exactly as
    Ctrl-C does — the event loop cancels its tasks, the run is rolled back — and exits 128+N.
    The CLI's boundary installs it, and so does each worker process of ``export --workers``."""
    RECEIVED.append(signum)
    signal.raise_signal(signal.SIGINT)


class StoppedAfterCommit(BaseException):
    """A stop signal arrived while a commit was being written; the commit landed, then the run
    stopped. ``problem``: what kept the run itself from full success (its error, which the CLI
    exits with), once the caller knows it; None when the run itself succeeded."""

    def __init__(self, commit: str | None, signum: int) -> None:
        self.commit, self.signum = commit, signum
        self.problem: Exception | None = None
        self.result: Any = None  # the run's result, once the caller has it
        super().__init__(f"committed {commit[:10] if commit else 'nothing (no change)'}, then stopped by "
                         f"{signal.Signals(signum).name}")

    def __reduce__(self) -> Any:  # a worker process of export --workers sends it to the parent
        return (StoppedAfterCommit, (self.commit, self.signum), self.__dict__)


_holding = threading.RLock()  # re-entrant: the handler runs on the main thread, which may hold it
_holders: list[list[int]] = []  # one list per block being held, in any thread
_previous: dict[int, Any] = {}  # the handlers the main thread's first block replaced
_main_blocks: list[int] = [0]  # blocks open on the main thread


def _hold(signum: int, _frame: Any) -> None:
    with _holding:
        for got in _holders:
            got.append(signum)


@contextlib.contextmanager
def held() -> Iterator[list[int]]:
    """Hold SIGINT, SIGTERM and SIGHUP for the block; the list yielded holds the signals that
    arrived, for the caller to act on after the block. Only the main thread receives signals:
    its first open block installs the holding handler, its last one puts the previous handlers
    back; a block on another thread is held while one on the main thread is — a profile's
    commit runs on a worker thread while the event loop (main) holds around it, so that one
    company's git never stalls the others' requests."""
    got: list[int] = []
    main = threading.current_thread() is threading.main_thread()
    with _holding:
        if main:
            if not _main_blocks[0]:
                _previous.update({sig: signal.signal(sig, _hold) for sig in HELD})
            _main_blocks[0] += 1
        if main or _main_blocks[0]:
            _holders.append(got)
    try:
        yield got
    finally:
        with _holding:
            for i, h in enumerate(_holders):
                if h is got:
                    del _holders[i]
                    break
            if main:
                _main_blocks[0] -= 1
                if not _main_blocks[0]:
                    for sig, handler in _previous.items():
                        signal.signal(sig, handler)
                    _previous.clear()
