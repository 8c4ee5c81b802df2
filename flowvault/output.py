"""What the user sees: a rich progress bar on a TTY, JSON lines with --log-format json,
and always a final summary. Stages report through a Reporter; they never print."""

from __future__ import annotations

import sys
import time
from typing import Any, TextIO

import orjson
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn


def peak_rss_mb() -> float:
    """This process's peak resident memory. VmHWM, not getrusage's ru_maxrss: a process
    started by fork+exec inherits its parent's high-water mark in ru_maxrss on Linux."""
    try:
        with open("/proc/self/status", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


class Reporter:
    def __init__(self, log_format: str = "text", *, out: TextIO | None = None, err: TextIO | None = None,
                 progress: bool | None = None, context: dict[str, Any] | None = None) -> None:
        self.json = log_format == "json"
        self.context = context or {}
        self.out = out or sys.stdout
        self.err = err or sys.stderr
        show = self.err.isatty() if progress is None else progress
        self._progress: Progress | None = None
        self._task: Any = None
        self._show_progress = show and not self.json
        self.started = time.monotonic()

    # -- events ----------------------------------------------------------------

    def event(self, event: str, **fields: Any) -> None:
        if self.json:
            line = orjson.dumps({"event": event, **self.context, **fields}, option=orjson.OPT_NON_STR_KEYS)
            self.out.write(line.decode() + "\n")
            self.out.flush()
        elif event in ("flow_failed", "warning", "unresolved"):
            self.line(f"{event.replace('_', ' ')}: {fields.get('message') or fields}", err=True)

    def on_client_event(self, e: dict[str, Any]) -> None:
        if self.json:
            self.event(e.pop("event", "client"), **e)

    def line(self, text: str, *, err: bool = False) -> None:
        stream = self.err if err else self.out
        if self._progress is not None and self._progress.live.is_started:
            self._progress.console.print(text, markup=False, highlight=False)
        else:
            stream.write(text + "\n")
            stream.flush()

    # -- progress --------------------------------------------------------------

    def start(self, total: int, label: str) -> None:
        self.event("start", total=total, what=label)
        if self._show_progress:
            self._progress = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                                      TimeElapsedColumn(), console=Console(file=self.err), transient=True)
            self._progress.start()
            self._task = self._progress.add_task(label, total=total)

    def advance(self) -> None:
        if self._progress is not None:
            self._progress.advance(self._task)

    def stop(self) -> None:
        if self._progress is not None:
            self._progress.stop()
            self._progress = None

    # -- summary ---------------------------------------------------------------

    def summary(self, title: str, fields: dict[str, Any], details: dict[str, list[str]] | None = None) -> None:
        self.stop()
        if self.json:
            self.event("summary", title=title, **fields, details=details or {})
            return
        self.line(title)
        for key, value in fields.items():
            if value is not None:
                self.line(f"  {key.replace('_', ' '):<18} {value}")
        for key, items in (details or {}).items():
            for item in items[:10]:
                self.line(f"  {key}: {item}")
            if len(items) > 10:
                self.line(f"  {key}: … and {len(items) - 10} more (all of them with --log-format json)")
