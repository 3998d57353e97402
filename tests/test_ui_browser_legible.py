"""Issue 19 in a real browser (Debian's chromium, Playwright): the page's font has ordinary glyphs (§11), every
tab is in the phone's tab bar (§12), Classroom step 3 keeps its reveal for the Recall button and streams (§8).

Every wait is a DOM condition (``wait_for_function`` / ``wait_for``), never a sleep.
"""

import os

import pytest

from hen_demo.ui import theme

CHROMIUM = "/usr/bin/chromium"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run"]

pytestmark = [
    pytest.mark.browser,
    pytest.mark.slow,
    pytest.mark.skipif(not os.path.exists(CHROMIUM), reason=f"{CHROMIUM} is not installed (apt-get install chromium)"),
]

TEXT = "HEN MSE NN ceiling"  # the words Montserrat Alternates drew as "HƐΝ", "ΜSƐ", "ΝΝ"

# Renders TEXT on a canvas in a CSS font and returns its ink as a string of 0/1 (one bit per pixel).
INK_JS = """
(font) => {
  const c = document.createElement('canvas'); c.width = 400; c.height = 40;
  const g = c.getContext('2d'); g.fillStyle = '#fff'; g.fillRect(0, 0, 400, 40);
  g.fillStyle = '#000'; g.font = font; g.textBaseline = 'top'; g.fillText(%r, 4, 8);
  const d = g.getImageData(0, 0, 400, 40).data; let bits = '';
  for (let i = 0; i < d.length; i += 4) bits += d[i] < 128 ? '1' : '0';
  return bits;
}
""" % TEXT

# The first family of a stack the browser really has: one whose text differs in width from both generic
# fallbacks' (the usual font-availability test; a missing family falls back to the generic one).
AVAILABLE_JS = """
(families) => {
  const g = document.createElement('canvas').getContext('2d');
  const width = (f) => { g.font = '40px ' + f; return g.measureText('mmmmmmmmmmlliWWHEN').width; };
  const base = {monospace: width('monospace'), serif: width('serif')};
  return families.find(f => width('"' + f + '", monospace') !== base.monospace
                         || width('"' + f + '", serif') !== base.serif) || null;
}
"""


@pytest.fixture(scope="module")
def app_url(tmp_path_factory):
    from ui_server import running_app

    os.environ.setdefault("HEN_CACHE_DIR", str(tmp_path_factory.mktemp("hen_cache")))
    with running_app() as url:
        yield url


@pytest.fixture(scope="module")
def browser():
    sync_api = pytest.importorskip("playwright.sync_api")
    with sync_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        try:
            yield b
        finally:
            b.close()


def _open(browser, url, width=1280, height=720):
    page = browser.new_page(viewport={"width": width, "height": height})
    page.goto(url, timeout=60_000)
    page.wait_for_selector("#explore-retrieve", timeout=60_000)
    return page


def test_the_page_text_is_in_the_plain_font_stack_with_ordinary_glyphs(browser, app_url):
    page = _open(browser, app_url)
    try:
        page.evaluate("document.fonts.ready.then(() => true)")
        families = page.evaluate("""() => ['body', '.hen-header h1', '#explore-status', 'button[role=tab]',
            '#explore-retrieve', '[data-testid=block-label]'].map(s => getComputedStyle(document.querySelector(s))
            .fontFamily)""")
        first = theme.FONT_STACK[0]
        for family in families:
            assert family.startswith(f'"{first}"') and "Montserrat" not in family, families
        # no Montserrat face was ever loaded by the page
        assert page.evaluate("[...document.fonts].filter(f => /Montserrat/.test(f.family)"
                             " && f.status === 'loaded').length") == 0
        # the glyphs drawn are those of the first family of the stack this machine has, pixel for pixel
        have = page.evaluate(AVAILABLE_JS, [f for f in theme.FONT_STACK if f != "sans-serif"])
        assert have is not None, "none of the stack's named families is installed here"
        page_font = page.evaluate("getComputedStyle(document.querySelector('#explore-status')).fontFamily")
        ours = page.evaluate(INK_JS, f"16px {page_font}")
        assert "1" in ours and ours == page.evaluate(INK_JS, f'16px "{have}"')
        # ... and not those of the Montserrat file Gradio ships (Montserrat Alternates), loaded here as a reference
        montserrat = page.evaluate("""async () => {
            const f = new FontFace('ShippedMontserrat', 'url(static/fonts/Montserrat/Montserrat-Regular.woff2)');
            try { await f.load(); } catch (e) { return false; }
            document.fonts.add(f); return true; }""")
        if montserrat:
            assert page.evaluate(INK_JS, "16px ShippedMontserrat") != ours
    finally:
        page.close()


def test_on_a_phone_every_tab_is_in_the_tab_bar(browser, app_url):
    page = _open(browser, app_url, width=390, height=844)
    try:
        page.wait_for_function("document.querySelectorAll('#hen-tabs > .tab-wrapper button[role=tab]').length >= 8",
                               timeout=30_000)
        hidden = page.evaluate("""() => [...document.querySelectorAll('#hen-tabs > .tab-wrapper button[role=tab]')]
            .filter(b => { const r = b.getBoundingClientRect(); return r.width === 0 || r.right > innerWidth; })
            .map(b => b.innerText)""")
        assert hidden == []
        assert page.locator("#hen-tabs > .tab-wrapper .overflow-menu:not(.hide)").count() == 0  # no "⋯" menu
    finally:
        page.close()


def test_classroom_step3_shows_only_the_start_state_until_recall_then_streams(browser, app_url):
    page = _open(browser, app_url)
    try:
        page.get_by_role("tab", name="Classroom").click()
        page.get_by_role("tab", name="3 · Energy and recall").click()
        status = page.locator("#classroom-status")
        status.get_by_text("Start state").wait_for(timeout=60_000)
        assert "Final state" not in status.inner_text() and "stored pattern" not in status.inner_text()
        page.wait_for_function("(document.querySelector('#classroom-energy .js-plotly-plot') || {}).data",
                               timeout=30_000)
        points = page.evaluate("document.querySelector('#classroom-energy .js-plotly-plot').data"
                               ".map(t => t.y.length)")
        assert points == [1]  # the start energy only: no curve to spoil the reveal
        # every status the stream shows is recorded as it arrives (a MutationObserver, no polling)
        page.evaluate("""() => { window.henSeen = []; new MutationObserver(() => {
            const t = document.querySelector('#classroom-status').innerText;
            if (window.henSeen[window.henSeen.length - 1] !== t) window.henSeen.push(t); })
            .observe(document.querySelector('#classroom-status'), {subtree: true, childList: true,
                                                                     characterData: true}); }""")
        page.click("#classroom-recall")
        status.get_by_text("Final state").wait_for(timeout=120_000)
        seen = page.evaluate("window.henSeen")
        updates = [s for s in seen if s.startswith("update ")]
        assert len(updates) >= 5, seen  # frames arrived one by one, not all at the end
        assert "stored pattern" in status.inner_text()
    finally:
        page.close()
