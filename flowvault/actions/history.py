"""``flowvault history`` and ``flowvault deleted``: the commits that changed a flow, and the
flows in history that are gone at HEAD, each with the last commit that had it."""

from __future__ import annotations

from pathlib import Path

from ..archive import FLOWS_DIR
from ..errors import ArchiveError
from ..history import Commit, History
from ..protocol import flow_id
from ..snapshots import Deleted, deleted, find_flow


def deleted_flows(archive_dir: Path | str) -> list[Deleted]:
    """Flows present in some commit but not at HEAD, each with the newest commit that had it."""
    return deleted(History.open(archive_dir))


def flow_commits(archive_dir: Path | str, wanted: str | None) -> list[Commit]:
    """Commits that changed a flow's files (every commit when ``wanted`` is None)."""
    history = History.open(archive_dir)
    if wanted is None:
        return history.log()
    _, fid = find_flow(history, wanted, None)
    if flow_id(fid) is None:  # an ID as export accepts it (a number, or OCP's UUID): a safe path glob
        raise ArchiveError(f"{history.root}: unexpected flow ID '{fid[:40]}' in the manifest")
    return history.log([f"{FLOWS_DIR}/{fid}-*"])
