"""Pure: what Patchworks' replies say about one flow — the listing's relations and versions, a
version's detail and schedules, the export document — merged into the versions the archive keeps.
No I/O: ``patchworks.Patchworks.fetch`` asks the API for what these functions say is missing."""

from __future__ import annotations

import functools
from typing import Any

from ..canonical import is_hidden
from ..flowdiff import relation_items
from ..protocol import flow_id

VERSION_PARTS = ("steps", "variables", "schedules")


@functools.cache
def snake(name: str) -> str:  # a dozen relation names, asked for ~13 times a flow
    return "".join(f"_{ch.lower()}" if ch.isupper() else ch for ch in name)


def carried(flow: dict[str, Any], name: str) -> list[Any] | None:
    """A relation as the listing returned it, under its include name or in snake case; None
    when the listing did not return it as a list (or ``{"data": [...]}``)."""
    for key in (name, snake(name)):
        items = relation_items(flow.get(key))
        if items is not None:
            return items
    return None


def present(flow: dict[str, Any], name: str) -> bool:
    """Whether the listing returned the relation at all, in whatever form."""
    return flow.get(name) is not None or flow.get(snake(name)) is not None


def unreadable(flow: dict[str, Any], names: tuple[str, ...]) -> dict[str, str]:
    """The relations the listing returned in a form that is not a list of items (the vendor's
    schema types some as strings), each with why it is not read: flowvault does not guess."""
    out = {}
    for name in names:
        if present(flow, name) and carried(flow, name) is None:
            given = next(flow[k] for k in (name, snake(name)) if flow.get(k) is not None)
            out[name] = (f"the listing gave it as {type(given).__name__}, not as a list of items; "
                         "flowvault does not guess at its contents")
    return out


def listed_versions(flow: dict[str, Any]) -> list[Any] | None:
    """The listing's versions, when it carried all of them, each with its schedules and
    variables (the steps come from the export document); None otherwise."""
    listed = flow.get("versions")
    if not isinstance(listed, list) or not all(
            isinstance(v, dict) and isinstance(v.get("schedules"), list) and isinstance(v.get("variables"), list)
            for v in listed):
        return None
    count = flow.get("versions_count")
    if isinstance(count, int) and not isinstance(count, bool) and count != len(listed):
        return None  # the listing cut the list short
    return listed


class Exported:
    """The export document's versions, found by version ID — or by iteration, when the document's
    versions carry no ID (the five-key form)."""

    def __init__(self, export: dict[str, Any]) -> None:
        flow = export.get("flow") if isinstance(export.get("flow"), dict) else {}
        versions = [v for v in flow.get("versions") or [] if isinstance(v, dict)]
        self.by_id = {str(v["id"]): v for v in versions if "id" in v}
        self.by_iteration = {str(v.get("iteration")): v for v in versions if "iteration" in v}

    def part(self, vid: int, version: dict[str, Any], key: str) -> list[Any] | None:
        """The version's ``key`` (steps, variables) as the export document carries it, if a list."""
        twin = self.by_id.get(str(vid)) if self.by_id else self.by_iteration.get(str(version.get("iteration")))
        found = twin.get(key) if twin is not None else None
        return found if isinstance(found, list) else None


def lacks(vid: int, version: dict[str, Any], key: str, exported: Exported) -> bool:
    """Whether neither the version as read nor the export document holds its ``key`` as a list
    (schedules come from the version's own sources only)."""
    return not isinstance(version.get(key), list) and (key == "schedules" or exported.part(vid, version, key) is None)


def needs_detail(vid: int, version: dict[str, Any], exported: Exported) -> bool:
    return lacks(vid, version, "steps", exported) or lacks(vid, version, "variables", exported)


def merge_detail(known: dict[str, Any], detail: dict[str, Any], schedules: Any) -> dict[str, Any]:
    """A version's detail and schedules merged into what was read, never replacing it: a list
    already read (steps, variables) wins over the detail's; parts read nowhere as lists are left out."""
    merged = {**known, **detail, "schedules": schedules}
    if not isinstance(schedules, list):
        merged.pop("schedules")
    for key in ("steps", "variables"):
        value = known.get(key) if isinstance(known.get(key), list) else detail.get(key)
        merged.pop(key, None)
        if isinstance(value, list):
            merged[key] = value
    return merged


def finished(versions: dict[int, dict[str, Any]], exported: Exported) -> list[dict[str, Any]]:
    """The versions to archive, by ID: the export document's steps win (import replays them), its
    variables stand in where no other source gave them as a list, schedules sorted by ID."""
    out = []
    for vid, v in sorted(versions.items()):
        steps = exported.part(vid, v, "steps")
        if steps is not None:
            v = {**v, "steps": steps}
        variables = exported.part(vid, v, "variables")
        if not isinstance(v.get("variables"), list) and variables is not None:
            v = {**v, "variables": variables}
        if isinstance(v.get("schedules"), list):
            v = {**v, "schedules": sorted(v["schedules"], key=_by_id)}
        out.append(v)
    return out


def _by_id(item: Any) -> tuple[int, int, str]:
    """Schedules in ID order, whatever the IDs' type (numbers first, by value)."""
    sid = item.get("id", 0) if isinstance(item, dict) else 0
    if isinstance(sid, int) and not isinstance(sid, bool):
        return (0, sid, "")
    return (1, 0, str(sid))


def restored_body(item: dict[str, Any], fields: tuple[tuple[str, bool], ...]) -> dict[str, Any]:
    """A webhook's or callback's create body from its archived fields only: each a string (null only
    where the field is nullable), hidden values left out — never a field sent in another type."""
    return {k: item[k] for k, nullable in fields if k in item and not is_hidden(item[k])
            and (isinstance(item[k], str) or (nullable and item[k] is None))}


def label_names(settings: dict[str, Any], doc: dict[str, Any]) -> list[str]:
    """The archived flow's label names: from the listing's labels (objects with a name), else the
    export document's (names)."""
    listed = carried(settings, "labels")
    source = listed if listed is not None else doc.get("labels") if isinstance(doc.get("labels"), list) else []
    names = [x.get("name") if isinstance(x, dict) else x for x in source]
    return list(dict.fromkeys(n for n in names if isinstance(n, str) and n))


def label_ids(flows: list[Any]) -> dict[str, int | str]:
    """The labels a company's flows carry (the listing's ``labels`` include): name → ID."""
    found: dict[str, int | str] = {}
    for f in flows:
        for label in (carried(f, "labels") or []) if isinstance(f, dict) else []:
            if isinstance(label, dict) and isinstance(label.get("name"), str) and flow_id(label.get("id")) is not None:
                found.setdefault(label["name"], label["id"])
    return found
