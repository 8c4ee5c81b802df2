"""Everything that differs between vendors, in both directions, behind one interface:
list, fetch and probe for export; inventory, name rules, references, create, finish,
delete and patch for import; the archive shape ``verify`` checks and the documented rate.
The exporter, importer, archive and history are shared. Which providers exist is
``registry.known()`` (flowvault's own, and any an installed package registers)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from importlib import import_module
from typing import Any, Protocol

from ..archive import FlowRecord
from ..canonical import Secrets
from ..client import ApiClient
from ..client import client_for as _client_for
from ..errors import ConfigError
from ..models import Created, CreateJob, Inventory, MapFile, Ref
from ..references import Rules
from ..registry import known
from .ocp import Ocp
from .patchworks import Patchworks


class Provider(Protocol):
    name: str
    paths: tuple[str, ...]  # the path templates it calls, as its vendor's reference spells them
    documented_rate: float  # requests a second the vendor documents per key (0: none documented)

    def archive_problem(self, rel: str, data: Any) -> str | None:
        """Why one archived file of a flow (``export.json``, ``versions/…``) is not the shape this
        provider writes, or None (``verify``; ``flow.json``'s ID and name are checked for all)."""
        ...

    # -- export ------------------------------------------------------------------
    async def list_flows(self, api: ApiClient) -> tuple[list[Any], int]:
        """Every flow (each a dict with at least ``id`` and ``name``) and the total the API claims."""
        ...

    def iter_flows(self, api: ApiClient, say: Callable[[str], None] | None = None,
                   ) -> AsyncIterator[tuple[list[Any], int]]:
        """The same, a page at a time (each with the claimed total), for bounded memory; ``say``
        hears what the listing refused (and how it was asked instead)."""
        ...

    def listing_includes(self, items: list[Any]) -> tuple[list[str], list[str]]:
        """(honoured, ignored): which of the listing's documented includes these listed flows carry."""
        ...

    async def probe(self, api: ApiClient) -> str:
        """One cheap request proving the API answers and accepts the key."""
        ...

    def fingerprint(self, flow: dict[str, Any], allow: frozenset[str]) -> str | None:
        """What the listing says about this flow, as a digest that changes with any edit; None
        when the listing does not carry enough to tell (the flow is then always fetched)."""
        ...

    async def fetch(self, api: ApiClient, flow: dict[str, Any], secrets: Secrets) -> FlowRecord:
        """One flow's archive record, its secret values hidden by ``secrets`` (which counts them)."""
        ...

    # -- import ------------------------------------------------------------------
    def name_key(self, name: str) -> str:
        """What makes two flow names the same in this vendor (exact, or regardless of case)."""
        ...

    def name_problem(self, name: str) -> str | None:
        """Why the vendor would reject this name, or None."""
        ...

    def renamed(self, name: str, n: int) -> str:
        """The n-th alternative name for ``--on-conflict rename``."""
        ...

    def refs(self, export: dict[str, Any], flow_id: str, flow_name: str,
             rules: Rules) -> tuple[list[Ref], list[Ref], list[Ref]]:
        """(references, unclassified ID fields, fields kept as they are) in the export document."""
        ...

    def check_map(self, mapping: MapFile, where: str) -> None:
        """Refuse (UsageError) the parts of a map file that do not apply to this vendor."""
        ...

    def checklist(self, settings: dict[str, Any]) -> list[str]:
        """What an import cannot restore for a flow (from its archived settings), for the setup checklist."""
        ...

    async def inventory(self, api: ApiClient) -> Inventory:
        """The target's flows and the resources it exposes by name."""
        ...

    def document(self, export: dict[str, Any], resolve: Callable[[str, int], int | str | None],
                 deferred: tuple[Ref, ...], secrets: dict[str, str], *, name: str, rules: Rules,
                 open_sealed: Callable[[str], str | None] | None) -> dict[str, Any]:
        """The flow document to send for ``export``: every reference through ``resolve``, the
        deferred ones empty, hidden secret values from ``secrets`` (or opened), named ``name``."""
        ...

    async def create(self, api: ApiClient, job: CreateJob) -> Created:
        """Create one flow, never twice (``ApiClient.create_once``)."""
        ...

    async def delete(self, api: ApiClient, target_id: int | str) -> None:
        ...

    async def live_secrets(self, api: ApiClient, target_id: int | str) -> dict[str, str]:
        """The secret values a live flow holds, read before it is replaced (never blank a live secret)."""
        ...

    async def finish(self, api: ApiClient, job: CreateJob, target_id: int | str, info: Any) -> tuple[list[str], Any]:
        """Restore what the create does not (state, schedules, labels, enabled policy); returns
        the flows left disabled/stopped for the summary and the provider's info for patches."""
        ...

    async def patch_ref(self, api: ApiClient, info: Any, ref: Ref, body: dict[str, Any]) -> bool:
        """Set a deferred flow reference (``body``: the step's rewritten key); False when it cannot."""
        ...

    async def verify(self, api: ApiClient, job: CreateJob, target_id: int | str) -> list[str]:
        """Read the created flow back and name what differs from what was sent (empty: the same)."""
        ...


PATCHWORKS = Patchworks()
OCP = Ocp()
_LOADED: dict[str, Provider] = {"patchworks": PATCHWORKS, "ocp": OCP}


def provider_for(name: str) -> Provider:
    """The provider called ``name``: a built-in, or one an installed package registers."""
    if name not in _LOADED:
        where = known().get(name)
        if where is None:
            raise ConfigError(f"unknown provider '{name}' (known: {', '.join(sorted(known()))})")
        module, _, attr = where.partition(":")
        try:
            found = getattr(import_module(module), attr)
        except (ImportError, AttributeError) as e:
            raise ConfigError(f"provider '{name}': cannot load {where} ({e})") from None
        _LOADED[name] = found() if isinstance(found, type) else found
    return _LOADED[name]


def client_for(profile: Any, **options: Any) -> ApiClient:
    """The API client for a profile, paced at its vendor's documented rate unless it sets its own."""
    return _client_for(profile, documented_rate=provider_for(profile.provider).documented_rate, **options)


__all__ = ["OCP", "PATCHWORKS", "Provider", "client_for", "provider_for"]
