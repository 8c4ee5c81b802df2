"""What the user sees: a rich progress bar on a TTY, JSON lines with --log-format json,
and always a final summary. Stages report through a Reporter; they never print."""

from __future__ import annotations

import os
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


#: every JSON event flowvault prints with --log-format json: its required fields and their types
#: (docs/output.md's "Output" lists the same; tests/test_output.py holds the two together and checks runs)
EVENTS: dict[str, dict[str, tuple[type, ...]]] = {
    "start": {"total": (int,), "what": (str,)},
    "flow_exported": {"flow_id": (str,), "name": (str,), "versions": (int,)},
    "flow_failed": {"flow_id": (str,), "message": (str,)},
    "flow_imported": {"flow_id": (str,), "name": (str,), "target_id": (int, str)},
    "flow_conflict": {"flow_id": (str,), "message": (str,)},
    "planned": {"flow_id": (str,), "name": (str,), "action": (str,), "reason": (str,)},
    "unresolved": {"flow_id": (str,), "message": (str,)},
    "unclassified": {"flow_id": (str,), "field": (str,), "steps": (int,), "samples": (list,), "message": (str,)},
    "retry": {"method": (str,), "path": (str,), "attempt": (int,), "wait": (float, int)},
    "warning": {"message": (str,)},
    "pushed": {"commit": (str,), "remote": (str,)},
    "scheduled": {"delay_s": (float, int)},
    "profile_failed": {"exit_code": (int,), "message": (str,)},
    "profiles": {"ok": (bool,), "rows": (list,)},
    "worker": {"pid": (int,), "profiles": (list,)},
    "summary": {"title": (str,), "ok": (bool,), "details": (dict,)},
    "error": {"exit_code": (int,), "message": (str,)},
}
#: how a summary field is shown as text (JSON keeps the number)
_UNITS = {"_s": "{:.2f}s", "_mb": "{:.0f} MB"}
#: summary detail lists: identifier → what the text summary calls it
DETAILS = {
    "failures": "failed", "conflicts": "conflict", "warnings": "warning",
    "unclassified": "refused, unclassified field (classify it in the map file's [references])",
    "left_disabled": "enabled in source, left disabled (--enable source to keep)",
    "missing_secrets": "secrets needing a value (map file [secrets], FLOWVAULT_SECRET_<KEY> or --identity)",
    "setup_required": "needs setup in the target (from the export's import summary)",
    "accepted_as_is": "field accepted as it is (map file [references] keep)",
}


def _text(key: str, value: Any) -> tuple[str, str]:
    for suffix, fmt in _UNITS.items():
        if key.endswith(suffix) and isinstance(value, (int, float)):
            return key[: -len(suffix)], fmt.format(value)
    return key, str(value)


def _write(stream: TextIO, text: str) -> None:
    """Write a line; a reader that went away (``| head``) never stops the run: the rest of
    the output goes nowhere, the backup goes on."""
    try:
        stream.write(text)
        stream.flush()
    except BrokenPipeError:
        try:
            os.dup2(os.open(os.devnull, os.O_WRONLY), stream.fileno())
        except (OSError, ValueError):
            pass


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
            _write(self.out, line.decode() + "\n")
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
            _write(stream, text + "\n")

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

    def summary(self, title: str, ok: bool, fields: dict[str, Any], details: dict[str, list[str]] | None = None,
                notes: dict[str, str] | None = None) -> None:
        """The run's last word: numbers as numbers (seconds ``*_s``, megabytes ``*_mb``), detail
        lists under identifiers (``DETAILS``). ``notes``: how the text shows a field instead."""
        self.stop()
        if self.json:
            self.event("summary", title=title, ok=ok, **fields, details={k: v for k, v in (details or {}).items()})
            return
        self.line(title)
        for key, value in fields.items():
            label, shown = _text(key, value)
            shown = (notes or {}).get(key, shown)
            if value is not None or key in (notes or {}):
                self.line(f"  {label.replace('_', ' '):<18} {shown}")
        for key, items in (details or {}).items():
            label = DETAILS.get(key, key)
            for item in items[:10]:
                self.line(f"  {label}: {item}")
            if len(items) > 10:
                self.line(f"  {label}: … and {len(items) - 10} more (all of them with --log-format json)")
