"""Exports of a retrieval (issue 22 §1): GIF frames, durations and size; the video; the PNG figure; the caps."""

import imageio.v2 as imageio
import numpy as np
import pytest
from PIL import Image, ImageSequence

from hen_demo.export import (
    PUBLIC_EXPORT_CAPS,
    ExportOptions,
    FrameRecord,
    FrameRenderer,
    RunCaption,
    RunRecord,
    durations_ms,
    export,
    frame_size,
    layout_for,
    record_from_frames,
    record_from_replay,
    render_frames,
    video_repeats,
)
from hen_demo.pipeline import corrupt_query
from hen_demo.ui.frames import frame_record
from hen_demo.ui.memory_controls import run_options

SIDE = 32


def _image(i: int) -> np.ndarray:
    """A 32 × 32 picture that differs strongly from frame to frame (blocks of 8 px in 4 colours)."""
    rng = np.random.default_rng(i)
    palette = np.array([[230, 30, 30], [30, 200, 40], [20, 40, 220], [250, 250, 250]], dtype=np.uint8)
    blocks = palette[rng.integers(0, 4, size=(4, 4))]
    return blocks.repeat(8, axis=0).repeat(8, axis=1)


def _record(n_frames: int = 5, with_hist: bool = True) -> RunRecord:
    edges = np.linspace(-1, 1, 41)
    frames = []
    for t in range(n_frames):
        counts = np.zeros(40)
        counts[20 + t % 20] = 100
        frames.append(FrameRecord(t=t, image=_image(t), energy=10.0 - t * 2.0, n_eff=5.0 - t, top_index=3,
                                  top_weight=0.2 * (t + 1) / n_frames,
                                  hist_counts=counts if with_hist else None, hist_edges=edges if with_hist else None))
    cap = RunCaption("emoji", "kl-small", 100, beta=0.45, beta_relative=1.0, verdict_kind="retrieved",
                     verdict_text="Retrieved memory #3.")
    return RunRecord(frames, cap, query=_image(99))


def _gif_frames(path):
    with Image.open(path) as im:
        return [(np.asarray(f.convert("RGB")), f.info.get("duration")) for f in ImageSequence.Iterator(im)], im.size


@pytest.mark.parametrize("size", ["slide", "square"])
def test_gif_has_one_frame_per_iteration_plus_title_with_the_requested_size_and_durations(tmp_path, size):
    rec = _record(5)
    opts = ExportOptions(size=size, fps=5, title=True, title_s=1.0, hold_s=2.0)
    path = export(rec, tmp_path / "run.gif", options=opts)
    frames, gif_size = _gif_frames(path)
    assert gif_size == frame_size(size)
    assert len(frames) == len(rec.frames) + 1  # the title card, then one per streamed iteration
    assert [d for _, d in frames] == [1000, 200, 200, 200, 200, 2000] == durations_ms(rec, opts)
    # the last frame shows the final state in its panel (GIF palettes are per frame: close, not bit-exact)
    box = layout_for(*gif_size).state_pixels(SIDE)
    k = box.w // SIDE
    panel = frames[-1][0][box.y:box.y + box.h, box.x:box.x + box.w].astype(int)
    shown = panel[k // 2::k, k // 2::k]  # one pixel from the middle of each k × k block
    errors = [np.abs(shown - _image(t).astype(int)).mean() for t in range(5)]
    assert errors[4] < 4.0 and min(errors[:4]) > 40.0


def test_rendered_last_frame_holds_the_final_state_pixel_for_pixel():
    rec = _record(4)
    frames = render_frames(rec, ExportOptions(size="slide", title=False))
    assert len(frames) == 4 and frames[0].shape == (720, 1280, 3)
    box = layout_for(1280, 720).state_pixels(SIDE)
    k = box.w // SIDE
    assert k >= 2 and box.w == k * SIDE
    panel = frames[-1][box.y:box.y + box.h, box.x:box.x + box.w]
    expected = rec.final_image.repeat(k, axis=0).repeat(k, axis=1)  # nearest-neighbour upscale, by hand
    assert np.array_equal(panel, expected)
    assert not np.array_equal(frames[0][box.y:box.y + box.h, box.x:box.x + box.w], expected)


def test_video_decodes_with_the_same_frame_count_as_the_gif(tmp_path):
    rec = _record(6)
    # every planned frame one video frame long: the video has exactly the GIF's frames
    opts = ExportOptions(size="square", fps=4, title=False, hold_s=0.25)
    gif, _ = _gif_frames(export(rec, tmp_path / "run.gif", options=opts))
    reader = imageio.get_reader(export(rec, tmp_path / "run.mp4", options=opts), format="FFMPEG")
    try:
        video = [np.asarray(f) for f in reader]
    finally:
        reader.close()
    assert len(video) == len(gif) == 6
    assert video[0].shape == (720, 720, 3)
    # frames in the same order: each video frame is nearest to the GIF frame at its position
    for i in (0, 5):
        d = [np.abs(video[i].astype(int) - g.astype(int)).mean() for g, _ in gif]
        assert int(np.argmin(d)) == i


def test_video_holds_the_title_and_the_last_frame_for_their_durations(tmp_path):
    rec = _record(3)
    opts = ExportOptions(size="square", fps=4, title=True, title_s=1.0, hold_s=2.0)
    reader = imageio.get_reader(export(rec, tmp_path / "run.mp4", options=opts), format="FFMPEG")
    try:
        count = sum(1 for _ in reader)
    finally:
        reader.close()
    assert video_repeats(durations_ms(rec, opts), 4) == [4, 1, 1, 8]
    assert count == 14


def test_png_figure_is_the_final_frame(tmp_path):
    rec = _record(3)
    path = export(rec, tmp_path / "figure.png", options=ExportOptions(size="slide"))
    with Image.open(path) as im:
        png = np.asarray(im.convert("RGB"))
    assert np.array_equal(png, FrameRenderer(rec, "slide").render(2))


def test_bad_requests_are_refused_with_a_sentence(tmp_path):
    rec = _record(3)
    with pytest.raises(ValueError, match="frames per second"):
        export(rec, tmp_path / "a.gif", options=ExportOptions(fps=100))
    with pytest.raises(ValueError, match="size"):
        export(rec, tmp_path / "a.gif", options=ExportOptions(size="poster"))
    with pytest.raises(ValueError, match="gif, mp4, png"):
        export(rec, tmp_path / "a.bmp")
    with pytest.raises(ValueError, match="at most"):
        export(rec, tmp_path / "a.gif", options=ExportOptions(size=(1920, 1080)), caps=PUBLIC_EXPORT_CAPS)
    with pytest.raises(ValueError, match="run a retrieval first"):
        RunRecord([], rec.caption)
    assert not list(tmp_path.iterdir())  # nothing half-written


def test_public_caps_refuse_long_runs_before_rendering():
    rec = _record(PUBLIC_EXPORT_CAPS.max_frames + 1, with_hist=False)
    with pytest.raises(ValueError, match="iterations"):
        render_frames(rec, ExportOptions(size="square"), caps=PUBLIC_EXPORT_CAPS)


def test_progress_is_reported_per_frame():
    seen = []
    render_frames(_record(3), ExportOptions(size="square", title=True), progress=lambda f, d: seen.append(f))
    assert seen == pytest.approx([2 / 4, 3 / 4, 1.0])


def test_records_from_the_pipeline_and_from_replay_agree(res):
    """A real stream (HENFrame objects) and the Explore tab's kept frames (frames.frame_record) give the same record."""
    pipe = res.pipeline(res.memory_config("emoji", "pixels", 20, "l2", "softmax", 1.0, "relative"))
    clean = np.asarray(pipe.bank.images[3])
    q = corrupt_query(clean, pipe.image_size, "mask-random", 0.3, 0)
    frames = list(pipe.stream(pipe.encode_image(q), run_options(8, 1e-6, stream=False), target=3))
    a = record_from_frames(frames, RunCaption("emoji", "pixels", 20), query=q)
    details = {"verdict": frames[-1].result.verdict.kind, "beta": frames[-1].result.beta,
               "beta_relative": frames[-1].result.beta_relative, "top_index": frames[-1].result.nearest}
    b = record_from_replay([frame_record(f, pipe.bank, 8, 3) for f in frames], RunCaption("emoji", "pixels", 20),
                           details, query=q)
    assert [f.t for f in a.frames] == [f.t for f in b.frames] == [f.t for f in frames]
    assert np.array_equal(a.final_image, frames[-1].image) and np.array_equal(b.final_image, frames[-1].image)
    assert a.caption.beta == b.caption.beta and a.caption.verdict_kind == b.caption.verdict_kind
    assert "β = " in a.caption.setup_line() and "× calibrated" in a.caption.setup_line()
