"""Experiment HTML figures work offline: no page loads a script from the network (issue 10 §5)."""

import re
from pathlib import Path

import plotly.graph_objects as go

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


def test_write_html_puts_plotly_js_beside_and_no_cdn(tmp_path):
    out = tmp_path / "results" / "demo" / "demo.html"
    write_html(go.Figure(go.Scatter(x=[0, 1], y=[1, 0])), out)
    html = out.read_text(encoding="utf-8")
    assert "cdn.plot.ly" not in html
    assert _sources(html) == [f"../{PLOTLY_JS}"]
    js = tmp_path / "results" / PLOTLY_JS
    assert js.stat().st_size > 1_000_000  # the real bundle, not a stub
    assert "plotly" in js.read_text(encoding="utf-8", errors="ignore")[:2000].lower()
