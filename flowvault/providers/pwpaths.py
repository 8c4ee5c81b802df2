"""What Patchworks' reference names: the paths flowvault calls, the listing's includes, the
relations import recreates with their documented fields — and ``UNDOCUMENTED``, the one table
of requests outside the vendor's document (why each is used, and what a 403/404/405 does)."""

from __future__ import annotations

from dataclasses import dataclass

FLOWS = "/api/v1/flows"
#: the flows listing's documented includes: with them a page of 100 flows carries all but the export document
LISTING_INCLUDES = ("labels", "versions", "versions.schedules", "versions.variables", "webhooks", "callbacks",
                    "notificationGroups", "messageBrokers", "messageBrokerQueues", "deployments.virtualEnvironment")
LISTING = {"include": ",".join(LISTING_INCLUDES), "sort": "id"}
LISTINGS = (LISTING, {"include": "labels", "sort": "id"}, {"sort": "id"})  # when a server refuses includes
#: relations the listing carries → the per-flow list endpoint when it did not (None: the reference has none)
#: relations import recreates (POST /flows/{flow}/<name>), with the fields the reference documents for it
#: (field, nullable): only a webhook's body may be sent as null; a field the archive lacks is left out
RESTORED = {"webhooks": (("status", False), ("format", False), ("body", True)),
            "callbacks": (("status", False), ("format", False))}
RELATIONS = {"webhooks": "webhooks", "callbacks": "callbacks", "notificationGroups": None,
             "messageBrokers": None, "messageBrokerQueues": None, "deployments": None}
VERSION_INCLUDE = "steps,variables,schedules"
NO_ENDPOINT = ("the listing ignored its include and the reference documents no other way to read it "
               "(see docs/archive.md: about one request per flow)")


@dataclass(frozen=True)
class Undocumented:
    """An endpoint flowvault uses that no vendor document holds: what for, and what happens when
    the account answers 403/404/405 (the account does not expose it)."""

    resource: str
    why: str
    when_refused: str


_BY_MAP = "that type is resolved from the map file only (`flowvault map init` lists each reference)"
#: every request flowvault sends outside the vendor's contract (../shared/reference), and only from here:
#: the resource listings import and restore read to re-link a step's references by name and type
UNDOCUMENTED: dict[tuple[str, str], Undocumented] = {
    ("GET", path): Undocumented(rtype, f"import/restore: find each {rtype.replace('_', ' ')} the archive "
                                       "references by name in the target company", _BY_MAP)
    for rtype, path in (("connector", "/api/v1/connectors"), ("endpoint", "/api/v1/endpoints"),
                        ("script", "/api/v1/scripts"), ("cache", "/api/v1/caches"),
                        ("data_pool", "/api/v1/data-pools"),
                        ("cross_reference_lookup", "/api/v1/cross-reference-lookups"),
                        ("virtual_environment", "/api/v1/virtual-environments"),
                        ("notification_group", "/api/v1/notification-groups"))
}
RESOURCE_PATHS = {u.resource: path for (_, path), u in UNDOCUMENTED.items()}
#: the documented path templates flowvault calls (as the vendor's document spells them): what a
#: recording (``doctor --record``) names each reply by
PATHS = (FLOWS, f"{FLOWS}/export", f"{FLOWS}/import", f"{FLOWS}/{{flow}}", f"{FLOWS}/{{flow}}/versions",
         f"{FLOWS}/{{flow}}/versions/{{version}}", f"{FLOWS}/{{flow}}/webhooks", f"{FLOWS}/{{flow}}/callbacks",
         "/api/v1/flow-versions/{flow_version}/schedules", "/api/v1/flow-versions/{flow_version}/schedules/{schedule}",
         "/api/v1/flow-versions/{flow_version}/graph/steps/{step}", *RESOURCE_PATHS.values())
