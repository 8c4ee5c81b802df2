"""``flowvault doctor``: is everything in place for an unattended run? One line per check."""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import anyio

from ..archive import Archive
from ..canonical import Secrets, dumps, loads
from ..client import ApiClient
from ..config import Config, Profile, load_config
from ..errors import FlowvaultError
from ..history import History
from ..models import Ref, Source
from ..plan import field_summary
from ..protocol import MAX_PER_PAGE, flow_id
from ..providers import client_for, provider_for
from ..shapes import Recording


@dataclass(frozen=True)
class Check:
    ok: bool
    what: str
    detail: str
    warn: bool = False  # ok, but the export will warn about it (said with "!")


async def _api(profile: Profile, recording: Recording | None = None) -> list[Check]:
    what = f"profile {profile.name}: API {profile.base_url}"
    try:
        async with client_for(profile) as api:
            api.max_retries = 1
            if recording is not None:
                api.recorder = recording.add
            checks = [Check(True, what, await provider_for(profile.provider).probe(api))]
            return checks + await forecast(profile, api)
    except FlowvaultError as e:
        return [Check(False, what, str(e))]


def check_profile(profile: Profile, recording: Recording | None = None) -> list[Check]:
    try:
        profile.api_key()
    except FlowvaultError as e:
        return [Check(False, f"profile {profile.name}: key", str(e))]
    checks = [Check(True, f"profile {profile.name}: key", f"${profile.api_key_env} is set")]
    return [*checks, *anyio.run(_api, profile, recording)]


SAMPLE_FLOWS = 3  # flows of the first listing page fetched as the export fetches them (nothing written)


async def forecast(profile: Profile, api: ApiClient) -> list[Check]:
    """The export's own fetch path on a sample — the first listing page, and up to SAMPLE_FLOWS
    flows fetched as the export fetches them, nothing written — and what it says about the next
    export: includes, parts that will not be captured, pace, calls and time, unclassified
    reference fields, secret-flag spellings. A check fails exactly where the export would fail."""
    provider = provider_for(profile.provider)
    name = f"profile {profile.name}"
    refused: list[str] = []
    pages = provider.iter_flows(api, refused.append)
    try:
        items, total = await pages.__anext__()
    except StopAsyncIteration:
        items, total = [], 0
    except FlowvaultError as e:
        return [Check(False, f"{name}: listing", f"the export would fail: {e}")]
    finally:
        await pages.aclose()
    checks = [Check(True, f"{name}: listing", w, warn=True) for w in refused]
    honoured, ignored = provider.listing_includes(items)
    if honoured or ignored:
        checks.append(Check(True, f"{name}: listing includes",
                            f"honoured: {', '.join(honoured) or 'none'}; ignored: {', '.join(ignored) or 'none'}"
                            + ("; what is ignored is fetched per flow where the reference documents a way" if ignored
                               else "")))
    flows = [f for f in items if isinstance(f, dict) and flow_id(f.get("id")) is not None][:SAMPLE_FLOWS]
    if not flows:
        return [*checks, Check(True, f"{name}: sample", "the listing has no flow to sample: nothing to export")]
    before = api.stats.requests
    spellings: set[str] = set()
    unclassified: list[Ref] = []
    not_captured: dict[str, str] = {}
    policy = Secrets(allow=frozenset(profile.secrets_allow))
    for flow in flows:
        label = f"{flow.get('name')} (#{flow_id(flow['id'])})"
        try:
            record = await provider.fetch(api, {**flow, "id": flow_id(flow["id"])}, policy.fork())
        except FlowvaultError as e:
            return [*checks, Check(False, f"{name}: sample", f"the export would fail flow {label}: {e}")]
        not_captured |= record.not_captured
        doc = loads(record.files["export.json"])
        unclassified += provider.refs(doc, str(record.flow_id), record.name, {})[1]
        spellings |= secret_flags([loads(b) for p, b in record.files.items() if p.startswith("versions/")] + [doc])
    per_flow = (api.stats.requests - before) / len(flows)
    checks += [Check(True, f"{name}: {part}", f"not captured: {why}; the export keeps each flow's last archived copy",
                     warn=True) for part, why in sorted(not_captured.items())]
    checks.append(Check(True, f"{name}: sample", f"{len(flows)} flow(s) fetched as the export does: "
                        f"{per_flow:.1f} call(s) a flow"))
    checks.append(pace(profile, api, total, per_flow, any(provider.fingerprint(f, policy.allow) for f in flows)))
    if unclassified:
        fields = ", ".join(f"{fld} ({n} step(s))" for fld, n, _ in field_summary(unclassified))
        checks.append(Check(True, f"{name}: references", f"fields no rule classifies in the sample: {fields} "
                            "(an import into another company needs them in the map file: flowvault map init)"))
    if spellings:
        checks.append(Check(True, f"{name}: secret flags", f"spelled {', '.join(sorted(spellings))} in the sample "
                            "(each is read as secret or not by one rule: docs/secrets.md)"))
    return checks


def pace(profile: Profile, api: ApiClient, total: int, per_flow: float, incremental: bool) -> Check:
    """The pace the export will keep and why, and how long a full and a nightly run take at it."""
    documented = provider_for(profile.provider).documented_rate
    configured = profile.rate_limit if profile.rate_limit is not None else documented
    rate = api.rate_limit
    if profile.rate_limit is not None and rate == configured:
        why = "rate_limit in the config"
    elif rate != configured:
        why = "lowered by the server's X-RateLimit-Limit"
    else:
        why = "the vendor's documented limit"
    pages = max(1, -(-total // MAX_PER_PAGE))
    full_calls = pages + total * per_flow
    nightly_calls = pages + (max(1, -(-total * profile.sample_percent // 100)) * per_flow if incremental
                             else total * per_flow)
    if rate <= 0:
        return Check(True, f"profile {profile.name}: pace", f"no pacing ({why}); a full run is about "
                     f"{full_calls:.0f} calls for {total} flows")
    return Check(True, f"profile {profile.name}: pace",
                 f"{rate * 60:g} calls/min ({why}); for {total} flows a full run is about {full_calls:.0f} calls "
                 f"({_duration(full_calls / rate)}), a night without edits about {nightly_calls:.0f} "
                 f"({_duration(nightly_calls / rate)})" + ("" if incremental else
                                                          ": the listing gives no fingerprint, every flow is fetched"))


def _duration(seconds: float) -> str:
    return f"{seconds:.0f} s" if seconds < 120 else f"{seconds / 60:.0f} min"


def secret_flags(docs: list[Any]) -> set[str]:
    """How the documents spell the variables' ``secret`` flag (each distinct spelling, as JSON)."""
    found: set[str] = set()

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            if "secret" in node and "key" in node:
                found.add(dumps(node["secret"]).decode().strip())
            for v in node.values():
                walk(v)
        elif isinstance(node, list):
            for v in node:
                walk(v)

    for d in docs:
        walk(d)
    return found


def check_archive(path: Path, config: Config | None = None) -> list[Check]:
    if not path.exists():
        return [Check(True, f"archive {path}", "does not exist yet: the first export creates it")]
    try:
        history = History.open(path)
    except FlowvaultError as e:
        return [Check(False, f"archive {path}", str(e))]
    checks = [Check(True, f"archive {path}", f"git repository, HEAD {(history.head() or 'none (no commit yet)')[:10]}")]
    ident = history.identity()
    checks.append(Check(True, f"archive {path}: committer", ident))
    source: Source | None = None
    with contextlib.suppress(FlowvaultError, OSError):
        source = Source.of(Archive(path).read_manifest())
    name = source.profile if source is not None else None
    profile = config.profiles.get(name) if config is not None and name else None
    for name in profile.push_remotes if profile is not None else ("origin",):
        remote = history.remote_status(name)
        if remote is not None:
            checks.append(Check(remote[0], f"archive {path}: remote", remote[1]))
        elif profile is not None and name != "origin":  # named in the config, missing here
            checks.append(Check(False, f"archive {path}: remote", f"no git remote '{name}' (push_remotes names it; "
                                f"add it with: git -C {path} remote add {name} URL)"))
    return checks


def save_recording(path: Path, recording: Recording) -> Check:
    """The recording written atomically; its check line says what it holds and what it is for."""
    tmp = path.with_name(f".{path.name}.tmp")
    try:
        tmp.write_bytes(recording.dumps())
        tmp.replace(path)
    except OSError as e:
        return Check(False, "record", f"{path}: {e.strerror or e}")
    return Check(True, "record", f"{path}: {len(recording.replies)} kind(s) of reply as shapes only (no value, name, "
                                 f"key or host); attach it to a report, or serve it: flowvault simulator --replay {path}")


def run_doctor(config_path: Path | None, profile: str | None, archives: tuple[Path, ...],
               record: Path | None = None) -> list[Check]:
    try:
        config: Config = load_config(config_path)
    except FlowvaultError as e:
        return [Check(False, "config", str(e))]
    checks = [Check(True, "config", f"{config.path}: {len(config.profiles)} profile(s)")]
    try:
        chosen = [config.profile(profile)] if profile else [config.profiles[n] for n in sorted(config.profiles)]
    except FlowvaultError as e:
        return [*checks, Check(False, "profile", str(e))]
    if record is not None and len(chosen) != 1:
        return [*checks, Check(False, "record", f"{record}: a recording is of one company; name its profile with -p")]
    recording = Recording(chosen[0].provider, provider_for(chosen[0].provider).paths) if record else None
    for p in chosen:
        checks += check_profile(p, recording)
    if record is not None and recording is not None:
        checks.append(save_recording(record, recording))
    for a in archives:
        checks += check_archive(a, config)
        checks += check_next_export(a, config)
    return checks


def check_next_export(path: Path, config: Config) -> list[Check]:
    """What the next export into this archive will fetch: only what changed, or every flow and why."""
    from ..exportrun import fetch_plan, secret_policy

    try:
        history = History.open(path)
        source = Source.of(Archive(path).read_manifest())
        name = source.profile if source is not None else None
        if name not in config.profiles:
            return []
        profile = config.profiles[name]
        plan = fetch_plan(history, profile, secret_policy(profile, history, False), False)
    except (FlowvaultError, OSError):
        return []  # check_archive has said what is wrong with it
    what = f"archive {path}: next export"
    if plan.full_because:
        return [Check(True, what, f"every flow ({plan.full_because})")]
    return [Check(True, what, f"only what the listing shows changed, and a {profile.sample_percent:g} % sample "
                              f"({len(plan.known)} flows known; last full run {plan.last_full})")]
