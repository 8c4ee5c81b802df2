"""Guard rails: a slip of the user, the API or the machine never harms the archive."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from click.testing import CliRunner

from flowvault.errors import EXIT_ARCHIVE, EXIT_MASS_REMOVAL, EXIT_USAGE
from flowvault.history import History

from .conftest import cli, tree_bytes


def test_export_without_profile_refuses_when_the_config_has_several(config: Path, tmp_path: Path,
                                                                    runner: CliRunner) -> None:
    result = cli(runner, "export", "--config", config, "-a", tmp_path / "archive")
    assert result.exit_code == EXIT_USAGE and "choose one with --profile" in result.output
    assert not (tmp_path / "archive").exists()


def test_the_archive_knows_whose_it_is(config: Path, tmp_path: Path, runner: CliRunner) -> None:
    archive = tmp_path / "archive"
    assert cli(runner, "export", "--config", config, "-p", "company-a", "-a", archive).exit_code == 0
    before, head = tree_bytes(archive), History.open(archive).head()
    other = cli(runner, "export", "--config", config, "-p", "company-b", "-a", archive)
    assert other.exit_code == EXIT_ARCHIVE and "holds profile 'company-a'" in other.output
    assert tree_bytes(archive) == before and History.open(archive).head() == head
    into_archive = cli(runner, "export", "--config", config, "--all-profiles", "-a", archive)
    assert into_archive.exit_code == EXIT_USAGE and "is an archive itself" in into_archive.output
    assert tree_bytes(archive) == before
    moved = cli(runner, "export", "--config", config, "-p", "company-b", "-a", archive, "--retarget")
    assert moved.exit_code == EXIT_MASS_REMOVAL  # company-a's flows would all go: a second, explicit yes
    moved = cli(runner, "export", "--config", config, "-p", "company-b", "-a", archive, "--retarget",
                "--allow-mass-removal")
    assert moved.exit_code == 0 and History.open(archive).head() != head


def test_an_empty_listing_never_wipes_the_archive(server: Any, config: Path, tmp_path: Path,
                                                  runner: CliRunner) -> None:
    archive = tmp_path / "archive"
    assert cli(runner, "export", "--config", config, "-p", "company-a", "-a", archive).exit_code == 0
    head, before = History.open(archive).head(), tree_bytes(archive)
    company = server.sim.company(0)
    for fid in list(company.flows):
        server.sim.state.delete_flow(company, fid)  # a complete, consistent, empty answer
    result = cli(runner, "export", "--config", config, "-p", "company-a", "-a", archive)
    assert result.exit_code == EXIT_MASS_REMOVAL and "--allow-mass-removal" in result.output
    assert History.open(archive).head() == head and tree_bytes(archive) == before
    allowed = cli(runner, "export", "--config", config, "-p", "company-a", "-a", archive, "--allow-mass-removal")
    assert allowed.exit_code == 0 and "removed            20" in allowed.output
    assert not (archive / "flows").exists() or not any((archive / "flows").iterdir())
