"""Public-server limits (hen_demo.ui.limits, errors, app): caps, N grid, image sizes before decoding, upload size,
seeds and library errors as sentences, time limits, ZeroGPU wrapper, the app without ``spaces``."""

import logging
import os
import socket
import sys
import types

import gradio as gr
import httpx
import numpy as np
import pytest
from gradio.components.image_editor import EditorData
from gradio.data_classes import FileData
from PIL import Image

from hen_demo.ui import errors, limits, resources, state


@pytest.fixture
def local(monkeypatch):
    monkeypatch.delenv("SPACE_ID", raising=False)
    monkeypatch.delenv("HEN_PUBLIC", raising=False)
    monkeypatch.delenv("HEN_TIME_LIMIT", raising=False)


@pytest.fixture
def public(monkeypatch):
    monkeypatch.setenv("HEN_PUBLIC", "1")
    monkeypatch.delenv("HEN_TIME_LIMIT", raising=False)


def test_public_mode_from_env(monkeypatch, local):
    assert not limits.public_mode()
    monkeypatch.setenv("SPACE_ID", "someone/hen-explorer")
    assert limits.public_mode() and limits.caps().max_n == limits.PUBLIC_CAPS.max_n
    monkeypatch.setenv("HEN_PUBLIC", "0")
    assert not limits.public_mode() and limits.caps().max_n is None


def test_n_off_the_grid_is_snapped(local):
    assert [limits.snap_n(v, 20870) for v in (1, 14, 16, 1234, 20869, 99999)] == [10, 10, 20, 1230, 20870, 20870]
    assert [limits.snap_n(v, 27) for v in (10, 24, 26)] == [10, 20, 27]  # the slider's top is the dataset size
    assert state.snap_n("tiles", 15.0) in (10, 20)


def test_off_grid_n_reuses_the_bank(monkeypatch, local):
    built = []
    monkeypatch.setattr(resources, "build_bank", lambda dataset, enc, n, **kw: built.append(n) or {"n": n})
    monkeypatch.setattr(resources.Resources, "encoder", lambda self, name: None)
    res = resources.Resources(budget=10**6, max_age=None)
    a = res.bank("tiles", "pixels", 20)
    b = res.bank("tiles", "pixels", 21)  # a script's off-grid N
    assert a is b and built == [20]


def test_public_cap_on_n_is_a_sentence(public):
    with pytest.raises(ValueError, match=r"at most 5,000 memories .*own machine"):
        limits.snap_n(20000, 20870)


def big_png(path, side=10_000):
    Image.new("1", (side, side)).save(path)  # 1-bit: cheap to write, 10,000 × 10,000 px in the header
    return str(path)


def test_oversized_editor_image_refused_before_decoding(tmp_path, monkeypatch, local):
    with gr.Blocks() as demo:
        editor = gr.ImageEditor(type="numpy")
    limits.guard_inputs(demo)
    decoded = []
    monkeypatch.setattr(gr.ImageEditor, "convert_and_format_image", lambda self, *a, **k: decoded.append(1))
    f = FileData(path=big_png(tmp_path / "huge.png"))
    with pytest.raises(gr.Error) as info:
        editor.preprocess(EditorData(background=f, layers=[], composite=f))
    # 10,000 × 10,000 px in the header ("10,000 × 10,000 px"; with the app's PIL limit: "100,000,000 pixels")
    assert ("10,000 × 10,000 px" in info.value.message or "100,000,000 pixels" in info.value.message)
    assert "4,096 px" in info.value.message
    assert decoded == []  # refused from the header, nothing decoded
    assert editor.get_block_name() == "imageeditor"  # the browser still gets the editor component


def test_guarded_inputs_keep_their_frontend_component(local):
    """A guarded template component (Sketchpad, Paint: ImageEditor's frontend) must keep its block name; a
    subclass named after its base would ask the browser for a "sketchpad" component that does not exist (a
    404, and the page's load events never run)."""
    with gr.Blocks() as demo:
        blocks = [gr.Sketchpad(), gr.Paint(), gr.ImageEditor(), gr.Image(), gr.Number(label="seed")]
    want = [b.get_block_name() for b in blocks]
    limits.guard_inputs(demo)
    assert all(type(b).__name__.startswith("Checked") for b in blocks)
    assert [b.get_block_name() for b in blocks] == want == ["imageeditor"] * 3 + ["image", "number"]


def test_editor_blob_and_small_images_pass(tmp_path, local):
    with gr.Blocks() as demo:
        editor = gr.ImageEditor(type="numpy")
        image = gr.Image(type="numpy")
    limits.guard_inputs(demo)
    small = tmp_path / "small.png"
    Image.new("RGB", (64, 48), "red").save(small)
    out = editor.preprocess(EditorData(background=FileData(path=str(small)), layers=[],
                                       composite=FileData(path=str(small))))
    assert out["background"].shape[:2] == (48, 64)
    with pytest.raises(gr.Error, match="largest side accepted is 4,096 px"):
        image.preprocess(gr.components.image.ImageData(path=big_png(tmp_path / "huge.png", 5000)))


def test_unreadable_editor_image_is_a_sentence(tmp_path, local):
    with gr.Blocks() as demo:
        editor = gr.ImageEditor(type="numpy")
    limits.guard_inputs(demo)
    bad = tmp_path / "bad.png"
    bad.write_bytes(b"not an image at all")
    with pytest.raises(gr.Error, match="could not be read as an image"):
        editor.preprocess(EditorData(background=FileData(path=str(bad)), layers=[], composite=None))


def test_decompression_bomb_is_a_sentence(tmp_path, monkeypatch, local):
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", Image.MAX_IMAGE_PIXELS)
    limits.configure_pil()  # as the app does at start
    with gr.Blocks() as demo:
        editor = gr.ImageEditor(type="numpy")
    limits.guard_inputs(demo)
    f = FileData(path=big_png(tmp_path / "huge.png"))
    with pytest.raises(gr.Error, match=r"100,000,000 pixels; the largest side accepted is 4,096 px"):
        editor.preprocess(EditorData(background=f, layers=[], composite=None))


def test_stream_frames_are_capped():
    assert [limits.stream_every(t) for t in (1, 60, 61, 300)] == [1, 1, 2, 5]


def test_seed_out_of_range_is_a_sentence(local):
    with gr.Blocks() as demo:
        seed = gr.Number(0, precision=0, label="seed")
    limits.guard_inputs(demo)
    assert seed.preprocess(7) == 7
    with pytest.raises(gr.Error) as info:
        seed.preprocess(2**70)
    assert "0 to 4,294,967,295" in info.value.message and "long long" not in info.value.message


def test_library_errors_read_as_sentences(caplog):
    @errors.user_errors
    def handler(seed):
        np.random.default_rng(0).integers(0, 2**63 - 1)  # fine
        raise OverflowError("Overflow when unpacking long long")

    with pytest.raises(gr.Error) as info:
        handler(2**70)
    assert "too large" in info.value.message and "long long" not in info.value.message
    assert not info.value.print_exception


def test_expected_error_logs_one_line_unexpected_a_traceback_and_id(caplog):
    @errors.user_errors
    def bad_input():
        raise ValueError("Pick a stored memory between #0 and #9.")

    @errors.user_errors
    def bug():
        raise KeyError("internal")

    with caplog.at_level(logging.INFO, logger="hen_demo.ui"):
        with pytest.raises(gr.Error, match="Pick a stored memory"):
            bad_input()
        with pytest.raises(gr.Error) as info:
            bug()
    lines = {r.levelname: r for r in caplog.records}
    assert lines["INFO"].exc_info is None
    error_id = info.value.message.split("error id ")[1][:8]
    assert error_id in lines["ERROR"].getMessage() and lines["ERROR"].exc_info is not None


class _FakeClock:
    """errors' clock: time moves only when the work says so (no sleeps, no wall clock)."""

    def __init__(self):
        self.now = 1000.0

    def monotonic(self):
        return self.now


def test_time_limit_stops_a_stream_with_a_sentence(monkeypatch):
    monkeypatch.setenv("HEN_TIME_LIMIT", "0.05")
    clock = _FakeClock()
    monkeypatch.setattr(errors, "time", clock)

    @errors.user_errors
    def slow():
        for i in range(100):
            clock.now += 0.02  # each item takes 20 ms of (fake) time
            yield i

    got = []
    with pytest.raises(gr.Error, match="time limit"):
        for item in slow():
            got.append(item)
    assert len(got) == 3  # 20, 40 ms are within 50 ms; the item after 60 ms is refused


def test_time_limit_through_progress(monkeypatch):
    monkeypatch.setenv("HEN_TIME_LIMIT", "0.05")
    calls = []
    clock = _FakeClock()
    monkeypatch.setattr(errors, "time", clock)

    @errors.user_errors
    def work(progress=None):
        for i in range(100):
            clock.now += 0.02
            progress(i / 100, desc="working")

    with pytest.raises(gr.Error, match="0 s time limit"):
        work(progress=lambda *a, **k: calls.append(a))
    assert len(calls) == 2


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_upload_over_the_size_cap_is_refused(monkeypatch, local):
    from hen_demo.ui import app

    monkeypatch.setattr(limits, "MAX_FILE_SIZE", "2kb")
    monkeypatch.setattr(app, "start_housekeeping", lambda *a, **k: None)
    with gr.Blocks() as demo:
        gr.File()
    port = free_port()
    app.launch(demo, host="127.0.0.1", port=port, prevent_thread_lock=True, quiet=True)
    try:
        url = f"http://127.0.0.1:{port}/gradio_api/upload"
        small = httpx.post(url, files={"files": ("a.bin", b"x" * 1000)}, timeout=30)
        big = httpx.post(url, files={"files": ("b.bin", b"x" * 5000)}, timeout=30)
    finally:
        demo.close()
    assert small.status_code == 200
    assert big.status_code == 413 and "2" in big.text


def test_public_app_caps_its_sliders(public):
    """Every capped control is found by label (a relabelled one would escape the cap: this test fails then)."""
    from hen_demo.ui.app import build_app

    demo = build_app(warm=False)
    counts = limits.guard_inputs(demo)  # build_app already guarded; a second pass finds the same components
    assert counts["image"] >= 3 and counts["seed"] >= 4
    assert counts["n"] >= 3 and counts["steps"] >= 2 and counts["iterations"] >= 1 and counts["experiment"] == 1
    sliders = [b for b in demo.blocks.values() if isinstance(b, gr.Slider)]
    steps = [b for b in sliders if "steps t" in str(b.label).lower()]
    assert all(b.maximum <= limits.PUBLIC_CAPS.max_steps for b in steps)
    with pytest.raises(gr.Error, match="at most 100 retrieval steps"):
        steps[0].preprocess(300)
    size = next(b for b in demo.blocks.values() if isinstance(b, gr.Radio) and str(b.label).lower() == "size")
    assert [c[1] for c in size.choices] == ["tiny"]
    heavy = [fn for fn in demo.fns.values() if fn.concurrency_id == limits.HEAVY]
    assert len(heavy) >= 4 and all(fn.concurrency_limit == 1 for fn in heavy)


def test_gpu_wrapper_with_and_without_spaces(monkeypatch):
    def handler(x):
        return x

    monkeypatch.setitem(sys.modules, "spaces", None)  # import spaces -> ImportError
    assert state.gpu(handler) is handler
    seen = {}

    def GPU(duration=None):
        seen["duration"] = duration
        return lambda fn: ("wrapped", fn)

    monkeypatch.setitem(sys.modules, "spaces", types.SimpleNamespace(GPU=GPU))
    assert state.gpu(handler, duration=30) == ("wrapped", handler) and seen["duration"] == 30


def test_run_folder_keeps_the_newest_runs(tmp_path, monkeypatch):
    monkeypatch.setenv("HEN_RUNS_DIR", str(tmp_path))
    folders = []
    for i in range(7):
        f = limits.run_folder("beta-sweep", keep=3)
        (f / "x.csv").write_text("1")
        os.utime(f, (1_000_000 + i, 1_000_000 + i))  # run i is older than run i + 1 (set, not waited for)
        folders.append(f)
    left = sorted(p for p in tmp_path.iterdir())
    assert len(left) == 3 and set(left) == set(folders[-3:])
