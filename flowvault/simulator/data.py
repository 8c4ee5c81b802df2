"""Seeded generator of realistic companies: same seed, same data.

Flow names include spaces, unicode, slashes, duplicates and a few hostile ones;
versions are Draft/Deployed/Inactive; steps reference connector instances, scripts,
caches, data pools, virtual environments and other flows (cycles included);
variables include secret ones; deployed versions carry cron schedules.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import random

from .ocp import generate_ocp
from .state import RESOURCE_TYPES, Company, State

VERBS = ["Sync", "Import", "Export", "Push", "Pull", "Reconcile", "Route", "Enrich"]
OBJECTS = ["orders", "stock levels", "customers", "refunds", "prices", "shipments", "products", "invoices"]
SYSTEMS = ["Shopify", "NetSuite", "Magento 2", "Brightpearl", "Peoplevox", "Shopify → NetSuite",
           "Größenlager", "倉庫 API", "BigCommerce / B2B", "Sage 200"]
HOSTILE_NAMES = ["../../etc/passwd", "CON", "📦 Parcel sync 🚚", "x" * 300, "orders/returns\\2024", "  "]
RESOURCE_NAMES = {
    "connector": ["Shopify (live)", "NetSuite production", "Magento 2 store", "Brightpearl EU",
                  "Peoplevox WMS", "SFTP drop", "Sage 200", "BigCommerce B2B"],
    "script": ["map order lines", "split by warehouse", "price rounding", "dedupe customers",
               "xml → json", "vat calculator"],
    "cache": ["sku lookup", "customer ids", "last run cursor", "currency rates"],
    "data_pool": ["orders pool", "refunds pool", "stock deltas"],
    "virtual_environment": ["production", "staging"],
    "endpoint": ["GET /orders", "POST /stock", "PUT /prices", "GET /customers"],
    "cross_reference_lookup": ["country codes", "sku → item id", "carrier services"],
    "notification_group": ["ops on-call", "finance"],
}
CRONS = ["*/15 * * * *", "0 * * * *", "0 2 * * *", "30 6 * * 1-5", "0 0 1 * *", "*/5 8-18 * * *"]
BASE_TIME = dt.datetime(2025, 1, 6, 9, 0, tzinfo=dt.UTC)


def _ts(offset_minutes: int) -> str:
    return (BASE_TIME + dt.timedelta(minutes=offset_minutes)).isoformat().replace("+00:00", "Z")


def api_key(seed: int, index: int) -> str:
    digest = hashlib.sha256(f"flowvault-sim:{seed}:{index}".encode()).hexdigest()
    return f"pwk_{digest[:32]}"


def flow_name(rng: random.Random, existing: list[str]) -> str:
    roll = rng.random()
    if existing and roll < 0.06:
        return rng.choice(existing)  # duplicate names happen in real accounts
    if roll < 0.09:
        return rng.choice(HOSTILE_NAMES[:5])
    return f"{rng.choice(VERBS)} {rng.choice(OBJECTS)} – {rng.choice(SYSTEMS)}"


def letters(index: int) -> str:
    """a, b, …, z, aa, ab, …: a company's letters, as a spreadsheet names its columns."""
    out = ""
    index += 1
    while index:
        index, rest = divmod(index - 1, 26)
        out = chr(ord("a") + rest) + out
    return out


def add_company(state: State, index: int, *, seed: int, flows: int, versions: int) -> Company:
    rng = random.Random(seed * 1000 + index)
    c = Company(id=index + 1, name=f"company-{letters(index)}", api_key=api_key(seed, index))
    state.companies.append(c)
    for rtype in RESOURCE_TYPES:
        for name in RESOURCE_NAMES[rtype]:
            rid = state.next_id()
            c.resources[rtype][rid] = {"id": rid, "name": name}
    for name in ("finance", "ops", "urgent", "b2b", "legacy"):
        lid = state.next_id()
        c.labels[lid] = {"id": lid, "name": name, "colour": rng.choice(["red", "blue", "green"])}
    names: list[str] = []
    for n in range(flows):
        add_flow(state, c, rng, name=flow_name(rng, names), versions=versions, minute=n)
        names.append(c.flows[max(c.flows)]["name"])
    # flow -> flow references, added once every flow exists so that cycles can occur
    flow_ids = sorted(c.flows)
    if len(flow_ids) > 1:
        for fid in flow_ids:
            if rng.random() < 0.15:
                target = rng.choice([x for x in flow_ids if x != fid])
                for vid in state.flow_version_ids(c, fid):
                    state_v = c.versions[vid]
                    state_v["steps"].append({
                        "id": state.next_id(), "name": "Run sub-flow", "type": "flow",
                        "position": len(state_v["steps"]), "config": {"wait": True},
                        "target_flow_id": target,
                    })
    return c


def _step(state: State, c: Company, rng: random.Random, pos: int) -> dict[str, object]:
    kind = rng.choice(["connector", "connector", "script", "map", "filter", "cache", "data_pool"])
    step: dict[str, object] = {"id": state.next_id(), "position": pos, "type": kind}
    if kind in ("connector", "script", "cache", "data_pool"):
        field = {"connector": "connector_id", "script": "script_version_id",
                 "cache": "cache_id", "data_pool": "data_pool_id"}[kind]
        rid = rng.choice(sorted(c.resources[kind]))
        step[field] = rid
        step["name"] = f"{kind.replace('_', ' ').title()}: {c.resources[kind][rid]['name']}"
        if kind == "connector":
            step["config"] = {"endpoint": rng.choice(["GET /orders", "POST /stock", "PUT /prices"]),
                              "page_size": rng.choice([50, 100, 250])}
            if rng.random() < 0.3:
                step["virtual_environment_id"] = rng.choice(sorted(c.resources["virtual_environment"]))
            if rng.random() < 0.5:
                step["endpoint_id"] = rng.choice(sorted(c.resources["endpoint"]))
            if rng.random() < 0.15:
                step["notification_group_id"] = rng.choice(sorted(c.resources["notification_group"]))
        else:
            step["config"] = {"mode": rng.choice(["append", "replace", "lookup"])}
    else:
        step["name"] = rng.choice(["Map fields", "Filter cancelled", "Split lines", "Route by country"])
        step["config"] = {"rules": [rng.choice(["status != 'cancelled'", "qty > 0", "country in ['GB','IE']"])]}
        if step["name"] == "Map fields" and rng.random() < 0.5:
            step["cross_reference_lookup_id"] = rng.choice(sorted(c.resources["cross_reference_lookup"]))
    step["variables"] = [{"key": "retry_count", "value": str(rng.randint(0, 5)), "secret": False}]
    return step


def _variables(rng: random.Random) -> list[dict[str, object]]:
    out: list[dict[str, object]] = [
        {"key": "PAGE_SIZE", "value": str(rng.choice([50, 100])), "secret": False},
        {"key": "REGION", "value": rng.choice(["eu-west", "us-east"]), "secret": False},
    ]
    if rng.random() < 0.7:
        out.append({"key": "API_TOKEN", "value": f"sk_live_{rng.getrandbits(64):016x}", "secret": True})
    if rng.random() < 0.3:
        out.append({"key": "SFTP_PASSWORD", "value": f"pw-{rng.getrandbits(40):010x}", "secret": True})
    if rng.random() < 0.2:  # a credential nobody flagged: the second net catches it by name
        out.append({"key": "WEBHOOK_SECRET", "value": f"whsec_{rng.getrandbits(64):016x}", "secret": False})
    return out


def add_flow(state: State, c: Company, rng: random.Random, *, name: str, versions: int, minute: int = 0) -> int:
    f = state.create_flow(c, {"flow": {"name": name, "description": f"{name} (generated)"}})
    f["created_at"] = f["updated_at"] = _ts(minute)
    f["priority"] = rng.randint(1, 5)
    f["_labels"] = rng.sample(sorted(c.labels), rng.randint(0, 2))
    deployed_iteration = versions - 1 if versions > 1 else (1 if rng.random() < 0.5 else 0)
    enabled = deployed_iteration > 0 and rng.random() < 0.6
    f["enabled_at"] = _ts(minute + 5) if enabled else None
    f["last_run_at"] = _ts(minute + 60) if enabled else None
    steps = [_step(state, c, rng, pos) for pos in range(rng.randint(2, 6))]
    variables = _variables(rng)
    for it in range(1, versions + 1):
        if it == deployed_iteration:
            status, deployed_at = "Deployed", _ts(minute + it)
        elif it < deployed_iteration:
            status, deployed_at = "Inactive", _ts(minute + it)
        else:
            status, deployed_at = "Draft", None
        v = state.new_version(c, f["id"], iteration=it, status=status, steps=steps, variables=variables,
                              deployed_at=deployed_at, created_at=_ts(minute + it))
        if status == "Deployed":
            v["latest_run"] = {"status": "success", "started_at": _ts(minute + 90)}
            v["runs_count"] = rng.randint(1, 5000)
            for cron in rng.sample(CRONS, rng.randint(0, 2)):
                state.create_schedule(c, v["id"], {"cron_string": cron}, created_at=_ts(minute + it))
        # the next version differs a little, like an edit would
        steps = [{**s, "config": {**(s.get("config") or {}), "rev": it}} for s in steps]  # type: ignore[dict-item]
    add_relations(state, c, f)
    return int(f["id"])


def add_relations(state: State, c: Company, f: dict[str, object]) -> None:
    """Webhooks, callbacks, notification groups, message brokers and queues of one flow (their
    own generator, so that adding them left every other generated value as it was)."""
    rng = random.Random(int(f["id"]))  # type: ignore[call-overload]
    if rng.random() < 0.4:
        f["_webhooks"] = [{"id": state.next_id(), "status": "active", "format": "json", "body": None,
                           "url": f"https://hooks.example.test/{rng.getrandbits(48):012x}",
                           "hmac_algorithm": "sha256", "hmac_secret_key": f"hk_{rng.getrandbits(64):016x}"}]
    if rng.random() < 0.2:
        f["_callbacks"] = [{"id": state.next_id(), "status": "active", "format": "json"}]
    if rng.random() < 0.3:
        gid = rng.choice(sorted(c.resources["notification_group"]))
        f["_notification_groups"] = [{"id": gid, "name": c.resources["notification_group"][gid]["name"]}]
    if rng.random() < 0.1:
        bid = state.next_id()
        f["_message_brokers"] = [{"id": bid, "name": "orders broker", "driver": "sqs"}]
        f["_message_broker_queues"] = [{"id": state.next_id(), "message_broker_id": bid, "name": "orders-in"}]


def generate(*, seed: int = 7, companies: int = 2, flows: int = 50, versions: int = 3,
             empty_companies: int = 0, ocp_flows: int = 0) -> State:
    """Build a state with ``companies`` populated companies, plus empty ones (import targets).
    Populated companies also get ``ocp_flows`` OCP orchestrator flows (their tenant)."""
    state = State()
    for i in range(companies):
        add_company(state, i, seed=seed, flows=flows, versions=versions)
        generate_ocp(state.companies[-1], random.Random(seed * 7919 + i), ocp_flows)
    for j in range(empty_companies):
        add_company(state, companies + j, seed=seed, flows=0, versions=versions)
    return state


BIG_FLOW_SECRETS = ("pw-very-secret-1", "tok-very-secret-2")


def big_flow_steps(state: Any, count: int = 61) -> list[dict[str, Any]]:
    """A branching flow as an editor leaves it: a main line across a wide canvas, a side step off
    every sixth, canvas positions in pixels; one step holds a password and a JSON body with a token."""
    ids = [state.next_id() for _ in range(count)]
    steps = []
    main = [i for i in range(count) if i % 6 != 5]
    for k, i in enumerate(main):
        children = [ids[main[k + 1]]] if k + 1 < len(main) else []
        if i + 5 < count and (i + 5) % 6 == 5:
            children.append(ids[i + 5])
        steps.append({"id": ids[i], "name": f"Step {i:02d} map \"SKU\" -> \"item\" and more words", "type": "map",
                      "position": {"x": 280 * k, "y": 0}, "config": {"page": i}, "children": children})
    for i in range(count):
        if i % 6 == 5:
            steps.append({"id": ids[i], "name": f"Side {i:02d}", "type": "http", "children": [],
                          "position": {"x": 280 * (i // 6 * 5), "y": 220}, "config": {"side": i}})
    steps[3]["config"] = {"endpoint": "https://api.example.com/orders", "password": BIG_FLOW_SECRETS[0]}
    steps[3]["body"] = '{"token": "%s", "page_size": 50}' % BIG_FLOW_SECRETS[1]
    return steps
