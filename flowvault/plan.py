"""Pure import planning: references, the map file, resolution, dependency order, remapping.

No I/O: the importer gathers the target's flows and resources, this module decides.
"""

from __future__ import annotations

import json
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .archive import ArchivedFlow
from .canonical import REDACTED
from .errors import ConfigError

#: step field → the resource type it references.
REF_FIELDS: dict[str, str] = {
    "connector_id": "connector",
    "script_version_id": "script",
    "cache_id": "cache",
    "data_pool_id": "data_pool",
    "virtual_environment_id": "virtual_environment",
    "target_flow_id": "flow",
}
RESOURCE_TYPES = ("connector", "script", "cache", "data_pool", "virtual_environment", "flow")


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


@dataclass
class MapFile:
    ids: dict[str, dict[int, int]] = field(default_factory=dict)
    secrets: dict[str, str] = field(default_factory=dict)


def parse_map(text: str, path: str) -> MapFile:
    """A map file (TOML, or JSON when it starts with '{'): ``[type] source_id = target_id``
    for each resource type, and ``[secrets] KEY = "value"``."""
    try:
        data = json.loads(text) if text.lstrip().startswith("{") else tomllib.loads(text)
    except (ValueError, tomllib.TOMLDecodeError) as e:
        raise ConfigError(f"{path}: not valid TOML/JSON ({str(e).splitlines()[0]})") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: a map file is a table of resource types")
    out = MapFile()
    for rtype, table in data.items():
        if rtype == "secrets":
            if not isinstance(table, dict) or not all(isinstance(v, str) for v in table.values()):
                raise ConfigError(f"{path}: [secrets] values must be strings")
            out.secrets = {str(k): v for k, v in table.items()}
            continue
        if rtype not in RESOURCE_TYPES:
            raise ConfigError(f"{path}: unknown resource type '{rtype}' "
                              f"(known: {', '.join(RESOURCE_TYPES)}, secrets)")
        if not isinstance(table, dict):
            raise ConfigError(f"{path}: [{rtype}] must be a table of source_id = target_id")
        ids: dict[int, int] = {}
        for src, tgt in table.items():
            if not str(src).isdigit() or isinstance(tgt, bool) or not isinstance(tgt, int) or tgt <= 0:
                raise ConfigError(f"{path}: [{rtype}] {src} = {tgt!r}: IDs must be positive integers")
            ids[int(src)] = tgt
        out.ids[rtype] = ids
    return out


def load_map(path: Path | str | None) -> MapFile:
    if path is None:
        return MapFile()
    p = Path(path)
    try:
        return parse_map(p.read_text(encoding="utf-8"), str(p))
    except FileNotFoundError:
        raise ConfigError(f"{p}: map file not found") from None
    except UnicodeDecodeError:
        raise ConfigError(f"{p}: map file is not UTF-8 text") from None


def collect_refs(flow: ArchivedFlow) -> list[Ref]:
    """Every ID reference in the flow's steps (computed once per flow, then kept: it is small)."""
    if flow.refs_cache is None:
        flow.refs_cache = _collect_refs(flow, flow.export)
    return flow.refs_cache


def _collect_refs(flow: ArchivedFlow, export: dict[str, Any]) -> list[Ref]:
    names = {(d.get("type"), d.get("id")): d.get("name")
             for d in export.get("metadata", {}).get("dependencies", []) if isinstance(d, dict)}
    refs = []
    for v in export["flow"].get("versions", []):
        for j, step in enumerate(v.get("steps") or []):
            for fld, rtype in REF_FIELDS.items():
                rid = step.get(fld)
                if isinstance(rid, int) and not isinstance(rid, bool):
                    refs.append(Ref(flow.flow_id, flow.name, int(v.get("iteration", 0)), j,
                                    str(step.get("name", "")), fld, rtype, rid, names.get((rtype, rid))))
    return refs


def secret_keys(doc: Any) -> list[str]:
    """Keys of variables whose value was redacted at export."""
    found: list[str] = []
    if isinstance(doc, dict):
        if doc.get("secret") is True and doc.get("value") == REDACTED:
            found.append(str(doc.get("key")))
        for v in doc.values():
            found += secret_keys(v)
    elif isinstance(doc, list):
        for v in doc:
            found += secret_keys(v)
    return found


@dataclass
class Resolver:
    """Source ID → target ID: the map file first, then flows imported (earlier or now),
    then a unique name match among what the target exposes."""

    explicit: dict[str, dict[int, int]]
    imported_flows: dict[int, int]
    by_name: dict[str, dict[str, list[int]]]

    def resolve(self, ref: Ref) -> int | None:
        hit = self.explicit.get(ref.rtype, {}).get(ref.source_id)
        if hit is not None:
            return hit
        if ref.rtype == "flow" and ref.source_id in self.imported_flows:
            return self.imported_flows[ref.source_id]
        candidates = self.by_name.get(ref.rtype, {}).get(ref.source_name or "", [])
        return candidates[0] if len(candidates) == 1 else None


@dataclass
class FlowPlan:
    flow: ArchivedFlow
    action: str  # create | skip (already imported) | conflict | replace | rename
    reason: str = ""
    target_id: int | None = None
    unresolved: list[Ref] = field(default_factory=list)
    deferred: list[Ref] = field(default_factory=list)  # flow refs patched after the referenced flow exists
    missing_secrets: list[str] = field(default_factory=list)

    @property
    def label(self) -> str:
        return f"{self.flow.name} (#{self.flow.flow_id})"


def dependency_order(flows: dict[str, ArchivedFlow]) -> tuple[list[str], set[tuple[str, str]]]:
    """Flows ordered so that a referenced flow comes first; the edges that close a cycle
    (importer, referenced) are returned to be patched after both exist."""
    deps = {fid: sorted({str(r.source_id) for r in collect_refs(f) if r.rtype == "flow"} & set(flows) - {fid})
            for fid, f in flows.items()}
    order: list[str] = []
    state: dict[str, int] = {}
    back: set[tuple[str, str]] = set()

    def visit(fid: str) -> None:
        stack = [(fid, iter(deps[fid]))]
        state[fid] = 1
        while stack:
            node, it = stack[-1]
            nxt = next(it, None)
            if nxt is None:
                state[node] = 2
                order.append(node)
                stack.pop()
            elif state.get(nxt) == 1:
                back.add((node, nxt))
            elif nxt not in state:
                state[nxt] = 1
                stack.append((nxt, iter(deps[nxt])))

    for fid in sorted(flows, key=lambda x: (len(x), x)):
        if fid not in state:
            visit(fid)
    return order, back


def plan_flow(flow: ArchivedFlow, resolver: Resolver, *, done: dict[int, int], target_names: dict[str, list[int]],
              in_run: set[str], cycle_edges: set[tuple[str, str]], on_conflict: str,
              secrets: dict[str, str]) -> FlowPlan:
    src = int(flow.flow_id)
    if src in done:
        return FlowPlan(flow, "skip", "already imported", target_id=done[src])
    plan = FlowPlan(flow, "create")
    existing = target_names.get(flow.name, [])
    if existing:
        plan.action = {"skip": "conflict", "rename": "rename", "replace": "replace"}[on_conflict]
        plan.target_id = existing[0]
        plan.reason = f"the target already has a flow named '{flow.name}' (#{existing[0]})"
    for ref in collect_refs(flow):
        if ref.rtype == "flow" and str(ref.source_id) in in_run:
            if (flow.flow_id, str(ref.source_id)) in cycle_edges or str(ref.source_id) == flow.flow_id:
                plan.deferred.append(ref)
            continue  # imported earlier in this run (dependency order)
        if resolver.resolve(ref) is None:
            plan.unresolved.append(ref)
    plan.missing_secrets = sorted({k for k in secret_keys(flow.export) if k not in secrets})
    return plan


def remap_flow_doc(export: dict[str, Any], resolve: Any, deferred: list[Ref], secrets: dict[str, str],
                   name: str | None = None) -> dict[str, Any]:
    """The export document's ``flow`` with target IDs in every reference, deferred flow refs
    emptied (patched later), and redacted secrets filled from ``secrets`` (else empty)."""
    doc = json.loads(json.dumps(export["flow"]))
    if name is not None:
        doc["name"] = name
    skip = {(r.iteration, r.step_index, r.field) for r in deferred}
    for v in doc.get("versions", []):
        for j, step in enumerate(v.get("steps") or []):
            for fld, rtype in REF_FIELDS.items():
                rid = step.get(fld)
                if not isinstance(rid, int) or isinstance(rid, bool):
                    continue
                if (int(v.get("iteration", 0)), j, fld) in skip:
                    step[fld] = None
                else:
                    step[fld] = resolve(rtype, rid)
    _fill_secrets(doc, secrets)
    return doc


def _fill_secrets(doc: Any, secrets: dict[str, str]) -> None:
    if isinstance(doc, dict):
        if doc.get("secret") is True and doc.get("value") == REDACTED:
            doc["value"] = secrets.get(str(doc.get("key")), "")
        for v in doc.values():
            _fill_secrets(v, secrets)
    elif isinstance(doc, list):
        for v in doc:
            _fill_secrets(v, secrets)


def map_template(flows: list[ArchivedFlow]) -> str:
    """A map-file template listing every reference with its source name, to fill in."""
    seen: dict[str, dict[int, tuple[str | None, set[str]]]] = {}
    keys: set[str] = set()
    for f in flows:
        for r in collect_refs(f):
            name, users = seen.setdefault(r.rtype, {}).setdefault(r.source_id, (r.source_name, set()))
            users.add(f.name)
        keys.update(secret_keys(f.export))  # one flow's document at a time
    lines = ["# flowvault map file: source ID = target ID, per resource type.",
             "# Uncomment a line and put the ID the resource has in the target company.",
             "# References not listed here are matched by name where the target exposes them.", ""]
    for rtype in RESOURCE_TYPES:
        if rtype not in seen:
            continue
        lines.append(f"[{rtype}]")
        for sid in sorted(seen[rtype]):
            name, users = seen[rtype][sid]
            lines.append(f"# {sid} = ?    # {json.dumps(name or '(unknown name)', ensure_ascii=False)}, "
                         f"used by {len(users)} flow(s)")
        lines.append("")
    if keys:
        lines.append("[secrets]  # values of secret variables redacted at export (or env FLOWVAULT_SECRET_<KEY>)")
        lines += [f'# {k} = ""' for k in sorted(keys)]
        lines.append("")
    return "\n".join(lines)
