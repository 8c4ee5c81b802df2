"""``flowvault history`` and ``flowvault deleted``: the commits that changed a flow, and the
flows in history that are gone at HEAD, each with the last commit that had it."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ..archive import FLOWS_DIR, MANIFEST, parse_manifest
from ..errors import ArchiveError
from ..history import Commit, History
from ..protocol import flow_id
from ..snapshots import find_flow, manifests


@dataclass(frozen=True)
class Deleted:
    flow_id: str
    name: str
    last_commit: Commit


def deleted_flows(archive_dir: Path | str) -> list[Deleted]:
    """Flows present in some commit but not at HEAD, each with the newest commit that had it."""
    history = History.open(archive_dir)
    head = history.head()
    if head is None:
        return []
    raw = history.read(head, MANIFEST)
    if raw is None:
        raise ArchiveError(f"{history.root}: HEAD has no {MANIFEST} (not a flowvault archive?)")
    current = parse_manifest(raw, f"{history.root}@{head[:10]}:{MANIFEST}")["flows"]
    found: dict[str, Deleted] = {}
    for commit, flows in manifests(history):
        for fid, entry in flows.items():
            if fid not in current and fid not in found:
                found[fid] = Deleted(fid, str(entry.get("name")), commit)
    return sorted(found.values(), key=lambda d: d.last_commit.date, reverse=True)


def flow_commits(archive_dir: Path | str, wanted: str | None) -> list[Commit]:
    """Commits that changed a flow's files (every commit when ``wanted`` is None)."""
    history = History.open(archive_dir)
    if wanted is None:
        return history.log()
    _, fid = find_flow(history, wanted, None)
    if flow_id(fid) is None:  # an ID as export accepts it (a number, or OCP's UUID): a safe path glob
        raise ArchiveError(f"{history.root}: unexpected flow ID '{fid[:40]}' in the manifest")
    return history.log([f"{FLOWS_DIR}/{fid}-*"])
