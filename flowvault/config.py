"""TOML config → frozen Profile dataclasses. Pure apart from reading the file and env.

    [profiles.acme]
    base_url = "https://core.wearepatchworks.com"
    api_key_env = "FLOWVAULT_ACME_KEY"
    concurrency = 8      # requests in flight
    timeout = 30         # seconds per request
    rate_limit = 4       # requests/second; absent: the vendor's documented limit (Patchworks 240/min); 0 = none
    max_retries = 6
    full_every_days = 7  # nightly runs fetch only what the listing shows changed; a full run this often
    sample_percent = 2   # of the unchanged flows re-fetched each run to check the listing (at least one)
    heartbeat_url = "https://hc-ping.com/UUID"   # optional: pinged after each run

    [fleet]
    max_in_flight = 256  # requests in flight at once across the profiles of --all-profiles
"""

from __future__ import annotations

import os
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

from .errors import ConfigError
from .registry import known, where as provider_at

DEFAULT_CONFIG = Path("flowvault.toml")
MAX_CONCURRENCY = 64  # the same bound as --concurrency
#: requests in flight at once across the profiles of an --all-profiles run, unless [fleet] or
#: --max-in-flight says otherwise: 200 companies at their own concurrency (8) would hold 1,600
#: sockets, past a common open-file limit of 1,024; at the documented 240 calls/min a company
#: needs about one request in flight per 250 ms of reply time, so 256 keeps 200 companies at pace
DEFAULT_MAX_IN_FLIGHT = 256


@dataclass(frozen=True)
class Profile:
    name: str
    base_url: str
    api_key_env: str
    concurrency: int = 8
    timeout: float = 30.0
    rate_limit: float | None = None  # None: the provider's documented limit
    max_retries: int = 6
    provider: str = "patchworks"
    heartbeat_url: str | None = None
    secrets_allow: tuple[str, ...] = ()  # names that look like credentials but are not (second net)
    secrets_recipient: str | None = None  # age recipient: secret values stored encrypted to it
    run_deadline: float = 21600.0  # seconds a whole export or import may take (6 h); then it stops, rolled back
    full_every_days: float = 7.0  # a run fetches every flow when the last full run is older (0: every run)
    sample_percent: float = 2.0  # unchanged flows re-fetched as a check of the listing's stamps (at least one)
    push_remotes: tuple[str, ...] = ("origin",)  # where --push sends each commit (every one must hold it)
    push_attempts: int = 3  # tries per remote; a rejected push (the remote moved) is not counted as a failure

    def api_key(self, environ: Mapping[str, str] | None = None) -> str:
        env = os.environ if environ is None else environ
        key = env.get(self.api_key_env, "").strip()
        if not key:
            raise ConfigError(
                f"profile '{self.name}': environment variable {self.api_key_env} is not set "
                "(it should hold the API key)")
        return key

    def __repr__(self) -> str:  # never show more than the variable's name
        return f"Profile(name={self.name!r}, base_url={self.base_url!r}, api_key_env={self.api_key_env!r})"


@dataclass(frozen=True)
class Config:
    path: Path
    profiles: dict[str, Profile]
    max_in_flight: int = DEFAULT_MAX_IN_FLIGHT  # [fleet]: the bound across the profiles of --all-profiles

    def profile(self, name: str) -> Profile:
        try:
            return self.profiles[name]
        except KeyError:
            known = ", ".join(sorted(self.profiles)) or "none"
            raise ConfigError(f"{self.path}: no profile '{name}' (profiles: {known})") from None


_TYPES: dict[str, type | tuple[type, ...]] = {
    "base_url": str, "api_key_env": str, "concurrency": int, "timeout": (int, float),
    "rate_limit": (int, float), "max_retries": int, "provider": str, "heartbeat_url": str,
    "secrets_allow": list, "secrets_recipient": str, "run_deadline": (int, float),
    "full_every_days": (int, float), "sample_percent": (int, float), "push_remotes": list, "push_attempts": int,
}
_VAR_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def looks_like_a_key(text: str) -> bool:
    """An API key pasted where a variable's name belongs: not a valid name, or long and in
    lower or mixed case with digits (variable names are conventionally upper case)."""
    if not _VAR_NAME.match(text):
        return True
    return len(text) >= 20 and any(c.isdigit() for c in text) and text != text.upper()


def parse_profile(name: str, raw: Mapping[str, Any], where: str) -> Profile:
    allowed = {f.name for f in fields(Profile)} - {"name"}
    for key in raw:
        if key not in allowed:
            raise ConfigError(f"{where}: profile '{name}': unknown key '{key}' "
                              f"(allowed: {', '.join(sorted(allowed))})")
    for key in ("base_url", "api_key_env"):
        if key not in raw:
            raise ConfigError(f"{where}: profile '{name}': missing key '{key}'")
    for key, value in raw.items():
        want = _TYPES[key]
        if isinstance(value, bool) or not isinstance(value, want):
            raise ConfigError(f"{where}: profile '{name}': '{key}' has the wrong type ({type(value).__name__})")
    if looks_like_a_key(str(raw["api_key_env"])):
        raise ConfigError(f"{where}: profile '{name}': api_key_env must name an environment variable, and what is "
                          "there looks like a key itself (not shown); put the key in a variable and name that")
    if "push_remotes" in raw and (not raw["push_remotes"] or not all(
            isinstance(x, str) and re.match(r"^[A-Za-z0-9._-]+$", x) for x in raw["push_remotes"])):
        raise ConfigError(f"{where}: profile '{name}': 'push_remotes' must be a list of git remote names")
    if raw.get("push_attempts", 1) < 1:
        raise ConfigError(f"{where}: profile '{name}': 'push_attempts' must be 1 or more")
    if "secrets_allow" in raw and not all(isinstance(x, str) for x in raw["secrets_allow"]):
        raise ConfigError(f"{where}: profile '{name}': 'secrets_allow' must be a list of names")
    if "secrets_recipient" in raw and not str(raw["secrets_recipient"]).startswith("age1"):
        raise ConfigError(f"{where}: profile '{name}': 'secrets_recipient' must be an age recipient (age1…)")
    if not str(raw["base_url"]).startswith(("http://", "https://")):
        raise ConfigError(f"{where}: profile '{name}': base_url must start with http:// or https://")
    if provider_at(str(raw.get("provider", "patchworks"))) is None:
        raise ConfigError(f"{where}: profile '{name}': provider must be one of {', '.join(known())}")
    for key in ("concurrency", "max_retries"):
        if key in raw and raw[key] < (1 if key == "concurrency" else 0):
            raise ConfigError(f"{where}: profile '{name}': '{key}' is too small")
    if raw.get("concurrency", 1) > MAX_CONCURRENCY:
        raise ConfigError(f"{where}: profile '{name}': 'concurrency' is at most {MAX_CONCURRENCY} "
                          "(as --concurrency)")
    for key in ("timeout", "run_deadline"):
        if key in raw and raw[key] <= 0:
            raise ConfigError(f"{where}: profile '{name}': '{key}' must be positive")
    if raw.get("full_every_days", 0) < 0:
        raise ConfigError(f"{where}: profile '{name}': 'full_every_days' must be 0 (every run) or more")
    if not 0 <= raw.get("sample_percent", 0) <= 100:
        raise ConfigError(f"{where}: profile '{name}': 'sample_percent' must be between 0 and 100")
    values = dict(raw)
    values["base_url"] = str(values["base_url"]).rstrip("/")
    for key in ("secrets_allow", "push_remotes"):
        if key in values:
            values[key] = tuple(values[key])
    return Profile(name=name, **values)


def parse_config(text: str, path: Path) -> Config:
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        raise ConfigError(f"{path}: not valid TOML ({e})") from None
    for key in data:
        if key not in ("profiles", "fleet"):
            raise ConfigError(f"{path}: unknown key '{key}' (expected [profiles.NAME] tables and [fleet])")
    fleet = data.get("fleet", {})
    if not isinstance(fleet, dict) or set(fleet) - {"max_in_flight"}:
        raise ConfigError(f"{path}: [fleet] takes only max_in_flight")
    bound = fleet.get("max_in_flight", DEFAULT_MAX_IN_FLIGHT)
    if isinstance(bound, bool) or not isinstance(bound, int) or bound < 1:
        raise ConfigError(f"{path}: [fleet] max_in_flight must be a whole number, 1 or more")
    raw_profiles = data.get("profiles", {})
    if not isinstance(raw_profiles, dict) or not raw_profiles:
        raise ConfigError(f"{path}: no profiles (add a [profiles.NAME] table)")
    profiles = {}
    for name, raw in raw_profiles.items():
        if not isinstance(raw, dict):
            raise ConfigError(f"{path}: profiles.{name} must be a table")
        profiles[name] = parse_profile(name, raw, str(path))
    return Config(path=path, profiles=profiles, max_in_flight=bound)


def load_config(path: Path | str | None = None) -> Config:
    p = Path(path) if path is not None else DEFAULT_CONFIG
    try:
        text = p.read_text(encoding="utf-8-sig")  # a BOM from a Windows editor is not an error
    except FileNotFoundError:
        raise ConfigError(f"{p}: config file not found (pass --config FILE)") from None
    except (OSError, UnicodeDecodeError) as e:
        raise ConfigError(f"{p}: cannot read config ({e.__class__.__name__})") from None
    return parse_config(text, p)
