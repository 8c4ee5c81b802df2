"""``flowvault verify``: check an archive without touching the API.

Every manifest entry against its files (present, sha256, JSON, expected shape), files
no manifest entry lists, and — for the work tree — uncommitted edits and interrupted runs.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ..archive import FLOWS_DIR, Snapshot
from ..errors import ArchiveError, ConfigError
from ..history import History
from ..models import Source
from ..providers import Provider, provider_for
from ..snapshots import open_snapshot


def _shape_problem(provider: Provider, rel: str, data: Any) -> str | None:
    """flow.json is flowvault's own (every provider's): an ID and a name; the rest is the provider's."""
    if rel == "flow.json":
        ok = isinstance(data, dict) and "id" in data and isinstance(data.get("name"), str)
        return None if ok else "flow settings lack 'id' or 'name'"
    return provider.archive_problem(rel, data)


def check_snapshot(snapshot: Snapshot, files: list[str]) -> list[str]:
    """Problems of a snapshot whose files under flows/ are ``files``; one line each."""
    problems: list[str] = []
    listed: set[str] = set()
    try:
        provider = provider_for((Source.of(snapshot.manifest) or Source()).provider)
    except ConfigError as e:
        return [f"{snapshot.where}: {e}"]
    for fid, entry in snapshot.flows.items():
        for rel in entry["files"]:
            path = f"{FLOWS_DIR}/{entry['folder']}/{rel}"
            listed.add(path)
            try:
                data = snapshot.read_json(fid, rel)
            except ArchiveError as e:
                problems.append(str(e))
                continue
            why = _shape_problem(provider, rel, data)
            if why:
                problems.append(f"{snapshot.where}:{path}: {why}")
            elif rel == "flow.json" and str(data["id"]) != fid:
                problems.append(f"{snapshot.where}:{path}: flow ID {data['id']} but the manifest says {fid}")
        versions = sum(1 for rel in entry["files"] if rel.startswith("versions/"))
        if versions != entry.get("versions"):
            problems.append(f"{snapshot.where}: flow {fid}: manifest says {entry.get('versions')} versions, "
                            f"lists {versions} files")
    for path in sorted(set(files) - listed):
        problems.append(f"{snapshot.where}:{path}: not in the manifest")
    return problems


def verify(archive_dir: Path | str, at: str | None = None, notes: list[str] | None = None) -> list[str]:
    """Problems found (empty when clean). After an interrupted run the work tree holds
    scratch that the next run discards, so the last commit is what gets verified."""
    history = History.open(archive_dir)
    notes = notes if notes is not None else []
    if at is None and history.interrupted():
        if history.running():
            notes.append(f"{history.root}: a run is in progress; verifying the last commit")
        else:
            notes.append(f"{history.root}: a run was interrupted; its uncommitted files are discarded by the "
                         "next export; verifying the last commit")
        if history.head() is None:
            notes.append(f"{history.root}: no commit yet: nothing to verify")
            return []
        at = "HEAD"
    try:
        snapshot = open_snapshot(history, at)
    except ArchiveError as e:
        return [str(e)]
    if at is None:
        root = history.root
        files = [str(p.relative_to(root)) for p in (root / FLOWS_DIR).rglob("*") if p.is_file()] \
            if (root / FLOWS_DIR).exists() else []
    else:
        files = history.files_at(history.resolve(at), FLOWS_DIR)
    problems = history.damaged() + check_snapshot(snapshot, files)
    if at is None:
        foreign = set(history.foreign_files())
        notes += [f"{history.root / p}: not flowvault's (neither committed nor removed by it)" for p in sorted(foreign)]
        problems += [f"{history.root / p}: uncommitted change" for p in history.dirty_paths() if p not in foreign]
    return problems
