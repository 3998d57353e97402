"""The tabs' event handlers called directly (no server): Compare, Separability, Text -> Image, controls.

Small banks (photos, N <= 27, raw pixels or the offline text encoders) keep this fast.
"""

import os
import re

import gradio as gr
import numpy as np
import pytest

from hen_demo.ui import (
    compare,
    explore,
    explore_query,
    explore_run,
    memory_controls,
    pacing,
    present,
    separability,
    state,
    text2image,
)


def _no_progress(*args, **kwargs):
    return None


def test_explore_editor_mask_and_clean_query(res):
    img = np.full((64, 64, 3), 120, dtype=np.uint8)
    layer = np.zeros((256, 256, 4), dtype=np.uint8)
    layer[:128, :, 3] = 255  # top half painted
    value = {"background": present.show(img, 256), "layers": [layer], "composite": None}
    bg, mask = explore_query.editor_image_and_mask(value)
    assert bg.shape == (256, 256, 3) and mask.shape == (256, 256)
    assert mask[:128].all() and not mask[128:].any()
    clean, m, target = explore_query.clean_query(res, "photos", 27, "upload", -1, value)
    assert target is None and (m == mask).all() and clean.shape == (256, 256, 3)
    with pytest.raises(ValueError, match="between #0 and #26"):
        explore_query.clean_query(res, "photos", 27, "stored memory", 27, None)


def test_log_beta_widgets_round_trip(res):
    for beta in (0.001, 0.05, 1.0, 150.0, 1000.0):
        assert memory_controls.beta_from_log(memory_controls.log_from_beta(beta)) == pytest.approx(beta, rel=0.03)
    # 0, negative and empty leave the slider alone; Retrieve reports the error
    for bad in (0.0, -2.0, None):
        assert memory_controls.log_from_beta(bad) == gr.skip()
    with pytest.raises(ValueError, match="positive"):
        res.memory_config("photos", "pixels", 27, "l2", "softmax", 0.0)
    with pytest.raises(ValueError, match="steps"):
        memory_controls.run_options(0, 1e-6)
    with pytest.raises(ValueError, match="more than the 27 images"):
        memory_controls.check_n("photos", 28)


def test_unavailable_encoder_is_labelled_and_refused():
    labels = dict((v, lab) for lab, v in state.encoder_choices())
    missing = [v for v, lab in labels.items() if "(unavailable" in lab]
    if not missing:
        pytest.skip("every encoder is available here")
    assert "unavailable" in memory_controls.encoder_note(missing[0])
    with pytest.raises(ValueError, match="unavailable"):
        state.check_available("encoder", missing[0])


@pytest.mark.slow
def test_compare_streams_both_sides_to_a_verdict(res):
    frames = list(compare.compare.__wrapped__(res, "photos", 27, 20, 1e-6, 2, "noise", 0.2, 0,
                                              "pixels", "l2", 0.05, "pixels", "dot", 0.01, "absolute", "absolute",
                                              progress=_no_progress))
    assert len(frames) >= 2
    first = frames[0]
    assert isinstance(first[0], np.ndarray)  # the corrupted query is shown on the first frame
    assert isinstance(first[1], np.ndarray)  # and the target memory beside it
    assert isinstance(first[2], np.ndarray) and isinstance(first[3], np.ndarray)
    # both verdicts arrive (possibly at different frames: the sides may converge at different steps)
    verdicts = [f[i] for f in frames for i in (8, 9) if isinstance(f[i], str) and f[i]]
    assert frames[0][8] == "" or "MSE" in frames[0][8]  # the first frame clears old verdicts
    assert len(verdicts) == 2 and all("MSE" in v and "NN ceiling" in v for v in verdicts)


@pytest.mark.slow
def test_compare_at_relative_beta_shares_the_energy_scale_only_when_comparable(res):
    same = list(compare.compare.__wrapped__(res, "photos", 27, 10, 1e-6, 2, "noise", 0.2, 0,
                                            "pixels", "l2", 1.0, "pixels", "l2", 1.0, "relative", "relative",
                                            progress=_no_progress))
    last = same[-1]
    import json

    ranges = [json.loads(last[i].plot)["layout"]["yaxis"].get("range") for i in (6, 7)
              if not isinstance(last[i], type(gr.skip()))]
    assert ranges and all(r is not None for r in ranges)
    assert all("calibrated" in f[i] for f in same for i in (8, 9) if isinstance(f[i], str) and f[i])
    other = list(compare.compare.__wrapped__(res, "photos", 27, 10, 1e-6, 2, "noise", 0.2, 0,
                                             "pixels", "l2", 1.0, "pixels", "dot", 1.0, "relative", "relative",
                                             progress=_no_progress))
    for f in other:
        for i in (6, 7):
            if hasattr(f[i], "plot"):
                assert json.loads(f[i].plot)["layout"]["yaxis"].get("range") is None  # not one scale


@pytest.mark.slow
def test_separability_raw_pixels_on_photos(res):
    fig, rows = separability.compute.__wrapped__(res, "photos", ["pixels"], 27, "noise", 0.1, 0, progress=_no_progress)
    assert len(rows) == 1
    label, overlap, d_prime, nearest_own = rows[0][:4]
    assert 0.0 <= overlap <= 1.0 and np.isfinite(d_prime)
    # light noise: each photo is still closest to its own memory
    assert nearest_own == pytest.approx(1.0)
    import json

    spec = json.loads(fig.plot)
    assert len(spec["data"]) == 2  # self and cross histograms


@pytest.mark.slow
def test_text_to_image_recalls_the_captioned_photo_and_binding_mixes(res):
    enc = state.default_text_encoder()
    caption = explore.EXAMPLE_CAPTION
    args = ("photos", "pixels", "l2", "softmax", 0.001, 27, 60, 1e-6, caption, enc)
    frames = list(text2image.text_to_image.__wrapped__(res, *args, False, 10, 3.0, progress=_no_progress))
    md = frames[-1][5]  # the verdict (output 6 of 7; the 7th is the run kept for export)
    assert "RETRIEVED" in md and "#1" in md
    frames = list(text2image.text_to_image.__wrapped__(res, *args, True, 10, 3.0, progress=_no_progress))
    md = frames[-1][5]  # the verdict (output 6 of 7; the 7th is the run kept for export)
    assert "METASTABLE" in md  # HEN Fig. 6: one caption, two images -> a 50/50 mixture
    weights = dict(re.findall(r"#(\d+) p=([\d.]+)", md.split("Bound memories:")[1]))
    assert set(weights) == {"1", "10"} and all(0.45 < float(w) < 0.55 for w in weights.values())
    with pytest.raises(ValueError, match="empty"):
        list(text2image.text_to_image.__wrapped__(res, *args[:8], "  ", enc, False, 10, 3.0, progress=_no_progress))


def test_missing_tab_is_skipped_but_a_broken_one_is_not(monkeypatch, tmp_path):
    from hen_demo.ui import app

    (tmp_path / "hen_broken_tab_for_test.py").write_text("import a_module_that_does_not_exist\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setattr(app, "TABS", [("How it works", "hen_demo.ui.howto"),
                                      ("Missing", "hen_demo.ui.no_such_tab_yet"),
                                      ("Broken", "hen_broken_tab_for_test")])
    assert [label for label, _ in app.available_tabs()] == ["How it works", "Broken"]
    with pytest.raises(ImportError):
        app.build_app(warm=False)
    demo = app.build_app(warm=False, tabs=["How it works"])
    assert isinstance(demo, gr.Blocks)


def test_serve_command_line():
    from hen_demo.__main__ import build_parser

    args = build_parser(["serve", "--port", "7999", "--share"]).parse_args(["serve", "--port", "7999", "--share"])
    assert args.port == 7999 and args.share is True and args.host


def test_experiments_show_committed_leaves_no_empty_panel():
    from hen_demo.ui import experiments_tab

    plot, table, md, image, csv = experiments_tab._load.__wrapped__("beta-sweep")
    assert plot["visible"] is False  # no empty interactive-plot box
    assert image["visible"] is True and os.path.exists(image["value"])  # the committed PNG is shown
    assert len(table) > 0 and "Committed" in md and os.path.exists(csv)


def test_encoder_note_gives_the_build_time_of_a_slow_encoder_before_the_build(monkeypatch, tmp_path):
    # a paper encoder that is available (as online): the note says how long a new bank takes, from the
    # reference per-image cost when this machine has measured none; N follows the slider
    monkeypatch.setattr(state, "encoder_choices", lambda: [("VQ-f8", "vq-f8"), ("raw pixels", "pixels")])
    monkeypatch.setenv("HEN_CACHE_DIR", str(tmp_path))
    note = memory_controls.encoder_note("vq-f8", 1000)
    assert "1000 images with vq-f8" in note and "min" in note
    assert "2000 images" in memory_controls.encoder_note("vq-f8", 2000)
    assert memory_controls.encoder_note("pixels", 1000) == ""  # too fast to matter


def test_compare_shows_the_query_and_target_that_retrieve_will_use(res):
    """Before the first click Compare shows the damaged query and its target; they must be the ones the
    retrieval then streams (same corruption, same image)."""
    q, t = compare.query_and_target.__wrapped__(res, "photos", 27, 3, "occlude-bottom", 0.5, 0, "black")
    first = next(iter(compare.compare.__wrapped__(res, "photos", 27, 5, 1e-6, 3, "occlude-bottom", 0.5, 0,
                                                  "pixels", "l2", 1.0, "pixels", "l2", 1.0, progress=_no_progress)))
    assert np.array_equal(q, first[0]) and np.array_equal(t, first[1])
    assert q.shape == t.shape and not np.array_equal(q, t)  # the bottom half is hidden in the query
    with pytest.raises(ValueError, match="between #0 and #26"):
        compare.query_and_target.__wrapped__(res, "photos", 27, 99, "none", 0.0, 0, "black")


def test_plot_throttle_sends_plots_at_most_plot_hz_and_always_when_forced():
    """fps 0: the browser redraws each Plotly plot it receives, so plots go out at most PLOT_HZ times a second."""
    now = [0.0]
    throttle = pacing.PlotThrottle(hz=8.0, clock=lambda: now[0])
    sent = []
    for k in range(100):  # 100 frames 10 ms apart: 1 s
        sent.append(throttle.due(force=k == 99))
        now[0] += 0.01
    assert sent[0] and sent[-1] and 8 <= sum(sent) <= 10


def test_unthrottled_stream_sends_the_state_every_frame_and_everything_last(res):
    kw = dict(dataset="photos", encoder="pixels", similarity="l2", separation="softmax", beta=0.003, n=27, steps=30,
              tol=0.0, source="stored memory", index=2, editor=None, caption="", text_encoder="pixelized",
              corruption="noise", amount=0.2, seed=0, beta_mode="absolute", progress=_no_progress)
    frames = list(explore_run.retrieve.__wrapped__(res, fps=0, **kw))
    middle = frames[1:-1]
    assert len(middle) >= 20 and all(f[2] for f in middle)  # the status goes every frame
    assert not isinstance(frames[-1][3], type(gr.skip())) and not isinstance(frames[-1][5], type(gr.skip()))
    assert frames[-1][9] and frames[-1][11]["final"] is not None  # verdict and the run kept for playback


def test_playback_speed_is_bounded_with_a_sentence():
    for bad in (1e-9, 0.1, 31, -1, float("nan"), "abc"):
        with pytest.raises(ValueError, match="Playback speed must be"):
            pacing.check_fps(bad)
    assert pacing.check_fps(0) == 0.0 and pacing.check_fps(None) == 0.0 and pacing.check_fps("2") == 2.0
    with pytest.raises(gr.Error, match="Playback speed must be 0"):  # the endpoint refuses before any work
        next(iter(explore_run.retrieve(None, "photos", "pixels", "l2", "softmax", 1.0, 27, 5, 1e-6, "stored memory",
                                       2, fps=1e-9, progress=None)))


def test_paced_playback_waits_between_frames_not_before_the_first():
    now, waits = [0.0], []

    def sleep(s):
        waits.append(round(s, 9))
        now[0] += s

    out = list(pacing.paced(range(4), fps=2, clock=lambda: now[0], sleep=sleep))
    assert out == [0, 1, 2, 3] and waits == [0.5, 0.5, 0.5]
