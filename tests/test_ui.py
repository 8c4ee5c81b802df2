"""The review UI as a person uses it: ``flowvault ui`` started as a command, pages opened in a
real browser (the OS's Chromium, driven by Playwright), assertions on what is seen."""

from __future__ import annotations

import contextlib
import os
import re
import shlex
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from .conftest import flowvault_here, made_once, manifest, simulated, write_config

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
HOSTILE = '<img src=x onerror="window.__pwned=1"><script>window.__pwned=2</script>'


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    if CHROMIUM is None:
        if os.environ.get("CI"):
            pytest.fail("Chromium is not installed (.ci/run installs it: apt-get install chromium)")
        pytest.skip("no Chromium on this machine (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        yield b
        b.close()


def flowvault(*args: Any) -> subprocess.CompletedProcess[str]:
    """A command these tests need done (the UI, a restore as printed, run as processes of their own)."""
    return flowvault_here(*args)


def review_night(server: Any, config: Path, archive: Path) -> dict[str, Any]:
    """An archive after a night with a step edit, a deleted flow and a flow renamed to HTML, its
    secret values kept in plain text (the pages must still never show them)."""
    args = ("export", "--config", config, "-p", "company-a", "-a", archive, "--keep-secrets")
    first = flowvault(*args)
    assert first.returncode == 0, first.stdout + first.stderr
    company, state = server.sim.company(0), server.sim.state
    ids = sorted(company.flows)
    edited = ids[2]
    vid = state.flow_version_ids(company, edited)[-1]
    step = company.versions[vid]["steps"][1]
    step["config"] = {**step["config"], "page_size": 999}
    state.touch(company, vid)
    state.update_flow(company, ids[4], {"flow": {"name": HOSTILE}})
    gone = ids[6]
    gone_name = company.flows[gone]["name"]
    state.delete_flow(company, gone)
    second = flowvault(*args)
    assert second.returncode == 0, second.stdout + second.stderr
    secrets = {v["value"] for v in company.versions.values() for v in v["variables"] if v["secret"]}
    secrets |= {h["hmac_secret_key"] for f in company.flows.values() for h in f.get("_webhooks", [])}
    return {"archive": archive, "edited": edited, "vid": vid, "step": step["name"], "step_id": step["id"],
            "gone": gone, "gone_name": gone_name, "hostile": ids[4], "secrets": secrets}


@pytest.fixture
def reviewed(server: Any, config: Path, tmp_path: Path) -> dict[str, Any]:
    """The reviewed night, for a test that changes the archive or the company."""
    return review_night(server, config, tmp_path / "archive")


@pytest.fixture(scope="module")
def reviewed_once(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """The same night, made once per test run, for the tests that only read it."""
    def build(folder: Path) -> dict[str, Any]:
        with simulated(folder, seed=7, companies=2, flows=20, versions=3) as (server, config):
            return review_night(server, config, folder / "archive")

    return made_once(tmp_path_factory, "reviewed", build)


@contextlib.contextmanager
def started(archive: Path, *extra: Any) -> Iterator[str]:
    """``flowvault ui`` as a user starts it; its URL (the first line it prints)."""
    with subprocess.Popen([sys.executable, "-m", "flowvault", "ui", "--archive", str(archive), "--port", "0",
                           *map(str, extra)], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True) as proc:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        match = re.search(r"http://127\.0\.0\.1:\d+/", line)
        assert match, line
        try:
            yield match.group(0).rstrip("/")
        finally:  # a failed assertion too: never leave the server running (Popen's exit would wait for it)
            proc.terminate()  # as a service manager stops it: it must stop, browser connections open or not
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
                pytest.fail("flowvault ui did not stop on SIGTERM")


@pytest.fixture(scope="module")
def ui(reviewed_once: dict[str, Any]) -> Iterator[str]:
    with started(reviewed_once["archive"]) as url:
        yield url


def test_the_diff_page_marks_the_changed_step_in_the_graph(browser: Any, ui: str,
                                                           reviewed_once: dict[str, Any]) -> None:
    page = browser.new_page()
    page.goto(f"{ui}/a/archive/diff")
    assert page.locator(".plan").inner_text() == "0 added, 2 changed, 1 removed"  # history, not a plan
    flow = page.locator(f'section.flow-change[data-flow="{reviewed_once["edited"]}"]')
    changed = flow.locator('g.step[data-status="changed"]')
    assert changed.count() == 1
    assert changed.get_attribute("data-step-id") == str(reviewed_once["step_id"])
    assert reviewed_once["step"][:20] in str(changed.text_content())
    assert flow.locator("table.paths").inner_text().count("page_size") >= 1
    assert "999" in flow.locator("table.paths").inner_text()
    if os.environ.get("FLOWVAULT_SCREENSHOT"):  # documentation, taken once on request: docs/ui-diff.png
        page.set_viewport_size({"width": 1100, "height": 560})
        flow.scroll_into_view_if_needed()
        page.screenshot(path=os.environ["FLOWVAULT_SCREENSHOT"])
    page.close()


def copied_command(browser: Any, url: str, flow_id: Any) -> str:
    """The restore command of one deleted flow, as its copy button puts it on the clipboard."""
    context = browser.new_context(permissions=["clipboard-read", "clipboard-write"])
    page = context.new_page()
    page.goto(url + "/")
    page.get_by_role("link", name="deleted flows").first.click()
    row = page.locator(f'tbody[data-flow="{flow_id}"]')
    shown = row.locator("pre.restore").inner_text()
    row.get_by_role("button", name="copy").click()
    page.wait_for_function("document.querySelector('button.copy').textContent === 'copied'")
    copied = str(page.evaluate("navigator.clipboard.readText()"))
    assert copied == shown, (copied, shown)
    context.close()
    return copied


def run_as_printed(command: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """A command the product printed, run as a user pastes it (`flowvault` is this interpreter's)."""
    args = shlex.split(command)
    assert args[0] == "flowvault"
    program = [shutil.which("flowvault") or ""] if shutil.which("flowvault") else [sys.executable, "-m", "flowvault"]
    return subprocess.run([*program, *args[1:]], capture_output=True, text=True, timeout=120,
                          env={**os.environ, **(env or {})}, cwd="/")


def test_the_restore_command_of_a_deleted_flow_runs_as_printed(browser: Any, server: Any, config: Path,
                                                                reviewed: dict[str, Any]) -> None:
    """Copied with its button, pasted in another folder: the flow is back in the company."""
    company = server.sim.company(0)
    with started(reviewed["archive"], "--config", config) as url:
        command = copied_command(browser, url, reviewed["gone"])
    assert f"--config {config.resolve()} --target company-a --archive {reviewed['archive'].resolve()}" in command
    assert f"--flow {reviewed['gone']} --at " in command and "--identity" not in command
    before = set(company.flows)
    done = run_as_printed(command)
    assert done.returncode == 0, done.stdout + done.stderr
    back = [company.flows[f]["name"] for f in set(company.flows) - before]
    assert len(back) == 1 and back[0].startswith(reviewed["gone_name"]), back  # renamed if its name is taken


def test_an_archive_of_a_schema_literal_server_reviews_as_any_other(browser: Any, tmp_path: Path) -> None:
    """Replies typed as the vendor's schemas type them (simulator dialect ``schema-literal``): the diff
    page marks the edited step, the flow page draws every version, the deleted flow is listed with its
    restore command, and no secret value reaches a page."""
    with simulated(tmp_path, seed=7, companies=1, flows=10, versions=2, dialect="schema-literal") as (server, cfg):
        night = review_night(server, cfg, tmp_path / "archive")
    entry = manifest(night["archive"])["flows"][str(night["edited"])]
    with started(night["archive"]) as url:
        page = browser.new_page()
        html = []
        page.goto(f"{url}/a/archive/diff")
        flow = page.locator(f'section.flow-change[data-flow="{night["edited"]}"]')
        changed = flow.locator('g.step[data-status="changed"]')
        assert changed.count() == 1 and changed.get_attribute("data-step-id") == str(night["step_id"])
        html.append(page.content())
        page.goto(f"{url}/a/archive/flow/{night['edited']}")
        assert page.locator("section.version").count() == entry["versions"] == 2
        assert page.locator("section.version svg.graph g.step").count() >= 4
        html.append(page.content())
        page.goto(f"{url}/a/archive/deleted")
        assert "flowvault restore" in page.locator(f'tbody[data-flow="{night["gone"]}"] pre.restore').inner_text()
        html.append(page.content())
        page.close()
    assert night["secrets"] and not [s for s in night["secrets"] if s in "\n".join(html)]


def test_the_flow_page_draws_every_version_and_its_history(browser: Any, ui: str,
                                                           reviewed_once: dict[str, Any]) -> None:
    page = browser.new_page()
    page.goto(f"{ui}/")
    entry = manifest(reviewed_once["archive"])["flows"][str(reviewed_once["edited"])]
    page.get_by_role("link", name=entry["name"], exact=True).first.click()
    assert page.locator("section.version").count() == entry["versions"]
    assert page.locator("section.version svg.graph g.step").count() >= entry["versions"] * 2
    assert page.locator("table.history tr").count() == 2  # the first export and the edit
    page.get_by_role("link", name=re.compile("^against version")).last.click()
    assert page.locator('g.step[data-status="changed"]').count() >= 1
    page.close()


def test_no_secret_value_reaches_any_page(browser: Any, ui: str, reviewed_once: dict[str, Any]) -> None:
    page = browser.new_page()
    seen = []
    for path in ["/", "/a/archive/diff", "/a/archive/deleted",
                 *(f"/a/archive/flow/{fid}" for fid in manifest(reviewed_once["archive"])["flows"])]:
        page.goto(ui + path)
        seen.append(page.content())
    html = "\n".join(seen)
    assert reviewed_once["secrets"] and not [s for s in reviewed_once["secrets"] if s in html]
    assert "(secret)" in html
    page.close()


def test_a_hostile_flow_name_renders_as_text(browser: Any, ui: str, reviewed_once: dict[str, Any]) -> None:
    page = browser.new_page()
    for path in ("/", f"/a/archive/flow/{reviewed_once['hostile']}", "/a/archive/diff"):
        page.goto(ui + path)
        assert page.evaluate("window.__pwned") is None
        assert page.locator("main img, main script").count() == 0
        assert HOSTILE in page.locator("main").inner_text()
    page.close()


def test_unknown_flows_and_revisions_are_one_line_404s(browser: Any, ui: str) -> None:
    page = browser.new_page()
    for path in ("/a/archive/flow/424242", "/a/archive/commit/not-a-rev", "/a/nope/diff",
                 "/a/archive/diff?from=$(reboot)"):
        response = page.goto(ui + path)
        assert response is not None and response.status == 404
        assert "Traceback" not in page.content() and "/tmp/" not in page.inner_text("main")
    page.close()


def test_a_damaged_archive_is_a_500_in_one_line_not_a_404(server: Any, config: Path, tmp_path: Path) -> None:
    import httpx

    from .conftest import git
    from .test_guards import corrupt

    archive = tmp_path / "archive"
    assert flowvault("export", "--config", config, "-p", "company-a", "-a", archive).returncode == 0
    fid, entry = next(iter(manifest(archive)["flows"].items()))
    corrupt(archive, git(archive, "rev-parse", f"HEAD:flows/{entry['folder']}/flow.json").strip())
    with started(archive) as url:
        broken = httpx.get(f"{url}/a/archive/flow/{fid}")
        missing = httpx.get(f"{url}/a/archive/flow/424242")
    assert broken.status_code == 500 and "damaged" in broken.text and str(tmp_path) not in broken.text
    assert missing.status_code == 404 and str(tmp_path) not in missing.text


def test_diff_as_one_self_contained_html_page(reviewed_once: dict[str, Any]) -> None:
    out = flowvault("diff", "--archive", reviewed_once["archive"], "HEAD~1", "HEAD", "--format", "html")
    assert out.returncode == 0, out.stderr
    html = out.stdout
    assert html.startswith("<!doctype html>") and "<header>" not in html
    assert not re.search(r"""(src|href)=["']?(https?:)?//""", html)  # nothing from the internet
    assert f'data-step-id="{reviewed_once["step_id"]}" data-status="changed"' in html
    assert not [s for s in reviewed_once["secrets"] if s in html]
    assert HOSTILE not in html and "&lt;script&gt;" in html
    title = re.search(r"<title>(.*?)</title>", html)
    assert title and re.fullmatch(r"archive: [0-9a-f]{10} → [0-9a-f]{10}", title.group(1)), title
    assert 'rel="icon" href="data:' in html  # no favicon request that answers 404


def test_the_overview_shows_the_last_run_from_the_report(browser: Any, server: Any, monkeypatch: Any,
                                                         reviewed: dict[str, Any], tmp_path: Path) -> None:
    """A night whose only news is a failure commits nothing: the run report still tells it."""
    company = server.sim.company(0)
    victim = sorted(company.flows)[0]
    server.sim.failing_flows.add(victim)
    server.sim.state.update_flow(company, victim, {"flow": {"description": "edited, then its export fails"}})
    report = tmp_path / "last-run.json"
    config = write_config(tmp_path / "no-retries.toml", server, monkeypatch, max_retries=0)
    night = flowvault("export", "--config", config, "-p", "company-a", "-a", reviewed["archive"],
                      "--keep-secrets", "--report", report)
    assert night.returncode == 3, night.stdout + night.stderr
    with started(reviewed["archive"], "--report", report) as url:
        page = browser.new_page()
        page.goto(url + "/")
        assert page.locator(".run-status").inner_text() == "partial"
        failed = page.locator("ul.run-failed").inner_text()
        assert f"(#{victim})" in failed and "500" in failed
        # the flow's own row is marked from the report's failed_ids (data), the others are not
        assert page.locator(f'tr[data-flow="{victim}"] span.partial').inner_text() == "failed"
        assert page.locator("tr[data-flow] span.partial").count() == 1
        page.close()


def test_one_ui_for_a_root_of_profile_archives(server: Any, config: Path, tmp_path: Path) -> None:
    import httpx

    root = tmp_path / "archives"
    done = flowvault("export", "--config", config, "--all-profiles", "--archive", root)
    assert done.returncode == 0, done.stdout + done.stderr
    with started(root) as url:
        home = httpx.get(url + "/").text
        assert 'data-archive="company-a"' in home and 'data-archive="company-b"' in home
        fid = next(iter(manifest(root / "company-b")["flows"]))
        assert httpx.get(f"{url}/a/company-b/flow/{fid}").status_code == 200
        assert httpx.get(f"{url}/a/company-c/diff").status_code == 404


def test_ui_refuses_what_it_cannot_serve_in_one_line(reviewed_once: dict[str, Any], tmp_path: Path) -> None:
    not_archive = tmp_path / "repo"
    subprocess.run(["git", "init", "-q", str(not_archive)], check=True)
    for args, needle in ((["--archive", str(not_archive)], "without manifest.json"),
                         (["--archive", str(tmp_path / "nothing-here")], "no such folder")):
        out = flowvault("ui", *args, "--port", "0")
        assert out.returncode == 2 and needle in out.stderr and "Traceback" not in out.stderr
        assert len(out.stderr.strip().splitlines()) == 1
    with started(reviewed_once["archive"]) as url:
        port = url.rsplit(":", 1)[1]
        taken = flowvault("ui", "--archive", reviewed_once["archive"], "--port", port)
        assert taken.returncode == 2 and f"cannot listen on 127.0.0.1:{port}" in taken.stderr


def test_after_the_demo_the_ui_shows_its_edit_and_its_deleted_flow(browser: Any, tmp_path: Path) -> None:
    """The issue's "done when", word for word: `flowvault demo`, then `flowvault ui --archive
    flowvault-demo/archive` (here under tmp_path)."""
    demo = tmp_path / "flowvault-demo"
    ran = flowvault("demo", "--dir", demo)
    assert ran.returncode == 0, ran.stdout + ran.stderr
    edited = re.search(r"edited '(.+)' \(its settings, and step '(.+)' of version (\d+)\)", ran.stdout)
    deleted = re.search(r"deleted '(.+)'; export again", ran.stdout)
    assert edited and deleted, ran.stdout
    with started(demo / "archive", "--config", demo / "flowvault.toml") as url:
        page = browser.new_page()
        page.goto(url + "/")
        page.get_by_role("link", name="what changed in the last export").click()
        marked = page.locator('g.step[data-status="changed"]')
        assert marked.count() == 1 and edited.group(2) in str(marked.text_content())
        page.goto(url + "/")
        page.get_by_role("link", name="deleted flows").first.click()
        row = page.locator("table.deleted tbody[data-flow]")
        assert row.count() == 1 and deleted.group(1)[:40] in row.inner_text()
        assert f"--config {demo / 'flowvault.toml'} --target company-a" in row.locator("pre.restore").inner_text()
        page.close()


def test_a_long_name_never_pushes_the_work_off_the_page(browser: Any, tmp_path: Path) -> None:
    """The demo's deleted flow has a 300-character name without spaces: at 800 and 1280 px no page
    that lists flows is wider than the window, the name is cut with its whole text on hover, and
    the restore command and its copy button are in view."""
    demo = tmp_path / "flowvault-demo"
    ran = flowvault("demo", "--dir", demo)
    assert ran.returncode == 0, ran.stdout + ran.stderr
    deleted = re.search(r"deleted '(.+)'; export again", ran.stdout)
    assert deleted and len(deleted.group(1)) >= 300 and " " not in deleted.group(1), ran.stdout
    with started(demo / "archive", "--config", demo / "flowvault.toml") as url:
        page = browser.new_page()
        for width in (800, 1280):
            page.set_viewport_size({"width": width, "height": 800})
            for path in ("/", "/a/archive/deleted", "/a/archive/diff", "/a/archive/diff?from=HEAD~1&to=HEAD"):
                page.goto(url + path)
                wide = page.evaluate("document.documentElement.scrollWidth")
                assert wide <= width, (path, width, wide)
            page.goto(url + "/a/archive/deleted")
            row = page.locator("table.deleted tbody[data-flow]")
            assert row.locator("span.cut").get_attribute("title") == deleted.group(1)
            for part in (row.locator("pre.restore"), row.get_by_role("button", name="copy")):
                box = part.bounding_box()
                assert box and box["x"] >= 0 and box["x"] + box["width"] <= width, (width, box)
        page.close()


def test_the_demo_tour_ends_with_the_deleted_flow_restored_by_the_command_the_ui_shows(browser: Any,
                                                                                       tmp_path: Path) -> None:
    """`flowvault demo --serve` keeps its simulator up and prints the commands; the UI command it
    prints, then the restore command the deleted-flows page shows, each run as printed."""
    import httpx

    demo = tmp_path / "flowvault-demo"
    with subprocess.Popen([sys.executable, "-m", "flowvault", "demo", "--dir", str(demo), "--serve"],
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) as proc:
        assert proc.stdout is not None
        lines: list[str] = []
        for line in proc.stdout:
            lines.append(line)
            if "then: deleted flows" in line:
                break
        out = "".join(lines)
        deleted = re.search(r"deleted '(.+)'; export again", out)
        exports = re.search(r"^\s*export (.+?)\s+#", out, re.M)
        ui_line = re.search(r"^\s*(flowvault ui .+)$", out, re.M)
        url = re.search(r"keeps serving on (http://127\.0\.0\.1:\d+)", out)
        assert deleted and exports and ui_line and url, out
        env = dict(pair.split("=", 1) for pair in exports.group(1).split())
        args = shlex.split(ui_line.group(1))
        program = [shutil.which("flowvault")] if shutil.which("flowvault") else [sys.executable, "-m", "flowvault"]
        with subprocess.Popen([*program, *args[1:], "--port", "0"], stdout=subprocess.PIPE,
                              stderr=subprocess.DEVNULL, text=True, cwd="/", env={**os.environ, **env}) as ui:
            assert ui.stdout is not None
            found = re.search(r"http://127\.0\.0\.1:\d+", ui.stdout.readline())
            assert found
            page = browser.new_page()
            page.goto(found.group(0) + "/a/archive/deleted")
            gone = page.locator("table.deleted tbody[data-flow]").get_attribute("data-flow")
            page.close()
            command = copied_command(browser, found.group(0), gone)
            ui.terminate()
        def listed() -> dict[Any, str]:
            reply = httpx.get(f"{url.group(1)}/api/v1/flows", params={"per_page": 100},
                              headers={"Authorization": env["FLOWVAULT_DEMO_KEY_A"]}).json()["data"]
            return {f["id"]: f["name"] for f in reply}

        before = listed()
        done = run_as_printed(command, env)
        assert done.returncode == 0, done.stdout + done.stderr
        back = [name for fid, name in listed().items() if fid not in before]
        assert len(back) == 1 and back[0].startswith(deleted.group(1)), back  # the deleted flow, back
        proc.send_signal(2)
        assert proc.wait(timeout=30) == 0


def test_an_encrypted_archives_restore_command_needs_the_identity_filled_in(make_server: Any, tmp_path: Path,
                                                                             monkeypatch: Any) -> None:
    """Run unfilled it fails loudly and writes nothing; with the identity file named, the flow is
    back with its secret values."""
    import html

    import pyrage

    from flowvault.ui.pages import IDENTITY_PLACEHOLDER, deleted_page

    identity = pyrage.x25519.Identity.generate()
    server = make_server(flows=5, companies=1)
    config = write_config(tmp_path / "fv.toml", server, monkeypatch, secrets_recipient=str(identity.to_public()))
    archive = tmp_path / "archive"
    assert flowvault("export", "--config", config, "-a", archive).returncode == 0
    company, state = server.sim.company(0), server.sim.state
    gone = next(f for f in sorted(company.flows) if any(
        v["secret"] for vid in state.flow_version_ids(company, f) for v in company.versions[vid]["variables"]))
    values = sorted(v["value"] for vid in state.flow_version_ids(company, gone)
                    for v in company.versions[vid]["variables"] if v["secret"])
    state.delete_flow(company, gone)
    assert flowvault("export", "--config", config, "-a", archive).returncode == 0
    page = deleted_page("archive", archive, config=config)
    command = html.unescape(re.search(r'<pre class="restore">(.+?)</pre>', page).group(1))  # type: ignore[union-attr]
    assert command.endswith(f"--identity {IDENTITY_PLACEHOLDER}")
    writes = server.sim.writes(0)
    unfilled = run_as_printed(command)
    assert unfilled.returncode == 4 and IDENTITY_PLACEHOLDER in unfilled.stderr, unfilled.stderr
    assert server.sim.writes(0) == writes
    key = tmp_path / "me.key"
    key.write_text(f"{identity}\n")
    filled = run_as_printed(command.replace(IDENTITY_PLACEHOLDER, str(key)))
    assert filled.returncode == 0, filled.stdout + filled.stderr
    back = max(company.flows)  # the newest ID: the flow the restore created
    restored = sorted(v["value"] for vid in state.flow_version_ids(company, back)
                      for v in company.versions[vid]["variables"] if v["secret"])
    assert restored == values


def test_the_overviews_last_run_is_the_last_export_not_an_import(server: Any, config: Path, tmp_path: Path,
                                                                 monkeypatch: Any) -> None:
    """A partial night, then an import that commits its ID map: the overview still shows the
    night (partial, its failed flow, its time), the import listed as an import."""
    from flowvault.history import History
    from flowvault.ui.pages import overview

    archive = tmp_path / "archive"
    company = server.sim.company(0)
    victim = sorted(company.flows)[0]
    server.sim.failing_flows.add(victim)
    quick = write_config(tmp_path / "no-retries.toml", server, monkeypatch, max_retries=0)
    night = flowvault("export", "--config", quick, "-p", "company-a", "-a", archive)
    assert night.returncode == 3, night.stdout + night.stderr
    imported = flowvault("import", "--config", config, "-t", "company-b", "-a", archive, "--on-conflict", "rename")
    assert imported.returncode == 0, imported.stdout + imported.stderr
    export_commit, import_commit = History.open(archive).log(max_count=2)[::-1]
    assert "import into company-b" in import_commit.summary
    page = overview({"archive": archive})
    status = re.search(r'class="run-status (\w+)"', page)
    assert status and status.group(1) == "partial", page
    assert f"(#{victim})" in page and export_commit.date in page
    assert export_commit.trailers == {"Failed-Flow": [str(victim)]}  # the commit names it as data, not only in prose
    assert f'<tr data-flow="{victim}">' not in page  # its first export failed: there is no copy to list
    assert re.search(rf'<tr class="commit-import">.*?{import_commit.sha[:10]}', page, re.S)
    assert f"/a/archive/commit/{export_commit.sha}\">what changed in the last export" in page


def test_a_deleted_flow_can_be_opened_and_says_when_it_was_deleted(reviewed_once: dict[str, Any]) -> None:
    import html as html_lib

    import httpx

    from .conftest import git

    archive = reviewed_once["archive"]
    head = git(archive, "rev-parse", "HEAD").strip()
    with started(archive) as url:
        page = httpx.get(f"{url}/a/archive/deleted").text
        row = re.search(rf'<tr data-flow="{reviewed_once["gone"]}">(.*?)</tr>', page, re.S)
        assert row, page
        when = re.search(r'class="deleted-in">(.*?)</td>', row.group(1), re.S)
        assert when and head[:10] in when.group(1)
        link = re.search(r'class="last-content" href="([^"]+)"', row.group(1))
        assert link
        opened = httpx.get(url + html_lib.unescape(link.group(1)))
    assert opened.status_code == 200 and reviewed_once["gone_name"][:40] in html_lib.unescape(opened.text)
    listed = flowvault("deleted", "--archive", archive)
    assert f"deleted in {head[:10]}" in listed.stdout
