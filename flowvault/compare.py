"""The diff action: build the two views (commits, work tree or live company) and compare."""

from __future__ import annotations

from pathlib import Path

import anyio

from .client import client_for
from .config import Profile
from .diff import Diff, diff_views, live_view, snapshot_view
from .history import History
from .providers import provider_for
from .timeline import open_snapshot


def run_diff(archive_dir: Path | str, revs: tuple[str, ...], profile: Profile | None) -> Diff:
    """No revision: HEAD vs work tree (or the work tree vs live with a profile);
    one: REV vs work tree (or REV vs live); two: REV1 vs REV2."""
    history = History.open(archive_dir)
    if profile is not None:
        snapshot = open_snapshot(history, revs[0] if revs else None)
        keep = snapshot.manifest.get("secrets") == "kept"

        async def go() -> dict[str, tuple[str, dict[str, bytes]]]:
            async with client_for(profile) as api:
                return await live_view(api, provider_for(profile.provider), keep, workers=2 * profile.concurrency)

        return diff_views(snapshot_view(snapshot), anyio.run(go))
    old = open_snapshot(history, revs[0] if revs else "HEAD")
    new = open_snapshot(history, revs[1] if len(revs) > 1 else None)
    return diff_views(snapshot_view(old), snapshot_view(new))
