"""The review pages on real flows (#22): a 61-step branching flow, steps placed closer than a
box, a step's parameters, an archive with more flows than one page, a narrow window. Pages
come from ``flowvault ui`` started as a command and are read in Chromium, as in test_ui."""

from __future__ import annotations

import html as html_lib
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from flowvault.simulator.data import BIG_FLOW_SECRETS as SECRETS
from flowvault.simulator.data import big_flow_steps as big_steps

from .conftest import git, made_once, simulated, write_config
from .test_ui import browser, flowvault, started  # noqa: F401  (browser is a fixture)



@pytest.fixture(scope="module")
def real_flows(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """Three nights of an archive whose company has a 61-step flow (the second night edits a step
    far right on its canvas), a flow whose steps sit closer together than a box, and a flow
    deleted on the third night. Made once per test run."""
    return made_once(tmp_path_factory, "real-flows", _real_flows)


def _real_flows(folder: Path) -> dict[str, Any]:
    with simulated(folder, seed=5, companies=1, flows=4, versions=1) as (server, config):
        company, state = server.sim.company(0), server.sim.state
        big, close = sorted(company.flows)[:2]
        big_vid, close_vid = state.flow_version_ids(company, big)[-1], state.flow_version_ids(company, close)[-1]
        company.versions[big_vid]["steps"] = big_steps(state)
        company.versions[close_vid]["steps"] = [
            {"id": state.next_id(), "name": f"close {i}", "type": "map", "position": {"x": 15 * i, "y": 10 * (i % 3)},
             "config": {}} for i in range(12)]
        state.touch(company, big_vid)
        state.touch(company, close_vid)
        archive = folder / "archive"
        args = ("export", "--config", config, "-p", "company-a", "-a", archive)
        assert flowvault(*args).returncode == 0
        far = max(company.versions[big_vid]["steps"], key=lambda s: s["position"]["x"])
        far["config"] = {**far["config"], "page": 999}
        state.touch(company, big_vid)
        assert flowvault(*args).returncode == 0
        edited = git(archive, "rev-parse", "HEAD").strip()
        gone = sorted(company.flows)[-1]
        state.delete_flow(company, gone)
        assert flowvault(*args).returncode == 0
        return {"archive": archive, "big": big, "close": close, "far": far["id"], "edited": edited, "gone": gone}


@pytest.fixture(scope="module")
def ui_real(real_flows: dict[str, Any]) -> Iterator[str]:
    with started(real_flows["archive"]) as url:
        yield url


def test_the_first_changed_step_of_a_61_step_flow_is_in_view_when_the_diff_loads(
        browser: Any, ui_real: str, real_flows: dict[str, Any]) -> None:  # noqa: F811
    page = browser.new_page(viewport={"width": 1280, "height": 800})
    page.goto(f"{ui_real}/a/archive/commit/{real_flows['edited']}")
    changed = page.locator(f'section.flow-change[data-flow="{real_flows["big"]}"] g.step-changed')
    assert changed.count() == 1 and changed.get_attribute("data-step-id") == str(real_flows["far"])
    assert page.locator(f'section.flow-change[data-flow="{real_flows["big"]}"] g.step').count() == 61
    box = changed.bounding_box()
    assert box is not None
    assert 0 <= box["x"] and box["x"] + box["width"] <= 1280 and 0 <= box["y"] and box["y"] + box["height"] <= 800
    page.evaluate("window.scrollTo(0, 0)")
    page.locator(f'section.flow-change[data-flow="{real_flows["big"]}"] button.goto').click()  # the list of steps
    box = changed.bounding_box()
    assert box is not None and 0 <= box["x"] and box["x"] + box["width"] <= 1280 and 0 <= box["y"] <= 800
    svg = page.locator(f'section.flow-change[data-flow="{real_flows["big"]}"] svg.graph')
    wide = float(svg.get_attribute("width") or 0)
    page.locator(f'section.flow-change[data-flow="{real_flows["big"]}"] .zoom button[data-z="fit"]').click()
    fitted = float(svg.get_attribute("width") or 0)
    graphbox = page.locator(f'section.flow-change[data-flow="{real_flows["big"]}"] .graphbox').bounding_box()
    assert graphbox is not None and fitted < wide and fitted <= graphbox["width"]
    page.close()


def intersecting(boxes: list[dict[str, float]]) -> list[tuple[int, int]]:
    return [(i, j) for i, a in enumerate(boxes) for j, b in enumerate(boxes) if i < j
            and a["x"] < b["x"] + b["width"] and b["x"] < a["x"] + a["width"]
            and a["y"] < b["y"] + b["height"] and b["y"] < a["y"] + a["height"]]


def test_no_two_step_boxes_intersect_and_names_are_cut_after_reading(browser: Any, ui_real: str,  # noqa: F811
                                                                     real_flows: dict[str, Any]) -> None:
    page = browser.new_page(viewport={"width": 1280, "height": 800})
    for fid, count in ((real_flows["close"], 12), (real_flows["big"], 61)):
        page.goto(f"{ui_real}/a/archive/flow/{fid}")
        rects = page.locator("svg.graph g.step rect")
        assert rects.count() == count
        boxes = [b for b in (rects.nth(i).bounding_box() for i in range(count)) if b is not None]
        assert len(boxes) == count and intersecting(boxes) == []
    labels = page.locator("svg.graph g.step text.name").all_text_contents()
    assert any(label.startswith('Step 00 map "SKU" -> "i') and label.endswith("…") for label in labels), labels
    assert not any("&" in label for label in labels)  # cut before escaping: no entity cut in half
    page.close()


def test_a_steps_parameters_show_on_selection_by_keyboard_with_secrets_masked(browser: Any, ui_real: str,  # noqa: F811
                                                                            real_flows: dict[str, Any]) -> None:
    page = browser.new_page(viewport={"width": 1280, "height": 800})
    page.goto(f"{ui_real}/a/archive/flow/{real_flows['big']}")
    assert page.locator(".step-detail:visible").count() == 0
    graph, frame = page.locator("svg.graph").last, page.locator(".graphbox").last.bounding_box()
    assert frame is not None and float(graph.get_attribute("width") or 0) <= frame["width"]  # fits on load
    page.locator(".graphbox").last.focus()
    page.keyboard.press("1")  # actual size, from the keyboard
    assert float(graph.get_attribute("width") or 0) > frame["width"]
    step = page.locator("svg.graph g.step").nth(3)
    step.focus()
    page.keyboard.press("Enter")
    panel = page.locator(".step-detail:visible")
    assert panel.count() == 1 and panel.get_attribute("data-step-id") == step.get_attribute("data-step-id")
    text = panel.inner_text()
    assert "https://api.example.com/orders" in text and '"page_size": 50' in text  # the JSON body, parsed
    assert text.count("(secret") == 2 and "password" in text and "token" in text
    assert not any(s in page.content() for s in SECRETS)
    page.locator("svg.graph g.step").nth(0).click()
    assert page.locator(".step-detail:visible").get_attribute("data-step-id") == \
        page.locator("svg.graph g.step").nth(0).get_attribute("data-step-id")
    page.close()


def test_pages_hold_a_window_800_px_wide(browser: Any, ui_real: str, real_flows: dict[str, Any]) -> None:  # noqa: F811
    page = browser.new_page(viewport={"width": 800, "height": 700})
    for path in ("/", "/a/archive/diff", f"/a/archive/flow/{real_flows['big']}", "/a/archive/deleted"):
        page.goto(ui_real + path)
        width = page.evaluate("document.documentElement.scrollWidth")
        assert width <= 800, (path, width)
    page.close()


@pytest.fixture(scope="module")
def many(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """An archive of 160 flows (more than one page of the overview), one edited in the last export;
    made once per test run."""
    return made_once(tmp_path_factory, "many", _many)


def _many(folder: Path) -> dict[str, Any]:
    with simulated(folder, seed=9, companies=1, flows=160, versions=1) as (server, config):
        args = ("export", "--config", config, "-p", "company-a", "-a", folder / "archive")
        assert flowvault(*args).returncode == 0
        company, state = server.sim.company(0), server.sim.state
        last = max(company.flows, key=lambda f: company.flows[f]["name"])
        state.update_flow(company, last, {"flow": {"name": "Zz nightly edit of the price feed"}})
        assert flowvault(*args).returncode == 0
        labelled = {fid: {company.labels[lid]["name"] for lid in f["_labels"]} for fid, f in company.flows.items()}
        label = sorted({n for names in labelled.values() for n in names})[0]
        return {"archive": folder / "archive", "disabled": sum(not f["enabled_at"] for f in company.flows.values()),
               "label": label, "labelled": sum(label in names for names in labelled.values())}


def test_the_overview_finds_sorts_and_pages_its_flows(browser: Any, many: dict[str, Any]) -> None:  # noqa: F811
    with started(many["archive"]) as url:
        first = httpx.get(url + "/")
        assert first.status_code == 200 and len(first.content) < 300 * 1024
        page = browser.new_page(viewport={"width": 1280, "height": 800})
        page.set_default_timeout(10_000)
        page.goto(url + "/")
        rows = page.locator("table.flows tr[data-flow]")
        assert rows.count() == 100 and "of 160 flows" in page.locator(".matched").inner_text()
        assert "nightly edit" in rows.first.inner_text()  # changed in the last export: first
        page.fill('input[name="q"]', "PRICE FEED")  # part of a name, any case
        page.click("form.find button")
        assert rows.count() == 1 and "Zz nightly edit of the price feed" in rows.first.inner_text()
        page.fill('input[name="q"]', "")
        page.select_option('select[name="sort"]', "name")
        page.click("form.find button")
        names = [html_lib.unescape(n) for n in page.locator("table.flows td.name a").all_text_contents()]
        assert names == sorted(names, key=str.casefold) and len(names) == 100
        page.click("a[rel=next]")
        assert rows.count() == 60 and "Zz nightly edit" in page.locator("table.flows").inner_text()
        page.select_option('select[name="only"]', "changed")
        page.click("form.find button")
        assert rows.count() == 1
        page.select_option('select[name="only"]', "disabled")
        page.click("form.find button")
        assert f"{many['disabled']} of 160 flows" in page.locator(".matched").inner_text()
        page.select_option('select[name="only"]', "")
        page.select_option('select[name="label"]', many["label"])
        page.click("form.find button")
        assert f"{many['labelled']} of 160 flows" in page.locator(".matched").inner_text()
        assert all(many["label"] in r for r in page.locator("td.labels").all_text_contents())
        page.close()


def test_every_link_of_an_archive_with_deleted_flows_opens(ui_real: str, real_flows: dict[str, Any]) -> None:
    """A crawl of every page the UI links to, from the overview: none answers 404 (a flow that has
    since been deleted is linked at a revision that has it)."""
    seen: dict[str, int] = {}
    todo = ["/"]
    with httpx.Client(base_url=ui_real, timeout=30) as client:
        while todo and len(seen) < 300:
            path = todo.pop(0)
            if path in seen:
                continue
            reply = client.get(path)
            seen[path] = reply.status_code
            todo += [link for link in map(html_lib.unescape, re.findall(r'href="(/[^"#]*)', reply.text))
                     if link not in seen]
    broken = {p: s for p, s in seen.items() if s != 200}
    assert not broken and len(seen) > 20, broken
    gone = f"/flow/{real_flows['gone']}"
    assert any(gone + "?rev=" in p for p in seen) and not any(p.endswith(gone) for p in seen)


def test_a_flow_reference_shows_the_target_id_an_import_recorded(server: Any, tmp_path: Path,
                                                                  monkeypatch: Any) -> None:
    """The step panel names, for a reference to another flow, the ID that flow got in each company
    an import took it to (the archive's ID map at the same revision)."""
    import orjson

    config = write_config(tmp_path / "fv.toml", server, monkeypatch)
    archive = tmp_path / "archive"
    assert flowvault("export", "--config", config, "-p", "company-a", "-a", archive).returncode == 0
    imported = flowvault("import", "--config", config, "-t", "company-b", "--archive", archive)
    assert imported.returncode in (0, 3), imported.stderr
    ids = orjson.loads((archive / "imports" / "company-b.json").read_bytes())["flows"]
    company, state = server.sim.company(0), server.sim.state
    caller, called = next((fid, s["target_flow_id"]) for fid in sorted(company.flows)
                          for vid in state.flow_version_ids(company, fid) for s in company.versions[vid]["steps"]
                          if s.get("target_flow_id") and str(s["target_flow_id"]) in ids)
    with started(archive) as url:
        page = httpx.get(f"{url}/a/archive/flow/{caller}").text
    assert f"→ #{ids[str(called)]['target_id']} in company-b" in html_lib.unescape(page)
