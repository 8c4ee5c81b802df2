"""Patchworks' lists beyond one page of the flow listing: a list endpoint read whole (whatever
shape its reply takes), and the schedules, webhooks and callbacks an import creates, never twice."""

from __future__ import annotations

from typing import Any

from ..client import ApiClient
from ..errors import ProtocolError


class ListCutShort(ProtocolError):
    """A list whose reply says it has more pages, on an endpoint the reference gives no page parameter."""


async def list_all(api: ApiClient, path: str, *, pages: bool = False) -> list[Any]:
    """Every item of a list endpoint whose reply shape the reference leaves open: a page
    (``data`` and ``meta``), ``{"data": [...]}`` or a bare list. ``pages``: the endpoint documents
    ``page``/``per_page`` (further pages are fetched); else it is asked with no parameter, and a
    reply that says it has more pages raises ListCutShort (the rest cannot be asked for)."""
    if pages:
        items, _ = await api.paginate(path)
        return items
    reply = await api.get(path)
    if isinstance(reply, list):
        return reply
    if not isinstance(reply, dict) or not isinstance(reply.get("data"), list):
        raise ProtocolError(f"GET {path}: expected a list (or 'data' holding one)")
    meta = reply.get("meta")
    if isinstance(meta, dict) and isinstance(meta.get("last_page"), int) and meta["last_page"] > 1:
        raise ListCutShort(f"GET {path}: the reply is page 1 of {meta['last_page']}, and the reference documents "
                           "no page parameter for this list")
    return list(reply["data"])


async def sync_schedules(api: ApiClient, version_id: int, crons: list[str], fresh: bool) -> None:
    await sync_items(api, f"/api/v1/flow-versions/{version_id}/schedules", [{"cron_string": c} for c in crons],
                      fresh, pages=True)


async def sync_items(api: ApiClient, path: str, bodies: list[dict[str, Any]], fresh: bool, *,
                      pages: bool = False) -> None:
    """Create the items (schedules, webhooks, callbacks) the target lacks. Idempotent: an item
    counts as there when the target lists one with the same values for the body's fields, as
    often as the archive has it; each create is checked before it is retried (never twice)."""
    def same(body: dict[str, Any], item: Any) -> bool:
        return isinstance(item, dict) and all(item.get(k) == v for k, v in body.items())

    async def have() -> list[Any]:
        return await list_all(api, path, pages=pages)

    if not bodies:
        return
    current = [] if fresh else await have()
    for body in bodies:
        there = next((x for x in current if same(body, x)), None)
        if there is not None:
            current.remove(there)
            continue
        before = sum(same(body, x) for x in await have()) if not fresh else 0

        async def created(body: dict[str, Any] = body, before: int = before) -> Any:
            return {"exists": True} if sum(same(body, x) for x in await have()) > before else None

        await api.create_once(path, body, created)
        fresh = False
