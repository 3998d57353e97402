"""Headless browser test: Debian's chromium, driven by Playwright, clicks Retrieve in the real app.

Skipped (with the reason) when /usr/bin/chromium is not installed; `.ci/run` installs it.
"""

import os
import time

import pytest

CHROMIUM = "/usr/bin/chromium"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run"]

pytestmark = [
    pytest.mark.browser,
    pytest.mark.slow,
    pytest.mark.skipif(not os.path.exists(CHROMIUM), reason=f"{CHROMIUM} is not installed (apt-get install chromium)"),
]


def test_page_loads_and_a_click_streams_a_retrieval(tmp_path_factory):
    sync_api = pytest.importorskip("playwright.sync_api")
    from ui_server import running_app

    os.environ.setdefault("HEN_CACHE_DIR", str(tmp_path_factory.mktemp("hen_cache")))
    with running_app() as url, sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 1200})
            page.goto(url, timeout=60_000)
            page.wait_for_selector("#explore-retrieve", timeout=60_000)
            assert "HEN Explorer" in page.title()
            # nothing decoded before the click
            assert page.locator("#explore-state img").count() == 0
            page.click("#explore-retrieve")
            page.wait_for_selector("#explore-state img", timeout=90_000)
            page.wait_for_selector("#explore-energy .js-plotly-plot", timeout=90_000)
            src = page.locator("#explore-state img").first.get_attribute("src")
            assert src and ("/file=" in src or "gradio_api/file" in src or src.startswith("data:image"))
            # the energy plot has a drawn line with at least the query's point
            deadline = time.time() + 30
            while time.time() < deadline and page.locator("#explore-energy .scatterlayer .trace").count() == 0:
                time.sleep(0.2)
            assert page.locator("#explore-energy .scatterlayer .trace").count() >= 1
        finally:
            browser.close()
