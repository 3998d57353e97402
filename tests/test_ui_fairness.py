"""Explore / Compare fairness wiring (issue 9): fills reach the query, mask-aware refuses encoders and the next
call is served, the attractor census panel's counts add up, and Explore's default example retrieves at
calibrated beta while raw pixels do not."""

import gradio as gr
import numpy as np
import pytest

from hen_demo.ui import census_panel, compare, explore, explore_query, explore_run, state
from hen_demo.ui.resources import Resources

RES = Resources()


def _quiet(*args, **kwargs):
    return None


def _explore(dataset, encoder, similarity, n, index, corruption, amount, fill, beta=1.0, mode="relative"):
    return list(explore_run.retrieve.__wrapped__(RES, dataset, encoder, similarity, "softmax", beta, n, 20, 1e-6,
                                             "stored memory", index, None, None, None, corruption, amount, 0, 0,
                                             mode, fill, progress=_quiet))


@pytest.mark.parametrize("fill", ["black", "grey", "mean-image"])
def test_fill_choice_reaches_the_query(fill):
    ds = RES.dataset("photos", 27)
    img = explore_query.preview(RES, "photos", 27, "stored memory", 3, None, "occlude-bottom", 0.5, 0, fill)
    small = img[:: img.shape[0] // ds.images.shape[1], :: img.shape[1] // ds.images.shape[2]]  # undo show()
    h = small.shape[0]
    hidden = small[h // 2 + 1:].astype(float) / 255  # the bottom half (rows past the boundary)
    if fill == "black":
        assert hidden.max() == 0
    elif fill == "grey":
        grey = ds.images.astype(float).mean() / 255
        assert np.abs(hidden - grey).max() < 1.5 / 255
    else:
        mean = ds.images.astype(float).mean(0)[h // 2 + 1:] / 255
        assert np.abs(hidden - mean).max() < 1.5 / 255
    # the visible half is the stored image, untouched
    assert np.array_equal(small[: h // 2 - 1], ds.images[3][: h // 2 - 1])


def test_unknown_fill_is_an_error_sentence():
    with pytest.raises(gr.Error, match="unknown fill 'pink'"):
        explore_query.preview(RES, "photos", 27, "stored memory", 3, None, "occlude-bottom", 0.5, 0, "pink")


def test_mask_aware_with_an_encoder_is_refused_and_the_next_call_works():
    enc = state.default_encoder()
    if enc == "pixels":
        pytest.skip("no shipped encoder here")
    with pytest.raises(gr.Error, match="raw pixels only"):  # the tab's handler, as the browser calls it
        list(explore_run.retrieve(RES, "photos", enc, "mask-aware", "softmax", 1.0, 27, 20, 1e-6, "stored memory", 3, None,
                              None, None, "occlude-bottom", 0.5, 0, 0, "relative", "black", progress=_quiet))
    with pytest.raises(gr.Error, match="raw pixels only"):
        list(compare.compare(RES, "photos", 27, 20, 1e-6, 3, "occlude-bottom", 0.5, 0, "pixels", "l2", 1.0,
                                         enc, "mask-aware", 1.0, progress=_quiet))
    out = _explore("photos", "pixels", "mask-aware", 27, 3, "occlude-bottom", 0.5, "black")
    details = out[-1][10]
    assert details["correct"] and details["nn_correct"]  # the visible half identifies the photo


def test_compare_with_a_grey_fill_and_mask_aware_side_reaches_verdicts():
    frames = list(compare.compare.__wrapped__(RES, "photos", 27, 20, 1e-6, 3, "occlude-bottom", 0.5, 0,
                                              "pixels", "mask-aware", 1.0, "pixels", "l2", 1.0, fill="grey",
                                              progress=_quiet))
    verdicts = [[f[k] for f in frames if isinstance(f[k], str) and f[k]] for k in (8, 9)]
    assert "Retrieved **#3** ✓" in verdicts[0][-1]  # the mask-aware side reads the visible half
    assert "NN ceiling" in verdicts[1][-1]


def test_census_panel_counts_sum_to_the_wrong_answers():
    md, gallery, rows = census_panel.census.__wrapped__(RES, "tiles", "pixels", "l2", "softmax", 1.0, 200, 20, 1e-6,
                                                        "relative", "occlude-bottom", 0.5, "black", 0,
                                                        progress=_quiet)
    n_wrong = int(md.split(" of 200 retrievals went wrong")[0].split()[-1])
    assert n_wrong > 20  # black bottom half on raw pixels fails often
    assert sum(r[1] for r in rows) == n_wrong
    assert 1 <= len(gallery) <= census_panel.TOP
    for (img, caption), row in zip(gallery, rows):
        assert img.ndim == 3 and img.dtype == np.uint8 and caption == f"{row[0]} × {row[1]}"
    assert "NN ceiling" in md and "bank mean" in md


@pytest.mark.slow
def test_explore_default_example_retrieves_at_calibrated_beta():
    d, enc = explore.DEFAULTS, state.default_encoder()
    if enc == "pixels" or explore.DEFAULT_DATASET not in [v for _, v in state.dataset_choices()]:
        pytest.skip("no shipped encoder or no emoji atlas here")
    args = (explore.DEFAULT_DATASET, state.DEFAULT_N, d["index"], d["corruption"], d["amount"], d["fill"])
    good = _explore(explore.DEFAULT_DATASET, enc, "l2", *args[1:])[-1][10]
    assert good["correct"] and good["beta_relative"] == pytest.approx(1.0)
    bad = _explore(explore.DEFAULT_DATASET, "pixels", "l2", *args[1:])[-1][10]
    assert not bad["correct"]  # the contrast the default shows, both at calibrated beta
