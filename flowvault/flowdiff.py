"""What changed between two snapshots of a company's flows, as one value.

``change_set(old, new)`` is the one walk: flows added, removed and changed; per changed flow its
settings (as parameter paths), its relations item by item, and its versions — each with its
steps paired by identity (by name and type where IDs differ), their parameter paths, and the
version's own fields. The CLI's text and JSON, ``diff --format html``, the run report's page,
the UI's diff page and ``--exit-code`` all render that value; none walks on its own. Pure: a
side is anything with the manifest's ``flows`` and ``raw(fid, rel)`` (a ``Snapshot``, or
``MemorySide`` for what the live company would give).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Any, Protocol

from .canonical import loads
from .errors import ArchiveError
from .leafdiff import COSMETIC, Change, Changes, brief, changes, masked, shown

__all__ = ["COSMETIC", "Change", "ChangeSet", "Changes", "FlowChange", "MemorySide", "StepChange",
           "VersionChange", "change_set", "changes", "masked", "pair_steps", "relation_items", "shown",
           "step_marks", "version_change"]

#: fields of a version that repeat something else (the flow's name): a rename is one change, not one per version
DERIVED = frozenset({"flow_name"})
#: a version's fields that each version has of its own: left out when two versions of one flow are compared
OWN_FIELDS = frozenset({"id", "iteration", "flow_version_id", "created_at", "deployed_at", "status"})

#: the flow's relations the archive keeps in flow.json (as the listing names them, in either case)
RELATIONS = frozenset({"labels", "webhooks", "callbacks", "notificationGroups", "notification_groups",
                       "messageBrokers", "message_brokers", "messageBrokerQueues", "message_broker_queues",
                       "deployments"})

#: flow ID → (name, {relative path: bytes}): what an export would write, in memory
View = dict[str, tuple[str, dict[str, bytes]]]


class Side(Protocol):
    """One side of a comparison: the manifest's flows (``name``, ``files``: rel → sha256) and their bytes."""

    flows: dict[str, dict[str, Any]]

    def raw(self, fid: str, rel: str) -> bytes: ...


class MemorySide:
    """A ``View`` (what the live company gives now) as a side, with the manifest's checksums."""

    def __init__(self, view: View) -> None:
        self._view = view
        self.flows = {fid: {"name": name, "files": {rel: hashlib.sha256(b).hexdigest() for rel, b in files.items()}}
                      for fid, (name, files) in view.items()}

    def raw(self, fid: str, rel: str) -> bytes:
        return self._view[fid][1][rel]


# -- the value --------------------------------------------------------------------------


@dataclass
class StepChange:
    status: str  # "added" | "removed" | "changed"
    step: dict[str, Any]  # as the new side has it (the old side's when removed)
    found: Changes | None = None  # a changed step's parameter paths (real ones: a move alone is no change)

    @property
    def sid(self) -> str:
        return _sid(self.step)

    @property
    def name(self) -> str:
        return str(self.step.get("name") or "(unnamed step)")


@dataclass
class VersionChange:
    vid: str
    status: str  # "added" | "removed" | "changed" | "unreadable"
    old: dict[str, Any] | None
    new: dict[str, Any] | None
    steps: list[StepChange] = field(default_factory=list)
    fields: Changes = field(default_factory=Changes)  # the version's own fields (steps and derived ones left out)

    def paths(self) -> Changes:
        """Every change as parameter paths, steps named: ``step 'Map fields' config.page_size``."""
        out = Changes()
        for s in self.steps:
            label = f"step '{s.step.get('name')}'"
            if s.found is None:
                b = brief(masked(s.step))
                out.real.append(Change(label, b if s.status == "removed" else "", b if s.status == "added" else "",
                                       s.status))
            else:
                out.real += [Change(f"{label} {c.path}", c.old, c.new, c.kind) for c in s.found.real]
        out.real += self.fields.real
        out.cosmetic += self.fields.cosmetic
        return out

    def lines(self) -> list[str]:
        """The CLI's lines: status, steps by name with the paths that changed, schedules by cron,
        variables by key, the rest by field name."""
        if self.status in ("added", "removed", "unreadable"):
            return [self.status]
        a, b = self.old or {}, self.new or {}
        out = [f"{key} {a.get(key)} → {b.get(key)}" for key in ("status", "deployed_at") if a.get(key) != b.get(key)]
        for s in self.steps:
            paths = f" ({', '.join(_short_paths(s.found))})" if s.found is not None else ""
            out.append(f"step {s.status}: '{s.step.get('name')}'{paths}")
        ca = [x.get("cron_string") for x in a.get("schedules") or [] if isinstance(x, dict)]
        cb = [x.get("cron_string") for x in b.get("schedules") or [] if isinstance(x, dict)]
        if sorted(map(str, ca)) != sorted(map(str, cb)):
            out.append("schedules: " + ", ".join([f"+'{c}'" for c in cb if c not in ca]
                                                 + [f"-'{c}'" for c in ca if c not in cb]))
        va = {v.get("key"): v for v in a.get("variables") or [] if isinstance(v, dict)}
        vb = {v.get("key"): v for v in b.get("variables") or [] if isinstance(v, dict)}
        changed_vars = sorted(str(k) for k in va.keys() | vb.keys() if va.get(k) != vb.get(k))
        if changed_vars:
            out.append(f"variables: {', '.join(changed_vars)}")
        seen = {"status", "deployed_at", "steps", "schedules", "variables"} | DERIVED
        rest = sorted(k for k in (set(a) | set(b)) - seen if a.get(k) != b.get(k))
        if rest:
            out.append(f"fields: {', '.join(rest)}")
        return out or ["cosmetic changes only (positions, layout)"]

    def as_json(self) -> dict[str, Any]:
        return {"id": self.vid, "status": self.status,
                "steps": [{"name": s.name, "status": s.status} for s in self.steps] if self.status == "changed" else []}


@dataclass
class FlowChange:
    flow_id: str
    name: str
    settings: Changes = field(default_factory=Changes)  # flow.json as parameter paths
    setting_keys: list[str] = field(default_factory=list)  # its plain fields that differ
    relations: dict[str, list[str]] = field(default_factory=dict)  # relation → its items' changes
    versions: list[VersionChange] = field(default_factory=list)
    export_only: bool = False  # nothing above differs: only the export document does
    detailed: bool = True  # False: past the caller's limit, listed without its details

    def lines(self) -> list[str]:
        out = [f"settings: {', '.join(self.setting_keys)}"] if self.setting_keys else []
        for key, items in self.relations.items():
            out += [f"{key}: {line}" for line in items]
        for v in self.versions:
            out += [f"version {v.vid}: {line}" for line in v.lines()]
        return out + (["export document"] if self.export_only else [])


@dataclass
class ChangeSet:
    added: list[FlowChange] = field(default_factory=list)
    removed: list[FlowChange] = field(default_factory=list)
    changed: list[FlowChange] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # what the reader must know about a side

    @property
    def empty(self) -> bool:
        return not (self.added or self.removed or self.changed)

    def summary(self) -> str:
        """The one line ``--exit-code`` ends with when the two sides differ."""
        return f"{len(self.added)} added, {len(self.removed)} removed, {len(self.changed)} changed"

    def as_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {kind: [{"id": d.flow_id, "name": d.name} for d in getattr(self, kind)]
                               for kind in ("added", "removed")}
        out["changed"] = [{"id": d.flow_id, "name": d.name, "details": d.lines(),
                           "versions": [v.as_json() for v in d.versions]} for d in self.changed]
        return out

    def lines(self) -> list[str]:
        out = [f"+ {d.name} (#{d.flow_id})" for d in self.added]
        out += [f"- {d.name} (#{d.flow_id})" for d in self.removed]
        for d in self.changed:
            out.append(f"~ {d.name} (#{d.flow_id})")
            out += [f"    {line}" for line in d.lines()]
        return out or ["no differences"]


# -- the walk ---------------------------------------------------------------------------


class _NoSide:
    flows: dict[str, dict[str, Any]] = {}

    def raw(self, fid: str, rel: str) -> bytes:
        raise KeyError(fid)


def change_set(old: Side | None, new: Side, only: str | None = None, detail: int | None = None) -> ChangeSet:
    """Added, removed and changed flows between two sides (``old`` None: nothing before). The
    manifests' checksums say which flows and files differ; only those are read. ``only``: one
    flow; ``detail``: the changed flows past this many are listed without their details."""
    before = old if old is not None else _NoSide()
    a, b = before.flows, new.flows
    ids = [only] if only else sorted(set(a) | set(b), key=_key)
    out = ChangeSet()
    out.added = [FlowChange(f, str(b[f].get("name"))) for f in ids if f in b and f not in a]
    out.removed = [FlowChange(f, str(a[f].get("name"))) for f in ids if f in a and f not in b]
    for n, fid in enumerate(f for f in ids if f in a and f in b and a[f].get("files") != b[f].get("files")):
        if detail is not None and n >= detail:
            out.changed.append(FlowChange(fid, str(b[fid].get("name")), detailed=False))
        else:
            out.changed.append(flow_change(before, new, fid))
    return out


def flow_change(old: Side, new: Side, fid: str) -> FlowChange:
    fa, fb = old.flows[fid]["files"], new.flows[fid]["files"]
    change = FlowChange(fid, str(new.flows[fid].get("name")))
    s_old, s_new = _load(old, fid, "flow.json") or {}, _load(new, fid, "flow.json") or {}
    if not isinstance(s_old, dict) or not isinstance(s_new, dict):
        s_old, s_new = {"flow.json": s_old}, {"flow.json": s_new}
    change.settings = changes(s_old, s_new)
    keys = sorted(k for k in set(s_old) | set(s_new) if s_old.get(k) != s_new.get(k))
    relation = {k for k in keys if k in RELATIONS
                and all(relation_items(x.get(k, [])) is not None for x in (s_old, s_new))}
    change.setting_keys = [k for k in keys if k not in relation]
    change.relations = {k: _relation_changes(relation_items(s_old.get(k, [])) or [],
                                             relation_items(s_new.get(k, [])) or []) for k in keys if k in relation}
    rels = sorted({r for r in (*fa, *fb) if r.startswith("versions/")}, key=lambda r: _key(_vid(r)))
    for rel in rels:
        if fa.get(rel) == fb.get(rel):
            continue
        v_old = _load(old, fid, rel) if rel in fa else None
        v_new = _load(new, fid, rel) if rel in fb else None
        if rel in fa and rel in fb and (not isinstance(v_old, dict) or not isinstance(v_new, dict)):
            change.versions.append(VersionChange(_vid(rel), "unreadable", None, None))
        elif not _same_version(v_old, v_new):
            change.versions.append(version_change(_vid(rel), v_old if isinstance(v_old, dict) else None,
                                                  v_new if isinstance(v_new, dict) else None))
    change.export_only = not (change.setting_keys or change.relations or change.versions) \
        and fa.get("export.json") != fb.get("export.json")
    return change


def version_change(vid: str, old: dict[str, Any] | None, new: dict[str, Any] | None,
                   across_versions: bool = False) -> VersionChange:
    """One version: its steps paired by ``pair_steps`` and their paths, and its own fields
    (``across_versions``: two versions of one flow — the IDs and dates each has of its own left out)."""
    status = "added" if old is None else "removed" if new is None else "changed"
    a, b = old or {}, new or {}
    skip = {"steps"} | DERIVED | (OWN_FIELDS if across_versions else frozenset())
    fields = changes({k: v for k, v in a.items() if k not in skip}, {k: v for k, v in b.items() if k not in skip})
    steps = [StepChange(s, step, found) for s, step, found in step_changes(a.get("steps") or [], b.get("steps") or [])]
    return VersionChange(vid, status, old, new, steps, fields)


def version_changes(a: dict[str, Any], b: dict[str, Any]) -> Changes:
    """Every change of one version as parameter paths (steps named, then the version's own fields)."""
    return version_change("", a, b).paths()


def _same_version(a: Any, b: Any) -> bool:
    """Equal but for what a version repeats from elsewhere (the flow's name): a rename is one change."""
    if not isinstance(a, dict) or not isinstance(b, dict):
        return a == b
    return {k: v for k, v in a.items() if k not in DERIVED} == {k: v for k, v in b.items() if k not in DERIVED}


def _key(fid: str) -> tuple[int, str]:
    return (int(fid), "") if fid.isdigit() else (0, fid)


def _vid(rel: str) -> str:
    return rel.removeprefix("versions/").removesuffix(".json")


def _load(side: Side, fid: str, rel: str) -> Any:
    try:
        return loads(side.raw(fid, rel))
    except (KeyError, ValueError, ArchiveError):  # missing or damaged: shown as unreadable; verify names it
        return None


def _short_paths(found: Changes, limit: int = 4) -> list[str]:
    paths = [c.path for c in found.real]
    return paths[:limit] + ([f"+{len(paths) - limit} more"] if len(paths) > limit else [])


# -- relations --------------------------------------------------------------------------


def relation_items(value: Any) -> list[Any] | None:
    """A relation's items, whether the listing gave a list or a collection ``{"data": [...]}``."""
    if isinstance(value, dict) and isinstance(value.get("data"), list):
        value = value["data"]
    return value if isinstance(value, list) else None


def _item_label(item: Any) -> str:
    if not isinstance(item, dict):
        return repr(item)
    env = item.get("virtual_environment") or item.get("virtualEnvironment")
    if item.get("flow_version_id") is not None:
        where = f" in {env.get('name')}" if isinstance(env, dict) else ""
        return f"version {item['flow_version_id']}{where}"
    for key in ("name", "url"):
        if item.get(key):
            return f"'{item[key]}'"
    return f"#{item.get('id')}"


def _relation_changes(a: list[Any], b: list[Any]) -> list[str]:
    """Added, removed and changed items of one relation (webhooks, deployments, …), by ID."""
    def keyed(items: list[Any]) -> dict[str, Any]:
        return {str(x.get("id", x.get("name"))) if isinstance(x, dict) else repr(x): x for x in items}

    ka, kb = keyed(a), keyed(b)
    out = [f"added {_item_label(kb[k])}" for k in kb if k not in ka]
    out += [f"removed {_item_label(ka[k])}" for k in ka if k not in kb]
    for k in ka.keys() & kb.keys():
        x, y = ka[k], kb[k]
        if x != y:
            fields = sorted(f for f in set(x) | set(y) if x.get(f) != y.get(f)) if isinstance(x, dict) and \
                isinstance(y, dict) else []
            out.append(f"changed {_item_label(y)} ({', '.join(fields)})")
    return out or ["reordered"]


# -- steps: how two lists of steps pair up ----------------------------------------------


def _sid(step: Any) -> str:
    return str(step.get("id")) if isinstance(step, dict) else ""


def _by_name(steps: list[Any]) -> dict[str, dict[str, Any]]:
    """Steps keyed by name and type (the n-th of equal ones): how two versions' steps pair up,
    since each version has its own step IDs."""
    out: dict[str, dict[str, Any]] = {}
    for s in steps:
        if isinstance(s, dict):
            base = f"{s.get('name')}\0{s.get('type') or s.get('microservice')}"
            n = 0
            while f"{base}\0{n}" in out:
                n += 1
            out[f"{base}\0{n}"] = s
    return out


def pair_steps(old: list[Any], new: list[Any]) -> list[tuple[dict[str, Any] | None, dict[str, Any] | None]]:
    """How two lists of steps pair up, by identity: by step ID when the two share IDs (one
    version over time), else by name and type — the n-th of equal ones — (two versions, or IDs
    renumbered), so that ID churn is no change. (old, None): removed; (None, new): added."""
    a = [s for s in old if isinstance(s, dict)]
    b = [s for s in new if isinstance(s, dict)]
    by_id = bool({_sid(s) for s in a} & {_sid(s) for s in b})
    before = {_sid(s): s for s in a} if by_id else _by_name(a)
    after = {_sid(s): s for s in b} if by_id else _by_name(b)
    pairs: list[tuple[dict[str, Any] | None, dict[str, Any] | None]] = [(before.get(k), s) for k, s in after.items()]
    return pairs + [(s, None) for k, s in before.items() if k not in after]


def _renumbered(step: dict[str, Any], ids: dict[Any, Any]) -> dict[str, Any]:
    """``step`` with every step ID of the other side (its own, its children's, its routes') put
    as this side calls it: a renumbering is not a change."""
    def walk(node: Any) -> Any:
        if isinstance(node, dict):
            return {k: walk(v) for k, v in node.items()}
        if isinstance(node, list):
            return [walk(v) for v in node]
        return ids.get(node, node) if isinstance(node, (int, str)) and not isinstance(node, bool) else node
    return walk(step)  # type: ignore[no-any-return]


def step_changes(old: list[Any], new: list[Any]) -> list[tuple[str, dict[str, Any], Changes | None]]:
    """(status, step, its changes) per step that differs — "added", "removed" or "changed" (real
    changes only: a position alone is cosmetic) — steps paired by ``pair_steps``."""
    pairs = pair_steps(old, new)
    ids = {a["id"]: b["id"] for a, b in pairs if a is not None and b is not None and "id" in a and "id" in b}
    out: list[tuple[str, dict[str, Any], Changes | None]] = []
    for a, b in pairs:
        if a is None and b is not None:
            out.append(("added", b, None))
        elif b is None and a is not None:
            out.append(("removed", a, None))
        elif a is not None and b is not None:
            found = changes(_renumbered(a, ids), b)
            if found.real:
                out.append(("changed", b, found))
    return out


def step_marks(steps: list[StepChange]) -> tuple[dict[str, str], list[dict[str, Any]]]:
    """Per step ID of the new side: "added" or "changed"; and the old side's steps the new one
    no longer has — for drawing a version's graph from its ``VersionChange.steps``."""
    marks = {s.sid: s.status for s in steps if s.status != "removed"}
    return marks, [s.step for s in steps if s.status == "removed"]
