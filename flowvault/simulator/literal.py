"""The ``schema-literal`` dialect: replies shaped the way the vendor's response schemas type them,
where those types differ from what the other dialects serve (``patchworks-openapi.json``).

Flows (``Flows``): ``is_enabled`` an object, ``priority``/``prod_flag``/``remove_failed_payloads``
arrays of objects, ``use_queued_time`` a string, ``enabled_at`` absent rather than null, and the
relations the schema types as strings (``labels``, ``webhooks``, ``callbacks``,
``notification_groups``) as JSON text. Versions (``FlowVersions``): ``iteration`` a string,
``deployed_at`` absent or an object (PHP's DateTime as JSON), ``schedules`` and ``variables`` as
JSON text, ``secret`` a string, ``latest_run`` absent rather than null, ``steps_count`` left out.
Schedules: ``flow_version_id`` a string, ``deployed_at`` absent or an object. Steps are flat.
Requests are accepted as in every dialect; only replies change.
"""

from __future__ import annotations

import json
from typing import Any

DIALECT = "schema-literal"
STRING_RELATIONS = ("labels", "webhooks", "callbacks", "notification_groups")
#: the listing's relations under the schema's property names
SNAKE = {"notificationGroups": "notification_groups", "messageBrokers": "message_brokers",
         "messageBrokerQueues": "message_broker_queues"}


def _php_date(value: str) -> dict[str, Any]:
    """A timestamp as PHP's DateTime encodes itself to JSON."""
    return {"date": value.replace("T", " ").replace("Z", "") + ".000000", "timezone_type": 3, "timezone": "UTC"}


def _text(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def flow(item: dict[str, Any]) -> dict[str, Any]:
    out = {SNAKE.get(k, k): v for k, v in item.items()}
    if "is_enabled" in out:
        out["is_enabled"] = {"value": bool(out["is_enabled"])}
    for key in ("priority", "prod_flag", "remove_failed_payloads"):
        if key in out and not isinstance(out[key], list):
            out[key] = [{"value": out[key]}]
    if "use_queued_time" in out:
        out["use_queued_time"] = "1" if out["use_queued_time"] else "0"
    for key in ("enabled_at", "last_run_at", "description"):
        if out.get(key, "") is None:
            del out[key]
    for key in STRING_RELATIONS:
        if key in out and not isinstance(out[key], str):
            out[key] = _text(out[key])
    if isinstance(out.get("versions"), list):
        out["versions"] = [version(v) if isinstance(v, dict) else v for v in out["versions"]]
    return out


def version(item: dict[str, Any]) -> dict[str, Any]:
    out = dict(item)
    if "iteration" in out:
        out["iteration"] = str(out["iteration"])
    for key in ("deployed_at", "latest_run"):
        if out.get(key, "") is None:
            del out[key]
    if isinstance(out.get("deployed_at"), str):
        out["deployed_at"] = _php_date(out["deployed_at"])
    out.pop("steps_count", None)
    for key in ("schedules", "variables"):
        if isinstance(out.get(key), list):
            out[key] = _text([schedule(s) if key == "schedules" else variable(s) for s in out[key]])
    return out


def variable(item: Any) -> Any:
    if isinstance(item, dict) and isinstance(item.get("secret"), bool):
        return {**item, "secret": "true" if item["secret"] else "false"}
    return item


def schedule(item: dict[str, Any]) -> dict[str, Any]:
    out = dict(item)
    if "flow_version_id" in out:
        out["flow_version_id"] = str(out["flow_version_id"])
    if out.get("deployed_at", "") is None:
        del out["deployed_at"]
    elif isinstance(out.get("deployed_at"), str):
        out["deployed_at"] = _php_date(out["deployed_at"])
    return out
