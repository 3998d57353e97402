"""The teaching tabs' handlers give textbook results, and both tabs work in a headless browser."""

import math
import os
import shutil
import socket

import numpy as np
import pytest

from hen_demo.memory.classical import flip_bits
from hen_demo.ui import classroom, classroom_capacity
from hen_demo.ui.patterns import (
    binarise_drawing,
    letter_pattern,
    sklearn_digit_patterns,
    state_image,
    text_patterns,
)


class _NoProgress:
    def __call__(self, *args, **kwargs):
        pass


def test_teaching_patterns_are_balanced_bipolar_grids():
    xi = text_patterns("XOLT")
    assert xi.shape == (4, 256) and set(np.unique(xi)) == {-1, 1}
    assert np.all(np.abs(xi.mean(axis=1)) < 0.1)  # median binarisation: about half the cells on
    assert not np.array_equal(letter_pattern("X"), letter_pattern("O"))
    digits, labels = sklearn_digit_patterns(10)
    assert digits.shape == (10, 256) and sorted(labels.tolist()) == list(range(10))
    with pytest.raises(ValueError):
        text_patterns("  ,")


def test_state_picture_binarises_back_to_the_same_pattern():
    xi = text_patterns("XO")
    noisy = flip_bits(xi[0], 0.2, seed=1)
    img = state_image(noisy, grid=False)  # what the query editor shows
    np.testing.assert_array_equal(binarise_drawing(img), noisy)
    rgba = np.dstack([img, np.full(img.shape[:2], 255, np.uint8)])
    np.testing.assert_array_equal(binarise_drawing({"composite": rgba, "background": None}), noisy)


def test_classroom_recall_animation_descends_and_recalls_the_letter():
    xi, *_ = classroom.store("letters", "XOLT", 5, 10, [])
    editor, query = classroom.corrupt(xi, 2, 0.2, 0)
    frames = list(classroom.animate_recall(xi, editor, query, "asynchronous", 16, 0.0, 4, 0))
    assert len(frames) > 5
    energies = frames[-1][1].data[0].y  # the full energy curve of the last frame
    assert np.all(np.diff(energies) <= 1e-9)
    assert "stored pattern #2" in frames[-1][2]
    sync = list(classroom.animate_recall(xi, None, query, "synchronous", 1, 0.0, 4, 0))
    assert "stored pattern #2" in sync[-1][2]


def test_kohonen_vs_amari_on_a_masked_letter():
    xi, *_ = classroom.store("letters", "XOLT", 5, 10, [])
    masked, amari, kohonen, text = classroom.kohonen_vs_amari(xi, 0, "bottom", 0.5)
    assert "0 of 256 cells wrong" in text
    assert masked.shape == amari.shape == kohonen.shape
    assert not np.array_equal(amari, kohonen)  # Kohonen's output is graded (cross-talk shows)
    assert float(text.split("by at most ")[1].rstrip(".")) < 1e-9  # exact with orthonormal keys


def test_capacity_and_dense_sections_give_textbook_numbers():
    _, low = classroom_capacity.spurious_demo(256, 13, 0.0, 0)
    assert "**13/13**" in low
    _, high = classroom_capacity.spurious_demo(256, 77, 0.0, 0)
    assert "**0/77**" in high
    fig = classroom_capacity.capacity_plot(100, 20, 0.0, progress=_NoProgress())
    recalled = np.asarray(fig.data[0].y, dtype=float)
    assert recalled[0] == 1.0 and recalled[-1] == 0.0
    _, text = classroom_capacity.dam_recall(4, 5, 0.15, 0)
    assert "n = 2: 0/5" in text and "n = 4 (Minerva 2): 5/5" in text


def test_attention_demo_matches_sdpa_on_screen():
    xi, *_ = classroom.store("letters", "XOLT", 5, 10, [])
    query, new, fig, text = classroom_capacity.attention_demo(xi, 1, 0.3, 0.02)
    weights = np.asarray(fig.data[0].y, dtype=float)
    assert math.isclose(weights.sum(), 1.0, rel_tol=1e-5) and int(np.argmax(weights)) == 1
    diff = float(text.split("largest difference **")[1].split("**")[0])
    assert diff < 1e-4


def test_add_drawing_binarises_and_switches_the_source():
    canvas = np.zeros((256, 256, 4), np.uint8)  # transparent sketchpad layer
    canvas[100:156, 40:216, 3] = 255  # an opaque black bar
    drawings, picture, note, source = classroom.add_drawing({"composite": canvas, "background": None}, [])
    assert len(drawings) == 1 and drawings[0].reshape(16, 16)[7, 5] == 1 and drawings[0][0] == -1
    assert source["value"] == "my drawings"
    xi, *_ = classroom.store("my drawings", "", 5, 10, drawings)
    assert xi.shape == (1, 256)


def test_classroom_bad_inputs():
    with pytest.raises(Exception):  # user_errors turns ValueError into gr.Error
        classroom.store("my drawings", "", 5, 10, [])
    with pytest.raises(Exception):
        list(classroom.animate_recall(None, None, None, "asynchronous", 8, 0.0, 4, 0))


@pytest.mark.slow
def test_uhop_tab_callback_lowers_loss_and_returns_finite_plots(res):
    from hen_demo.ui import uhop_tab

    frames = list(uhop_tab.run_uhop(res, "digits", "pixels", 30, "mask-random", 0.5, 8, 1.0, 2.0, 1.0, 3, -1,
                                    delay=0, progress=None))
    summary = next(f for f in frames if isinstance(f[2], str))  # the frame with the before/after table
    loss_fig, hist_fig, table, margin_fig = summary[0], summary[1], summary[2], summary[3]
    losses = np.asarray(loss_fig.data[0].y, dtype=float)
    assert len(losses) == 9 and losses[-1] < losses[0] - 0.1
    for fig in (loss_fig, hist_fig, margin_fig):
        for trace in fig.data:
            values = np.asarray(trace.x if trace.y is None else trace.y, dtype=float)
            assert values.size and np.all(np.isfinite(values))
    assert "identity accuracy" in table
    stage2 = [f for f in frames if isinstance(f[7], np.ndarray)]
    assert stage2 and stage2[-1][7].ndim == 3
    assert frames[-1][-1].startswith("Done.")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.browser
@pytest.mark.slow
def test_both_tabs_in_a_headless_browser(tmp_path, res):
    chromium = "/usr/bin/chromium"
    if not os.path.exists(chromium) and not shutil.which("chromium"):
        pytest.skip("chromium is not installed")
    playwright = pytest.importorskip("playwright.sync_api")
    import gradio as gr

    from hen_demo.ui import uhop_tab

    with gr.Blocks() as demo:
        with gr.Tab("U-Hop"):
            uhop_tab.build_tab(res)
        with gr.Tab("Classroom"):
            classroom.build_tab()
    demo.queue()
    port = _free_port()
    demo.launch(server_port=port, prevent_thread_lock=True)
    try:
        with playwright.sync_playwright() as p:
            browser = p.chromium.launch(executable_path=chromium, headless=True, args=[
                "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                "--disable-sync", "--no-first-run"])
            page = browser.new_page(viewport={"width": 1400, "height": 900})
            page.goto(f"http://127.0.0.1:{port}/")
            page.locator("#uhop-run").wait_for(timeout=30_000)
            page.get_by_role("tab", name="Classroom").click()
            page.locator("#classroom-store").wait_for(timeout=30_000)
            page.wait_for_timeout(3000)  # the first visit stores the default letters and makes a noisy query
            # draw an X on the sketchpad and add it as a pattern
            page.locator("button[aria-label='Brush']").first.click()
            box = page.locator("canvas").first.bounding_box()
            for sign in (1, -1):
                x0 = box["x"] + box["width"] * (0.5 - 0.2 * sign)
                page.mouse.move(x0, box["y"] + box["height"] * 0.2)
                page.mouse.down()
                for k in range(1, 16):
                    page.mouse.move(x0 + sign * k * box["width"] * 0.027, box["y"] + box["height"] * (0.2 + k * 0.04))
                page.mouse.up()
            page.get_by_role("button", name="Add drawing").click()
            page.get_by_text("1 drawing(s) ready").wait_for(timeout=30_000)
            page.get_by_role("tab", name="3 · Energy and recall").click()  # the Classroom's steps are sub-tabs
            page.locator("#classroom-recall").click()
            page.locator("#classroom-status").get_by_text("Final state").wait_for(timeout=60_000)
            assert "stored pattern" in page.locator("#classroom-status").inner_text()
            page.screenshot(path=str(tmp_path / "classroom.png"))
            browser.close()
    finally:
        demo.close()


# ---- hen_demo.memory.teaching: the classroom's Kohonen vs Amari math, moved out of the tab ---------------------
def _hadamard(d: int) -> np.ndarray:
    h = np.ones((1, 1))
    while h.shape[0] < d:
        h = np.block([[h, h], [h, -h]])
    return h


def test_masked_query_hides_exactly_the_asked_cells():
    from hen_demo.memory.teaching import masked_query

    p = np.where(np.arange(20) % 3 == 0, 1.0, -1.0)
    bottom = masked_query(p, "bottom", 0.25)
    assert np.all(bottom[-5:] == 0) and np.array_equal(bottom[:-5], p[:-5])
    top = masked_query(p, "top", 0.25)
    assert np.all(top[:5] == 0) and np.array_equal(top[5:], p[5:])
    r1, r2 = masked_query(p, "random", 0.5, seed=3), masked_query(p, "random", 0.5, seed=3)
    assert np.sum(r1 == 0) == 10 and np.array_equal(r1, r2)
    assert np.array_equal(r1[r1 != 0], p[r1 != 0])
    assert np.array_equal(p, np.where(np.arange(20) % 3 == 0, 1.0, -1.0))  # the pattern itself is untouched
    with pytest.raises(ValueError, match="Unknown mask"):
        masked_query(p, "left", 0.5)
    with pytest.raises(ValueError, match="between 0 and 1"):
        masked_query(p, "top", 1.5)


def test_kohonen_vs_amari_against_the_sum_over_memories():
    from hen_demo.memory.teaching import kohonen_vs_amari, orthonormal_keys

    rng = np.random.default_rng(0)
    xi = rng.choice([-1.0, 1.0], size=(6, 64))
    r = kohonen_vs_amari(xi, 2, "bottom", 0.5)
    q = xi[2].copy()
    q[32:] = 0
    reference = sum(xi[nu] * float(np.sum(xi[nu] * q)) for nu in range(6))  # M q = sum_nu xi_nu (xi_nu . q)
    np.testing.assert_allclose(r.kohonen, reference)
    np.testing.assert_array_equal(r.amari, np.sign(reference))
    assert r.signal == 32.0  # half the cells of a bipolar pattern are kept: xi_mu . q = D / 2
    others = [abs(float(np.sum(xi[nu] * q))) for nu in range(6) if nu != 2]
    assert r.cross_talk == max(others)
    assert r.wrong_cells == int(np.sum(np.sign(reference) != xi[2]))
    assert r.orthonormal_error < 1e-9
    keys = orthonormal_keys(xi)
    np.testing.assert_allclose(keys @ keys.T, np.eye(6), atol=1e-12)
    with pytest.raises(ValueError, match="not stored"):
        kohonen_vs_amari(xi, 6)


def test_orthogonal_patterns_have_no_cross_talk():
    from hen_demo.memory.teaching import kohonen_vs_amari

    xi = _hadamard(16)[1:5]  # 4 mutually orthogonal bipolar patterns
    r = kohonen_vs_amari(xi, 1, "top", 0.0)  # the full pattern as the cue
    assert r.cross_talk == 0.0 and r.signal == 16.0 and r.wrong_cells == 0
    assert r.kohonen_cosine == pytest.approx(1.0)
    many = kohonen_vs_amari(np.ones((5, 4)) * np.array([1, -1, 1, -1]), 0, "top", 0.0)  # P > D: no orthonormal keys
    assert np.isnan(many.orthonormal_error)
