"""Pure comparison of two views of a company's flows (two commits, or the archive and what
the live company would give), down to versions, steps, schedules and settings."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from .canonical import loads

#: flow ID → (name, {relative path: bytes})
View = dict[str, tuple[str, dict[str, bytes]]]


@dataclass
class FlowDiff:
    flow_id: str
    name: str
    details: list[str] = field(default_factory=list)


@dataclass
class Diff:
    added: list[FlowDiff] = field(default_factory=list)
    removed: list[FlowDiff] = field(default_factory=list)
    changed: list[FlowDiff] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # what the reader must know about a side

    @property
    def empty(self) -> bool:
        return not (self.added or self.removed or self.changed)

    def as_json(self) -> dict[str, Any]:
        return {kind: [{"id": d.flow_id, "name": d.name, **({"details": d.details} if kind == "changed" else {})}
                       for d in getattr(self, kind)] for kind in ("added", "removed", "changed")}

    def lines(self) -> list[str]:
        out = [f"+ {d.name} (#{d.flow_id})" for d in self.added]
        out += [f"- {d.name} (#{d.flow_id})" for d in self.removed]
        for d in self.changed:
            out.append(f"~ {d.name} (#{d.flow_id})")
            out += [f"    {line}" for line in d.details]
        return out or ["no differences"]


def diff_views(old: View, new: View) -> Diff:
    d = Diff()
    for fid in sorted(set(new) - set(old), key=_key):
        d.added.append(FlowDiff(fid, new[fid][0]))
    for fid in sorted(set(old) - set(new), key=_key):
        d.removed.append(FlowDiff(fid, old[fid][0]))
    for fid in sorted(set(old) & set(new), key=_key):
        if old[fid][1] != new[fid][1]:
            d.changed.append(FlowDiff(fid, new[fid][0], describe(old[fid][1], new[fid][1])))
    return d


def _key(fid: str) -> tuple[int, str]:
    return (int(fid), "") if fid.isdigit() else (0, fid)


def _load(files: dict[str, bytes], rel: str) -> Any:
    try:
        return loads(files[rel])
    except (KeyError, ValueError):
        return None


def describe(old: dict[str, bytes], new: dict[str, bytes]) -> list[str]:
    """Human lines for what changed inside one flow."""
    out: list[str] = []
    a, b = _load(old, "flow.json") or {}, _load(new, "flow.json") or {}
    keys = sorted(k for k in set(a) | set(b) if a.get(k) != b.get(k))
    plain = [k for k in keys if k not in RELATIONS or any(relation_items(x.get(k, [])) is None for x in (a, b))]
    if plain:
        out.append(f"settings: {', '.join(plain)}")
    for k in keys:
        if k not in plain:
            out += [f"{k}: {line}" for line in _relation_changes(relation_items(a.get(k, [])) or [],
                                                                  relation_items(b.get(k, [])) or [])]
    vold = {r for r in old if r.startswith("versions/")}
    vnew = {r for r in new if r.startswith("versions/")}
    for rel in sorted(vnew - vold):
        out.append(f"version {_vid(rel)}: added")
    for rel in sorted(vold - vnew):
        out.append(f"version {_vid(rel)}: removed")
    for rel in sorted(vold & vnew):
        if old[rel] != new[rel]:
            out += [f"version {_vid(rel)}: {line}" for line in _version_changes(_load(old, rel), _load(new, rel))]
    if not out and old.get("export.json") != new.get("export.json"):
        out.append("export document")
    return out


#: the flow's relations the archive keeps in flow.json (as the listing names them, in either case)
RELATIONS = frozenset({"labels", "webhooks", "callbacks", "notificationGroups", "notification_groups",
                       "messageBrokers", "message_brokers", "messageBrokerQueues", "message_broker_queues",
                       "deployments"})


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


def _vid(rel: str) -> str:
    return rel.removeprefix("versions/").removesuffix(".json")


def _version_changes(a: Any, b: Any) -> list[str]:
    if not isinstance(a, dict) or not isinstance(b, dict):
        return ["unreadable"]
    out = []
    for key in ("status", "deployed_at"):
        if a.get(key) != b.get(key):
            out.append(f"{key} {a.get(key)} → {b.get(key)}")
    sa = {s.get("id"): s for s in a.get("steps") or [] if isinstance(s, dict)}
    sb = {s.get("id"): s for s in b.get("steps") or [] if isinstance(s, dict)}
    for sid in sb.keys() - sa.keys():
        out.append(f"step added: '{sb[sid].get('name')}'")
    for sid in sa.keys() - sb.keys():
        out.append(f"step removed: '{sa[sid].get('name')}'")
    for sid in sa.keys() & sb.keys():
        if sa[sid] != sb[sid]:
            fields = sorted(k for k in set(sa[sid]) | set(sb[sid]) if sa[sid].get(k) != sb[sid].get(k))
            out.append(f"step changed: '{sb[sid].get('name')}' ({', '.join(fields)})")
    ca = [s.get("cron_string") for s in a.get("schedules") or []]
    cb = [s.get("cron_string") for s in b.get("schedules") or []]
    if sorted(map(str, ca)) != sorted(map(str, cb)):
        plus = [c for c in cb if c not in ca]
        minus = [c for c in ca if c not in cb]
        out.append("schedules: " + ", ".join([f"+'{c}'" for c in plus] + [f"-'{c}'" for c in minus]))
    va = {v.get("key"): v for v in a.get("variables") or [] if isinstance(v, dict)}
    vb = {v.get("key"): v for v in b.get("variables") or [] if isinstance(v, dict)}
    changed_vars = sorted(str(k) for k in va.keys() | vb.keys() if va.get(k) != vb.get(k))
    if changed_vars:
        out.append(f"variables: {', '.join(changed_vars)}")
    seen = {"status", "deployed_at", "steps", "schedules", "variables"}
    rest = sorted(k for k in (set(a) | set(b)) - seen if a.get(k) != b.get(k))
    if rest:
        out.append(f"fields: {', '.join(rest)}")
    return out or ["changed"]

