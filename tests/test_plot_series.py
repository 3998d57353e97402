"""No plotted line visits an x value twice (a zigzag between two settings drawn as one line, issue 26 §4):
checked in every committed interactive figure, and at draw time by plotting.check_series (so every experiment's
tiny run in test_experiments.py checks its own figures too)."""

import base64
import json
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from hen_demo.experiments import plotting

RESULTS = Path(__file__).resolve().parents[1] / "results"


def _traces(html: Path) -> list[dict]:
    """The plotly traces of a figure written by plotting.write_html."""
    text = html.read_text(encoding="utf-8")
    m = re.search(r'Plotly\.newPlot\(\s*"[^"]+",\s*', text)
    assert m, f"{html} holds no plotly figure"
    return json.JSONDecoder().raw_decode(text[m.end():])[0]


def _values(v) -> list:
    if isinstance(v, dict) and "bdata" in v:  # plotly's typed-array encoding
        return np.frombuffer(base64.b64decode(v["bdata"]), dtype=np.dtype(v["dtype"])).tolist()
    return list(v)


FIGURES = sorted(RESULTS.glob("*/*.html"))


@pytest.mark.parametrize("html", FIGURES, ids=[f"{p.parent.name}/{p.name}" for p in FIGURES])
def test_no_committed_line_repeats_an_x(html):
    for t in _traces(html):
        if t.get("type") != "scatter" or "lines" not in t.get("mode", "") or "x" not in t:
            continue
        x = [str(v) for v in _values(t["x"])]
        assert len(set(x)) == len(x), f"{html.parent.name}: line {t.get('name')!r} repeats x: {x}"


def _table():
    return pd.DataFrame({"encoder": ["a", "a", "a", "a", "b", "b", "b", "b"],
                         "beta_mode": ["absolute", "relative"] * 4,
                         "n": [500, 500, 2000, 2000] * 2, "metric": np.arange(8.0)})


def test_one_line_per_group_and_beta_mode_solid_and_dashed():
    pfig, mfig = plotting.line_figures(_table(), "n", ["metric"], "encoder", "t", dash="beta_mode")
    lines = {t.name: (list(t.x), t.line.dash) for t in pfig.data}
    assert lines == {"a · absolute": ([500, 2000], "solid"), "a · relative": ([500, 2000], "dash"),
                     "b · absolute": ([500, 2000], "solid"), "b · relative": ([500, 2000], "dash")}
    assert [ln.get_linestyle() for ln in mfig.axes[0].lines] == ["-", "--", "-", "--"]


def test_a_line_that_would_zigzag_is_refused():
    with pytest.raises(ValueError, match="several points at n = 500"):
        plotting.line_figures(_table(), "n", ["metric"], "encoder", "t")
    with pytest.raises(ValueError, match="several points"):
        plotting.facet_line_figures(_table(), "n", ["metric"], [], "encoder", None, "t")
