"""Command line: parse, load config, call one action, print. The ONE place where errors
become a message and an exit code (``FlowvaultGroup.invoke``); commands raise, never exit."""

from __future__ import annotations

import os
import signal
import sys
import threading
from pathlib import Path
from typing import Any

import click
import orjson

from ._version import __version__
from .config import MAX_CONCURRENCY, load_config
from .errors import (
    EXIT_INTERNAL,
    EXIT_INTERRUPTED,
    ArchiveError,
    Different,
    DoctorFailed,
    FlowvaultError,
    UsageError,
)
from . import process
from .output import Reporter
from .signals import RECEIVED, StoppedAfterCommit, terminate

CONTEXT = {"help_option_names": ["-h", "--help"]}


class FlowvaultGroup(click.Group):
    """Runs every command (doctor, simulator and map init included) inside one error boundary."""

    def invoke(self, ctx: click.Context) -> Any:
        main = threading.current_thread() is threading.main_thread()  # only it may take signals
        previous = {sig: signal.signal(sig, terminate) for sig in (signal.SIGTERM, signal.SIGHUP)} if main else {}
        try:
            return super().invoke(ctx)
        except FlowvaultError as e:
            _fail(ctx, str(e), e.exit_code)
        except StoppedAfterCommit as e:  # the commit landed, then a stop arrived: say what HEAD holds
            click.echo(f"flowvault: {e}", err=True)  # the run's summary (its last JSON object) is out
            ctx.exit(e.problem.exit_code if isinstance(e.problem, FlowvaultError) else 0)
        except KeyboardInterrupt:
            if RECEIVED:
                _fail(ctx, f"stopped by {signal.Signals(RECEIVED[-1]).name}; the archive keeps its last commit",
                      128 + RECEIVED[-1])
            _fail(ctx, "interrupted; the archive keeps its last commit", EXIT_INTERRUPTED)
        except (click.exceptions.Exit, click.ClickException, click.Abort):
            raise
        except OSError as e:  # the environment: a full disk, a read-only folder, a closed pipe
            if os.environ.get("FLOWVAULT_DEBUG"):
                raise
            where = f"{e.filename}: " if getattr(e, "filename", None) else ""
            _fail(ctx, f"{where}{e.strerror or e.__class__.__name__}", ArchiveError.exit_code)
        except Exception as e:  # a bug: one line, the traceback only on request
            if os.environ.get("FLOWVAULT_DEBUG"):
                raise
            _fail(ctx, f"internal error: {e.__class__.__name__}: {e} (set FLOWVAULT_DEBUG=1 for the traceback)",
                  EXIT_INTERNAL)
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)
            history = sys.modules.get("flowvault.history")  # loaded: some repository may be open
            if history is not None:
                history.close_all()  # git's reader processes end with the command


def _fail(ctx: click.Context, message: str, code: int) -> None:
    line = " ".join(message.split())
    sub = ctx.obj if isinstance(ctx.obj, dict) else {}
    if sub.get("log_format") == "json":
        click.echo(orjson.dumps({"event": "error", "exit_code": code, "message": line}).decode())
    click.echo(f"flowvault: error: {line}", err=True)
    ctx.exit(code)


def _json_logs(ctx: click.Context, _param: Any, value: str) -> str:
    ctx.ensure_object(dict)
    root = ctx.find_root()
    root.ensure_object(dict)
    root.obj["log_format"] = value
    return value


config_option = click.option("--config", "config_path", type=click.Path(path_type=Path), default=None,
                             help="Config file (default ./flowvault.toml).")
log_option = click.option("--log-format", type=click.Choice(["text", "json"]), default="text",
                          show_default=True, callback=_json_logs, is_eager=True,
                          help="json: one JSON object per line on stdout (for cron).")
archive_option = click.option("--archive", "-a", "archive_dir", type=click.Path(path_type=Path), required=True,
                              help="Archive directory (a git repo).")
at_option = click.option("--at", default=None, metavar="REV",
                         help="Read the archive at a git revision or date (default: the work tree).")
map_option = click.option("--map", "map_path", type=click.Path(path_type=Path), default=None,
                          help="Map file (TOML/JSON): source ID = target ID per resource type, [secrets].")
conflict_option = click.option("--on-conflict", type=click.Choice(["skip", "rename", "replace"]), default="skip",
                               show_default=True, help="When the target already has a flow with the same name.")
same_company_option = click.option(
    "--same-company/--other-company", "same_company", default=None,
    help="The target is (not) the company the archive came from; default: decided from the archive's source. "
         "Same company: resource references stay as they are.")
identity_option = click.option(
    "--identity", type=click.Path(path_type=Path), default=None, metavar="FILE",
    help="age identity to decrypt archived secret values (or env FLOWVAULT_AGE_IDENTITY / _FILE).")
allow_missing_option = click.option(
    "--allow-missing-secrets", is_flag=True,
    help="Import an encrypted archive's secret values empty when no identity opens them (otherwise refused).")
concurrency_option = click.option("--concurrency", type=click.IntRange(1, MAX_CONCURRENCY), default=None,
                                  help="Requests in flight.")


@click.group(cls=FlowvaultGroup, context_settings=CONTEXT)
@click.version_option(__version__, prog_name="flowvault")
def main() -> None:
    """Back up, diff and migrate process flows through a git-committed archive."""
    process.tune()


@main.command()
@config_option
@click.option("--profile", "-p", help="Profile (company) in the config.")
@click.option("--all-profiles", is_flag=True,
              help="Every profile, concurrently, each into ARCHIVE/<profile> (its own git repo).")
@click.option("--archive", "-a", "archive_dir", type=click.Path(path_type=Path), required=True,
              help="Archive directory (a git repo; created if absent).")
@click.option("--flow", "flows", multiple=True, metavar="ID|NAME", help="Only these flows (repeatable).")
@concurrency_option
@click.option("--keep-secrets", is_flag=True, help="Archive secret variable values instead of redacting them.")
@click.option("--message", "-m", default=None, help="Commit message subject.")
@click.option("--push", is_flag=True,
              help="Push the commit to each remote of the profile's push_remotes (default origin) and check it landed.")
@click.option("--report", "report_path", type=click.Path(path_type=Path), default=None,
              help="Write a JSON run report here (atomically), for monitoring.")
@click.option("--heartbeat-url", default=None, metavar="URL",
              help="GET URL on success, POST URL/fail on failure (healthchecks.io style).")
@click.option("--shard", default=None, metavar="I/N",
              help="With --all-profiles: run only shard I of N (0-based; stable per profile name). Default: "
                   "JOB_COMPLETION_INDEX/JOB_COMPLETIONS when set (a Kubernetes Indexed Job).")
@click.option("--spread", type=click.FloatRange(min=0), default=0.0, metavar="SECONDS",
              help="With --all-profiles: start each profile at a stable offset within this many seconds.")
@click.option("--max-in-flight", type=click.IntRange(min=1), default=None, metavar="N",
              help="With --all-profiles: at most N requests in flight across the profiles (default: the "
                   "config's [fleet] max_in_flight, else 256).")
@click.option("--workers", type=click.IntRange(min=1), default=None, metavar="N",
              help="With --all-profiles: run the profiles in N worker processes (default: the cores, one per "
                   "50 profiles).")
@click.option("--metrics", "metrics_path", type=click.Path(path_type=Path), default=None, metavar="FILE",
              help="Write a Prometheus textfile here (node_exporter's textfile collector), per profile.")
@click.option("--retarget", is_flag=True,
              help="Export into an archive that records another profile or base URL as its source.")
@click.option("--allow-mass-removal", is_flag=True,
              help="Record the removal even when more than half of the archived flows are gone from the API.")
@click.option("--full", is_flag=True,
              help="Fetch every flow, not only those the listing shows changed (a full run also happens every "
                   "full_every_days).")
@log_option
def export(config_path: Path | None, profile: str | None, all_profiles: bool, archive_dir: Path,
           flows: tuple[str, ...], concurrency: int | None, keep_secrets: bool, message: str | None, push: bool,
           report_path: Path | None, heartbeat_url: str | None, shard: str | None, spread: float,
           max_in_flight: int | None, workers: int | None, metrics_path: Path | None, retarget: bool,
           allow_mass_removal: bool, full: bool, log_format: str) -> None:
    """Export every flow of a company (or of every profile) into the archive; commit what changed."""
    from .actions.export import export_command

    if all_profiles and (profile or flows):
        raise click.UsageError("--all-profiles exports every flow of every profile; drop --profile/--flow")
    if not all_profiles and (shard or spread or max_in_flight or workers):
        raise click.UsageError("--shard, --spread, --max-in-flight and --workers share out the profiles of "
                               "--all-profiles")
    config = load_config(config_path)
    if not all_profiles and profile is None:
        if len(config.profiles) != 1:
            raise UsageError(f"{config.path} has {len(config.profiles)} profiles: choose one with --profile, "
                             "or export them all with --all-profiles (one archive each)")
        profile = next(iter(config.profiles))
    export_command(config, None if all_profiles else profile, archive_dir,
                   flows=flows, report_path=report_path, heartbeat_url=heartbeat_url, metrics_path=metrics_path,
                   log_format=log_format, shard=shard, spread=spread,
                   max_in_flight=max_in_flight or config.max_in_flight, workers=workers, concurrency=concurrency,
                   keep_secrets=keep_secrets, message=message, push=push,
                   retarget=retarget, allow_mass_removal=allow_mass_removal, full=full)


@main.command("import")
@config_option
@click.option("--target", "-t", required=True, help="Profile of the company to import into.")
@archive_option
@at_option
@click.option("--flow", "flows", multiple=True, metavar="ID|NAME", help="Only these flows (repeatable).")
@map_option
@click.option("--dry-run", is_flag=True, help="Print the plan and unresolved references; write nothing.")
@conflict_option
@click.option("--enable", type=click.Choice(["off", "source"]), default="off", show_default=True,
              help="off: imported flows stay disabled; source: enabled as in the archive.")
@concurrency_option
@same_company_option
@identity_option
@allow_missing_option
@log_option
def import_(config_path: Path | None, target: str, archive_dir: Path, at: str | None, flows: tuple[str, ...],
            map_path: Path | None, dry_run: bool, on_conflict: str, enable: str, concurrency: int | None,
            same_company: bool | None, identity: Path | None, allow_missing_secrets: bool, log_format: str) -> None:
    """Import archived flows into a company, remapping IDs; safe to re-run."""
    from .importrun import run_import

    prof = load_config(config_path).profile(target)
    result = run_import(prof, archive_dir, at=at, flows=flows, map_path=map_path, dry_run=dry_run,
                        on_conflict=on_conflict, enable=enable, concurrency=concurrency, same_company=same_company,
                        identity=identity, allow_missing_secrets=allow_missing_secrets, reporter=Reporter(log_format))
    if (problem := result.problem()) is not None:
        raise problem


@main.command()
@config_option
@click.option("--shard", default=None, metavar="I/N",
              help="Only the profiles of shard I of N (default: JOB_COMPLETION_INDEX/JOB_COMPLETIONS when set).")
def profiles(config_path: Path | None, shard: str | None) -> None:
    """List the config's profiles, one per line (those of one shard with --shard): for scripts
    that fetch each profile's archive before ``export --all-profiles --shard``."""
    import os

    from .fleet import parse_shard, pick

    for name in pick(sorted(load_config(config_path).profiles), parse_shard(shard, os.environ)):
        click.echo(name)


@main.command()
@config_option
@click.option("--target", "-t", required=True, help="Profile of the company to restore into.")
@archive_option
@click.option("--flow", required=True, metavar="ID|NAME", help="The flow to bring back.")
@at_option
@map_option
@conflict_option
@click.option("--enable", type=click.Choice(["off", "source"]), default="source", show_default=True)
@same_company_option
@identity_option
@allow_missing_option
@log_option
def restore(config_path: Path | None, target: str, archive_dir: Path, flow: str, at: str | None,
            map_path: Path | None, on_conflict: str, enable: str, same_company: bool | None, identity: Path | None,
            allow_missing_secrets: bool, log_format: str) -> None:
    """Bring back one flow as it was in the newest commit that has it (or --at)."""
    from .actions.restore import run_restore

    prof = load_config(config_path).profile(target)
    result = run_restore(prof, archive_dir, flow, at=at, map_path=map_path, on_conflict=on_conflict,
                         enable=enable, same_company=same_company, identity=identity,
                         allow_missing_secrets=allow_missing_secrets, reporter=Reporter(log_format))
    if (problem := result.problem()) is not None:
        raise problem


@main.command()
@archive_option
@click.option("--flow", default=None, metavar="ID|NAME", help="Only commits that changed this flow.")
def history(archive_dir: Path, flow: str | None) -> None:
    """List the commits of the archive (that changed a flow)."""
    from .actions.history import flow_commits

    for c in flow_commits(archive_dir, flow):
        click.echo(f"{c.sha[:10]}  {c.date}  {c.summary}")


@main.command()
@click.option("--archive", "-a", "archive_dir", type=click.Path(path_type=Path), required=True,
              help="An archive, or a folder holding one archive per profile.")
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on (local by default).")
@click.option("--port", default=8765, show_default=True, type=click.IntRange(0, 65535), help="0: any free port.")
@click.option("--report", "report_path", type=click.Path(path_type=Path), default=None,
              help="The run report export --report writes: the overview shows each profile's last run from it.")
@click.option("--config", "config_path", type=click.Path(path_type=Path), default=Path("flowvault.toml"),
              show_default=True, metavar="FILE",
              help="The config named (by its absolute path) in the restore commands the pages show.")
def ui(archive_dir: Path, host: str, port: int, report_path: Path | None, config_path: Path) -> None:
    """Review the archive in a browser: each flow's step graph, history, diffs, deleted flows."""
    from .ui.web import serve

    serve(archive_dir, host, port, click.echo, report_path, config_path.resolve())


@main.command()
@archive_option
def deleted(archive_dir: Path) -> None:
    """List flows present in history but not at HEAD, with the last commit that had them."""
    from .actions.history import deleted_flows

    rows = deleted_flows(archive_dir)
    for d in rows:
        gone = f", deleted in {d.deleted_in.sha[:10]} ({d.deleted_in.date})" if d.deleted_in else ""
        click.echo(f"#{d.flow_id}  {d.name}  last in {d.last_commit.sha[:10]} ({d.last_commit.date}){gone}")
    if not rows:
        click.echo("no deleted flows")


@main.command()
@archive_option
@at_option
def verify(archive_dir: Path, at: str | None) -> None:
    """Check the archive without the API: checksums, JSON, shapes, uncommitted edits."""
    from .actions.verify import verify as check

    notes: list[str] = []
    problems = check(archive_dir, at, notes)
    for note in notes:
        click.echo(f"note: {note}", err=True)
    for line in problems:
        click.echo(line)
    if problems:
        raise ArchiveError(f"verify: {len(problems)} problem(s)")
    click.echo("verify: ok")


@main.command()
@config_option
@click.option("--profile", "-p", default=None, help="Compare the live company with the archive.")
@archive_option
@click.argument("revs", nargs=-1, metavar="[REV1 [REV2]]")
@click.option("--format", "fmt", type=click.Choice(["text", "json", "html"]), default="text", show_default=True,
              help="html: one self-contained page with each changed flow's step graph (revisions only).")
@click.option("--exit-code", is_flag=True, help="Exit 1 when there are differences (like git diff).")
def diff(config_path: Path | None, profile: str | None, archive_dir: Path, revs: tuple[str, ...], fmt: str,
         exit_code: bool) -> None:
    """What changed: between two commits (REV1 REV2; one REV: against the work tree), or,
    with --profile, between the archive (or REV1) and the live company."""
    from .actions.diff import run_diff

    if len(revs) > 2 or (profile and len(revs) > 1):
        raise click.UsageError("give at most two revisions, or one with --profile")
    if fmt == "html":
        if profile:
            raise click.UsageError("--format html compares archive revisions; export first, then diff the commits")
        from .actions.diff import diff_html

        page, found = diff_html(archive_dir, revs)
        click.echo(page)
        if exit_code and not found.empty:
            raise Different(found.summary())
        return
    prof = load_config(config_path).profile(profile) if profile else None
    result = run_diff(archive_dir, revs, prof)
    for note in result.notes:
        click.echo(f"note: {note}", err=True)
    if fmt == "json":
        click.echo(orjson.dumps(result.as_json(), option=orjson.OPT_INDENT_2).decode())
    else:
        for line in result.lines():
            click.echo(line)
    if exit_code and not result.empty:
        raise Different(result.summary())


@main.command()
@config_option
@click.option("--profile", "-p", default=None, help="Check only this profile (default: all).")
@click.option("--archive", "-a", "archives", multiple=True, type=click.Path(path_type=Path),
              help="Also check this archive (repeatable).")
@click.option("--record", type=click.Path(path_type=Path, dir_okay=False), default=None,
              help="Write what the API answered on the sample as shapes only (no values), for a report "
                   "or `flowvault simulator --replay FILE`.")
def doctor(config_path: Path | None, profile: str | None, archives: tuple[Path, ...], record: Path | None) -> None:
    """Check config, keys, API access, archive and remote: one line each, non-zero on any failure."""
    from .actions.doctor import run_doctor

    checks = run_doctor(config_path, profile, archives, record)
    for c in checks:
        mark = click.style("✗", fg="red") if not c.ok else click.style("!", fg="yellow") if c.warn \
            else click.style("✓", fg="green")
        click.echo(f"{mark} {c.what}: {c.detail}")
    failing = [c for c in checks if not c.ok]
    if failing:
        raise DoctorFailed(f"doctor: {len(failing)} check(s) failing")


@main.group("map", context_settings=CONTEXT)
def map_group() -> None:
    """Map files: source ID → target ID per resource type."""


@map_group.command("init")
@archive_option
@at_option
@click.option("--flow", "flows", multiple=True, metavar="ID|NAME")
@click.option("--output", "-o", type=click.Path(path_type=Path), default=Path("flowvault-map.toml"),
              show_default=True)
def map_init(archive_dir: Path, at: str | None, flows: tuple[str, ...], output: Path) -> None:
    """Write a map-file template listing every reference with its source name."""
    from .actions.map_init import write_map_template

    n = write_map_template(archive_dir, output, at=at, flows=flows)
    click.echo(f"wrote {output}: the references of {n} flow(s); fill in the target IDs")


@main.command()
@click.option("--companies", type=click.IntRange(1, 50), default=2, show_default=True)
@click.option("--empty-companies", type=click.IntRange(0, 50), default=0, show_default=True,
              help="Extra companies with resources but no flows (import targets).")
@click.option("--flows", type=click.IntRange(0, 100_000), default=50, show_default=True)
@click.option("--versions", type=click.IntRange(1, 50), default=3, show_default=True)
@click.option("--ocp-flows", type=click.IntRange(0, 100_000), default=0, show_default=True,
              help="OCP orchestrator flows per populated company (its tenant).")
@click.option("--seed", type=int, default=7, show_default=True)
@click.option("--port", type=click.IntRange(0, 65535), default=8750, show_default=True)
@click.option("--rate-limit", type=click.FloatRange(0), default=0.0, help="Requests/second per key (0 = none).")
@click.option("--latency", type=click.FloatRange(0), default=0.0, help="Seconds added to every reply.")
@click.option("--error-rate", type=click.FloatRange(0, 1), default=0.0,
              help="Fraction of replies that are 500/502/503.")
@click.option("--drop-rate", type=click.FloatRange(0, 1), default=0.0, help="Fraction of connections dropped.")
@click.option("--dialect", type=click.Choice(["flat", "relations", "config-json", "other-ids", "export-systems",
                                              "dangling", "schema-literal"]), default="flat", show_default=True,
              help="How steps hold their references, or replies typed as the vendor's schemas type them "
                   "(schema-literal; see docs/simulator.md).")
@click.option("--replay", type=click.Path(path_type=Path, dir_okay=False), default=None,
              help="Shape every recorded endpoint's replies as in this recording (flowvault doctor --record).")
def simulator(**options: Any) -> None:
    """Serve the built-in Patchworks API simulator on 127.0.0.1 (for trying flowvault)."""
    from .actions.simulator import serve

    serve(**options, echo=click.echo)


@main.command()
@click.option("--dir", "demo_dir", type=click.Path(path_type=Path), default=Path("flowvault-demo"),
              show_default=True, help="Where the demo writes its config and archive (reset each run).")
@click.option("--flows", type=click.IntRange(2, 5000), default=40, show_default=True)
@click.option("--serve", is_flag=True,
              help="Then keep the simulator serving until Ctrl-C, printing the commands to see the archive and "
                   "restore the deleted flow against it.")
def demo(demo_dir: Path, flows: int, serve: bool) -> None:
    """Run the main job end to end against the built-in simulator: no account needed."""
    from .actions.demo import run_demo

    run_demo(demo_dir, flows=flows, echo=click.echo, serve=serve)


if __name__ == "__main__":  # pragma: no cover
    main()
