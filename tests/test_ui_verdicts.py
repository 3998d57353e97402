"""Every verdict true (issue 19 §1, 4): no RETRIEVED / MSE without a stored original, top-k only where weight is."""

from types import SimpleNamespace

import numpy as np

from hen_demo.metrics import verdict_from
from hen_demo.ui import explore_run, present, state, text2image


def _quiet(*args, **kwargs):
    return None


def test_without_a_target_a_single_winner_is_settled_not_retrieved():
    v = verdict_from(339, 0.98, 1, 1.0, None)
    assert present.verdict_view(v, None) == (
        "settled", "Settled on #339 — 98 % of the weight; there is no stored original to compare with.")
    assert present.verdict_view(verdict_from(3, 0.4, 2, 2.1, None), None)[0] == "metastable"  # a mixture stays one
    assert present.verdict_view(verdict_from(3, 0.99, 1, 1.0, 5), 5)[0] == "wrong"  # with a target: judged


def test_the_top_k_panel_shows_only_memories_holding_weight():
    bank = SimpleNamespace(images=np.zeros((6, 8, 8, 3), np.uint8))
    items = present.topk_items(bank, [4, 1, 3, 0, 2], [0.97, 0.02, 0.006, 0.003, 0.001], target=4)
    assert [c for _, c in items] == ["#4 ✓ · 97 %", "#1 · 2 %"]
    assert len(present.topk_items(bank, [2, 0], [1.0, 0.0], None)) == 1


def test_an_upload_is_settled_and_scored_against_nothing(res):
    rng = np.random.default_rng(0)
    img = rng.integers(0, 256, (64, 64, 3), dtype=np.uint8)
    editor = {"background": img, "layers": [], "composite": img}
    out = list(explore_run.retrieve.__wrapped__(res, "photos", "pixels", "l2", "softmax", 1.0, 27, 20, 1e-6, "upload",
                                                None, editor, None, None, "none", 0.0, 0, 0, "relative", "black",
                                                progress=_quiet))
    details, verdict = out[-1][10], out[-1][9]
    assert details["target"] is None and "mse" not in details and "MSE" not in verdict
    assert details["verdict"] in ("settled", "metastable") and "RETRIEVED" not in verdict
    if details["verdict"] == "settled":
        assert "there is no stored original to compare with" in verdict


def test_a_caption_naming_no_stored_image_says_so_and_lists_the_closest(res):
    frames = list(text2image.text_to_image.__wrapped__(
        res, "photos", "pixels", "l2", "softmax", 0.001, 27, 10, 1e-6, "a slice of pizza on a plate",
        state.default_text_encoder(), False, 10, 3.0, "absolute", progress=_quiet))
    verdict, named = frames[-1][5], frames[0][4]
    assert "No stored caption matches" in verdict and "Closest stored captions" in verdict
    assert "RETRIEVED" not in verdict and "MSE" not in verdict
    assert len(named) == text2image.CLOSEST and all(c.startswith("closest caption #") for _, c in named)
