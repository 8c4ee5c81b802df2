"""The archive through time: a snapshot at any revision, the commits that changed a flow,
flows deleted since, and the newest commit that still has a flow."""

from __future__ import annotations

from dataclasses import dataclass

from .archive import FLOWS_DIR, MANIFEST, Snapshot, parse_manifest
from .errors import ArchiveError, UsageError
from .history import Commit, History


def open_snapshot(history: History, at: str | None) -> Snapshot:
    """The work tree when ``at`` is None, else the commit ``at`` names (SHA, ref or date)."""
    if at is None:
        root = history.root

        def read(path: str) -> bytes | None:
            try:
                return (root / path).read_bytes()
            except (FileNotFoundError, NotADirectoryError):
                return None

        return Snapshot(read, str(root))
    sha = history.resolve(at)
    return Snapshot(lambda path: history.read(sha, path), f"{history.root}@{sha[:10]}")


def manifests(history: History) -> list[tuple[Commit, dict[str, dict[str, object]]]]:
    """(commit, flows of its manifest), newest first, for every commit that changed the manifest."""
    out = []
    for commit in history.log([MANIFEST]):
        raw = history.read(commit.sha, MANIFEST)
        if raw is not None:
            out.append((commit, parse_manifest(raw, f"{history.root}@{commit.sha[:10]}:{MANIFEST}")["flows"]))
    return out


@dataclass(frozen=True)
class Deleted:
    flow_id: str
    name: str
    last_commit: Commit


def deleted_flows(history: History) -> list[Deleted]:
    """Flows present in some commit but not at HEAD, each with the newest commit that had it."""
    head = history.head()
    if head is None:
        return []
    raw = history.read(head, MANIFEST)
    current = parse_manifest(raw, MANIFEST)["flows"] if raw else {}
    found: dict[str, Deleted] = {}
    for commit, flows in manifests(history):
        for fid, entry in flows.items():
            if fid not in current and fid not in found:
                found[fid] = Deleted(fid, str(entry.get("name")), commit)
    return sorted(found.values(), key=lambda d: d.last_commit.date, reverse=True)


def find_flow(history: History, wanted: str, at: str | None) -> tuple[str, str]:
    """(revision, flow ID) of the newest commit that has the flow (ID or name), or at ``at``."""
    if at is not None:
        snap = open_snapshot(history, at)
        return at, snap.select([wanted])[0]
    for commit, flows in manifests(history):
        for fid, entry in flows.items():
            if fid == wanted or entry.get("name") == wanted:
                return commit.sha, fid
    raise UsageError(f"{history.root}: no flow with ID or name '{wanted}' in any commit of the archive")


def flow_commits(history: History, wanted: str | None) -> list[Commit]:
    """Commits that changed a flow's files (every commit when ``wanted`` is None)."""
    if wanted is None:
        return history.log()
    _, fid = find_flow(history, wanted, None)
    if not fid.isdigit():
        raise ArchiveError(f"{history.root}: unexpected flow ID '{fid}'")
    return history.log([f"{FLOWS_DIR}/{fid}-*"])
