"""Shapes of a step the real API may use (``field-notes.md``); the simulator stores every step
in one flat shape and serves and accepts it in the dialect chosen by a knob:

- ``flat``: foreign keys on the step (``connector_id``, ``cache_id``, ``target_flow_id``…)
- ``relations``: relations as arrays of objects (``connector: [{id, name}]``, ``cache: [...]``,
  ``data_pool``, ``script_version``) and ``endpoint: {id, name}``, as the step reference lists them
- ``config-json``: ``config`` is a JSON document in a string, holding the IDs
- ``other-ids``: other foreign-key names (``connector_instance_id``, ``script_id``, ``sub_flow_id``)
- ``export-systems``: flat steps; the export document has the five top-level keys
  (``metadata``, ``flow``, ``systems``, ``scripts``, ``dependencies``) and import requires them
- ``dangling``: flat steps; import accepts references that point nowhere (as the vendor's copy does)
- ``schema-literal``: flat steps; replies typed as the vendor's response schemas type them (``literal.py``)
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from typing import Any

DIALECTS = ("flat", "relations", "config-json", "other-ids", "export-systems", "dangling", "schema-literal")

#: the stored (flat) foreign keys → resource type
FLAT: dict[str, str] = {
    "connector_id": "connector",
    "endpoint_id": "endpoint",
    "script_version_id": "script",
    "cache_id": "cache",
    "data_pool_id": "data_pool",
    "cross_reference_lookup_id": "cross_reference_lookup",
    "virtual_environment_id": "virtual_environment",
    "notification_group_id": "notification_group",
    "target_flow_id": "flow",
}
RELATIONS = {"connector_id": "connector", "cache_id": "cache", "data_pool_id": "data_pool",
             "script_version_id": "script_version"}
OTHER_IDS = {"connector_id": "connector_instance_id", "script_version_id": "script_id", "target_flow_id": "sub_flow_id"}

Names = Callable[[str, int], "str | None"]


def render_step(step: dict[str, Any], dialect: str, name_of: Names) -> dict[str, Any]:
    """A stored step as the API in ``dialect`` serves it."""
    out = copy.deepcopy(step)
    if dialect == "relations":
        for key, rel in RELATIONS.items():
            if out.get(key) is not None:
                rid = out.pop(key)
                out[rel] = [{"id": rid, "name": name_of(FLAT[key], rid)}]
        if out.get("endpoint_id") is not None:
            rid = out.pop("endpoint_id")
            out["endpoint"] = {"id": rid, "name": name_of("endpoint", rid), "direction": "pull",
                               "http_method": "GET", "data_type": "json"}
    elif dialect == "config-json":
        inner = dict(out.get("config") or {})
        for key in FLAT:
            if out.get(key) is not None:
                inner[key] = out.pop(key)
        out["config"] = json.dumps(inner, indent=2, sort_keys=True)
    elif dialect == "other-ids":
        for key, other in OTHER_IDS.items():
            if key in out:
                out[other] = out.pop(key)
    return out


def parse_step(step: dict[str, Any], dialect: str) -> dict[str, Any]:
    """A step as sent in ``dialect`` (import, patch) → the stored flat shape; unknown keys stay."""
    out = copy.deepcopy(step)
    if dialect == "relations":
        for key, rel in RELATIONS.items():
            if rel in out:
                items = out.pop(rel)
                first = items[0] if isinstance(items, list) and items else items
                out[key] = first.get("id") if isinstance(first, dict) else None
        if "endpoint" in out:
            ep = out.pop("endpoint")
            out["endpoint_id"] = ep.get("id") if isinstance(ep, dict) else None
    elif dialect == "config-json" and isinstance(out.get("config"), str):
        try:
            inner = json.loads(out["config"])
        except ValueError:
            inner = {}
        if isinstance(inner, dict):
            for key in FLAT:
                if key in inner:
                    out[key] = inner.pop(key)
            out["config"] = inner
    elif dialect == "other-ids":
        for key, other in OTHER_IDS.items():
            if other in out:
                out[key] = out.pop(other)
    return out


#: how the API may spell a variable's ``secret`` flag (the schema types it as a string)
FLAG_SPELLINGS: dict[str, tuple[Any, Any]] = {
    "bool": (True, False), "int": (1, 0), "string-1": ("1", "0"), "string-true": ("true", "false"),
    "yes": ("yes", "no"), "ON": ("ON", "OFF"),
}


def spell_flags(node: Any, spelling: str) -> Any:
    """Every ``secret`` flag under ``node`` in the chosen spelling (in place; returns ``node``)."""
    if spelling == "bool":
        return node
    yes, no = FLAG_SPELLINGS[spelling]
    if isinstance(node, dict):
        if isinstance(node.get("secret"), bool):
            node["secret"] = yes if node["secret"] else no
        for v in node.values():
            spell_flags(v, spelling)
    elif isinstance(node, list):
        for v in node:
            spell_flags(v, spelling)
    return node


def read_flags(node: Any) -> Any:
    """Every ``secret`` flag under ``node`` back to a boolean, whatever its spelling (in place)."""
    if isinstance(node, dict):
        if "secret" in node and not isinstance(node["secret"], bool):
            node["secret"] = str(node["secret"]).strip().lower() in ("1", "true", "yes", "on")
        for v in node.values():
            read_flags(v)
    elif isinstance(node, list):
        for v in node:
            read_flags(v)
    return node
