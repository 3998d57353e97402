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
    RunRecord,
    export,
    record_from_frames,
    record_from_replay,
)
from hen_demo.ui import limits
from hen_demo.ui.errors import user_errors

SIZE_CHOICES = [("slide 1280 × 720", "slide"), ("square 720 × 720", "square")]
FORMAT_LABELS = {"gif": "GIF (animated)", "mp4": "MP4 video", "png": "PNG figure (final state)"}
KEEP_FILES = 24  # exported files kept in the export folder (Gradio copies each into its own cache to serve it)
RUN_INPUTS = 3  # components a tab passes with its last run (Explore: Replay frames, details, query)
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


def export_record(record: RunRecord, fmt: str, size: str, fps, progress=None) -> str:
    """Render ``record`` as ``fmt`` into the export folder (public caps when public); returns the file's path."""
    if fmt not in FORMAT_LABELS:
        raise ValueError(f"Export as one of {', '.join(FORMAT_LABELS)} (got '{fmt}').")
    if size not in dict((v, k) for k, v in SIZE_CHOICES):
        raise ValueError(f"Choose the export size 'slide' or 'square' (got '{size}').")
    if fps is None:
        raise ValueError("Choose the export speed (iterations per second).")
    options = ExportOptions(size=size, fps=float(fps))
    cap = record.caption
    name = "".join(ch if ch.isalnum() or ch in "-_" else "_" for ch in f"hen_{cap.dataset}_{cap.encoder}")[:48]
    name += time.strftime("_%H%M%S")
    path = export_folder() / (f"{name}_figure.png" if fmt == "png" else f"{name}.{fmt}")
    report = None if progress is None else (lambda f, d: progress(f, desc=d))
    return str(export(record, path, fmt, options, caps=export_caps(), progress=report))


def build_export_panel(run_inputs: list, make_record: Callable[..., RunRecord | None], elem_prefix: str,
                       after_run=None, caption_inputs: list | None = None, sides: tuple[str, ...] = ()) -> dict:
    """An "Export" accordion: size, speed, GIF / MP4 / PNG buttons and the download.

    Args:
        run_inputs: the components holding the tab's last run (e.g. Explore: Replay frames, details, query).
        make_record: ``make_record(run_values, snapshot, side) -> RunRecord`` (None when there is no run yet):
            ``run_values`` are the values of ``run_inputs``, ``snapshot`` those of ``caption_inputs`` when the
            last run ended, ``side`` the chosen one of ``sides`` (None without sides).
        after_run, caption_inputs: when ``after_run`` (the run's event) ends, the caption inputs are copied, so a
            control changed later does not relabel the exported run.
        sides: choices of which run to export (Compare: "A", "B").
        elem_prefix: element ids ``{prefix}-export``, ``{prefix}-export-gif`` ... (tests, presenter mode).
    Returns the panel's components by name.
    """
    snapshot = gr.State(None)  # the caption inputs as they were for the last run
    with gr.Accordion("Export this retrieval: GIF · MP4 · PNG figure", open=False, elem_id=f"{elem_prefix}-export"):
        with gr.Row(equal_height=False):
            side = (gr.Radio(list(sides), value=sides[0], label="Configuration", elem_id=f"{elem_prefix}-export-side")
                    if sides else gr.State(None))
            size = gr.Radio(SIZE_CHOICES, value="slide", label="Frame size", elem_id=f"{elem_prefix}-export-size")
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
    if after_run is not None and caption_inputs:
        after_run.then(_snapshot, caption_inputs, snapshot, api_visibility="private", show_progress="hidden")
    if not 1 <= len(run_inputs) <= RUN_INPUTS:
        raise ValueError(f"An export panel takes 1 to {RUN_INPUTS} run inputs (got {len(run_inputs)}).")
    n_run = len(run_inputs)
    padded = [*run_inputs, *(gr.State(None) for _ in range(RUN_INPUTS - n_run))]  # a fixed handler signature
    for fmt, button in buttons.items():
        button.click(_handler(fmt, elem_prefix, make_record, n_run), [*padded, snapshot, side, size, fps], file,
                     api_visibility="private", concurrency_id=EXPORT_CONCURRENCY, concurrency_limit=1)
    return {"size": size, "fps": fps, "file": file, "side": side, **buttons}


def _handler(fmt: str, elem_prefix: str, make_record, n_run: int):
    """The click handler of one format's button: (run values..., snapshot, side, size, fps) -> file path."""

    @user_errors
    def handler(run_a, run_b, run_c, snap, side, size, fps, progress=gr.Progress()):
        record = make_record([run_a, run_b, run_c][:n_run], snap, side)
        if record is None:
            raise ValueError("There is nothing to export yet: run a retrieval first, then export it.")
        return export_record(record, fmt, size, fps, progress)

    handler.__name__ = f"export_{elem_prefix}_{fmt}"
    return handler


def _snapshot(*values) -> list:
    return list(values)


def explore_record(run_values: list, snap, side=None) -> RunRecord | None:
    """Explore's last run: its Replay frames, details JSON and query image, captioned from the snapshot."""
    run, details, query = run_values
    frames = run.get("frames") if isinstance(run, dict) else run  # explore_run keeps {"frames": [...], ...}
    if not frames or not snap:
        return None
    return record_from_replay(frames, explore_caption(*snap), details, query=_image(query))


def stored_record(run_values: list, snap=None, side=None) -> RunRecord | None:
    """A tab that keeps its last run as RunRecord(s) in a State: the one for ``side`` ("A" = the first)."""
    records = run_values[0]
    if not records:
        return None
    if isinstance(records, RunRecord):
        return records
    i = 0 if side in (None, "A") else 1
    return records[i] if i < len(records) else None


def damage_text(corruption, amount, fill) -> str:
    return "no damage" if corruption in (None, "none") else f"{corruption} {float(amount or 0):.0%}, {fill} fill"


def compare_records(streamed, query, dataset, n, encoders, similarities, corruption, amount, fill) -> list[RunRecord]:
    """Compare's two sides as RunRecords (from the HENFrames each side streamed), for its State."""
    return [record_from_frames(frames, RunCaption(dataset=str(dataset), encoder=str(enc), n=int(n),
                                                  similarity=str(sim),
                                                  title=f"HEN Explorer · Compare {side} · "
                                                        f"{damage_text(corruption, amount, fill)}"), query=query)
            for side, frames, enc, sim in zip("AB", streamed, encoders, similarities) if frames]


def caption_record(streamed, dataset, encoder, similarity, n, caption: str) -> RunRecord:
    """Text → Image's run as a RunRecord: the query panel shows the empty canvas the image half starts from."""
    words = caption if len(caption) <= 60 else caption[:59] + "…"
    cap = RunCaption(dataset=str(dataset), encoder=str(encoder), n=int(n), similarity=str(similarity),
                     title=f"HEN Explorer · Text → Image · “{words}”")
    return record_from_frames(streamed, cap, query=streamed[0].image)


def explore_caption(dataset, encoder, similarity, n, corruption, amount, fill) -> RunCaption:
    """The caption of an Explore run: setup and damage (β and the verdict come from the run's details)."""
    return RunCaption(dataset=str(dataset), encoder=str(encoder), n=int(n or 0), similarity=str(similarity),
                      title=f"HEN Explorer · Explore · {damage_text(corruption, amount, fill)}")
