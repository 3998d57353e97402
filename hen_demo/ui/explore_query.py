"""Explore's query: the stored memory, upload or brush-painted image a visitor retrieves from, and its damage.

``clean_query`` picks the undamaged image (and the target memory when it is a stored one); ``preview`` shows the
corrupted cue s(0) exactly as Retrieve will use it (HEN eq. 5's query before encoding). Wiring only: the corruption
is ``hen_demo.pipeline.corrupt_query``.
"""

from __future__ import annotations

import os

import gradio as gr
import numpy as np
from PIL import Image

from hen_demo.data.images import load_image_file, resize_square
from hen_demo.pipeline import corrupt_query
from hen_demo.ui import state
from hen_demo.ui.errors import user_errors
from hen_demo.ui.memory_controls import check_n, corruption_kind, fill_and_stats
from hen_demo.ui.present import show

EDITOR = 256  # px side of the brush canvas
GALLERY = 48  # stored memories offered in the picker


def editor_value(img: np.ndarray) -> dict:
    """An ImageEditor value with ``img`` as background and no brush strokes."""
    bg = show(img, EDITOR) if img.shape[0] < EDITOR else img
    return {"background": bg, "layers": [], "composite": bg}


def editor_image_and_mask(value) -> tuple[np.ndarray | None, np.ndarray | None]:
    """(background RGB uint8 (H, W, 3) or None, brush mask bool (H, W) or None) from an ImageEditor value."""
    if not value or value.get("background") is None:
        return None, None
    bg = np.asarray(value["background"])
    if bg.ndim == 3 and bg.shape[2] == 4:
        bg = bg[..., :3]
    mask = None
    for layer in value.get("layers") or []:
        if layer is None:
            continue
        a = np.asarray(layer)
        painted = a[..., 3] > 0 if a.ndim == 3 and a.shape[2] == 4 else a.max(axis=-1) > 0
        if painted.shape != bg.shape[:2]:
            painted = np.asarray(Image.fromarray(painted.astype(np.uint8) * 255).resize(bg.shape[1::-1])) > 127
        mask = painted if mask is None else (mask | painted)
    return np.ascontiguousarray(bg.astype(np.uint8)), mask


def clean_query(res, dataset: str, n: int, source: str, index, editor) -> tuple[np.ndarray, np.ndarray | None, int | None]:
    """(clean image (H, W, 3) uint8, brush mask or None, target memory index or None) for an image query."""
    bg, mask = editor_image_and_mask(editor)
    if source == "stored memory":
        if index is None or not 0 <= int(index) < n:
            raise ValueError(f"Pick a stored memory between #0 and #{n - 1} (got #{index}).")
        ds = res.dataset(dataset, n)
        return np.asarray(ds.images[int(index)]), mask, int(index)
    if source == "upload":
        if bg is None:
            raise ValueError("Upload an image first (the 'Upload an image' button), or pick a stored memory.")
        return bg, mask, None
    raise ValueError(f"Unknown query source '{source}'.")


@user_errors
def upload_query(path):
    """Load an uploaded file (validated: readable image, at most 4096 px a side) into the brush canvas."""
    if path is None:
        raise ValueError("No file was uploaded.")
    try:
        img = load_image_file(path)  # ValueError for corrupt / huge / non-image files
    except ValueError as exc:  # say "your file", not the server's temporary path
        name = os.path.basename(str(path))
        raise ValueError(str(exc).replace(str(path), name)) from exc
    img = resize_square(img, EDITOR)
    return editor_value(img), "upload"


@user_errors
def pick_memory(res, dataset, n, evt: gr.SelectData):
    """Gallery click -> that stored memory becomes the query."""
    index = int(evt.index)
    ds = res.dataset(dataset, check_n(dataset, n))
    return editor_value(np.asarray(ds.images[index])), "stored memory", index


@user_errors
def set_memory(res, dataset, n, index, source="stored memory"):
    """Typed memory number (or an example) -> show it in the brush canvas and make it the query source.

    An empty number changes nothing: the caption example leaves it empty, because setting one here switched
    its query back to "stored memory" and ran a stale stored-memory query (issue 10 §3).
    """
    if index is None or int(index) < 0:
        return gr.skip(), gr.skip()
    clean, _, _ = clean_query(res, dataset, check_n(dataset, n), "stored memory", index, None)
    return editor_value(clean), "stored memory"


@user_errors
def gallery_items(res, dataset, n):
    """The first stored memories of the bank, for the picker."""
    n = min(int(n or state.DEFAULT_N), state.dataset_size(dataset) or int(n or state.DEFAULT_N))
    ds = res.dataset(dataset, n)
    k = min(GALLERY, n)
    return [(np.asarray(ds.images[i]), f"#{i}") for i in range(k)]


@user_errors
def preview(res, dataset, n, source, index, editor, corruption, amount, seed, fill="black"):
    """The corrupted query as it will enter the network (shown before Retrieve)."""
    if source == "caption":
        return gr.skip()
    n = check_n(dataset, n)
    clean, mask, _ = clean_query(res, dataset, n, source, index, editor)
    ds = res.dataset(dataset, n)
    fill, stats = fill_and_stats(fill, ds)
    kind = corruption_kind(corruption)
    return show(corrupt_query(clean, ds.images.shape[1], kind, float(amount or 0), int(seed or 0), mask, fill=fill,
                              stats=stats))
