"""Issue 22 in a real browser: a link restores Explore (same verdict and state as by hand), garbage links fall
back with a sentence, presenter mode at 1280 × 720, and the export panel's GIF. Waits on DOM conditions only."""

import io
import os
from urllib.parse import parse_qs, urlsplit

import numpy as np
import pytest
from PIL import Image, ImageSequence

from hen_demo.export.link import EXPLORE_DEFAULTS, link_query
from hen_demo.ui import explore_run
from hen_demo.ui.present import VERDICT_WORD, show
from hen_demo.ui.resources import Resources

CHROMIUM = "/usr/bin/chromium"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run"]
TABS = "Explore,Compare,Text → Image"

pytestmark = [
    pytest.mark.browser,
    pytest.mark.slow,
    pytest.mark.skipif(not os.path.exists(CHROMIUM), reason=f"{CHROMIUM} is not installed (apt-get install chromium)"),
]

# every Explore parameter, none at its default (a small bank: raw pixels, N = 200)
EVERY = {"dataset": "emoji", "encoder": "pixels", "sim": "cosine", "beta": 0.5, "mode": "relative", "n": 200,
         "steps": 20, "source": "stored memory", "index": 7, "caption": "", "damage": "occlude-bottom",
         "amount": 0.3, "fill": "grey", "seed": 3, "fps": 0}


@pytest.fixture(scope="module")
def app_url(tmp_path_factory):
    from ui_server import running_app

    os.environ.setdefault("HEN_CACHE_DIR", str(tmp_path_factory.mktemp("hen_cache")))
    before = os.environ.get("HEN_TABS")
    os.environ["HEN_TABS"] = TABS
    try:
        with running_app() as url:
            yield url
    finally:
        if before is None:
            os.environ.pop("HEN_TABS", None)
        else:
            os.environ["HEN_TABS"] = before


@pytest.fixture(scope="module")
def browser():
    sync_api = pytest.importorskip("playwright.sync_api")
    with sync_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        try:
            yield b
        finally:
            b.close()


def _open(browser, url):
    page = browser.new_page(viewport={"width": 1280, "height": 720})
    page.goto(url, timeout=60_000)
    page.wait_for_selector("#explore-retrieve", timeout=60_000)
    return page


def _value(page, elem_id: str) -> str:
    return page.locator(f"#{elem_id} input").first.input_value()


def _wait_for_verdict(page, timeout=120_000) -> str:
    page.wait_for_function("() => (document.querySelector('#explore-verdict')?.innerText || '').includes('MSE')",
                           timeout=timeout)
    return page.locator("#explore-verdict").inner_text()


def _state_pixels(page) -> np.ndarray:
    src = page.locator("#explore-state img").first.get_attribute("src")
    body = page.request.get(src).body() if not src.startswith("data:") else None
    return np.asarray(Image.open(io.BytesIO(body)).convert("RGB"))


def _by_hand():
    """The Explore handler with the controls of EVERY set by hand (its last outputs)."""
    out = None
    for out in explore_run.retrieve(Resources(), "emoji", "pixels", "cosine", "softmax", 0.5, 200, 20, 1e-6, "stored memory", 7,
                                None, None, None, "occlude-bottom", 0.3, 3, 0, "relative", "grey",
                                progress=lambda *a, **k: None):
        pass
    return out


def test_a_link_with_every_parameter_reproduces_the_run_by_hand(app_url, browser):
    page = _open(browser, app_url + "?" + link_query("explore", EVERY))
    try:
        # the controls are restored (waiting on the DOM, not on time)
        page.wait_for_function("() => document.querySelector('#explore-n input')?.value === '200'", timeout=60_000)
        page.wait_for_function("() => document.querySelector('#explore-index input')?.value === '7'",
                               timeout=60_000)
        assert _value(page, "explore-beta") == "0.5"
        assert page.locator("#explore-link-note").inner_text().strip() == ""
        page.click("#explore-retrieve")
        text = _wait_for_verdict(page)
        state = _state_pixels(page)
        assert "of at most 20" in page.locator("#explore-status").inner_text()  # steps T (a closed accordion)
        out = _by_hand()
        details = out[10]
        assert f"#{details['top_index']}" in text and f"{details['mse']:.4f}" in text
        assert VERDICT_WORD[details["verdict"]] in text
        assert np.array_equal(state, show(np.asarray(out[11]["frames"][-1]["image"], dtype=np.uint8)))
        # the address bar kept every value; "Copy link" shows the same link
        params = {k: v[0] for k, v in parse_qs(urlsplit(page.url).query).items()}
        assert params["tab"] == "explore" and params["sim"] == "cosine" and params["fill"] == "grey"
        page.click("#explore-copy-link")
        page.wait_for_function("() => (document.querySelector('#explore-link textarea, #explore-link input')"
                               "?.value || '').includes('tab=explore')", timeout=30_000)
    finally:
        page.close()


def test_a_garbage_link_loads_the_defaults_and_says_so_in_one_sentence(app_url, browser):
    garbage = ("?tab=explore&dataset=mars&encoder=%3Cscript%3E&beta=-4&n=ten&steps=99999&index=-1&damage=fire"
               "&amount=nan&fill=plaid&seed=-7&fps=1e9&mode=sideways&sim=quantum&zzz=1")
    page = _open(browser, app_url + garbage)
    try:
        page.wait_for_function("() => (document.querySelector('#explore-link-note')?.innerText || '')"
                               ".includes('fall back to their defaults')", timeout=60_000)
        note = page.locator("#explore-link-note").inner_text()
        assert note.count(". ") == 0 and "dataset 'mars'" in note and "zzz '1'" in note
        assert _value(page, "explore-beta") == "1"
        assert _value(page, "explore-n") == str(EXPLORE_DEFAULTS["n"])
        assert _value(page, "explore-index") == str(EXPLORE_DEFAULTS["index"])
        assert page.locator(".toast-body.error, .toast-wrap .error").count() == 0
        page.click("#explore-retrieve")  # the defaults still run
        assert "RETRIEVED" in _wait_for_verdict(page)
    finally:
        page.close()


def test_presenter_mode_at_1280x720_has_large_plot_text_and_no_advanced_controls(app_url, browser, tmp_path):
    page = _open(browser, app_url + "?present=1")
    try:
        page.wait_for_selector("body.hen-present", timeout=60_000)
        assert page.locator("#hen-next").is_visible()
        page.keyboard.press("Space")  # space = Retrieve (Explore has no Step here)
        _wait_for_verdict(page)
        page.wait_for_selector("#explore-hist .js-plotly-plot text", timeout=60_000)
        sizes = page.evaluate("""() => [...document.querySelectorAll('.js-plotly-plot text')]
            .filter((t) => t.getBoundingClientRect().width > 0 && t.textContent.trim())
            .map((t) => parseFloat(getComputedStyle(t).fontSize))""")
        assert len(sizes) > 10 and min(sizes) >= 18
        advanced = page.get_by_text("Advanced:", exact=False)
        assert advanced.count() >= 1 and not any(advanced.nth(i).is_visible() for i in range(advanced.count()))
        assert not page.locator("#explore-steps").is_visible() and not page.locator("#explore-tol").is_visible()
        page.screenshot(path=str(tmp_path / "presenter.png"))  # look at it: pytest --basetemp=DIR
        # off again: the Advanced accordion is back
        page.click("#hen-present-toggle input")
        page.wait_for_function("() => !document.body.classList.contains('hen-present')", timeout=30_000)
        assert advanced.first.is_visible() and not page.locator("#hen-next").is_visible()
        assert "present" not in parse_qs(urlsplit(page.url).query)
    finally:
        page.close()


def test_the_export_panel_downloads_a_gif_of_the_run(app_url, browser):
    page = _open(browser, app_url + "?" + link_query("explore", {**EVERY, "fps": 0}))
    try:
        page.wait_for_function("() => document.querySelector('#explore-n input')?.value === '200'", timeout=60_000)
        page.click("#explore-retrieve")
        _wait_for_verdict(page)
        page.click("#explore-export button.label-wrap, #explore-export > button")
        page.click("#explore-export-gif")
        page.wait_for_selector("#explore-export-file a[href]", timeout=120_000)
        href = page.locator("#explore-export-file a[href]").first.get_attribute("href")
        body = page.request.get(href if href.startswith("http") else app_url.rstrip("/") + href).body()
        with Image.open(io.BytesIO(body)) as gif:
            frames = [np.asarray(f.convert("RGB")) for f in ImageSequence.Iterator(gif)]
            assert gif.size == (1280, 720)
        assert len(frames) == len(_by_hand()[11]["frames"]) + 1  # the title card, then one per streamed iteration
    finally:
        page.close()
