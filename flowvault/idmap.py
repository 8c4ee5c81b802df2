"""The ID map of one import target: old → new flow IDs, ``imports/<profile>.json`` in the
archive (committed at the end of a run) plus this run's journal in .git (a line per step,
fsynced), so that a re-run, or a run after kill -9, skips what is done."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from .archive import IMPORTS_DIR, atomic_write, id_key
from .canonical import dumps, loads
from .errors import ArchiveError


class Ledger:
    """Old → new flow IDs for one target: the committed map plus the journal of this run."""

    def __init__(self, archive_root: Path, journal: Path, profile: str, base_url: str) -> None:
        self.path = archive_root / IMPORTS_DIR / f"{profile}.json"
        self.journal = journal
        self.meta = {"profile": profile, "base_url": base_url}
        self.flows: dict[str, dict[str, Any]] = {}
        self.started: dict[str, dict[str, Any]] = {}
        if self.path.exists():
            try:
                data = loads(self.path.read_bytes())
                self.flows = {str(k): dict(v) for k, v in data["flows"].items()}
            except (ValueError, KeyError, TypeError, AttributeError):
                raise ArchiveError(f"{self.path}: not a valid ID map (edited or corrupt)") from None
        if self.journal.exists():
            for line in self.journal.read_text(encoding="utf-8", errors="replace").splitlines():
                try:
                    entry = json.loads(line)
                    op, src = entry.pop("op"), str(entry.pop("src"))
                except (ValueError, KeyError, TypeError, AttributeError):
                    continue  # a line torn by a kill
                self._apply(op, src, entry)

    def _apply(self, op: str, src: str, fields: dict[str, Any]) -> None:
        if op == "start":
            self.started[src] = {"src": src, **fields}
            return
        old = self.flows.get(src, {})
        same = old.get("target_id") == fields.get("target_id")
        self.flows[src] = {**(old if same else {}), **{k: v for k, v in fields.items() if k != "pre"},
                           "complete": op == "done"}
        self.started.pop(src, None)

    def log(self, op: str, src: str, **fields: Any) -> None:
        self.journal.parent.mkdir(parents=True, exist_ok=True)
        with open(self.journal, "a", encoding="utf-8") as fh:
            fh.write(json.dumps({"op": op, "src": src, **fields}, ensure_ascii=False) + "\n")
            fh.flush()
            os.fsync(fh.fileno())
        self._apply(op, src, dict(fields))

    def targets(self) -> set[str]:
        """Every target flow flowvault created for this target (complete or not)."""
        return {str(e["target_id"]) for e in self.flows.values() if "target_id" in e}

    def save(self) -> bool:
        data = {"target": self.meta, "flows": {k: self.flows[k] for k in sorted(self.flows, key=id_key)}}
        return atomic_write(self.path, dumps(data))

    def clear_journal(self) -> None:
        self.journal.unlink(missing_ok=True)
