"""``flowvault restore``: an import of one flow from the newest commit that has it (or --at)."""

from __future__ import annotations

from pathlib import Path

from ..config import Profile
from ..history import History
from ..importer import ImportResult
from ..output import Reporter
from ..snapshots import find_flow
from ..importrun import run_import


def run_restore(profile: Profile, archive_dir: Path | str, flow: str, *, at: str | None = None,
                map_path: Path | None = None, on_conflict: str = "skip", enable: str = "source",
                same_company: bool | None = None, identity: Path | None = None, allow_missing_secrets: bool = False,
                reporter: Reporter | None = None) -> ImportResult:
    rev, fid = find_flow(History.open(archive_dir), flow, at)
    return run_import(profile, archive_dir, at=rev, flows=(fid,), map_path=map_path, on_conflict=on_conflict,
                      enable=enable, same_company=same_company, identity=identity,
                      allow_missing_secrets=allow_missing_secrets, reporter=reporter)
