"""The landscape playground (Classroom step 7, issue 21): its pictures show the engine's numbers, clicks edit the
memories, and in a real browser a click adds a memory and changes the basin map."""

import json
import os
from types import SimpleNamespace

import gradio as gr
import numpy as np
import pytest

from hen_demo.memory.landscape import LandscapeConfig, attractors, compute_landscape, trajectory
from hen_demo.ui import landscape
from hen_demo.ui.landscape_figures import basin_map_spec, energy_map_spec

THREE = landscape.PRESETS[landscape.DEFAULT_PRESET]


def _spec(plot) -> dict:
    return json.loads(plot.plot)


def test_the_maps_draw_the_engines_numbers(one_thread):
    land = compute_landscape(THREE, LandscapeConfig(beta=2.0, resolution=31))
    path = trajectory(THREE, [2.0, 2.0], land.config)
    e = energy_map_spec(land, path, revision=3)
    b = basin_map_spec(land, attractors(land), path, revision=3)
    z = np.asarray(e["data"][0]["z"])
    g = np.random.default_rng(0)
    for i, j in zip(g.integers(0, 31, 20), g.integers(0, 31, 20)):
        assert z[i, j] == pytest.approx(float(land.energy[i, j]), abs=1e-5)  # contour value = engine energy
        assert b["data"][0]["z"][i][j] == int(land.labels[i, j]) + 1  # colour index = engine basin (0 = mixture)
    assert e["data"][0]["x"] == land.grid.xs.tolist() and e["data"][0]["y"] == land.grid.ys.tolist()
    for spec in (e, b):  # one draggable disc per memory, centred on it
        discs = [((s["x0"] + s["x1"]) / 2, (s["y0"] + s["y1"]) / 2) for s in spec["layout"]["shapes"]]
        assert discs == pytest.approx([tuple(m) for m in THREE]) and all(s["editable"] for s in spec["layout"]["shapes"])
    drawn = [t for t in b["data"] if t.get("name") == "path"][0]
    assert len(drawn["x"]) == len(path.states) and e["layout"]["meta"]["reveal"]["revision"] == 3
    # legible on a projector: axis labels and ticks at >= 16 px
    assert e["layout"]["font"]["size"] >= 16 and b["layout"]["font"]["size"] >= 16


def test_draw_and_clicks(one_thread):
    energy, basins, text, revision = landscape.draw(THREE, "l2", 0.9, None, 0)
    assert revision == 1 and "**3** of the 3 memories have a basin" in text and "HopfieldMemory.retrieve" in text
    assert not [t for t in _spec(basins)["data"] if t.get("name") == "path"]
    click = SimpleNamespace(x=2.0, y=2.0)
    rows, start, *views = landscape.on_click("add a memory", THREE, "l2", 0.9, None, 1, click)
    assert rows[-1] == [2.0, 2.0] and len(rows) == 4 and start is None
    assert _spec(views[1])["data"][0]["zmax"] == 4.5  # four memories' colours + mixture
    again = landscape.on_click("add a memory", rows, "l2", 0.9, None, 2, SimpleNamespace(x=2.01, y=2.0))
    assert all(out == gr.skip() for out in again)  # a memory is already there: nothing changes
    rows, start, *views = landscape.on_click("delete the nearest memory", rows, "l2", 0.9, None, 2,
                                             SimpleNamespace(x=1.9, y=2.1))
    assert rows == THREE
    rows, start, *views = landscape.on_drag(rows, "l2", 0.9, None, 3, SimpleNamespace(index=2, x=0.5, y=9.0))
    assert rows[2] == [0.5, landscape.HALF_WIDTH] and rows[:2] == THREE[:2]  # moved, kept inside the map
    rows = THREE
    rows, start, *views = landscape.on_click("start a retrieval here", rows, "dot", 0.9, None, 3, click)
    assert start == [2.0, 2.0] and "steps** to" in views[2]
    assert [t for t in _spec(views[1])["data"] if t.get("name") == "path"]


@pytest.mark.parametrize("table,words", [([[9.0, 0.0]], "inside the map"), ([[1.0, None]], "two numbers"),
                                         ([[0.1 * k, 0.0] for k in range(11)], "at most 10"),
                                         ([[None, None]], "at least one")])
def test_bad_tables_get_a_clear_error(table, words):
    with pytest.raises(ValueError, match=words):
        landscape.memories_from_table(table)


def test_blank_rows_are_skipped():
    assert landscape.memories_from_table([[1, 2], [None, None], ["", ""]]).tolist() == [[1.0, 2.0]]


# ---- in a real browser ------------------------------------------------------------------------------------------
CHROMIUM = "/usr/bin/chromium"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run"]
BASINS = "document.querySelector('#landscape-basins .js-plotly-plot')"


@pytest.fixture(scope="module")
def playground_url():
    import gradio as gr
    from ui_server import free_port

    from hen_demo.ui.app import CSS

    with gr.Blocks() as demo:
        with gr.Tabs():
            with gr.Tab("0 · before"):
                gr.Markdown("the step is drawn on page load, behind another tab")
            pg = landscape.build_step()
        demo.load(*pg.first_view)
    demo.queue()
    port = free_port()
    demo.launch(server_name="127.0.0.1", server_port=port, prevent_thread_lock=True, quiet=True, css=CSS)
    try:
        yield f"http://127.0.0.1:{port}/"
    finally:
        demo.close()


def _open_step(browser, url, width, height, touch=False):
    ctx = browser.new_context(viewport={"width": width, "height": height}, has_touch=touch, is_mobile=touch)
    page = ctx.new_page()
    page.goto(url, timeout=60_000)
    page.get_by_role("tab", name="7 · Energy landscape").click()
    page.wait_for_function(f"() => {{ const g = {BASINS}; return g && g.__henClick && g.data && g.data.length; }}",
                           timeout=90_000)
    return ctx, page


@pytest.mark.browser
@pytest.mark.slow
@pytest.mark.skipif(not os.path.exists(CHROMIUM), reason=f"{CHROMIUM} is not installed (apt-get install chromium)")
@pytest.mark.parametrize("width,height,touch", [(1280, 720, False), (390, 844, True)])
def test_in_a_browser_a_click_adds_a_memory_and_the_basins_change(playground_url, width, height, touch,
                                                                   tmp_path_factory):
    sync_api = pytest.importorskip("playwright.sync_api")
    shots = tmp_path_factory.mktemp("landscape_shots")
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        try:
            ctx, page = _open_step(browser, playground_url, width, height, touch)
            assert page.evaluate(f"() => {BASINS}.data[0].zmax") == 3.5  # three memories
            px = page.evaluate("() => parseFloat(getComputedStyle("
                               "document.querySelector('#landscape-energy .xtitle')).fontSize)")
            assert px >= 14, f"axis label {px} px"
            # the path first: a later add or drag triggers redraws (table.change -> draw) that may land after a
            # path was revealed and replace the figure; before them nothing else is pending
            # a click in "start a retrieval here" draws the path, revealed point by point up to its last step
            page.get_by_text("start a retrieval here", exact=True).click()
            page.locator("#landscape-basins").scroll_into_view_if_needed()
            box = page.locator("#landscape-basins .nsewdrag").first.bounding_box()
            x, y = box["x"] + 0.1 * box["width"], box["y"] + 0.9 * box["height"]  # (-2.4, -2.4)
            page.touchscreen.tap(x, y) if touch else page.mouse.click(x, y)
            page.wait_for_function(f"""() => {{ const g = {BASINS}; const m = g.layout.meta.reveal;
                const p = g.data.find(t => t.name === 'path');
                return m && p && p.x.length === m.n && g.__henRevealed === m.revision; }}""", timeout=60_000)
            page.get_by_text("add a memory", exact=True).click()
            page.locator("#landscape-basins").scroll_into_view_if_needed()
            box = page.locator("#landscape-basins .nsewdrag").first.bounding_box()
            x, y = box["x"] + 0.85 * box["width"], box["y"] + 0.15 * box["height"]  # (2.1, 2.1): no memory there
            page.touchscreen.tap(x, y) if touch else page.mouse.click(x, y)
            page.wait_for_function(f"() => {BASINS}.data[0].zmax === 4.5", timeout=60_000)
            labels = page.evaluate(f"() => {BASINS}.data[0].z.flat()")
            assert 4 in labels  # the new memory owns a basin: the map changed
            page.wait_for_function("() => document.querySelector('#landscape-caption').innerText"
                                   ".includes('of the 4 memories')", timeout=30_000)
            if not touch:  # dragging memory 2's disc from (0, 1.4) to (1, 1.4) moves it; the server redraws both maps
                def to_px(x, y, b):
                    return b["x"] + (x + 3) / 6 * b["width"], b["y"] + (3 - y) / 6 * b["height"]

                page.locator("#landscape-energy").scroll_into_view_if_needed()
                eb = page.locator("#landscape-energy .nsewdrag").first.bounding_box()
                page.mouse.move(*to_px(0.0, 1.4, eb))
                page.mouse.down()
                for k in range(1, 6):
                    page.mouse.move(*to_px(0.2 * k, 1.4, eb))
                page.mouse.up()
                page.wait_for_function(f"() => {{ const s = {BASINS}.layout.shapes[2];"  # the other map: a redraw
                                       " return Math.abs((s.x0 + s.x1) / 2 - 1.0) < 0.1; }", timeout=60_000)
            page.screenshot(path=str(shots / f"landscape_{width}.png"), full_page=True)
        finally:
            browser.close()


def test_how_it_works_opens_the_step_by_its_label():
    from hen_demo.ui import howto

    assert f"tab('{landscape.STEP_LABEL}')" in howto.OPEN_LANDSCAPE_JS and "tab('Classroom')" in howto.OPEN_LANDSCAPE_JS
    with gr.Blocks() as demo:
        howto.build_tab()
    buttons = [b for b in demo.blocks.values() if getattr(b, "elem_id", None) == "howto-landscape"]
    assert len(buttons) == 1


def test_mixture_regions_are_hatched_only_where_the_engine_ends_in_a_mixture(one_thread):
    for log_beta, hatched in ((-1.0, True), (0.9, False)):  # beta 0.1: one mixture basin; 7.9: three basins
        spec = _spec(landscape.draw(THREE, "l2", log_beta, None, 0)[1])
        marks = [t for t in spec["data"] if t["name"] == "mixture hatch"]
        assert bool(marks) == hatched
        if hatched:
            z, xs, ys = spec["data"][0]["z"], spec["data"][0]["x"], spec["data"][0]["y"]
            for x, y in zip(marks[0]["x"], marks[0]["y"]):  # every stroke sits on a grey (mixture, z = 0) cell
                assert z[ys.index(y)][xs.index(x)] == 0
