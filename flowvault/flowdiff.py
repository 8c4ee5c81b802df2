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
    if keys:
        out.append(f"settings: {', '.join(keys)}")
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

