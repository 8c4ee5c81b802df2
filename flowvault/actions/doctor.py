"""``flowvault doctor``: is everything in place for an unattended run? One line per check."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import anyio

from ..client import client_for
from ..config import Config, Profile, load_config
from ..errors import FlowvaultError
from ..history import History
from ..providers import provider_for


@dataclass(frozen=True)
class Check:
    ok: bool
    what: str
    detail: str


async def _api(profile: Profile) -> Check:
    what = f"profile {profile.name}: API {profile.base_url}"
    try:
        async with client_for(profile) as api:
            api.max_retries = 1
            return Check(True, what, await provider_for(profile.provider).probe(api))
    except FlowvaultError as e:
        return Check(False, what, str(e))


def check_profile(profile: Profile) -> list[Check]:
    try:
        profile.api_key()
    except FlowvaultError as e:
        return [Check(False, f"profile {profile.name}: key", str(e))]
    checks = [Check(True, f"profile {profile.name}: key", f"${profile.api_key_env} is set")]
    return [*checks, anyio.run(_api, profile)]


def check_archive(path: Path) -> list[Check]:
    if not path.exists():
        return [Check(True, f"archive {path}", "does not exist yet: the first export creates it")]
    try:
        history = History.open(path)
    except FlowvaultError as e:
        return [Check(False, f"archive {path}", str(e))]
    checks = [Check(True, f"archive {path}", f"git repository, HEAD {(history.head() or 'none (no commit yet)')[:10]}")]
    ident = history.identity()
    checks.append(Check(True, f"archive {path}: committer", ident))
    remote = history.remote_status()
    if remote is not None:
        checks.append(Check(remote[0], f"archive {path}: remote", remote[1]))
    return checks


def run_doctor(config_path: Path | None, profile: str | None, archives: tuple[Path, ...]) -> list[Check]:
    try:
        config: Config = load_config(config_path)
    except FlowvaultError as e:
        return [Check(False, "config", str(e))]
    checks = [Check(True, "config", f"{config.path}: {len(config.profiles)} profile(s)")]
    try:
        chosen = [config.profile(profile)] if profile else [config.profiles[n] for n in sorted(config.profiles)]
    except FlowvaultError as e:
        return [*checks, Check(False, "profile", str(e))]
    for p in chosen:
        checks += check_profile(p)
    for a in archives:
        checks += check_archive(a)
        checks += check_next_export(a, config)
    return checks


def check_next_export(path: Path, config: Config) -> list[Check]:
    """What the next export into this archive will fetch: only what changed, or every flow and why."""
    from ..archive import Archive
    from .export import fetch_plan, secret_policy

    try:
        history = History.open(path)
        source = Archive(path).read_manifest().get("source")
        name = source.get("profile") if isinstance(source, dict) else None
        if name not in config.profiles:
            return []
        profile = config.profiles[name]
        plan = fetch_plan(history, profile, secret_policy(profile, history, False), False)
    except (FlowvaultError, OSError):
        return []  # check_archive has said what is wrong with it
    what = f"archive {path}: next export"
    if plan.full:
        return [Check(True, what, f"every flow ({plan.full})")]
    return [Check(True, what, f"only what the listing shows changed, and a {profile.sample_percent:g} % sample "
                              f"({len(plan.known)} flows known; last full run {plan.last_full})")]
