"""Experiment HTML figures work offline: no page loads a script from the network (issue 10 §5)."""

import os
import re
from pathlib import Path

import plotly.graph_objects as go
import pytest

from hen_demo.experiments.plotting import PLOTLY_JS, write_html

ROOT = Path(__file__).resolve().parents[1]
SCRIPT_SRC = re.compile(r"<script[^>]*\ssrc=\"([^\"]+)\"", re.I)


def _sources(html: str) -> list[str]:
    return SCRIPT_SRC.findall(html)


def test_committed_html_plots_reference_no_external_script():
    pages = sorted((ROOT / "results").glob("*/*.html"))
    assert pages, "no committed HTML figures found under results/"
    for page in pages:
        srcs = _sources(page.read_text(encoding="utf-8"))
        assert srcs, f"{page} loads no plotly.js at all (it would be blank)"
        for src in srcs:
            assert not re.match(r"(https?:)?//", src), f"{page} loads {src} from the network"
            assert (page.parent / src).resolve().is_file(), f"{page} refers to {src}, which is not shipped"


@pytest.mark.browser
@pytest.mark.slow
@pytest.mark.skipif(not os.path.exists("/usr/bin/chromium"), reason="/usr/bin/chromium is not installed")
def test_committed_html_plots_draw_in_an_offline_browser():
    """Each committed figure, opened from disk in chromium with the network switched off, draws its plot and asks
    the network for nothing (the CDN URLs inside plotly.min.js are for map tiles and icons no figure uses)."""
    sync_api = pytest.importorskip("playwright.sync_api")
    pages = sorted((ROOT / "results").glob("*/*.html"))
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=["--headless", "--no-sandbox"])
        try:
            ctx = browser.new_context(offline=True)
            page = ctx.new_page()
            remote = []
            page.on("request", lambda r: remote.append(r.url) if not r.url.startswith("file:") else None)
            for html in pages:
                page.goto(html.as_uri())
                page.wait_for_selector(".plotly-graph-div .main-svg", timeout=20_000)
                assert page.locator(".plotly-graph-div .scatterlayer .trace, .plotly-graph-div .barlayer .trace"
                                    ).count() > 0, f"{html} drew no trace"
            assert remote == [], remote
        finally:
            browser.close()


def test_write_html_puts_plotly_js_beside_and_no_cdn(tmp_path):
    out = tmp_path / "results" / "demo" / "demo.html"
    write_html(go.Figure(go.Scatter(x=[0, 1], y=[1, 0])), out)
    html = out.read_text(encoding="utf-8")
    assert "cdn.plot.ly" not in html
    assert _sources(html) == [f"../{PLOTLY_JS}"]
    js = tmp_path / "results" / PLOTLY_JS
    assert js.stat().st_size > 1_000_000  # the real bundle, not a stub
    assert "plotly" in js.read_text(encoding="utf-8", errors="ignore")[:2000].lower()


def test_read_only_image_arrays_convert_without_a_warning():
    import warnings

    import numpy as np

    from hen_demo.data.images import to_float_tensor

    a = np.arange(2 * 4 * 4 * 3, dtype=np.uint8).reshape(2, 4, 4, 3)
    a.setflags(write=False)  # a cached / memory-mapped bank hands out read-only arrays
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # "The given NumPy array is not writable" would raise here
        t = to_float_tensor(a)
    assert t.shape == (2, 3, 4, 4) and abs(float(t[1, 2, 3, 3]) * 255 - float(a[1, 3, 3, 2])) < 1e-4


def test_separability_panels_share_one_x_range():
    from hen_demo.ui import plots

    spec = plots.histogram_grid_spec({"pixels": {"self": [0.9, 1.0], "cross": [0.1, 0.2]},
                                      "kl-small": {"self": [0.5, 0.6], "cross": [-0.3, 0.0]}})
    r1, r2 = spec["layout"]["xaxis"]["range"], spec["layout"]["xaxis2"]["range"]
    assert r1 == r2 and r1[0] <= -0.3 and r1[1] >= 1.0  # both panels span every sample of both
