"""flowvault: back up, diff and migrate integration-platform process flows through git.

The command line is the main interface; these names are the stable Python surface. They are
loaded on first use (PEP 562), so ``import flowvault.canonical`` loads canonical and its
leaves, not the client, git or the actions.
"""

from __future__ import annotations

import importlib
from typing import Any

from ._version import __version__ as __version__

_WHERE = {
    "ApiClient": "client", "ApiError": "errors", "Archive": "archive", "ArchiveError": "errors",
    "AuthError": "errors", "Config": "config", "ConfigError": "config", "FlowvaultError": "errors",
    "History": "history", "NotFoundError": "errors", "PartialFailure": "errors", "Profile": "config",
    "ProtocolError": "errors", "PushError": "errors", "Snapshot": "archive", "UsageError": "errors",
    "ValidationError": "errors", "load_config": "config", "run_export": "exportrun",
    "run_import": "importrun", "run_restore": "actions.restore",
}

__all__ = sorted([*_WHERE, "__version__"])


def __getattr__(name: str) -> Any:
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module 'flowvault' has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{module}", __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return __all__
