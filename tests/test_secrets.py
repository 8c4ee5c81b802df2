"""Secrets never reach git in plain text, whatever the API's spelling of the flag; a gate
before each commit; encrypted secrets that a restore can put back; only flowvault's files
are committed; a key pasted in the wrong place is never echoed."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
import pyrage
import pytest
from click.testing import CliRunner

from flowvault.simulator import FLAG_SPELLINGS

from .conftest import cli, git, manifest, tree_bytes, write_config


def secret_values(company: Any) -> set[str]:
    """Every value the simulator holds under a secret flag or a credential's name."""
    return {var["value"] for v in company.versions.values() for var in v["variables"]
            if var["secret"] or "SECRET" in var["key"] or "PASSWORD" in var["key"]}


def everything(archive: Path, *outputs: str) -> str:
    files = b"".join(tree_bytes(archive).values()).decode()
    return "\n".join([files, git(archive, "log", "-p", "--all"), *outputs])


@pytest.mark.parametrize("spelling", sorted(FLAG_SPELLINGS))
def test_no_secret_value_anywhere_whatever_the_flag_spelling(make_server: Any, tmp_path: Path, monkeypatch: Any,
                                                             spelling: str) -> None:
    server = make_server(flows=12, companies=1, secret_flag=spelling)
    company = server.sim.company(0)
    values = secret_values(company)
    assert len(values) > 5
    cfg = write_config(tmp_path / "fv.toml", server, monkeypatch)
    archive = tmp_path / "archive"
    runner = CliRunner()
    text = cli(runner, "export", "--config", cfg, "-p", "company-a", "-a", archive)
    logs = cli(runner, "export", "--config", cfg, "-p", "company-a", "-a", tmp_path / "again", "--log-format", "json")
    assert text.exit_code == logs.exit_code == 0, text.output
    haystack = everything(archive, text.output, logs.output)
    assert not [v for v in values if v in haystack]
    summary = next(e for e in map(orjson.loads, logs.stdout.splitlines()) if e["event"] == "summary")
    assert summary["secrets_flagged"] > 0 and summary["secrets_by_name"] > 0  # the flag, and the name net


def test_the_gate_keeps_the_old_copy_of_a_flow_with_a_planted_credential(server: Any, config: Path,
                                                                         tmp_path: Path) -> None:
    archive = tmp_path / "archive"
    runner = CliRunner()
    assert cli(runner, "export", "--config", config, "-p", "company-a", "-a", archive).exit_code == 0
    company = server.sim.company(0)
    aws, pem = "AKIAIOSFODNN7EXAMPLE", "-----BEGIN RSA PRIVATE KEY-----\nMIIEowIBAAKCAQEAx7"
    victims = sorted(company.flows)[:2]
    for fid, planted in zip(victims, (aws, pem), strict=True):
        vid = server.sim.state.flow_version_ids(company, fid)[-1]
        company.versions[vid]["steps"][0]["config"] = {"note": planted}
        server.sim.state.touch(company, vid)
    before = {p: b for p, b in tree_bytes(archive).items() if any(f"/{v}-" in f"/{p}" for v in victims)}
    result = cli(runner, "export", "--config", config, "-p", "company-a", "-a", archive, "--log-format", "json")
    assert result.exit_code == 3
    assert "AWS Access Key" in result.output and "Private Key" in result.output
    assert {p: b for p, b in tree_bytes(archive).items() if p in before} == before
    haystack = everything(archive, result.output)
    assert aws not in haystack and "MIIEowIBAAKCAQEAx7" not in haystack


def test_encrypted_secrets_round_trip_into_another_company(make_server: Any, tmp_path: Path,
                                                           monkeypatch: Any) -> None:
    identity = pyrage.x25519.Identity.generate()
    server = make_server(flows=10, companies=1, empty_companies=1, secret_flag="string-1")
    cfg = write_config(tmp_path / "fv.toml", server, monkeypatch, secrets_recipient=str(identity.to_public()))
    a, b = server.sim.company(0), server.sim.company(1)
    archive = tmp_path / "archive"
    runner = CliRunner()
    first = cli(runner, "export", "--config", cfg, "-p", "company-a", "-a", archive)
    assert first.exit_code == 0 and manifest(archive)["secrets"] == "encrypted"
    head = git(archive, "rev-parse", "HEAD")
    assert cli(runner, "export", "--config", cfg, "-p", "company-a", "-a", archive).exit_code == 0
    assert git(archive, "rev-parse", "HEAD") == head  # unchanged secrets keep their stored form: no commit
    assert not [v for v in secret_values(a) if v in everything(archive, first.output)]
    assert "<encrypted by flowvault>age:" in everything(archive)
    live = cli(runner, "diff", "--config", cfg, "-p", "company-a", "-a", archive, "--exit-code")
    assert live.exit_code == 0, live.output  # the live company equals the archive, encrypted values too

    without = cli(runner, "import", "--config", cfg, "-t", "company-b", "-a", archive, "--dry-run")
    assert without.exit_code == 2 and "no age identity was given" in without.output  # refused, not emptied
    key = tmp_path / "identity.txt"
    key.write_text(f"# flowvault test identity\n{identity}\n")
    result = cli(runner, "import", "--config", cfg, "-t", "company-b", "-a", archive, "--identity", key)
    assert result.exit_code == 0, result.output
    assert "secrets needing a value" not in result.output
    assert secret_values(b) == secret_values(a)


def test_files_that_are_not_flowvaults_are_neither_committed_nor_deleted(server: Any, config: Path,
                                                                        tmp_path: Path) -> None:
    archive = tmp_path / "archive"
    runner = CliRunner()
    assert cli(runner, "export", "--config", config, "-p", "company-a", "-a", archive).exit_code == 0
    (archive / "keys.env").write_text("FV_KEY=pwk_do_not_commit_me\n")
    server.sim.state.update_flow(server.sim.company(0), sorted(server.sim.company(0).flows)[0],
                                 {"flow": {"description": "changed"}})
    assert cli(runner, "export", "--config", config, "-p", "company-a", "-a", archive).exit_code == 0
    assert (archive / "keys.env").read_text() == "FV_KEY=pwk_do_not_commit_me\n"
    assert "keys.env" not in git(archive, "log", "--all", "--name-only")
    assert "pwk_do_not" not in git(archive, "log", "-p", "--all")
    checked = cli(runner, "verify", "-a", archive)
    assert checked.exit_code == 0 and "keys.env: not flowvault's" in checked.output


def test_a_key_pasted_as_the_variable_name_is_never_echoed(server: Any, tmp_path: Path, runner: CliRunner) -> None:
    key = server.sim.company(0).api_key
    cfg = tmp_path / "fv.toml"
    cfg.write_text(f'[profiles.a]\nbase_url = "{server.url}"\napi_key_env = "{key}"\n')
    for args in (["export", "--config", cfg, "-p", "a", "-a", tmp_path / "x"], ["doctor", "--config", cfg]):
        result = cli(runner, *args)
        assert result.exit_code in (4, 9) and key not in result.output
        assert "looks like a key itself (not shown)" in result.output


def test_an_encrypted_archive_is_never_imported_with_its_secrets_silently_empty(make_server: Any, tmp_path: Path,
                                                                                monkeypatch: Any) -> None:
    """No identity, or one that opens nothing: refused before any write (exit 2), naming the
    recipient the archive needs. `--allow-missing-secrets` imports them empty on purpose and the
    first line says so. The identity formats users have are accepted: age-keygen's file, and a key
    with its public key on one line."""
    identity, stranger = pyrage.x25519.Identity.generate(), pyrage.x25519.Identity.generate()
    server = make_server(flows=6, companies=1, empty_companies=2)
    recipient = str(identity.to_public())
    cfg = write_config(tmp_path / "fv.toml", server, monkeypatch, secrets_recipient=recipient)
    a, b, c = server.sim.company(0), server.sim.company(1), server.sim.company(2)
    archive = tmp_path / "archive"
    runner = CliRunner()
    assert cli(runner, "export", "--config", cfg, "-p", "company-a", "-a", archive).exit_code == 0
    assert manifest(archive)["secrets_recipient"] == recipient
    wrong = tmp_path / "wrong.txt"
    wrong.write_text(f"{stranger}\n")
    some_flow = next(iter(a.flows.values()))["name"]
    for extra in ([], ["--identity", wrong]):
        for command in (["import"], ["restore", "--flow", some_flow]):
            out = cli(runner, *command, "--config", cfg, "-t", "company-b", "-a", archive, *extra)
            assert out.exit_code == 2, out.output
            line = out.output.strip()
            assert "\n" not in line and recipient in line and "nothing was written" in line, line
            assert ("cannot decrypt" in line) == bool(extra)
            assert str(identity) not in line
    assert server.sim.writes("company-b") == 0 and not b.flows

    empty = cli(runner, "import", "--config", cfg, "-t", "company-c", "-a", archive, "--allow-missing-secrets")
    assert empty.exit_code == 0, empty.output
    first = empty.output.splitlines()[0]
    assert "secret value(s) went in empty (--allow-missing-secrets)" in first, first
    assert len(c.flows) == 6

    keygen = tmp_path / "keygen.txt"
    keygen.write_text(f"# created: 2026-12-03T12:00:00Z\n# public key: {recipient}\n{identity}\n")
    one_line = tmp_path / "one-line.txt"  # what `print(i, i.to_public())` wrote
    one_line.write_text(f"{identity} {recipient}\n")
    ok = cli(runner, "import", "--config", cfg, "-t", "company-b", "-a", archive, "--identity", keygen)
    assert ok.exit_code == 0, ok.output
    assert "went in empty" not in ok.output and secret_values(b) == secret_values(a)
    again = cli(runner, "restore", "--config", cfg, "-t", "company-b", "-a", archive, "--flow", some_flow,
                "--identity", one_line)
    assert again.exit_code == 0, again.output


def test_the_manuals_key_pair_one_liner_makes_an_identity_file_import_accepts(tmp_path: Path) -> None:
    """The command docs/secrets.md tells users to run, run as written; its file opens what its public key sealed."""
    import re
    import subprocess
    import sys

    from flowvault.crypto import Opener, Sealer

    readme = (Path(__file__).parent.parent / "docs" / "secrets.md").read_text()
    line = re.search(r"`(python -c \"import pyrage;[^`]+> identity\.txt)`", readme)
    assert line, "the manual's one-liner moved"
    command = line.group(1).replace("python -c", f"{sys.executable} -c", 1)
    subprocess.run(command, shell=True, check=True, cwd=tmp_path)
    text = (tmp_path / "identity.txt").read_text()
    public = re.search(r"age1[0-9a-z]+", text)
    assert public
    (tmp_path / ".git").mkdir()
    sealed = Sealer(public.group(0), tmp_path, tmp_path / ".git" / "key").seal("s3cret")
    assert Opener(text, "identity.txt").open(sealed) == "s3cret"
