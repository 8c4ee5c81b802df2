"""flowvault: back up, diff and migrate integration-platform process flows through git."""

from __future__ import annotations

__version__ = "0.1.0"

__all__ = ["__version__"]
