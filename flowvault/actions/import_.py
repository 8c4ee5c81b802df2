"""``flowvault import``: the import run (``importrun``)."""

from __future__ import annotations

from ..importrun import run_import

__all__ = ["run_import"]
