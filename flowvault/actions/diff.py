"""``flowvault diff``: build the two views (commits, work tree or live company) and compare."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import anyio

from ..canonical import Secrets
from ..client import ApiClient
from ..config import Profile
from ..flowdiff import ChangeSet, MemorySide, View, change_set
from ..history import History
from ..pool import for_each
from ..providers import Provider, client_for, provider_for
from ..snapshots import open_snapshot
from ..exportrun import secret_policy


async def live_view(api: ApiClient, provider: Provider, secrets: Secrets, workers: int = 16) -> View:
    """What an export would write now, in memory (nothing is written)."""
    items, _ = await provider.list_flows(api)
    listing = list({str(f["id"]): f for f in items if isinstance(f, dict) and "id" in f}.values())
    view: View = {}

    async def fetch(flow: dict[str, Any]) -> None:
        record = await provider.fetch(api, flow, secrets.fork())
        view[str(record.flow_id)] = (record.name, record.files)

    await for_each(listing, fetch, workers)
    return view


def run_diff(archive_dir: Path | str, revs: tuple[str, ...], profile: Profile | None) -> ChangeSet:
    """No revision: HEAD vs work tree (or the work tree vs live with a profile);
    one: REV vs work tree (or REV vs live); two: REV1 vs REV2."""
    history = History.open(archive_dir)
    if profile is not None:
        snapshot = open_snapshot(history, revs[0] if revs else None)
        keep = secret_policy(profile, history, snapshot.manifest.get("secrets") == "kept")

        async def go() -> View:
            async with client_for(profile) as api:
                return await live_view(api, provider_for(profile.provider), keep, workers=2 * profile.concurrency)

        return change_set(snapshot, MemorySide(anyio.run(go)))
    old = open_snapshot(history, revs[0] if revs else "HEAD")
    new = open_snapshot(history, revs[1] if len(revs) > 1 else None)
    result = change_set(old, new)
    if len(revs) < 2 and history.interrupted():
        result.notes.append(f"{history.root}: the work tree holds the leftovers of a run that "
                            + ("is still running" if history.running() else "was killed; the next run discards them"))
    return result


def diff_html(archive_dir: Path, revs: tuple[str, ...]) -> tuple[str, ChangeSet]:
    """``diff --format html``: the same diff as the UI's page, as one self-contained page, and
    the change set it draws."""
    from ..ui.pages import diff_and_page, find_archives

    name = next(iter(find_archives(archive_dir)))
    return diff_and_page(name, archive_dir, revs[0] if revs else "HEAD", revs[1] if len(revs) > 1 else None,
                         standalone=True)
