"""Pure comparison of two views of a company's flows (two commits, or the archive and what
the live company would give), down to versions, steps, schedules and settings."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import orjson

from .canonical import ENCRYPTED_PREFIX, REDACTED, is_hidden, loads, map_secrets, secret_fields

COSMETIC = frozenset({"position", "x", "y", "layout", "canvas", "width", "height"})
#: fields of a version that repeat something else (the flow's name): a rename is one change, not one per version
DERIVED = frozenset({"flow_name"})

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
    """Lines for one version: status, steps by name with the parameter paths that changed (paired
    by ``pair_steps``; positions alone and ID renumbering are no change), schedules, variables."""
    if not isinstance(a, dict) or not isinstance(b, dict):
        return ["unreadable"]
    out = []
    for key in ("status", "deployed_at"):
        if a.get(key) != b.get(key):
            out.append(f"{key} {a.get(key)} → {b.get(key)}")
    for status, step, found in step_changes(a.get("steps") or [], b.get("steps") or []):
        paths = f" ({', '.join(_short_paths(found))})" if found is not None else ""
        out.append(f"step {status}: '{step.get('name')}'{paths}")
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
    seen = {"status", "deployed_at", "steps", "schedules", "variables"} | DERIVED
    rest = sorted(k for k in (set(a) | set(b)) - seen if a.get(k) != b.get(k))
    if rest:
        out.append(f"fields: {', '.join(rest)}")
    return out


def _short_paths(found: Changes, limit: int = 4) -> list[str]:
    paths = [c.path for c in found.real]
    return paths[:limit] + ([f"+{len(paths) - limit} more"] if len(paths) > limit else [])


def version_changes(a: dict[str, Any], b: dict[str, Any]) -> Changes:
    """Every change of one version as parameter paths, steps named: ``step 'Map fields'
    config.page_size`` (steps paired by identity, a renumbering no change, positions cosmetic),
    then the version's own fields (derived ones such as the flow's name left out)."""
    out = Changes()
    for status, step, found in step_changes(a.get("steps") or [], b.get("steps") or []):
        label = f"step '{step.get('name')}'"
        if found is None:
            brief = _brief(masked(step))
            out.real.append(Change(label, brief if status == "removed" else "", brief if status == "added" else "",
                                   status))
        else:
            out.real += [Change(f"{label} {c.path}", c.old, c.new, c.kind) for c in found.real]
    skip = {"steps"} | DERIVED
    rest = changes({k: v for k, v in a.items() if k not in skip}, {k: v for k, v in b.items() if k not in skip})
    out.real += rest.real
    out.cosmetic += rest.cosmetic
    return out


# -- secrets ---------------------------------------------------------------------


def shown(value: Any) -> str:
    """How a stored value may appear on a page: hidden ones by kind, never their content."""
    if isinstance(value, str) and value == REDACTED:
        return "(secret, redacted)"
    if isinstance(value, str) and value.startswith(ENCRYPTED_PREFIX):
        return "(secret, encrypted)"
    text = value if isinstance(value, str) else _json(value) if not isinstance(value, (dict, list)) else ""
    return text if len(text) <= 120 else text[:119] + "…"


def masked(data: Any) -> Any:
    """A copy fit for a page: every value a secret flag (any spelling), a credential-like name
    or flowvault's own marker says is secret shows as ``(secret …)`` — also when the archive
    kept it in plain text (``--keep-secrets``), and inside JSON held in a string."""
    return map_secrets(data, lambda _name, v, _flagged: shown(v) if is_hidden(v) else "(secret)")


# -- field-level changes ------------------------------------------------------------


@dataclass
class Change:
    path: str
    old: str
    new: str
    kind: str  # "added" | "removed" | "changed"


@dataclass
class Changes:
    real: list[Change] = field(default_factory=list)
    cosmetic: list[Change] = field(default_factory=list)


def _key_of(item: Any) -> str | None:
    if isinstance(item, dict):
        for k in ("id", "key", "name", "iteration", "cron_string"):
            if k in item and isinstance(item[k], (str, int)):
                return f"{k}={item[k]}"
    return None


def changes(a: Any, b: Any) -> Changes:
    """Every leaf that differs, as a parameter path (``versions[id=7].steps[id=9].config.mode``);
    lists of objects are matched by their ID (or key, name…), so a move is not a change. A
    secret value is compared but never shown: ``(secret)`` → ``(secret, changed)``."""
    out = Changes()
    _walk(a, b, "", out, False)
    return out


def _secret_keys(a: Any, b: Any) -> set[str]:
    """The keys of a dict (on either side) whose string values are secret."""
    return {k for d in (a, b) if isinstance(d, dict) for k in secret_fields(d)}


def _add(out: Changes, path: str, old: Any, new: Any, secret: bool = False) -> None:
    kind = "added" if old is _MISSING else "removed" if new is _MISSING else "changed"
    leaf = path.rsplit(".", 1)[-1].split("[", 1)[0]
    parts = {p.split("[", 1)[0] for p in path.split(".")}
    if secret:
        before = "" if old is _MISSING else shown(old) if is_hidden(old) else "(secret)"
        after = "" if new is _MISSING else (shown(new) if is_hidden(new) else "(secret)").rstrip(")") + \
            (", changed)" if kind == "changed" else ")")
    else:
        before = "" if old is _MISSING else _brief(old)
        after = "" if new is _MISSING else _brief(new)
    change = Change(path, before, after, kind)
    (out.cosmetic if leaf in COSMETIC or parts & {"position", "layout", "canvas"} else out.real).append(change)


_MISSING = object()


def _brief(v: Any) -> str:
    if isinstance(v, dict):
        return "{" + ", ".join(list(v)[:4]) + ("…" if len(v) > 4 else "") + "}"
    if isinstance(v, list):
        return f"[{len(v)} items]"
    return shown(v) if isinstance(v, str) else _json(v)


def _json(v: Any) -> str:
    """A scalar as JSON writes it (``true``, ``null``, ``2.5``), not as Python would."""
    try:
        return orjson.dumps(v).decode()
    except TypeError:
        return repr(v)


def _walk(a: Any, b: Any, path: str, out: Changes, secret: bool) -> None:
    if a == b:
        return
    if isinstance(a, dict) and isinstance(b, dict):
        hidden = _secret_keys(a, b)
        for k in sorted(set(a) | set(b), key=str):
            sub = f"{path}.{k}" if path else str(k)
            if k not in a:
                _add(out, sub, _MISSING, masked(b[k]) if k not in hidden else b[k], k in hidden)
            elif k not in b:
                _add(out, sub, masked(a[k]) if k not in hidden else a[k], _MISSING, k in hidden)
            else:
                _walk(a[k], b[k], sub, out, k in hidden)
        return
    if isinstance(a, list) and isinstance(b, list):
        ka, kb = [_key_of(x) for x in a], [_key_of(x) for x in b]
        if all(ka) and all(kb) and len(set(ka)) == len(ka) and len(set(kb)) == len(kb):
            ma, mb = dict(zip(ka, a, strict=True)), dict(zip(kb, b, strict=True))
            for k in [*ka, *(x for x in kb if x not in ma)]:
                sub = f"{path}[{k}]"
                if k not in mb:
                    _add(out, sub, masked(ma[k]), _MISSING)
                elif k not in ma:
                    _add(out, sub, _MISSING, masked(mb[k]))
                else:
                    _walk(ma[k], mb[k], sub, out, secret)
            return
        for i in range(max(len(a), len(b))):
            sub = f"{path}[{i}]"
            if i >= len(a):
                _add(out, sub, _MISSING, masked(b[i]))
            elif i >= len(b):
                _add(out, sub, masked(a[i]), _MISSING)
            else:
                _walk(a[i], b[i], sub, out, secret)
        return
    _add(out, path, a, b, secret or is_hidden(a) or is_hidden(b))


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


def step_marks(old: list[Any], new: list[Any], across_versions: bool = False
               ) -> tuple[dict[str, str], list[dict[str, Any]]]:
    """Per step ID of ``new``: "added" or "changed" (cosmetic-only changes do not count); and
    the steps of ``old`` that ``new`` no longer has (by ``step_changes``)."""
    found = step_changes(old, new)
    marks = {_sid(s): status for status, s, _ in found if status != "removed"}
    return marks, [s for status, s, _ in found if status == "removed"]
