"""flowvault: back up, diff and migrate integration-platform process flows through git.

The command line is the main interface; these names are the stable Python surface.
"""

from __future__ import annotations

__version__ = "0.1.0"

from .archive import Archive, Snapshot
from .client import ApiClient
from .config import Config, Profile, load_config
from .errors import (
    ApiError,
    ArchiveError,
    AuthError,
    ConfigError,
    FlowvaultError,
    NotFoundError,
    PartialFailure,
    ProtocolError,
    PushError,
    UsageError,
    ValidationError,
)
from .history import History
from .restore import run_import, run_restore
from .runs import run_export

__all__ = [
    "ApiClient",
    "ApiError",
    "Archive",
    "ArchiveError",
    "AuthError",
    "Config",
    "ConfigError",
    "FlowvaultError",
    "History",
    "NotFoundError",
    "PartialFailure",
    "Profile",
    "ProtocolError",
    "PushError",
    "Snapshot",
    "UsageError",
    "ValidationError",
    "__version__",
    "load_config",
    "run_export",
    "run_import",
    "run_restore",
]
