"""Patchworks Core API, both directions: list and fetch flows into archive records, and
recreate them (import endpoint, then deployed state, schedules, labels, enabled policy).

Export: one request per flow when the listing honours its documented includes — the export
document; versions (with schedules and variables), labels, webhooks, callbacks, notification
groups, message brokers/queues and deployments come with the listing, a page of 100 flows per
request. What a listing left out is fetched per flow (the versions list, a version's detail
and schedules, the webhooks and callbacks lists); what has no documented endpoint is named in
the run's warnings.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import anyio

from ..archive import NOT_CAPTURED, FlowRecord, build_record
from ..canonical import Secrets, clean, fingerprint, is_hidden, map_secrets
from ..client import ApiClient
from ..errors import ApiError, NotFoundError, ProtocolError
from ..models import Created, CreateJob, Inventory, MapFile, Ref
from ..proof import differences
from ..protocol import flow_id, part_refused
from ..references import Rules, remap_flow_doc, scan
from .pwreading import (VERSION_PARTS, Exported, carried, listed_versions, merge_detail, needs_detail, present, snake,
                        unreadable)
from .pwpaths import (FLOWS, LISTING_INCLUDES, LISTINGS, NO_ENDPOINT, PATHS, RELATIONS, RESOURCE_PATHS,  # noqa: F401
                      RESTORED, UNDOCUMENTED, VERSION_INCLUDE, Undocumented)
from .pwlists import ListCutShort, list_all, sync_items, sync_schedules
from .pwreading import finished as finished_versions
from .pwreading import label_ids, label_names, restored_body
from .pwreading import lacks as lacks_part

def _int_id(raw: Any, where: str) -> int:
    value = flow_id(raw)
    if not isinstance(value, int):
        raise ProtocolError(f"{where}: expected a positive numeric ID, got {str(raw)[:40]!r}")
    return value


class Patchworks:
    name = "patchworks"
    paths = PATHS
    documented_rate = 240 / 60.0  # 240 requests a minute per key (the reference)

    def archive_problem(self, rel: str, data: Any) -> str | None:
        if rel == "export.json":
            ok = isinstance(data, dict) and isinstance(data.get("flow"), dict) \
                and isinstance(data["flow"].get("versions"), list)
            return None if ok else "export document lacks 'flow' with 'versions'"
        if rel.startswith("versions/"):
            ok = isinstance(data, dict) and "id" in data and isinstance(data.get("steps"), list) \
                and isinstance(data.get("schedules"), list)
            return None if ok else "version lacks 'id', 'steps' or 'schedules'"
        return "unexpected file"

    # -- export ------------------------------------------------------------------

    async def list_flows(self, api: ApiClient) -> tuple[list[Any], int]:
        items: list[Any] = []
        totals = [0]
        async for page, claimed in self.iter_flows(api):
            items += page
            totals.append(claimed)
        return items, totals[-1]

    async def probe(self, api: ApiClient) -> str:
        reply = await api.get(FLOWS, {"per_page": 1})
        total = reply.get("meta", {}).get("total") if isinstance(reply, dict) else None
        return f"key accepted, {total} flows"

    async def iter_flows(self, api: ApiClient, say: Callable[[str], None] | None = None,
                         ) -> AsyncIterator[tuple[list[Any], int]]:
        """The listing with its documented includes; a server that refuses them (400/422, as a
        query builder does for an include it does not allow) is asked again with fewer — what
        the listing then lacks is fetched per flow. ``say`` hears of each refusal."""
        for n, params in enumerate(LISTINGS):
            started = False
            try:
                async for page in api.iter_pages(FLOWS, params):
                    started = True
                    yield page
                return
            except ApiError as e:
                if started or e.status not in (400, 422) or n == len(LISTINGS) - 1:
                    raise
                if say is not None:
                    say(f"the flows listing refused include={params['include']} ({e.status}): asked again with "
                        f"{'include=' + LISTINGS[n + 1]['include'] if 'include' in LISTINGS[n + 1] else 'no includes'}"
                        "; what it leaves out is fetched per flow")

    def listing_includes(self, items: list[Any]) -> tuple[list[str], list[str]]:
        """(honoured, ignored): the documented includes the listed flows carry, and those they do not."""
        flows = [f for f in items if isinstance(f, dict)]

        def honours(include: str) -> bool:
            if include.startswith("versions"):
                return any(listed_versions(f) is not None for f in flows)
            name = include.split(".")[0]
            return any(carried(f, name) is not None for f in flows)

        honoured = [i for i in LISTING_INCLUDES if honours(i)]
        return honoured, [i for i in LISTING_INCLUDES if i not in honoured]

    def fingerprint(self, flow: dict[str, Any], allow: frozenset[str]) -> str | None:
        """The listing item's fingerprint when it carries what an edit changes — every version with
        its update stamp, schedules and variables, and each relation that has a list endpoint — in
        any form (a relation typed as a string still changes when it is edited); else None: always fetch."""
        listed = flow.get("versions")
        if not isinstance(listed, list) or not all(
                isinstance(v, dict) and v.get("schedules") is not None and v.get("variables") is not None
                for v in listed):
            return None
        count = flow.get("versions_count")
        if isinstance(count, int) and not isinstance(count, bool) and count != len(listed):
            return None  # the listing cut the list short
        if any(path and not present(flow, name) for name, path in RELATIONS.items()):
            return None
        if not flow.get("updated_at") or not all(v.get("updated_at") or v.get("saved_at") for v in listed):
            return None  # no update stamps: a step edit would not show in the listing
        return fingerprint(flow, allow)

    async def fetch(self, api: ApiClient, flow: dict[str, Any], secrets: Secrets) -> FlowRecord:
        """The export document, plus only what the listing did not carry: the versions list
        (steps, variables, schedules) when the listing has no complete versions, a version's
        detail when neither source has its steps, and a relation's own list (webhooks,
        callbacks) when the listing left it out. Secret values hidden by ``secrets``."""
        fid = _int_id(flow["id"], f"{FLOWS}")
        listed = listed_versions(flow)
        got: dict[str, Any] = {}
        settings = {k: v for k, v in flow.items() if k != "versions"}
        not_captured: dict[str, str] = {}  # part → why it could not be read (its last good copy is kept)
        given_as_text = unreadable(flow, ("labels", *RELATIONS))  # the schema types some as strings
        for name in given_as_text:
            settings.pop(name, None)
            settings.pop(snake(name), None)
        if "labels" in given_as_text:
            not_captured["labels"] = given_as_text["labels"]

        async def unless_refused(part: str, endpoint: str, read: Callable[[], Awaitable[Any]]) -> Any:
            """``read()``, or None when the API closes this part to the key (403/404/405): the part
            is then marked not captured and keeps its last archived copy; other errors stand."""
            try:
                return await read()
            except ApiError as e:
                why = part_refused(e.status)
                if why is None:
                    raise
                not_captured[part] = f"{endpoint} answered {why}"
                return None

        async def export_doc() -> None:
            got["export"] = await api.post(f"{FLOWS}/export", {"flow_id": fid})

        async def read_versions() -> list[Any]:
            try:
                items, _ = await api.paginate(f"{FLOWS}/{fid}/versions", {"include": VERSION_INCLUDE})
            except ApiError as e:  # the include is not documented: a server may refuse it
                if e.status not in (400, 422):
                    raise
                items, _ = await api.paginate(f"{FLOWS}/{fid}/versions")
            return items

        async def version_list() -> None:
            got["versions"] = await unless_refused("versions", f"GET {FLOWS}/{{flow}}/versions", read_versions)

        async def relation(name: str, path: str) -> None:
            try:
                items = await unless_refused(name, f"GET {FLOWS}/{{flow}}/{path}",
                                             lambda: list_all(api, f"{FLOWS}/{fid}/{path}"))
            except ListCutShort as e:  # the rest cannot be asked for: the part keeps its last copy
                not_captured[name] = str(e).replace(f"/{fid}/", "/{flow}/")
                return
            if items is not None:
                settings[name] = items

        async with anyio.create_task_group() as tg:
            tg.start_soon(export_doc)
            if listed is None:
                tg.start_soon(version_list)
            for name, path in RELATIONS.items():
                if carried(flow, name) is None:
                    if path:
                        tg.start_soon(relation, name, path)
                    else:
                        not_captured[name] = (f"{given_as_text[name]}, and the reference documents no other way "
                                              "to read it") if name in given_as_text else NO_ENDPOINT
        export = got["export"]
        if not isinstance(export, dict) or not isinstance(export.get("flow"), dict):
            raise ProtocolError(f"POST {FLOWS}/export: flow {fid}: the reply has no 'flow' object")

        where = f"GET {FLOWS}" if listed is not None else f"GET {FLOWS}/{fid}/versions"
        versions: dict[int, dict[str, Any]] = {}
        for v in listed if listed is not None else got["versions"] or []:
            if not isinstance(v, dict) or "id" not in v:
                raise ProtocolError(f"{where}: flow {fid}: a version has no 'id'")
            versions[_int_id(v["id"], where)] = v
        exported = Exported(export)

        async def complete(vid: int) -> None:
            """A version's detail (for steps or variables neither the listing, the versions list nor
            the export document carried) and its schedules, merged into what was read."""
            known = versions[vid]
            detail: dict[str, Any] = {}
            if needs_detail(vid, known, exported):
                reply = await unless_refused("version details", f"GET {FLOWS}/{{flow}}/versions/{{version}}",
                                             lambda: api.get(f"{FLOWS}/{fid}/versions/{vid}"))
                found = reply.get("data") if isinstance(reply, dict) else {} if reply is None else None
                if not isinstance(found, dict):
                    raise ProtocolError(f"GET {FLOWS}/{fid}/versions/{vid}: the reply has no 'data' object")
                detail = found
            schedules = known.get("schedules")
            if not isinstance(schedules, list):
                page = await unless_refused("schedules", "GET /api/v1/flow-versions/{version}/schedules",
                                            lambda: api.paginate(f"/api/v1/flow-versions/{vid}/schedules"))
                schedules = page[0] if page is not None else None
            versions[vid] = merge_detail(known, detail, schedules)

        async with anyio.create_task_group() as tg:
            for vid, v in versions.items():
                if any(lacks_part(vid, v, key, exported) for key in VERSION_PARTS):
                    tg.start_soon(complete, vid)
        cleaned = [clean(v, secrets) for v in finished_versions(versions, exported)]
        if not_captured:
            settings[NOT_CAPTURED] = dict(sorted(not_captured.items()))
        return build_record(clean(settings, secrets), clean(export, secrets), cleaned)

    # -- import ------------------------------------------------------------------

    def name_key(self, name: str) -> str:
        return name

    def name_problem(self, name: str) -> str | None:
        return None if name.strip() else "the flow has an empty name"

    def renamed(self, name: str, n: int) -> str:
        return f"{name} ({n})"

    def refs(self, export: dict[str, Any], flow_id: str, flow_name: str,
             rules: Rules) -> tuple[list[Ref], list[Ref], list[Ref]]:
        return scan(export, flow_id, flow_name, rules)

    def check_map(self, mapping: MapFile, where: str) -> None:
        """Every section of a map file applies to Patchworks."""

    def checklist(self, settings: dict[str, Any]) -> list[str]:
        """What an import cannot restore for a flow and someone must set up in the target."""
        out = []
        parts = settings.get(NOT_CAPTURED)
        for part, why in sorted(parts.items()) if isinstance(parts, dict) else ():
            out.append(f"{part}: not captured by the export that made this archive ({why}); check them in the "
                       "source and set them up in the target")
        for hook in carried(settings, "webhooks") or []:
            if isinstance(hook, dict):
                out.append(f"webhook {hook.get('url') or '#' + str(hook.get('id'))}: recreated with the target's "
                           "own URL (tell its callers)" + ("; set its HMAC secret key" if hook.get("hmac_algorithm")
                                                           else ""))
        for name, what in (("notificationGroups", "notification group"), ("messageBrokers", "message broker"),
                           ("messageBrokerQueues", "message broker queue")):
            for item in carried(settings, name) or []:
                if isinstance(item, dict):
                    out.append(f"{what} '{item.get('name') or item.get('id')}': attach it in the target "
                               "(no documented endpoint)")
        for d in carried(settings, "deployments") or []:
            env = d.get("virtual_environment") or d.get("virtualEnvironment") if isinstance(d, dict) else None
            if isinstance(env, dict):
                out.append(f"deployment in virtual environment '{env.get('name')}': deploy it there in the target")
        return out

    async def inventory(self, api: ApiClient) -> Inventory:
        flows, _ = await api.paginate(FLOWS, {"sort": "id", "include": "labels"})
        by_name: dict[str, dict[str, list[int]]] = {}
        for rtype, path in RESOURCE_PATHS.items():
            try:
                items, _ = await api.paginate(path)
            except ApiError as e:  # not exposed (UNDOCUMENTED says what then): only the map file resolves it
                if part_refused(e.status) is None:
                    raise
                continue
            for item in items:
                if isinstance(item, dict) and "id" in item:
                    by_name.setdefault(rtype, {}).setdefault(str(item.get("name")), []).append(
                        _int_id(item["id"], f"GET {path}"))
        listed = {str(_int_id(f["id"], f"GET {FLOWS}")): str(f.get("name")) for f in flows if isinstance(f, dict)}
        names: dict[str, list[int]] = {}
        for fid, name in sorted(listed.items(), key=lambda kv: int(kv[0])):
            names.setdefault(name, []).append(int(fid))
        by_name["flow"] = names
        return Inventory(listed, by_name, label_ids(flows))

    def document(self, export: dict[str, Any], resolve: Callable[[str, int], int | str | None],
                 deferred: tuple[Ref, ...], secrets: dict[str, str], *, name: str, rules: Rules,
                 open_sealed: Callable[[str], str | None] | None) -> dict[str, Any]:
        return remap_flow_doc(export, resolve, deferred, secrets, name=name, rules=rules, open_sealed=open_sealed)

    async def create(self, api: ApiClient, job: CreateJob) -> Created:
        # every top-level part of the export document goes back as the JSON string the endpoint
        # documents for `flow` and `metadata` (the five-key form adds systems, scripts, dependencies)
        body: dict[str, Any] = {k: json.dumps(v, ensure_ascii=False) for k, v in job.export.items() if k != "flow"}
        body.setdefault("metadata", json.dumps({}))
        body["flow"] = json.dumps(job.doc, ensure_ascii=False)  # as_marketplace (a string) left out: not one
        pre = {str(i) for i in job.pre}

        async def created() -> Any:
            found, _ = await api.paginate(FLOWS, {"filter[name]": job.name})
            new = [int(f["id"]) for f in found if f.get("name") == job.name and str(f["id"]) not in pre]
            return {"adopted": new[0]} if new else None

        reply = await api.create_once(f"{FLOWS}/import", body, created)
        if isinstance(reply, dict) and "adopted" in reply:
            return Created(int(reply["adopted"]))
        data = reply.get("data") if isinstance(reply, dict) else None
        if not isinstance(data, dict) or "id" not in data:
            raise ProtocolError(f"POST {FLOWS}/import: the reply has no created flow")
        steps = {int(v["iteration"]): (int(v["id"]), [int(s["id"]) for s in v.get("steps") or []])
                 for v in data.get("versions") or [] if isinstance(v, dict) and "id" in v}
        return Created(_int_id(data["id"], f"POST {FLOWS}/import"), info={"steps": steps, "fresh": True})

    async def delete(self, api: ApiClient, target_id: int | str) -> None:
        await api.delete(f"{FLOWS}/{target_id}")

    async def live_secrets(self, api: ApiClient, target_id: int | str) -> dict[str, str]:
        """The secret variable values a live flow holds (key → value), read before it is replaced."""
        reply = await api.post(f"{FLOWS}/export", {"flow_id": target_id})
        found: dict[str, str] = {}

        def keep(name: str, value: str, _flagged: bool) -> None:
            if not is_hidden(value):
                found.setdefault(name, value)

        map_secrets(reply.get("flow") if isinstance(reply, dict) else None, keep)
        return found

    async def finish(self, api: ApiClient, job: CreateJob, target_id: int | str, info: Any) -> tuple[list[str], Any]:
        """Restore what import does not: deployed state, schedules, labels, enabled policy.
        Returns notes for the summary and the step IDs (for deferred references)."""
        flow, doc = job.flow, job.doc
        versions = {int(v.get("iteration", 0)): v for v in doc.get("versions") or []}
        steps: dict[int, tuple[int, list[int]]] = dict((info or {}).get("steps") or {})
        fresh = bool((info or {}).get("fresh")) and all(it in steps for it in versions)
        if fresh:
            target_versions = {it: steps[it][0] for it in versions}
            current: dict[int, Any] = {it: {"deployed_at": None} for it in versions}
        else:
            listed, _ = await api.paginate(f"{FLOWS}/{target_id}/versions")
            target_versions = {int(v["iteration"]): int(v["id"]) for v in listed}
            current = {int(v["iteration"]): v for v in listed}
            if job.deferred:
                for it, vid in target_versions.items():
                    detail = (await api.get(f"{FLOWS}/{target_id}/versions/{vid}"))["data"]
                    steps[it] = (vid, [int(s["id"]) for s in detail.get("steps") or []])
        deploy = sorted((v for v in versions.values() if v.get("deployed_at")),
                        key=lambda v: (v.get("status") == "Deployed", v["deployed_at"]))
        for v in deploy:
            it = int(v["iteration"])
            if it not in target_versions:
                continue
            differs = current.get(it, {}).get("deployed_at") != v["deployed_at"]
            if differs or v.get("status") == "Deployed":  # the deployed one last, so it wins
                await api.put(f"{FLOWS}/{target_id}/versions/{target_versions[it]}",
                              {"deployed_at": v["deployed_at"]})
        for it, v in versions.items():
            crons = [str(s["cron_string"]) for s in v.get("schedules") or [] if s.get("cron_string")]
            if crons and it in target_versions:
                await sync_schedules(api, target_versions[it], crons, fresh)
        setup: list[str] = []
        for name, fields in RESTORED.items():  # the relations the reference documents a create for
            items = [x for x in carried(flow.settings, name) or [] if isinstance(x, dict)]
            bodies = [restored_body(x, fields) for x in items]
            try:
                await sync_items(api, f"{FLOWS}/{target_id}/{name}", bodies, fresh)
            except ApiError as e:  # a key that may not create them: the flow stays, the checklist says so
                why = part_refused(e.status)
                if why is None:
                    raise
                setup.append(f"{name}: {len(bodies)} not recreated ({e.method} {FLOWS}/{{flow}}/{name} answered "
                             f"{why}); create them in the target")
        notes: list[str] = []
        enabled_at = flow.settings.get("enabled_at")
        update: dict[str, Any] = {}
        wanted = label_names(flow.settings, doc)
        if wanted:  # a label is set by its ID (labels.*.id); the reference documents no way to create one
            update["labels"] = [{"id": job.labels[n]} for n in wanted if n in job.labels]
            setup += [f"label '{n}': not in the target (no flow there carries it, and the reference documents "
                      "no way to create one); add it to the flow" for n in wanted if n not in job.labels]
        if enabled_at and job.enable == "source":
            update["flow"] = {"enabled_at": enabled_at}
        elif enabled_at:
            notes.append(flow.label)
        if update:
            await api.put(f"{FLOWS}/{target_id}", update)
        return notes, {"steps": steps, "setup": setup}

    async def patch_ref(self, api: ApiClient, info: Any, ref: Ref, body: dict[str, Any]) -> bool:
        """Set a deferred flow reference (``body``: the step's rewritten top-level key); False
        when the step is not known."""
        where = ((info or {}).get("steps") or {}).get(ref.iteration)
        if where is None or ref.step_index >= len(where[1]):
            return False
        await api.patch(f"/api/v1/flow-versions/{where[0]}/graph/steps/{where[1][ref.step_index]}", body)
        return True

    async def verify(self, api: ApiClient, job: CreateJob, target_id: int | str) -> list[str]:
        """Read the flow back (the export endpoint) and compare it with what was sent."""
        reply = await api.post(f"{FLOWS}/export", {"flow_id": target_id})
        got = reply.get("flow") if isinstance(reply, dict) else None
        if not isinstance(got, dict):
            raise ProtocolError(f"POST {FLOWS}/export: flow {target_id}: the reply has no 'flow' object")
        return differences(job.doc, got)
