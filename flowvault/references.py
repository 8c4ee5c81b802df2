"""Pure reference rules: where a step holds an ID of another resource, in every plausible
shape, and rewriting those IDs in place with the shape kept.

Shapes found (``field-notes.md``): foreign-key fields (``connector_id``…), relation objects
and arrays of objects carrying an ``id`` (``endpoint: {id}``, ``connector: [{id}]``…), and the
same inside JSON documents held in strings (``config``). An ID-like value under an ID-like key
that no rule classifies, and that is not structural, is *unclassified*: reported, never
passed through silently. Users add or override rules (``field or dotted.path → type``, or
``none`` for "not a reference", or ``keep`` for "the same ID is right in the target").
"""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from .canonical import REDACTED, is_hidden, map_secrets
from .jsontext import holds_json, parse_with_spans, replace_spans
from .models import Ref

RESOURCE_TYPES = ("connector", "endpoint", "script", "cache", "data_pool", "cross_reference_lookup",
                  "virtual_environment", "notification_group", "flow")
NOT_A_REFERENCE, KEEP = "none", "keep"

#: foreign-key field → resource type
FIELD_RULES: dict[str, str] = {
    "connector_id": "connector", "connector_instance_id": "connector", "instance_id": "connector",
    "endpoint_id": "endpoint", "script_id": "script", "script_version_id": "script", "cache_id": "cache",
    "data_pool_id": "data_pool", "cross_reference_lookup_id": "cross_reference_lookup",
    "virtual_environment_id": "virtual_environment", "notification_group_id": "notification_group",
    "target_flow_id": "flow", "sub_flow_id": "flow", "subflow_id": "flow", "flow_id": "flow",
}
#: key holding a relation object ``{id, …}`` or an array of them → resource type
RELATION_RULES: dict[str, str] = {
    "connector": "connector", "connectors": "connector", "connector_instance": "connector",
    "endpoint": "endpoint", "endpoints": "endpoint", "script": "script", "script_version": "script",
    "scriptVersion": "script", "cache": "cache", "data_pool": "data_pool", "dataPool": "data_pool",
    "cross_reference_lookup": "cross_reference_lookup", "virtual_environment": "virtual_environment",
    "notification_group": "notification_group", "target_flow": "flow", "flow": "flow",
}
#: IDs of the flow's own structure: never references to another resource
STRUCTURAL = frozenset({"id", "parent_id", "first_step_id", "flow_version_id", "step_id", "version_id",
                        "next_step_id", "previous_step_id", "route_id", "source_step_id", "target_step_id"})
#: arrays of the flow's own parts: the ``id`` of an object in them is the part's own ID
OWN_PARTS = frozenset({"children", "routes", "filters", "variables", "connections", "schedules", "steps",
                       "position", "conditions", "rules"})
_ID_KEY = re.compile(r"(^|_)id$|Id$")

Rules = Mapping[str, str]  # user rules: field or dotted path → resource type | none | keep


@dataclass(frozen=True, slots=True)
class Hit:
    """One ID-like value in a step: where it is, what it is (a type, or None: unclassified)."""

    path: tuple[str | int, ...]  # inside the step; a JSON string is entered as if it were an object
    value: int | str
    rtype: str | None
    rule: str  # how it was classified: field | relation | user | unclassified | keep

    @property
    def field(self) -> str:
        """The path with indices: unique within the step (``connector[0].id``)."""
        out = ""
        for p in self.path:
            out += f"[{p}]" if isinstance(p, int) else (f".{p}" if out else str(p))
        return out

    @property
    def general(self) -> str:
        """The path without indices: what a rule names (``connector[].id``, ``config.connector_id``)."""
        out = ""
        for p in self.path:
            out += "[]" if isinstance(p, int) else (f".{p}" if out else str(p))
        return out


EMPTY = 0  # what ``replace`` returns to empty a reference (written as JSON null)
Replace = Callable[[Hit], "int | str | None"]  # new value, EMPTY, or None: keep


def _id_like(value: Any) -> bool:
    if isinstance(value, bool):
        return False
    if isinstance(value, int):
        return value > 0
    return isinstance(value, str) and value.isdigit() and 0 < len(value) <= 18


def _user_rule(rules: Rules, path: tuple[str | int, ...], key: str) -> str | None:
    general = Hit(path, 0, None, "").general
    return rules.get(general) or rules.get(key)


def _classify(key: str, value: Any, path: tuple[str | int, ...], parent: str | None, rules: Rules,
              top: bool) -> Hit | None:
    """A scalar under ``key``: a Hit when it is a reference or an unclassified ID, else None."""
    if not _id_like(value):
        return None
    user = _user_rule(rules, path, key)
    if user == NOT_A_REFERENCE:
        return None
    if user == KEEP:
        return Hit(path, value, None, "keep")
    if user is not None:
        return Hit(path, value, user, "user")
    if top and key == "flow_id":
        return None  # the step's own flow
    if key in FIELD_RULES:
        return Hit(path, value, FIELD_RULES[key], "field")
    if key == "id" and parent in RELATION_RULES:
        return Hit(path, value, RELATION_RULES[parent], "relation")
    if key in STRUCTURAL or key.endswith("_step_id") or (key == "id" and (top or parent in OWN_PARTS)):
        return None
    if _ID_KEY.search(key):
        return Hit(path, value, None, "unclassified")
    return None


def walk(node: Any, replace: Replace, rules: Rules = {}, path: tuple[str | int, ...] = (),  # noqa: B006
         parent: str | None = None, top: bool = True) -> Any:
    """Visit every Hit under ``node`` (a step, or part of one); returns ``node`` with each
    Hit's value replaced where ``replace`` gives a new one. Shapes and untouched text are kept:
    inside a JSON string only the replaced numbers change."""
    if isinstance(node, dict):
        out: dict[str, Any] = {}
        for key, value in node.items():
            here = (*path, key)
            hit = _classify(key, value, here, parent, rules, top)
            if hit is not None:
                new = replace(hit)
                out[key] = value if new is None else _same_type(value, new)
            elif isinstance(value, (dict, list)) or (isinstance(value, str) and holds_json(value)):
                out[key] = walk(value, replace, rules, here, key, False)
            else:
                out[key] = value
        return out
    if isinstance(node, list):
        # an array under a relation key holds relation objects; under another key, its own parts
        return [walk(v, replace, rules, (*path, i), parent, False) for i, v in enumerate(node)]
    if isinstance(node, str) and holds_json(node):
        return _walk_json_text(node, replace, rules, path, parent)
    return node


def _same_type(old: Any, new: int | str) -> Any:
    if new == EMPTY:
        return None
    return str(new) if isinstance(old, str) else new


def _walk_json_text(text: str, replace: Replace, rules: Rules, path: tuple[str | int, ...],
                    parent: str | None) -> str:
    try:
        value, spans = parse_with_spans(text)
    except ValueError:
        return text  # not JSON after all: plain text
    edits: dict[tuple[str | int, ...], Any] = {}

    def record(hit: Hit) -> int | str | None:
        new = replace(hit)
        rel = hit.path[len(path):]
        if new is not None and rel in spans:  # deeper hits sit in a nested JSON string: edited whole
            edits[rel] = _same_type(hit.value, new)
        return new

    rewritten = walk(value, record, rules, path, parent, False)
    # nested JSON strings that changed are whole-string edits at their own span
    _collect_string_edits(value, rewritten, (), spans, edits)
    if not edits:
        return text
    return replace_spans(text, spans, edits)


def _collect_string_edits(old: Any, new: Any, path: tuple[str | int, ...],
                          spans: dict[tuple[str | int, ...], tuple[int, int]], edits: dict[Any, Any]) -> None:
    if isinstance(old, dict) and isinstance(new, dict):
        for k in old:
            _collect_string_edits(old[k], new.get(k), (*path, k), spans, edits)
    elif isinstance(old, list) and isinstance(new, list):
        for i, (a, b) in enumerate(zip(old, new, strict=False)):
            _collect_string_edits(a, b, (*path, i), spans, edits)
    elif isinstance(old, str) and isinstance(new, str) and old != new and path in spans and path not in edits:
        edits[path] = new


# -- over an export document ----------------------------------------------------------------


def steps_of(export: dict[str, Any]) -> list[tuple[int, int, dict[str, Any]]]:
    """(iteration, index, step) for every step of every version of an export document."""
    out = []
    for v in export.get("flow", {}).get("versions") or []:
        if isinstance(v, dict):
            for j, step in enumerate(v.get("steps") or []):
                if isinstance(step, dict):
                    out.append((int(v.get("iteration", 0) or 0), j, step))
    return out


def _names(export: dict[str, Any]) -> dict[tuple[Any, Any], Any]:
    """(type, id) → name, from the document's dependency lists (where it has them)."""
    names: dict[tuple[Any, Any], Any] = {}
    meta = export.get("metadata")
    for deps in (meta.get("dependencies") if isinstance(meta, dict) else None, export.get("dependencies")):
        if isinstance(deps, list):
            for d in deps:
                if isinstance(d, dict):
                    names[(d.get("type"), d.get("id"))] = d.get("name")
                    names[(d.get("type"), str(d.get("id")))] = d.get("name")
    return names


def find_hits(step: dict[str, Any], rules: Rules = {}) -> list[Hit]:  # noqa: B006
    """Every Hit in one step."""
    hits: list[Hit] = []

    def record(hit: Hit) -> None:
        hits.append(hit)

    walk(step, lambda h: record(h), rules)  # type: ignore[func-returns-value]
    return hits


def scan(export: dict[str, Any], flow_id: str, flow_name: str,
         rules: Rules = {}) -> tuple[list[Ref], list[Ref], list[Ref]]:  # noqa: B006
    """(references, unclassified, kept-as-is) in every step of an export document."""
    names = _names(export)
    refs: list[Ref] = []
    unknown: list[Ref] = []
    kept: list[Ref] = []
    for iteration, j, step in steps_of(export):
        for h in find_hits(step, rules):
            name = names.get((h.rtype, h.value))
            ref = Ref(flow_id, flow_name, iteration, j, str(step.get("name", "")), h.field, h.rtype or "",
                      int(h.value), None if name is None else str(name), h.general)
            (refs if h.rtype else kept if h.rule == "keep" else unknown).append(ref)
    return refs, unknown, kept


def remap_flow_doc(export: dict[str, Any], resolve: Callable[[str, int], int | str | None],
                   deferred: list[Ref] | tuple[Ref, ...], secrets: dict[str, str], name: str | None = None,
                   rules: Rules = {}, open_sealed: Callable[[str], str | None] | None = None,  # noqa: B006
                   ) -> dict[str, Any]:
    """The export document's ``flow`` with target IDs in every reference (``resolve`` gives
    None: left as it is — same company), deferred flow refs emptied (patched later), and
    redacted secrets filled from ``secrets`` (else empty). ``export`` is not changed."""
    doc = copy.deepcopy(export["flow"])
    if name is not None:
        doc["name"] = name
    skip = {(r.iteration, r.step_index, r.field) for r in deferred}
    for v in doc.get("versions") or []:
        if not isinstance(v, dict):
            continue
        iteration = int(v.get("iteration", 0) or 0)
        steps = v.get("steps") or []
        for j, step in enumerate(steps):
            if isinstance(step, dict):
                steps[j] = remap_step(step, iteration, j, resolve, skip, rules)
    return fill_secrets(doc, secrets, open_sealed)


def remap_step(step: dict[str, Any], iteration: int, index: int, resolve: Callable[[str, int], int | str | None],
               skip: set[tuple[int, int, str]], rules: Rules = {}) -> dict[str, Any]:  # noqa: B006
    def replace(h: Hit) -> int | str | None:
        if h.rtype is None:
            return None
        if (iteration, index, h.field) in skip:
            return EMPTY  # patched once the referenced flow exists
        return resolve(h.rtype, int(h.value))

    return walk(step, replace, rules)  # type: ignore[no-any-return]


def hidden_keys(doc: Any) -> tuple[list[str], list[tuple[str, str]]]:
    """(keys of redacted values, (key, stored form) of encrypted values): a key is a variable's
    ``key``, or the name of the field that held a credential."""
    redacted: list[str] = []
    sealed: list[tuple[str, str]] = []

    def note(name: str, value: str, _flagged: bool) -> None:
        if value == REDACTED:
            redacted.append(name)
        elif is_hidden(value):
            sealed.append((name, value))

    map_secrets(doc, note)
    return redacted, sealed


def fill_secrets(doc: Any, secrets: dict[str, str], open_sealed: Callable[[str], str | None] | None = None) -> Any:
    """``doc`` with each hidden value put back: from ``secrets`` by key, else (encrypted) by
    decrypting it; else empty — and the plan lists it as needing a value."""
    def fill(name: str, stored: str, _flagged: bool) -> str | None:
        if not is_hidden(stored):
            return None
        plain = secrets.get(name)
        if plain is None and stored != REDACTED and open_sealed is not None:
            plain = open_sealed(stored)
        return plain or ""

    return map_secrets(doc, fill)
