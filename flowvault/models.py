"""Typed values that flow between the stages: references, archived flows, map files,
the target's inventory and import plans. No I/O, nothing of flowvault but ``errors``."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


#: the export commit's trailer (``git interpret-trailers``) naming each flow that failed and kept its last
#: archived copy: written by the exporter, read by the UI as data
FAILED_TRAILER = "Failed-Flow"


def id_value(raw: Any) -> int | str:
    """An ID as the API spells it: a positive integer when it is all digits, else the text (UUIDs)."""
    text = str(raw)
    return int(text) if text.isdigit() else text


@dataclass(frozen=True)
class Source:
    """Whose archive this is, as its manifest records it (``source``): the profile (one company),
    its base URL and the provider. Read once with ``Source.of``; ``is_company`` is the one
    same-company rule."""

    profile: str | None = None
    base_url: str = ""
    provider: str = "patchworks"

    @classmethod
    def of(cls, manifest: Any) -> Source | None:
        """The manifest's recorded source, or None when it records none (a new or foreign archive)."""
        raw = manifest.get("source") if isinstance(manifest, dict) else None
        if not isinstance(raw, dict):
            return None
        profile = raw.get("profile")
        return cls(str(profile) if isinstance(profile, str) and profile else None,
                   str(raw.get("base_url") or "").rstrip("/"), str(raw.get("provider") or "patchworks"))

    def is_company(self, profile: str, base_url: str) -> bool:
        """The same company: the same profile name and base URL (every company of a vendor shares
        its base URL, so the URL alone says nothing)."""
        return self.profile == profile and self.base_url == base_url.rstrip("/")

    def as_json(self) -> dict[str, str]:
        return {"profile": self.profile or "", "base_url": self.base_url, "provider": self.provider}


@dataclass(frozen=True, slots=True)  # an import plans thousands of these: no per-object dict
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
    general: str = ""  # the field's path without indices: what a rule names

    @property
    def where(self) -> str:
        return f"flow '{self.flow_name}' (#{self.flow_id}) version {self.iteration} step '{self.step_name}'"

    def describe(self) -> str:
        if not self.rtype:
            return (f"{self.where}: field '{self.field}' holds ID {self.source_id} that no reference rule "
                    "classifies")
        name = f" '{self.source_name}'" if self.source_name else ""
        return f"{self.where}: {self.rtype} {self.source_id}{name} ({self.field}) has no match in the target"


@dataclass(frozen=True)
class ArchivedFlow:
    """One archived flow as planning sees it: identity, settings, references and the keys of
    its redacted secrets. The export document itself stays in the archive until it is sent."""

    flow_id: str
    name: str
    folder: str
    settings: dict[str, Any] = field(compare=False)
    refs: tuple[Ref, ...] = ()
    secret_keys: tuple[str, ...] = ()  # hidden secret values that need a value from the user
    unclassified: tuple[Ref, ...] = ()  # ID-like values no rule classifies (rtype "")
    kept: tuple[Ref, ...] = ()  # values the user accepted as they are (rule "keep")
    sealed_closed: tuple[str, ...] = ()  # of secret_keys, the encrypted ones no identity given could open

    @property
    def label(self) -> str:
        return f"{self.name} (#{self.flow_id})"


@dataclass(frozen=True)
class MapFile:
    """A parsed map file: ``ids[rtype][source] = target`` and ``secrets[KEY] = value``."""

    ids: dict[str, dict[int | str, int | str]] = field(default_factory=dict)
    secrets: dict[str, str] = field(default_factory=dict)
    rules: dict[str, str] = field(default_factory=dict)  # field or dotted path → type | none | keep


@dataclass(frozen=True)
class Inventory:
    """What the target company has: flows (ID → name) and resources by type and name."""

    flows: dict[str, str]
    by_name: dict[str, dict[str, list[int]]] = field(default_factory=dict)
    labels: dict[str, int | str] = field(default_factory=dict)  # the labels its flows carry: name → ID


@dataclass(frozen=True)
class FlowPlan:
    """What the import will do with one flow, decided before anything is written. A value: a
    later decision (a refusal) is a new plan (``dataclasses.replace``), never an edit."""

    flow: ArchivedFlow
    action: str  # create | skip (already imported) | conflict | replace | rename | invalid
    reason: str = ""
    target_id: int | str | None = None
    unresolved: tuple[Ref, ...] = ()
    unresolved_why: tuple[str, ...] = ()  # one line per unresolved reference
    deferred: tuple[Ref, ...] = ()  # flow refs patched after the referenced flow exists
    missing_secrets: tuple[str, ...] = ()
    unclassified: tuple[Ref, ...] = ()  # refused unless the user classifies them
    #: (type, source ID) → target ID of every reference resolved while planning (flows created in
    #: this run are not yet known: the run's own map gives them)
    resolved: tuple[tuple[tuple[str, int], int | str], ...] = ()

    @property
    def label(self) -> str:
        return self.flow.label

    @property
    def blocked(self) -> bool:
        """The flow will not be imported: a conflict, an invalid name, an unresolved or an
        unclassified reference."""
        return self.action in ("conflict", "invalid") or bool(self.unresolved) or bool(self.unclassified)


@dataclass(frozen=True)
class CreateJob:
    """Everything a provider needs to create (or finish) one flow in the target: the document to
    send already resolved (target IDs, secret values, deferred references empty), nothing to call back."""

    flow: ArchivedFlow
    export: dict[str, Any]  # the archived export document, for the parts sent as they are
    doc: dict[str, Any]  # the flow document to send (and, once deferred references are set, to find)
    name: str
    enable: str  # off | source
    pre: tuple[int | str, ...] = ()  # target flows with this name before the create
    deferred: tuple[Ref, ...] = ()  # references left empty in ``doc``, set by a patch after the create
    labels: dict[str, int | str] = field(default_factory=dict)  # the target's labels: name → ID


@dataclass
class Created:
    """A flow the provider created: its target ID, fields for the ID map, and what the
    provider needs later (e.g. step IDs to patch a deferred reference)."""

    target_id: int | str
    ledger: dict[str, Any] = field(default_factory=dict)
    info: Any = None
