"""In-memory state of the simulated Patchworks companies, and the operations on it.

Pure data and rules (no HTTP): the ASGI app in ``app.py`` translates requests into
calls here. IDs come from one counter shared by every company, so the same object
never has the same ID in two companies — which is what makes ID remapping testable.
"""

from __future__ import annotations

import copy
import itertools
import threading
from dataclasses import dataclass, field
from typing import Any

from .dialects import FLAT, parse_step, render_step, spell_flags
from .simerrors import SimError, not_found, now_iso, stamp  # noqa: F401 (the app's and ocp's too)
from .transfer import Transfer

#: stored step field -> resource type it references (the ``target_flow_id`` is another flow).
REF_FIELDS: dict[str, str] = FLAT
RESOURCE_TYPES = ("connector", "endpoint", "script", "cache", "data_pool", "cross_reference_lookup",
                  "virtual_environment", "notification_group")


#: the flow listing's documented includes for a flow's relations → the flow's stored key
RELATIONS = {"webhooks": "_webhooks", "callbacks": "_callbacks", "notificationGroups": "_notification_groups",
             "messageBrokers": "_message_brokers", "messageBrokerQueues": "_message_broker_queues"}


@dataclass
class Company:
    id: int
    name: str
    api_key: str
    readonly: bool = False
    flows: dict[int, dict[str, Any]] = field(default_factory=dict)
    versions: dict[int, dict[str, Any]] = field(default_factory=dict)
    schedules: dict[int, dict[str, Any]] = field(default_factory=dict)
    labels: dict[int, dict[str, Any]] = field(default_factory=dict)
    resources: dict[str, dict[int, dict[str, Any]]] = field(
        default_factory=lambda: {t: {} for t in RESOURCE_TYPES}
    )
    # indexes, so that a request costs the same with 20 flows or 20,000
    versions_of: dict[int, list[int]] = field(default_factory=dict)
    schedules_of: dict[int, list[int]] = field(default_factory=dict)


class State(Transfer):
    """Every company, with a lock: the server thread and test code both touch it."""

    def __init__(self) -> None:
        self.companies: list[Company] = []
        self.lock = threading.RLock()
        self.dialect = "flat"  # how steps are served and accepted (dialects.DIALECTS)
        self.import_drops_step = False  # a faulty import: the last step of each version is lost
        self.secret_flag = "bool"  # how variables' secret flag is spelled (dialects.FLAG_SPELLINGS)
        self.relation_shape = "camel"  # how the listing returns a flow's relations: camel, snake, wrapped
        self._ids = itertools.count(1001)

    def next_id(self) -> int:
        return next(self._ids)

    def company_for_key(self, key: str) -> Company | None:
        for c in self.companies:
            if c.api_key == key:
                return c
        return None

    def company(self, index_or_name: int | str) -> Company:
        if isinstance(index_or_name, int):
            return self.companies[index_or_name]
        return next(c for c in self.companies if c.name == index_or_name)

    # -- flows ---------------------------------------------------------------

    def flow(self, c: Company, flow_id: Any) -> dict[str, Any]:
        try:
            return c.flows[int(flow_id)]
        except (KeyError, ValueError, TypeError):
            raise not_found() from None

    def render_flow(self, c: Company, f: dict[str, Any], include: set[str]) -> dict[str, Any]:
        out = {k: copy.deepcopy(v) for k, v in f.items() if not k.startswith("_")}
        out["is_enabled"] = f["enabled_at"] is not None
        vids = self.flow_version_ids(c, f["id"])
        out["versions_count"] = len(vids)
        if "labels" in include:
            out["labels"] = [copy.deepcopy(c.labels[i]) for i in f["_labels"]]
        if "versions" in include or any(i.startswith("versions.") for i in include):
            sub = {i.removeprefix("versions.") for i in include if i.startswith("versions.")}
            out["versions"] = [self.render_version(c, c.versions[v], steps=False, include=sub) for v in vids]
        for name, key in RELATIONS.items():
            if name in include:
                self._relation_out(out, name, copy.deepcopy(f.get(key, [])))
        if "deployments" in include or any(i.startswith("deployments.") for i in include):
            self._relation_out(out, "deployments",
                               self.deployments(c, f["id"], "deployments.virtualEnvironment" in include))
        return spell_flags(out, self.secret_flag)  # type: ignore[no-any-return]

    def _relation_out(self, out: dict[str, Any], name: str, items: list[dict[str, Any]]) -> None:
        """A relation in the listing, in the shape ``relation_shape`` chooses: under its include name
        (``camel``), in snake case (``snake``), or as a resource collection ``{"data": [...]}`` (``wrapped``)."""
        key = "".join(f"_{ch.lower()}" if ch.isupper() else ch for ch in name) if self.relation_shape == "snake" \
            else name
        out[key] = {"data": items} if self.relation_shape == "wrapped" else items

    def deployments(self, c: Company, flow_id: int, with_environment: bool) -> list[dict[str, Any]]:
        """One deployment per deployed version, in the first virtual environment."""
        envs = sorted(c.resources["virtual_environment"])
        out = []
        for vid in self.flow_version_ids(c, flow_id):
            v = c.versions[vid]
            if v["status"] != "Deployed" or not envs:
                continue
            d: dict[str, Any] = {"id": vid * 7, "flow_version_id": vid, "virtual_environment_id": envs[0],
                                 "enabled_at": v["deployed_at"], "updated_at": v["updated_at"]}
            if with_environment:
                d["virtual_environment"] = dict(c.resources["virtual_environment"][envs[0]])
            out.append(d)
        return out

    def relation(self, c: Company, flow_id: Any, name: str) -> list[dict[str, Any]]:
        return copy.deepcopy(self.flow(c, flow_id).get(RELATIONS[name], []))

    def create_relation(self, c: Company, flow_id: Any, name: str, body: dict[str, Any]) -> dict[str, Any]:
        """A new webhook or callback (the fields the reference documents for its create)."""
        f = self.flow(c, flow_id)
        errors: dict[str, list[str]] = {k: [f"The selected {k} is invalid."] for k in ("status", "format")
                  if k in body and body[k] not in ({"active", "inactive"} if k == "status" else {"json", "xml"})}
        if errors:
            raise SimError(422, "The given data was invalid.", errors)
        item: dict[str, Any] = {"id": self.next_id(), "status": body.get("status", "active"),
                                "format": body.get("format", "json")}
        if name == "webhooks":
            item |= {"body": body.get("body"), "url": f"https://hooks.example.test/{c.id}-{item['id']}",
                     "hmac_algorithm": None, "hmac_secret_key": None}
        f.setdefault(RELATIONS[name], []).append(item)
        f["updated_at"] = stamp()
        return item

    def touch(self, c: Company, version_id: int) -> None:
        """Mark a version edited (its update stamp), as the API does on any change to it."""
        c.versions[version_id]["updated_at"] = stamp()

    def render_steps(self, c: Company, steps: list[dict[str, Any]]) -> list[dict[str, Any]]:
        return [render_step(s, self.dialect, lambda t, i: self.resource_name(c, t, i)) for s in steps]

    def flow_version_ids(self, c: Company, flow_id: int) -> list[int]:
        return list(c.versions_of.get(flow_id, ()))

    def create_flow(self, c: Company, body: dict[str, Any]) -> dict[str, Any]:
        flow: dict[str, Any] = body["flow"] if isinstance(body.get("flow"), dict) else {}
        name = flow.get("name")
        if not isinstance(name, str) or not name.strip():
            raise SimError(422, "The flow.name field is required.", {"flow.name": ["The flow.name field is required."]})
        ts = now_iso()
        fid = self.next_id()
        c.flows[fid] = {
            "id": fid,
            "name": name,
            "description": flow.get("description") or "",
            "enabled_at": None,
            "priority": 3,
            "prod_flag": bool(flow.get("prod_flag", False)),
            "layout_direction": "horizontal",
            "use_queued_time": False,
            "remove_failed_payloads": False,
            "created_at": ts,
            "updated_at": ts,
            "last_run_at": None,
            "_labels": [],
        }
        return c.flows[fid]

    def update_flow(self, c: Company, flow_id: Any, body: dict[str, Any]) -> dict[str, Any]:
        f = self.flow(c, flow_id)
        flow: dict[str, Any] = body["flow"] if isinstance(body.get("flow"), dict) else {}
        for key in ("name", "description", "enabled_at", "priority", "prod_flag",
                    "use_queued_time", "remove_failed_payloads"):
            if key in flow:
                f[key] = flow[key]
        if "labels" in body:
            f["_labels"] = [self._label_id(c, lab) for lab in body["labels"] or []]
        f["updated_at"] = stamp()
        return f

    def _label_id(self, c: Company, label: Any) -> int:
        """A label named by its ID (``labels.*.id``, the reference's rule); it must exist."""
        try:
            lid = int(label["id"])
        except (KeyError, TypeError, ValueError):
            lid = -1
        if lid not in c.labels:
            msg = "The selected labels.id is invalid."
            raise SimError(422, msg, {"labels.id": [msg]})
        return lid

    def delete_flow(self, c: Company, flow_id: Any) -> None:
        f = self.flow(c, flow_id)
        for vid in self.flow_version_ids(c, f["id"]):
            self.delete_version(c, f["id"], vid)
        del c.flows[f["id"]]
        c.versions_of.pop(f["id"], None)

    # -- versions ------------------------------------------------------------

    def version(self, c: Company, flow_id: Any, version_id: Any) -> dict[str, Any]:
        f = self.flow(c, flow_id)
        try:
            v = c.versions[int(version_id)]
        except (KeyError, ValueError, TypeError):
            raise not_found() from None
        if v["flow_id"] != f["id"]:
            raise not_found()
        return v

    def version_by_id(self, c: Company, version_id: Any) -> dict[str, Any]:
        try:
            return c.versions[int(version_id)]
        except (KeyError, ValueError, TypeError):
            raise not_found() from None

    def render_version(self, c: Company, v: dict[str, Any], *, steps: bool = True,
                       include: set[str] | frozenset[str] = frozenset()) -> dict[str, Any]:
        left_out = {"steps"} if steps or "variables" in include else {"steps", "variables"}
        out = {k: copy.deepcopy(val) for k, val in v.items() if not k.startswith("_") and k not in left_out}
        out["flow_name"] = c.flows[v["flow_id"]]["name"]
        out["is_deployed"] = v["status"] == "Deployed"
        out["is_editable"] = v["status"] == "Draft"
        out["steps_count"] = len(v["steps"])
        if steps or "steps" in include:  # a listing leaves them out: not rendered to be dropped
            out["steps"] = self.render_steps(c, v["steps"])
        if "schedules" in include:
            out["schedules"] = [dict(s) for s in self.version_schedules(c, v["id"])]
        return spell_flags(out, self.secret_flag)  # type: ignore[no-any-return]

    def new_version(self, c: Company, flow_id: int, *, iteration: int, status: str = "Draft",
                    steps: list[dict[str, Any]] | None = None,
                    variables: list[dict[str, Any]] | None = None,
                    deployed_at: str | None = None, created_at: str | None = None) -> dict[str, Any]:
        vid = self.next_id()
        ts = created_at or now_iso()
        v: dict[str, Any] = {
            "id": vid,
            "flow_id": flow_id,
            "iteration": iteration,
            "status": status,
            "deployed_at": deployed_at,
            "created_at": ts,
            "updated_at": ts,
            "saved_at": ts,
            "latest_run": None,
            "runs_count": 0,
            "steps": [],
            "variables": copy.deepcopy(variables or []),
        }
        for pos, step in enumerate(steps or []):
            s = copy.deepcopy(step)
            s["id"] = self.next_id()
            s["position"] = pos
            v["steps"].append(s)
        c.versions[vid] = v
        c.versions_of.setdefault(flow_id, []).append(vid)
        return v

    def create_version(self, c: Company, flow_id: Any) -> dict[str, Any]:
        f = self.flow(c, flow_id)
        its = [c.versions[v]["iteration"] for v in self.flow_version_ids(c, f["id"])]
        return self.new_version(c, f["id"], iteration=max(its, default=0) + 1)

    def update_version(self, c: Company, flow_id: Any, version_id: Any, body: dict[str, Any]) -> dict[str, Any]:
        v = self.version(c, flow_id, version_id)
        if "deployed_at" in body:
            deployed_at = body["deployed_at"]
            if deployed_at is not None and not isinstance(deployed_at, str):
                raise SimError(422, "The deployed at field must be a valid date.",
                               {"deployed_at": ["The deployed at field must be a valid date."]})
            if deployed_at:
                for other in self.flow_version_ids(c, v["flow_id"]):
                    ov = c.versions[other]
                    if other != v["id"] and ov["status"] == "Deployed":
                        ov["status"] = "Inactive"
                v["status"] = "Deployed"
            elif v["status"] == "Deployed":
                v["status"] = "Inactive"
            v["deployed_at"] = deployed_at
        if "status" in body and body["status"] in ("Draft", "Inactive", "Deployed"):
            v["status"] = body["status"]
        v["updated_at"] = stamp()
        return v

    def delete_version(self, c: Company, flow_id: Any, version_id: Any) -> None:
        v = self.version(c, flow_id, version_id)
        for sid in c.schedules_of.pop(v["id"], []):
            del c.schedules[sid]
        del c.versions[v["id"]]
        c.versions_of[v["flow_id"]].remove(v["id"])

    def copy_version(self, c: Company, flow_id: Any, version_id: Any) -> dict[str, Any]:
        v = self.version(c, flow_id, version_id)
        for other in self.flow_version_ids(c, v["flow_id"]):
            if c.versions[other]["status"] == "Draft":
                self.delete_version(c, v["flow_id"], other)
        its = [c.versions[x]["iteration"] for x in self.flow_version_ids(c, v["flow_id"])]
        return self.new_version(c, v["flow_id"], iteration=max(its, default=0) + 1,
                                steps=v["steps"], variables=v["variables"])

    def patch_step(self, c: Company, version_id: Any, step_id: Any, body: dict[str, Any]) -> dict[str, Any]:
        v = self.version_by_id(c, version_id)
        step = next((s for s in v["steps"] if str(s["id"]) == str(step_id)), None)
        if step is None:
            raise not_found()
        parsed = parse_step(body, self.dialect)
        errors = {}
        for key, value in parsed.items():
            if key in REF_FIELDS and value is not None and self.dialect != "dangling" \
                    and not self.resource_exists(c, REF_FIELDS[key], value):
                errors[key] = [f"The referenced {REF_FIELDS[key]} {value} does not exist."]
        if errors:
            raise SimError(422, "The given data was invalid.", errors)
        for key in ("name", "config", *REF_FIELDS):
            if key in parsed:
                step[key] = parsed[key]
        v["updated_at"] = stamp()
        return render_step(step, self.dialect, lambda t, i: self.resource_name(c, t, i))

    # -- schedules -----------------------------------------------------------

    def version_schedules(self, c: Company, version_id: Any) -> list[dict[str, Any]]:
        v = self.version_by_id(c, version_id)
        return [c.schedules[sid] for sid in c.schedules_of.get(v["id"], ())]

    def create_schedule(self, c: Company, version_id: Any, body: dict[str, Any],
                        created_at: str | None = None) -> dict[str, Any]:
        v = self.version_by_id(c, version_id)
        cron = body.get("cron_string")
        if not isinstance(cron, str) or len(cron.split()) not in (5, 6):
            raise SimError(422, "The cron string field must be a valid cron expression.",
                           {"cron_string": ["The cron string field must be a valid cron expression."]})
        sid = self.next_id()
        ts = created_at or now_iso()
        c.schedules[sid] = {"id": sid, "flow_version_id": v["id"], "cron_string": cron,
                            "deployed_at": body.get("deployed_at"), "created_at": ts, "updated_at": ts}
        c.schedules_of.setdefault(v["id"], []).append(sid)
        return c.schedules[sid]

    def delete_schedule(self, c: Company, version_id: Any, schedule_id: Any) -> None:
        s = self.schedule(c, version_id, schedule_id)
        del c.schedules[s["id"]]
        c.schedules_of[s["flow_version_id"]].remove(s["id"])

    def schedule(self, c: Company, version_id: Any, schedule_id: Any) -> dict[str, Any]:
        v = self.version_by_id(c, version_id)
        try:
            s = c.schedules[int(schedule_id)]
        except (KeyError, ValueError, TypeError):
            raise not_found() from None
        if s["flow_version_id"] != v["id"]:
            raise not_found()
        return s

    # -- resources, export and import ---------------------------------------

    def resource_exists(self, c: Company, rtype: str, rid: Any) -> bool:
        try:
            key = int(rid)
        except (TypeError, ValueError):
            return False
        if rtype == "flow":
            return key in c.flows
        return key in c.resources.get(rtype, {})

    def resource_name(self, c: Company, rtype: str, rid: int) -> str | None:
        f = c.flows.get(rid) if rtype == "flow" else c.resources.get(rtype, {}).get(rid)
        return None if f is None else str(f["name"])
