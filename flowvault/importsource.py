"""What an import reads before it plans: each archived flow as a planning value (its files
checked, its references found, the secret values it needs) and secret values from the environment."""

from __future__ import annotations

import os
from typing import Any

from .archive import Snapshot
from .crypto import Opener
from .models import ArchivedFlow
from .providers import Provider
from .references import Rules, hidden_keys


def env_secrets() -> dict[str, str]:
    prefix = "FLOWVAULT_SECRET_"
    return {k[len(prefix):]: v for k, v in os.environ.items() if k.startswith(prefix)}


def load_flow(snapshot: Snapshot, provider: Provider, fid: str, rules: Rules | None = None,
              opener: Opener | None = None) -> ArchivedFlow:
    """One archived flow as a planning value: its files checked, its references found, and the
    keys of hidden secret values that need a value (redacted, or encrypted and not openable)."""
    settings, export = snapshot.checked(fid)
    entry = snapshot.flows[fid]
    name = str(entry.get("name", ""))
    refs, unclassified, kept = provider.refs(export, fid, name, rules or {})
    redacted, sealed = hidden_keys(export)
    closed = [k for k, v in sealed if opener is None or opener.open(v) is None]
    return ArchivedFlow(fid, name, entry["folder"], settings, tuple(refs), tuple(dict.fromkeys(redacted + closed)),
                        tuple(unclassified), tuple(kept), tuple(dict.fromkeys(closed)))


def setup_required(export: dict[str, Any]) -> list[str]:
    """What the export document's import summary says needs setting up (where it says so)."""
    meta = export.get("metadata")
    summary = meta.get("import_summary") if isinstance(meta, dict) else None
    items = summary.get("setup_required") if isinstance(summary, dict) else None
    if isinstance(items, dict):
        items = [f"{k}: {v}" for k, v in items.items()]
    return [i if isinstance(i, str) else str(i.get("name") or i) for i in items or []
            if isinstance(i, (str, dict))]
