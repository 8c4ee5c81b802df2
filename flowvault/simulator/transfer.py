"""The export and import endpoints of the simulated Patchworks: a flow as one document, out
and back in (the ``State`` operations behind ``POST /flows/export`` and ``/flows/import``)."""

from __future__ import annotations

import copy
from typing import Any

from .dialects import FLAT
from .dialects import parse_step, read_flags, spell_flags
from .simerrors import SimError, now_iso


class Transfer:
    """Mixed into ``State``: uses its flows, versions, schedules and resources (``c``: a ``state.Company``)."""

    def export_flow(self, c: Any, flow_id: Any) -> dict[str, Any]:
        f = self.flow(c, flow_id)
        versions = []
        deps: dict[tuple[str, int], dict[str, Any]] = {}
        for vid in self.flow_version_ids(c, f["id"]):
            v = c.versions[vid]
            for step in v["steps"]:
                for key, rtype in FLAT.items():
                    rid = step.get(key)
                    if rid is not None:
                        deps[(rtype, rid)] = {"type": rtype, "id": rid, "name": self.resource_name(c, rtype, rid)}
            versions.append({
                "id": v["id"],
                "iteration": v["iteration"],
                "status": v["status"],
                "deployed_at": v["deployed_at"],
                "steps": self.render_steps(c, v["steps"]),
                "variables": copy.deepcopy(v["variables"]),
                "schedules": [{"cron_string": s["cron_string"]} for s in self.version_schedules(c, vid)],
            })
        doc: dict[str, Any] = {
            "flow": {
                "name": f["name"],
                "description": f["description"],
                "priority": f["priority"],
                "prod_flag": f["prod_flag"],
                "layout_direction": f["layout_direction"],
                "use_queued_time": f["use_queued_time"],
                "remove_failed_payloads": f["remove_failed_payloads"],
                "enabled": f["enabled_at"] is not None,
                "labels": [c.labels[i]["name"] for i in f["_labels"]],
                "versions": versions,
            },
            "metadata": {
                "format_version": 2,
                "exported_at": now_iso(),
                "source_company_id": c.id,
                "source_flow_id": f["id"],
                "dependencies": [deps[k] for k in sorted(deps)],
            },
        }
        spell_flags(doc, self.secret_flag)
        if self.dialect == "export-systems":  # the five top-level keys of the vendor's MCP description
            for v in doc["flow"]["versions"]:  # whose versions carry their iteration, not their ID
                del v["id"]
            doc["systems"] = [d for d in doc["metadata"]["dependencies"] if d["type"] in ("connector", "endpoint")]
            doc["scripts"] = [d for d in doc["metadata"]["dependencies"] if d["type"] == "script"]
            doc["dependencies"] = [d for d in doc["metadata"]["dependencies"] if d["type"] != "flow"]
        return doc

    def import_flow(self, c: Any, flow: dict[str, Any]) -> dict[str, Any]:
        """Create a flow from an export document: new IDs, versions as drafts, disabled,
        no schedules and no labels (as the platform does); references must exist here."""
        errors: dict[str, list[str]] = {}
        name = flow.get("name")
        if not isinstance(name, str) or not name.strip():
            errors["flow.name"] = ["The flow.name field is required."]
        versions = flow.get("versions")
        if not isinstance(versions, list):
            errors["flow.versions"] = ["The flow.versions field must be an array."]
            versions = []
        versions = [read_flags({**v, "steps": [parse_step(s, self.dialect) for s in v.get("steps") or []
                                               if isinstance(s, dict)]})
                    for v in versions if isinstance(v, dict)]
        for i, v in enumerate(versions):
            for j, step in enumerate(v["steps"]):
                for key, rtype in FLAT.items():
                    rid = step.get(key)
                    if rid is not None and self.dialect != "dangling" and not self.resource_exists(c, rtype, rid):
                        errors[f"flow.versions.{i}.steps.{j}.{key}"] = [
                            f"The referenced {rtype} {rid} does not exist (step '{step.get('name')}')."
                        ]
        if errors:
            raise SimError(422, "The given data was invalid.", errors)
        f = self.create_flow(c, {"flow": {"name": name, "description": flow.get("description"),
                                          "prod_flag": flow.get("prod_flag", False)}})
        for key in ("priority", "layout_direction", "use_queued_time", "remove_failed_payloads"):
            if key in flow:
                f[key] = flow[key]
        for v in sorted(versions, key=lambda v: v.get("iteration", 0)):
            steps = [{k: val for k, val in s.items() if k != "id"} for s in v.get("steps") or []]
            if self.import_drops_step and len(steps) > 1:
                steps.pop()
            self.new_version(c, f["id"], iteration=int(v.get("iteration", 1)), steps=steps,
                             variables=v.get("variables") or [])
        out = self.render_flow(c, f, {"labels"})
        out["versions"] = [self.render_version(c, c.versions[x]) for x in self.flow_version_ids(c, f["id"])]
        return out
