"""A third vendor costs three files: its provider module, its simulator dialect and one registry
file (``entry_points.txt``: one line for flowvault, one for the simulator) — written here into a
temporary folder outside the product, which no file of ``flowvault/`` names. Export, verify, diff
and import then run over it as they do for Patchworks and OCP."""

from __future__ import annotations

import textwrap
from pathlib import Path
from typing import Any

import orjson
from click.testing import CliRunner

from .conftest import cli, write_config

PROVIDER = '''
"""A toy vendor: flows with steps at /toy/flows, created by POST, read back by GET."""
from typing import Any

from flowvault.archive import build_record
from flowvault.canonical import clean
from flowvault.errors import ProtocolError, UsageError
from flowvault.models import Created, Inventory


class Toy:
    name = "toy"
    paths = ("/toy/flows", "/toy/flows/{flow}")
    documented_rate = 0.0

    def archive_problem(self, rel, data):
        if rel == "export.json":
            return None if isinstance(data, dict) and isinstance(data.get("flow"), dict) else "no 'flow'"
        if rel.startswith("versions/"):
            return None if isinstance(data, dict) and isinstance(data.get("steps"), list) else "no 'steps'"
        return "unexpected file"

    async def list_flows(self, api):
        flows = await api.get("/toy/flows")
        if not isinstance(flows, list):
            raise ProtocolError("GET /toy/flows: expected a list")
        return flows, len(flows)

    async def iter_flows(self, api, say=None):
        yield await self.list_flows(api)

    def listing_includes(self, items):
        return [], []

    async def probe(self, api):
        return f"key accepted, {(await self.list_flows(api))[1]} flows"

    def fingerprint(self, flow, allow):
        return None

    async def fetch(self, api, flow, secrets):
        got = await api.get(f"/toy/flows/{flow['id']}")
        version = {"id": 1, "steps": got["steps"], "schedules": []}
        doc = {"flow": {"name": got["name"], "steps": got["steps"]}}
        return build_record(clean({"id": got["id"], "name": got["name"]}, secrets), clean(doc, secrets),
                            [clean(version, secrets)])

    def name_key(self, name):
        return name

    def name_problem(self, name):
        return None

    def renamed(self, name, n):
        return f"{name} ({n})"

    def refs(self, export, flow_id, flow_name, rules):
        return [], [], []

    def check_map(self, mapping, where):
        if set(mapping.ids) - {"flow"}:
            raise UsageError(f"{where}: only [flow] applies to toy flows")

    def checklist(self, settings):
        return []

    async def inventory(self, api):
        flows, _ = await self.list_flows(api)
        return Inventory({str(f["id"]): str(f["name"]) for f in flows})

    def document(self, export, resolve, deferred, secrets, *, name, rules, open_sealed):
        return {"name": name, "steps": export["flow"]["steps"]}

    async def create(self, api, job):
        async def created():
            flows, _ = await self.list_flows(api)
            new = [f for f in flows if f["name"] == job.name and str(f["id"]) not in {str(p) for p in job.pre}]
            return new[0] if new else None

        made = await api.create_once("/toy/flows", job.doc, created)
        return Created(str(made["id"]))

    async def delete(self, api, target_id):
        await api.delete(f"/toy/flows/{target_id}")

    async def live_secrets(self, api, target_id):
        return {}

    async def finish(self, api, job, target_id, info):
        return [], info

    async def patch_ref(self, api, info, ref, body):
        return False

    async def verify(self, api, job, target_id):
        got = await api.get(f"/toy/flows/{target_id}")
        return [] if got.get("steps") == job.doc["steps"] else ["steps differ"]
'''

DIALECT = '''
"""The toy vendor's API in flowvault's simulator: a company's flows, three to start with."""
from starlette.responses import JSONResponse


class ToyApi:
    def __init__(self, rng):
        self.flows = {}  # company ID → {flow ID: flow}
        self.routes = [("GET", "/toy/flows", self.list), ("POST", "/toy/flows", self.create),
                       ("GET", "/toy/flows/{fid}", self.get), ("DELETE", "/toy/flows/{fid}", self.delete)]

    def of(self, company):
        if company.id not in self.flows:
            self.flows[company.id] = {} if company.name != "company-a" else {
                n: {"id": n, "name": f"Toy flow {n}",
                          "steps": [{"id": 1, "name": "Read", "type": "read", "config": {"n": n}},
                                    {"id": 2, "name": "Write", "type": "write", "config": {}}]}
                for n in range(1, 4)}
        return self.flows[company.id]

    async def list(self, request, company):
        return [{"id": f["id"], "name": f["name"]} for f in self.of(company).values()]

    async def get(self, request, company):
        flow = self.of(company).get(int(request.path_params["fid"]))
        return dict(flow) if flow else JSONResponse({"message": "Not found."}, 404)

    async def create(self, request, company):
        flows = self.of(company)
        fid = 100 + len(flows)
        flows[fid] = {"id": fid, "name": request.state.body["name"], "steps": request.state.body["steps"]}
        return JSONResponse(flows[fid], 201)

    async def delete(self, request, company):
        self.of(company).pop(int(request.path_params["fid"]), None)
        return JSONResponse({}, 204)
'''

REGISTRY = """\
[flowvault.providers]
toy = toy_vendor:Toy

[flowvault.simulator]
toy = toy_vendor_sim:ToyApi
"""


def test_a_third_provider_is_three_files(make_server: Any, tmp_path: Path, monkeypatch: Any,
                                         runner: CliRunner) -> None:
    package = tmp_path / "toy-package"
    (package / "toy_vendor-0.dist-info").mkdir(parents=True)
    (package / "toy_vendor.py").write_text(textwrap.dedent(PROVIDER))
    (package / "toy_vendor_sim.py").write_text(textwrap.dedent(DIALECT))
    (package / "toy_vendor-0.dist-info" / "entry_points.txt").write_text(REGISTRY)
    files = [p for p in package.rglob("*") if p.is_file()]
    assert len(files) == 3  # its module, its simulator dialect, its registry lines
    product = Path(__file__).resolve().parent.parent / "flowvault"
    assert not [p for p in product.rglob("*.py") if "toy" in p.read_text(encoding="utf-8")]  # no file names it
    monkeypatch.syspath_prepend(str(package))

    server = make_server(flows=0, companies=1, empty_companies=1)
    cfg = write_config(tmp_path / "fv.toml", server, monkeypatch, provider="toy", max_retries=1)
    archive = tmp_path / "archive"
    toy = server.sim.vendors["toy"]
    a, b = server.sim.company(0), server.sim.company(1)

    first = cli(runner, "export", "--config", cfg, "-p", "company-a", "--archive", archive)
    assert first.exit_code == 0, first.output
    m = orjson.loads((archive / "manifest.json").read_bytes())
    assert m["source"]["provider"] == "toy" and sorted(m["flows"]) == ["1", "2", "3"]
    assert cli(runner, "verify", "--archive", archive).output.strip().endswith("verify: ok")

    toy.of(a)[2]["steps"][0]["config"] = {"n": 99}
    night = cli(runner, "export", "--config", cfg, "-p", "company-a", "--archive", archive)
    assert night.exit_code == 0, night.output
    diff = cli(runner, "diff", "--archive", archive, "HEAD~1", "HEAD", "--exit-code")
    assert diff.exit_code == 1 and "~ Toy flow 2 (#2)" in diff.output
    assert "version 1: step changed: 'Read' (config.n)" in diff.output, diff.output

    imported = cli(runner, "import", "--config", cfg, "-t", "company-b", "--archive", archive)
    assert imported.exit_code == 0, imported.output
    assert sorted((f["name"], f["steps"] == toy.of(a)[int(f["name"][-1])]["steps"]) for f in toy.of(b).values()) \
        == [("Toy flow 1", True), ("Toy flow 2", True), ("Toy flow 3", True)]
    again = cli(runner, "import", "--config", cfg, "-t", "company-b", "--archive", archive)
    assert again.exit_code == 0 and len(toy.of(b)) == 3  # the ID map: a re-run creates nothing
