"""The simulator's errors (an API error the app turns into a JSON reply) and clock (the
stamps the API sets on an edit)."""

from __future__ import annotations

import datetime as dt
import threading


def now_iso() -> str:
    return dt.datetime.now(dt.UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z")


_last_stamp = [dt.datetime(2000, 1, 1, tzinfo=dt.UTC)]
_stamp_lock = threading.Lock()


def stamp() -> str:
    """An update stamp, as the API sets it on an edit: strictly later than the previous one
    (two edits within one second still get different stamps)."""
    with _stamp_lock:
        now = max(dt.datetime.now(dt.UTC).replace(microsecond=0), _last_stamp[0] + dt.timedelta(seconds=1))
        _last_stamp[0] = now
    return now.isoformat().replace("+00:00", "Z")


class SimError(Exception):
    """An API error the app turns into a JSON reply."""

    def __init__(self, status: int, message: str, errors: dict[str, list[str]] | None = None):
        super().__init__(message)
        self.status = status
        self.message = message
        self.errors = errors


def not_found() -> SimError:
    return SimError(404, "Not found.")
