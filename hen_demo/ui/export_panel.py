"""The "Export" panel a tab adds under a streamed retrieval: GIF, MP4 and a PNG figure of the last run.

No math and no drawing here: the frames the run already streamed (kept by the tab, e.g. Explore's Replay
state) go to ``hen_demo.export``, which renders and encodes them; this module wires the buttons, the size /
speed choices, the progress, the public caps (``hen_demo.export.PUBLIC_EXPORT_CAPS`` when
``limits.public_mode()``) and the download.

A tab calls :func:`build_export_panel` once, inside its layout, with the components that hold its last run.
"""

from __future__ import annotations

import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path

import gradio as gr
import numpy as np

from hen_demo.export import (
    LOCAL_EXPORT_CAPS,
    PUBLIC_EXPORT_CAPS,
    ExportOptions,
    RunCaption,
    export,
    record_from_replay,
)
from hen_demo.ui import limits
from hen_demo.ui.errors import user_errors

SIZE_CHOICES = [("slide 1280 × 720", "slide"), ("square 720 × 720", "square")]
FORMAT_LABELS = {"gif": "GIF (animated)", "mp4": "MP4 video", "png": "PNG figure (final state)"}
KEEP_FILES = 24  # exported files kept in the export folder (Gradio copies each into its own cache to serve it)
EXPORT_CONCURRENCY = "export"  # one export renders at a time (it holds a core for seconds)
_LOCK = threading.Lock()


def export_caps():
    return PUBLIC_EXPORT_CAPS if limits.public_mode() else LOCAL_EXPORT_CAPS


def export_folder() -> Path:
    """A folder for exported files that keeps only the newest :data:`KEEP_FILES` (no disk filling up)."""
    root = Path(tempfile.gettempdir()) / "hen_exports"
    with _LOCK:
        root.mkdir(parents=True, exist_ok=True)
        files = sorted((p for p in root.iterdir() if p.is_file()), key=lambda p: p.stat().st_mtime)
        for old in files[: max(0, len(files) - KEEP_FILES + 1)]:
            old.unlink(missing_ok=True)
    return root


def _image(value) -> np.ndarray | None:
    if value is None:
        return None
    arr = np.asarray(value)
    return arr if arr.ndim == 3 else None


def export_run(frames, details, query, caption: RunCaption, fmt: str, size: str, fps, progress=None) -> str:
    """Render the tab's last run (Replay dictionaries + details) as ``fmt``; returns the file's path."""
    if fmt not in FORMAT_LABELS:
        raise ValueError(f"Export as one of {', '.join(FORMAT_LABELS)} (got '{fmt}').")
    if size not in dict((v, k) for k, v in SIZE_CHOICES):
        raise ValueError(f"Choose the export size 'slide' or 'square' (got '{size}').")
    if not frames:
        raise ValueError("There is nothing to export yet: press Retrieve first, then export.")
    if fps is None:
        raise ValueError("Choose the export speed (iterations per second).")
    record = record_from_replay(frames, caption, details, query=_image(query))
    options = ExportOptions(size=size, fps=float(fps))
    name = f"hen_{caption.dataset}_{caption.encoder}_{time.strftime('%H%M%S')}".replace("/", "_")
    path = export_folder() / (f"{name}_figure.png" if fmt == "png" else f"{name}.{fmt}")
    report = None if progress is None else (lambda f, d: progress(f, desc=d))
    return str(export(record, path, fmt, options, caps=export_caps(), progress=report))


def build_export_panel(frames: gr.State, details: gr.JSON, query: gr.Image, after_run,
                       caption_inputs: list, make_caption: Callable[..., RunCaption], elem_prefix: str) -> dict:
    """An "Export" accordion: size, speed, GIF / MP4 / PNG buttons and the download.

    Args:
        frames, details, query: the components holding the tab's last run (Replay frames, details JSON with the
            verdict and β, the query image).
        after_run: the run's event; when it ends the caption inputs are copied, so a later change of a control
            does not relabel the exported run.
        caption_inputs: components whose values ``make_caption(*values)`` turns into the run's caption.
        elem_prefix: element ids ``{prefix}-export-gif`` etc. (tests, presenter mode).
    Returns the panel's components by name.
    """
    snapshot = gr.State(None)  # the caption inputs as they were for the last run
    with gr.Accordion("Export this retrieval: GIF · MP4 · PNG figure", open=False,
                      elem_id=f"{elem_prefix}-export"):
        with gr.Row(equal_height=False):
            size = gr.Radio(SIZE_CHOICES, value="slide", label="Size", elem_id=f"{elem_prefix}-export-size")
            fps = gr.Slider(0.5, 25, value=4, step=0.5, label="Speed: iterations / s",
                            elem_id=f"{elem_prefix}-export-fps")
        with gr.Row():
            buttons = {fmt: gr.Button(label, size="sm", elem_id=f"{elem_prefix}-export-{fmt}")
                       for fmt, label in FORMAT_LABELS.items()}
        cap = export_caps()
        note = ("Drawn on the server from the frames the run streamed: the query, the state at every iteration, "
                "the energy curve, the similarity histogram and a caption (dataset, encoder, β both ways, N, verdict).")
        if cap.max_frames is not None and limits.public_mode():
            note += (f" Public demo: at most {cap.max_frames} frames of at most 1280 × 720 px, "
                     f"{cap.max_seconds:g} s of drawing.")
        gr.Markdown(note)
        file = gr.File(label="Download", interactive=False, elem_id=f"{elem_prefix}-export-file")
    after_run.then(_snapshot, caption_inputs, snapshot, api_visibility="private",
                   show_progress="hidden")

    for fmt, button in buttons.items():
        button.click(_handler(fmt, elem_prefix, make_caption), [frames, details, query, snapshot, size, fps], file,
                     api_visibility="private", concurrency_id=EXPORT_CONCURRENCY, concurrency_limit=1)
    return {"size": size, "fps": fps, "file": file, **buttons}


def _handler(fmt: str, elem_prefix: str, make_caption: Callable[..., RunCaption]):
    """The click handler of one format's button (the caption comes from the snapshot of the last run)."""

    @user_errors
    def handler(frames_value, details_value, query_value, snap, size_value, fps_value, progress=gr.Progress()):
        if not snap or not frames_value:
            raise ValueError("There is nothing to export yet: press Retrieve first, then export.")
        return export_run(frames_value, details_value, query_value, make_caption(*snap), fmt, size_value,
                          fps_value, progress)

    handler.__name__ = f"export_{elem_prefix}_{fmt.replace('-', '_')}"
    return handler


def _snapshot(*values) -> list:
    return list(values)


def explore_caption(dataset, encoder, similarity, n, corruption, amount, fill) -> RunCaption:
    """The caption of an Explore run: setup and damage (β and the verdict come from the run's details)."""
    damage = "no damage" if corruption in (None, "none") else f"{corruption} {float(amount or 0):.0%}, {fill} fill"
    return RunCaption(dataset=str(dataset), encoder=str(encoder), n=int(n or 0), similarity=str(similarity),
                      title=f"HEN Explorer · Explore · {damage}")
