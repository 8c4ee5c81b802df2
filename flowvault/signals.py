"""Signals held while git writes a commit: a stop that arrives during ``git add``/``git commit``
takes effect once the commit has landed, and is reported as such (never as a rollback)."""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Iterator
from typing import Any

HELD = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


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


@contextlib.contextmanager
def held() -> Iterator[list[int]]:
    """Hold SIGINT, SIGTERM and SIGHUP for the block (main thread only); the list yielded holds
    the signals that arrived, for the caller to act on after the block."""
    got: list[int] = []
    if threading.current_thread() is not threading.main_thread():
        yield got
        return

    def hold(signum: int, _frame: Any) -> None:
        got.append(signum)

    previous = {sig: signal.signal(sig, hold) for sig in HELD}
    try:
        yield got
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
