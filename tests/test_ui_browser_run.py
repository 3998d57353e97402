"""Explore's run path in a real browser (issue 19 §1, 2, 3, 7): the verdict without a stored original, the state after
Stop, the query kept through an error, and one iteration per Step click. Every wait is on a DOM condition.

Skipped (with the reason) when /usr/bin/chromium is not installed.
"""

import os
import re

import numpy as np
import pytest
from PIL import Image

CHROMIUM = "/usr/bin/chromium"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run"]
LONG = 180_000  # ms: the first click may build the default bank on a shared 2-core machine

pytestmark = [
    pytest.mark.browser,
    pytest.mark.slow,
    pytest.mark.skipif(not os.path.exists(CHROMIUM), reason=f"{CHROMIUM} is not installed (apt-get install chromium)"),
]


@pytest.fixture(scope="module")
def app_url():
    from ui_server import running_app

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


@pytest.fixture
def page(browser, app_url):
    page = browser.new_page(viewport={"width": 1280, "height": 720})
    page.goto(app_url, timeout=60_000)
    page.wait_for_selector("#explore-query img", timeout=LONG)  # the load chain drew the query: the page is idle
    yield page
    page.close()


def text_of(page, sel: str) -> str:
    return page.locator(sel).first.inner_text()


def wait_text(page, sel: str, pattern: str, timeout: int = LONG) -> str:
    """Wait until the text of ``sel`` matches the regular expression ``pattern``; returns that text."""
    page.wait_for_function("([sel, pat]) => new RegExp(pat).test(document.querySelector(sel)?.innerText || '')",
                           arg=[sel, pattern], timeout=timeout)
    return text_of(page, sel)


def test_an_upload_has_a_neutral_verdict_without_scores(page, tmp_path):
    rng = np.random.default_rng(0)
    path = tmp_path / "my_photo.png"
    Image.fromarray(rng.integers(0, 256, (64, 64, 3), dtype=np.uint8)).save(path)
    with page.expect_file_chooser() as chooser:
        page.click("#explore-upload")
    chooser.value.set_files(str(path))
    page.wait_for_function("() => document.querySelector(\"#explore-source input[value='upload']\")?.checked",
                           timeout=60_000)
    page.click("#explore-retrieve")
    verdict = wait_text(page, "#explore-verdict", r"SETTLED|METASTABLE")
    if "SETTLED" in verdict:
        assert re.search(r"Settled on #\d+ — \d+ % of the weight; there is no stored original to compare with",
                         verdict), verdict
    assert "RETRIEVED" not in verdict and "WRONG" not in verdict and "MSE" not in verdict, verdict


def paused_slow_run(page) -> int:
    """The example labelled slow to settle (~13 iterations) played at 0.5 frames / s, paused, then one Step:
    returns the t on screen. Pause and Step act on frames already computed, so what follows is deterministic."""
    page.get_by_text("SLOW TO SETTLE").first.click()
    page.wait_for_function("() => document.querySelector('#explore-beta input')?.value === '0.025'", timeout=30_000)
    fps = page.locator("#explore-fps input[type=number]").first
    fps.fill("0.5")
    fps.press("Enter")
    page.click("#explore-retrieve")
    wait_text(page, "#explore-status", r"playing back|t = \d+ of")
    page.click("#explore-pause")
    status = wait_text(page, "#explore-status", r"paused (before|at t = \d+)")
    # Pause says where it waits ("before t = 0", or "at t = N" when a frame was already played): the Step shows the
    # next one (waiting for any "paused at t = N" would also take Pause's own line for the Step's answer)
    at = re.search(r"paused at t = (\d+)", status)
    k = int(at.group(1)) + 1 if at else 0
    page.click("#explore-step")
    wait_text(page, "#explore-status", rf"paused at t = {k}\b")
    return k


def test_stop_says_where_it_stopped_and_shows_that_state(page):
    k = paused_slow_run(page) + 1
    page.click("#explore-step")
    wait_text(page, "#explore-status", rf"paused at t = {k}\b")
    page.click("#explore-stop")
    status = wait_text(page, "#explore-status", rf"stopped at t = {k}\b")
    assert re.search(r"energy \S+", status) and "from" in status, status  # the energy so far, and where it began
    verdict = wait_text(page, "#explore-verdict", rf"At t = {k} \(stopped\)")
    assert re.search(r"RETRIEVED|METASTABLE|WRONG|SETTLED", verdict), verdict  # that state's verdict
    assert page.locator("#explore-state img").count() >= 1  # the state reached stays on screen


def test_an_error_keeps_the_query_and_the_last_result_and_says_it_once(page):
    page.click("#explore-retrieve")
    wait_text(page, "#explore-verdict", r"MSE")  # a first result
    # its playback has ended too (its last status line): else that line can land after the refusal's sentence
    wait_text(page, "#explore-status", r"converged")
    before = page.locator("#explore-query img").first.get_attribute("src")
    beta = page.locator("#explore-beta input").first
    beta.fill("0")
    beta.press("Enter")
    page.click("#explore-retrieve")
    status = wait_text(page, "#explore-status", r"⚠️")
    assert status.count("β") + status.count("beta") >= 1, status
    assert page.locator("#explore-query img").first.get_attribute("src") == before  # the query is still there
    assert page.locator("#explore-state img").count() >= 1  # and the last result
    assert page.locator(".toast-body").count() <= 1  # the sentence once, not a toast per output
    assert "Error" not in text_of(page, "#explore-state")


def test_options_that_cannot_combine_are_refused_before_retrieve(page):
    page.locator("#explore-similarity input").first.click()
    page.get_by_role("option", name=re.compile("mask-aware")).click()
    note = wait_text(page, "#explore-combine-note", r"needs the raw-pixel encoder", timeout=30_000)
    assert "mask-aware" in note
    page.wait_for_function("() => document.querySelector('#explore-retrieve')?.disabled === true", timeout=30_000)


def test_one_iteration_per_step_click(page):
    k = paused_slow_run(page)
    for expected in (k + 1, k + 2, k + 3):
        page.click("#explore-step")
        status = wait_text(page, "#explore-status", rf"paused at t = {expected}\b")
        assert f"paused at t = {expected} " in status, (expected, status)
