"""Pure reference rules: which step fields point at which resource type, finding every
reference in an export document, and rewriting them with target IDs."""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

from .canonical import REDACTED, is_secret
from .models import Ref

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

Resolve = Callable[[str, int], int]


def _is_id(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def find_refs(export: dict[str, Any], flow_id: str, flow_name: str) -> list[Ref]:
    """Every ID reference in the steps of an export document, with the source name the
    document's ``metadata.dependencies`` gives it (when it does)."""
    meta = export.get("metadata")
    deps = meta.get("dependencies") if isinstance(meta, dict) else None
    names = {(d.get("type"), d.get("id")): d.get("name") for d in deps or [] if isinstance(d, dict)}
    refs = []
    for v in export["flow"].get("versions") or []:
        if not isinstance(v, dict):
            continue
        for j, step in enumerate(v.get("steps") or []):
            if not isinstance(step, dict):
                continue
            for fld, rtype in REF_FIELDS.items():
                rid = step.get(fld)
                if _is_id(rid):
                    name = names.get((rtype, rid))
                    refs.append(Ref(flow_id, flow_name, int(v.get("iteration", 0)), j, str(step.get("name", "")),
                                    fld, rtype, int(rid), None if name is None else str(name)))
    return refs


def secret_keys(doc: Any) -> list[str]:
    """Keys of variables whose value was redacted at export."""
    found: list[str] = []
    if isinstance(doc, dict):
        if is_secret(doc.get("secret")) and doc.get("value") == REDACTED:
            found.append(str(doc.get("key")))
        for v in doc.values():
            found += secret_keys(v)
    elif isinstance(doc, list):
        for v in doc:
            found += secret_keys(v)
    return found


def remap_flow_doc(export: dict[str, Any], resolve: Resolve, deferred: list[Ref] | tuple[Ref, ...],
                   secrets: dict[str, str], name: str | None = None) -> dict[str, Any]:
    """The export document's ``flow`` with target IDs in every reference, deferred flow refs
    emptied (patched later), and redacted secrets filled from ``secrets`` (else empty).
    ``export`` is not changed."""
    doc = copy.deepcopy(export["flow"])
    if name is not None:
        doc["name"] = name
    skip = {(r.iteration, r.step_index, r.field) for r in deferred}
    for v in doc.get("versions") or []:
        for j, step in enumerate(v.get("steps") or []):
            for fld, rtype in REF_FIELDS.items():
                rid = step.get(fld)
                if not _is_id(rid):
                    continue
                step[fld] = None if (int(v.get("iteration", 0)), j, fld) in skip else resolve(rtype, rid)
    fill_secrets(doc, secrets)
    return doc


def fill_secrets(doc: Any, secrets: dict[str, str]) -> None:
    """Put the value of each redacted secret back (from ``secrets``; empty when not given)."""
    if isinstance(doc, dict):
        if is_secret(doc.get("secret")) and doc.get("value") == REDACTED:
            doc["value"] = secrets.get(str(doc.get("key")), "")
        for v in doc.values():
            fill_secrets(v, secrets)
    elif isinstance(doc, list):
        for v in doc:
            fill_secrets(v, secrets)
