"""The tabs keep their last run for the export panel (issue 22 §1): Compare's two sides, Text → Image's recall."""

import numpy as np
import pytest
from PIL import Image, ImageSequence

from hen_demo.export import FrameRecord, RunCaption, RunRecord
from hen_demo.ui import classroom, compare, export_panel, state, text2image
from hen_demo.ui.explore import EXAMPLE_CAPTION


def _quiet(*args, **kwargs):
    pass


def _gif_count(path) -> int:
    with Image.open(path) as im:
        return sum(1 for _ in ImageSequence.Iterator(im))


def test_compare_keeps_both_sides_and_each_exports_one_frame_per_iteration(res):
    out = list(compare.compare.__wrapped__(res, "photos", 27, 8, 1e-6, 3, "occlude-bottom", 0.5, 0, "pixels", "l2", 1.0,
                                           "pixels", "cosine", 1.0, progress=_quiet))
    records = out[-1][10]
    assert all(not isinstance(o[10], list) for o in out[:-1])  # only the last message carries the run
    a, b = (export_panel.stored_record([records], None, side) for side in ("A", "B"))
    assert isinstance(a, RunRecord) and a is not b
    assert "Compare A" in a.caption.title and b.caption.similarity == "cosine"
    assert a.caption.verdict_kind in ("retrieved", "metastable", "wrong") and a.caption.beta is not None
    path = export_panel.export_record(a, "gif", "square", 5)
    assert _gif_count(path) == len(a.frames) + 1


def test_text_to_image_keeps_its_recall_for_export(res):
    args = ("photos", "pixels", "l2", "softmax", 0.001, 27, 20, 1e-6, EXAMPLE_CAPTION, state.default_text_encoder())
    out = list(text2image.text_to_image.__wrapped__(res, *args, False, 10, 3.0, progress=_quiet))
    record = out[-1][6]
    assert isinstance(record, RunRecord) and "Text → Image" in record.caption.title
    assert np.array_equal(record.final_image, record.frames[-1].image)
    path = export_panel.export_record(record, "png", "slide", 4)
    with Image.open(path) as im:
        assert im.size == (1280, 720)


def test_classroom_recall_exports_the_frames_it_animated():
    xi, _, _, _, _, _, _ = classroom.store("letters", "HEN", 5, 10, [])
    noisy = classroom.corrupt(xi, 0, 0.2, 0)[1]
    record = classroom.recall_record(xi, None, noisy, "asynchronous", 8, 4, 0)
    shown = list(classroom.animate_recall.__wrapped__(xi, None, noisy, "asynchronous", 8, 0.0, 4, 0))
    assert len(record.frames) == len(shown) - 1  # the animation's frames, then its final view
    assert np.array_equal(record.final_image, shown[-1][0]) and record.caption.verdict_kind
    path = export_panel.export_record(record, "gif", "square", 10)
    assert _gif_count(path) == len(record.frames) + 1


def test_public_mode_bounds_an_export(monkeypatch):
    frames = [FrameRecord(t=t, image=np.zeros((8, 8, 3), np.uint8), energy=-float(t)) for t in range(62)]
    record = RunRecord(frames, RunCaption("emoji", "pixels", 10))
    monkeypatch.setenv("HEN_PUBLIC", "1")
    with pytest.raises(ValueError, match="at most 61"):
        export_panel.export_record(record, "gif", "square", 10)
    with pytest.raises(ValueError, match="'slide' or 'square'"):
        export_panel.export_record(record, "gif", "poster", 10)
    monkeypatch.setenv("HEN_PUBLIC", "0")
    assert _gif_count(export_panel.export_record(record, "gif", "square", 25)) == 63
