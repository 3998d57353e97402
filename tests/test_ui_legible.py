"""Issue 19 §6, §9-§13: honest and legible in front of a class (no browser: the browser checks are in
tests/test_ui_browser_classroom.py)."""

from __future__ import annotations

import json

import gradio as gr
import pytest

from hen_demo.ui import plots, theme


def _fonts(spec: dict) -> list[float]:
    """Every font size a plotly figure spec sets (layout, axes, annotations, legend), recursively."""
    sizes = []

    def walk(node, key=""):
        if isinstance(node, dict):
            if key.endswith("font") and "size" in node:
                sizes.append(float(node["size"]))
            for k, v in node.items():
                walk(v, k)
        elif isinstance(node, list):
            for v in node:
                walk(v, key)

    walk(spec["layout"], "layout")
    return sizes


@pytest.mark.parametrize("spec", [
    plots.energy_spec([3.0, 2.0, 1.0]),
    plots.topk_spec([1, 2], [0.7, 0.3], target=1),
    plots.dynamics_spec([3.0, 1.0], [1, 2], [0.9, 0.1], target=1),
    plots.similarity_histogram_spec([1, 2, 3], [0.0, 0.3, 0.6, 0.9], t=1, n=6),
    plots.histogram_grid_spec({"a": {"self": [0.9, 0.8], "cross": [0.1, 0.2]}}),
    plots.histogram_spec({"self": [0.9], "cross": [0.1]}),
], ids=["energy", "topk", "dynamics", "similarity-hist", "hist-grid", "hist"])
def test_every_plot_text_is_at_least_16_px_in_the_page_font(spec):
    sizes = _fonts(spec)
    assert sizes and min(sizes) >= 16, sizes
    assert spec["layout"]["font"]["family"] == theme.FONT_FAMILY


def test_the_theme_names_no_montserrat_and_serves_no_font_file():
    t = theme.theme()
    css = t._get_theme_css() if hasattr(t, "_get_theme_css") else json.dumps(t.to_dict())
    assert "Montserrat" not in css and "@font-face" not in css
    assert theme.FONT_STACK[-1] == "sans-serif" and "Montserrat" not in theme.FONT_FAMILY
    assert "--hen-font: " + theme.FONT_FAMILY in theme.css_variables()


def test_example_labels_fit_gradio_s_60_character_cut(res):
    """Gradio's example buttons end a label longer than 60 characters with '...' (its Example component)."""
    from hen_demo.ui import compare, explore

    with gr.Blocks() as demo:
        with gr.Tab("Explore"):
            explore.build_tab(res)
        with gr.Tab("Compare"):
            compare.build_tab(res)
    labels = [lab for b in demo.blocks.values() if isinstance(b, gr.Dataset) for lab in (b.sample_labels or [])]
    assert len(labels) >= 8
    too_long = [lab for lab in labels if len(lab) > 60]
    assert not too_long, too_long


def test_separability_shows_the_damaged_queries_retrieval_beside_the_cosine_statistics(res):
    """Issue 19 §6: masked raw pixels look separable by cosine but fail L2 retrieval; the table shows both."""
    from hen_demo.ui import separability

    def no_progress(*a, **k):
        return None

    _, rows = separability.compute.__wrapped__(res, "emoji", ["pixels"], 200, "mask-random", 0.4, 0,
                                               progress=no_progress)
    row = dict(zip(separability.HEADERS, rows[0]))
    assert row["cosine: nearest = own memory"] > 0.9  # the cosine view: separable
    assert row["L2: nearest = own memory (NN ceiling)"] < 0.3  # the retrieval's view: not
    assert row["retrieval identity (L2, calibrated β)"] <= row["L2: nearest = own memory (NN ceiling)"] + 0.1


def test_uhop_stage2_pictures_end_labelled_with_a_tick_or_a_cross(res):
    """Issue 19 §12: Stage II's "plain MHN" and "U-Hop" results say which memory they reached, ✓ or ✗."""
    from hen_demo.ui import uhop_tab

    frames = list(uhop_tab.run_uhop(res, "digits", "pixels", 20, "mask-random", 0.5, 2, 1.0, 2.0, 1.0, 2, -1,
                                    "relative", delay=0, progress=None))
    assert frames[0][7] == {"__type__": "update", "label": "plain MHN"}  # a new run clears the last verdict
    last = frames[-1]
    status = last[-1]
    for k, model in ((7, "plain MHN"), (8, "U-Hop")):
        label = last[k]["label"]
        assert label.startswith(f"{model}: #") and ("✓" in label) != ("✗" in label), label
        word = "correct" if "✓" in label else "wrong"
        assert f"#{label.split('#')[1].split()[0]} ({word})" in status  # the label agrees with the status line
    assert uhop_tab.result_label("U-Hop", 3, False, 7) == "U-Hop: #3 ✗ (wanted #7)"
