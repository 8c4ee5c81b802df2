"""Bounded fan-out: run ``fn(item)`` for every item with at most ``workers`` at a time.

A fixed set of workers pulls from one iterator, so memory stays flat however many items
there are (20,000 flows are not 20,000 waiting tasks). The first FlowvaultError raised
by a worker leaves the task group unwrapped, so callers see the error, not a group.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable
from typing import TypeVar

import anyio

from .errors import unwrap

T = TypeVar("T")


async def for_each(items: Iterable[T], fn: Callable[[T], Awaitable[None]], workers: int) -> None:
    queue = iter(items)

    async def worker() -> None:
        for item in queue:
            await fn(item)

    try:
        async with anyio.create_task_group() as tg:
            for _ in range(max(1, workers)):
                tg.start_soon(worker)
    except BaseExceptionGroup as eg:
        raise unwrap(eg) from None
