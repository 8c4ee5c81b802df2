"""What differs between vendors, and nothing else: how to list flows and fetch one flow
into archive files. The exporter, archive, git history, verify and diff are shared."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any, Protocol

from ..archive import FlowRecord
from ..client import ApiClient
from .ocp import Ocp
from .patchworks import Patchworks


class Provider(Protocol):
    name: str

    async def list_flows(self, api: ApiClient) -> tuple[list[Any], int]:
        """Every flow (each a dict with at least ``id`` and ``name``) and the total the API claims."""
        ...

    async def probe(self, api: ApiClient) -> str:
        """One cheap request proving the API answers and accepts the key."""
        ...

    def iter_flows(self, api: ApiClient) -> AsyncIterator[tuple[list[Any], int]]:
        """The same, a page at a time (each with the claimed total), for bounded memory."""
        ...

    async def fetch(self, api: ApiClient, flow: dict[str, Any], keep_secrets: bool) -> tuple[FlowRecord, int]:
        """One flow's archive record and the number of secret values redacted."""
        ...


PATCHWORKS = Patchworks()
OCP = Ocp()
PROVIDERS: dict[str, Provider] = {"patchworks": PATCHWORKS, "ocp": OCP}


def provider_for(name: str) -> Provider:
    return PROVIDERS[name]


__all__ = ["OCP", "PATCHWORKS", "PROVIDERS", "Provider", "provider_for"]
