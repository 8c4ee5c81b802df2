"""Typed values that flow between the stages: references, archived flows, map files,
the target's inventory and import plans. No I/O, nothing of flowvault but ``errors``."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any


def id_value(raw: Any) -> int | str:
    """An ID as the API spells it: a positive integer when it is all digits, else the text (UUIDs)."""
    text = str(raw)
    return int(text) if text.isdigit() else text


@dataclass(frozen=True)
class Ref:
    """One ID reference in a step of an archived flow."""

    flow_id: str
    flow_name: str
    iteration: int
    step_index: int
    step_name: str
    field: str
    rtype: str
    source_id: int
    source_name: str | None

    def describe(self) -> str:
        name = f" '{self.source_name}'" if self.source_name else ""
        return (f"flow '{self.flow_name}' (#{self.flow_id}) version {self.iteration} step "
                f"'{self.step_name}': {self.rtype} {self.source_id}{name} has no match in the target")


@dataclass(frozen=True)
class ArchivedFlow:
    """One archived flow as planning sees it: identity, settings, references and the keys of
    its redacted secrets. The export document itself stays in the archive until it is sent."""

    flow_id: str
    name: str
    folder: str
    settings: dict[str, Any] = field(compare=False)
    refs: tuple[Ref, ...] = ()
    secret_keys: tuple[str, ...] = ()

    @property
    def label(self) -> str:
        return f"{self.name} (#{self.flow_id})"


@dataclass(frozen=True)
class MapFile:
    """A parsed map file: ``ids[rtype][source] = target`` and ``secrets[KEY] = value``."""

    ids: dict[str, dict[int | str, int | str]] = field(default_factory=dict)
    secrets: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Inventory:
    """What the target company has: flows (ID → name) and resources by type and name."""

    flows: dict[str, str]
    by_name: dict[str, dict[str, list[int]]] = field(default_factory=dict)


@dataclass
class FlowPlan:
    """What the import will do with one flow, decided before anything is written."""

    flow: ArchivedFlow
    action: str  # create | skip (already imported) | conflict | replace | rename | invalid
    reason: str = ""
    target_id: int | str | None = None
    unresolved: list[Ref] = field(default_factory=list)
    deferred: list[Ref] = field(default_factory=list)  # flow refs patched after the referenced flow exists
    missing_secrets: list[str] = field(default_factory=list)

    @property
    def label(self) -> str:
        return self.flow.label

    @property
    def blocked(self) -> bool:
        """The flow will not be imported: a conflict, an invalid name or an unresolved reference."""
        return self.action in ("conflict", "invalid") or bool(self.unresolved)


@dataclass(frozen=True)
class CreateJob:
    """Everything a provider needs to create (or finish) one flow in the target."""

    plan: FlowPlan
    export: dict[str, Any]
    name: str
    resolve: Callable[[str, int], int | str]
    secrets: dict[str, str]
    enable: str  # off | source
    pre: tuple[int | str, ...] = ()  # target flows with this name before the create


@dataclass
class Created:
    """A flow the provider created: its target ID, fields for the ID map, and what the
    provider needs later (e.g. step IDs to patch a deferred reference)."""

    target_id: int | str
    ledger: dict[str, Any] = field(default_factory=dict)
    info: Any = None
