"""The archive at a point in time: a snapshot of the work tree or of any commit, the
manifests through history, and the newest commit that has a flow."""

from __future__ import annotations

from dataclasses import dataclass

from .archive import MANIFEST, Snapshot, parse_manifest
from .errors import ArchiveError, UsageError
from .history import Commit, History


def open_snapshot(history: History, at: str | None) -> Snapshot:
    """The work tree when ``at`` is None, else the commit ``at`` names (strictly: SHA, ref or date)."""
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
    deleted_in: Commit | None = None  # the first commit without it (the export that saw it gone)


def deleted(history: History) -> list[Deleted]:
    """Flows present in some commit but not at HEAD, each with the newest commit that had it and
    the commit that removed it."""
    head = history.head()
    if head is None:
        return []
    raw = history.read(head, MANIFEST)
    if raw is None:
        raise ArchiveError(f"{history.root}: HEAD has no {MANIFEST} (not a flowvault archive?)")
    current = parse_manifest(raw, f"{history.root}@{head[:10]}:{MANIFEST}")["flows"]
    found: dict[str, Deleted] = {}
    newer: Commit | None = None  # manifests come newest first: a removal changed the manifest
    for commit, flows in manifests(history):
        for fid, entry in flows.items():
            if fid not in current and fid not in found:
                found[fid] = Deleted(fid, str(entry.get("name")), commit, newer)
        newer = commit
    return sorted(found.values(), key=lambda d: d.last_commit.date, reverse=True)


def find_flow(history: History, wanted: str, at: str | None) -> tuple[str, str]:
    """(revision, flow ID) of the newest commit that has the flow (ID or name), or at ``at``.
    A name that several flows share is refused with their IDs: never a silent pick."""
    if at is not None:
        found = [fid for fid, e in open_snapshot(history, at).flows.items()
                 if fid == wanted or e.get("name") == wanted]
        if not found:
            raise UsageError(f"{history.root}@{at}: no flow with ID or name '{wanted}'")
        _refuse_ambiguous(wanted, found)
        return at, found[0]
    for commit, flows in manifests(history):
        found = [fid for fid, e in flows.items() if fid == wanted or e.get("name") == wanted]
        if found:
            _refuse_ambiguous(wanted, found)
            return commit.sha, found[0]
    raise UsageError(f"{history.root}: no flow with ID or name '{wanted}' in any commit of the archive")


def _refuse_ambiguous(wanted: str, found: list[str]) -> None:
    if len(found) > 1:
        raise UsageError(f"{len(found)} flows are named '{wanted}' ({', '.join('#' + f for f in sorted(found))}); "
                         "give the flow's ID with --flow")
