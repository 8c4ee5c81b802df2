"""Config files: profiles, one-line errors naming the file, profile or variable."""

from __future__ import annotations

from pathlib import Path

import pytest

from flowvault.config import load_config
from flowvault.errors import ConfigError

GOOD = """
[profiles.acme]
base_url = "https://core.example.test/"
api_key_env = "ACME_KEY"
concurrency = 4
"""


def test_profile_loads_with_defaults(tmp_path: Path) -> None:
    p = tmp_path / "fv.toml"
    p.write_text(GOOD)
    prof = load_config(p).profile("acme")
    assert prof.base_url == "https://core.example.test"
    assert prof.concurrency == 4 and prof.timeout == 30.0


@pytest.mark.parametrize("text, needle", [
    (GOOD + 'colour = "red"\n', "unknown key 'colour'"),
    ("[profiles.acme]\nbase_url = 'http://x'\n", "missing key 'api_key_env'"),
    ("not toml = = =", "not valid TOML"),
    ("[other]\n", "unknown key 'other'"),
    (GOOD.replace("4", '"four"'), "'concurrency' has the wrong type"),
])
def test_bad_config_is_one_line_naming_the_file(tmp_path: Path, text: str, needle: str) -> None:
    p = tmp_path / "fv.toml"
    p.write_text(text)
    with pytest.raises(ConfigError) as info:
        load_config(p).profile("acme")
    assert needle in str(info.value) and str(p) in str(info.value)
    assert "\n" not in str(info.value)


def test_missing_file_profile_and_key_variable(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(ConfigError, match="config file not found"):
        load_config(tmp_path / "nope.toml")
    p = tmp_path / "fv.toml"
    p.write_text(GOOD)
    with pytest.raises(ConfigError, match="no profile 'other'"):
        load_config(p).profile("other")
    monkeypatch.delenv("ACME_KEY", raising=False)
    with pytest.raises(ConfigError, match="ACME_KEY is not set"):
        load_config(p).profile("acme").api_key()
    monkeypatch.setenv("ACME_KEY", "pwk_secret_value_1234")
    assert "pwk_secret_value_1234" not in repr(load_config(p).profile("acme"))
