"""Explore's "Your images" panel: a visitor stores their own pictures as a private memory bank.

Pictures come from a multi-file upload or a ``.zip``, the webcam, the clipboard (paste) or a sketchpad drawing;
each is checked and converted by ``hen_demo.data.uploads`` (every skipped file gets its sentence) and kept in the
session's own store (``hen_demo.ui.sessions``), then encoded with the selected encoder (``gr.Progress``, with
``build_bank``'s time estimate). The bank is the dataset "Your images (n)" of every tab's dataset dropdown
(Explore, Compare, Text → Image, Separability, U-Hop and the attractor census), for this browser tab only.
Captions (from the file names, or a ``captions.txt`` / ``captions.json`` sent along) are edited in a table and feed
Text → Image. Thumbnails are inline data (never files on disk).

API: ``/add_memories`` (files, encoder) adds images to the *calling* session's bank; ``/my_memories`` lists them.
"""

from __future__ import annotations

import base64
import contextlib
import functools
import html
import io
from pathlib import Path

import gradio as gr
import numpy as np
from gradio.utils import get_upload_folder
from PIL import Image

from hen_demo.data.uploads import upload_caps
from hen_demo.ui import limits, sessions, state
from hen_demo.ui.errors import user_errors
from hen_demo.ui.sessions import MINE

PRIVACY = ("🔒 **Your images stay in this browser tab's session and are deleted when you close it** "
           "(or after {idle} minutes unused). They are never cached on disk or shown to anyone else.")
THUMB = 56  # thumbnail side in the panel, px
TABLE_HEADERS = ["#", "file", "caption", "remove"]


def caps_text() -> str:
    c = upload_caps(limits.public_mode())
    return (PRIVACY.format(idle=f"{sessions.STORE.idle_s / 60:g}") + f"\n\n{c.sentence()} "
            f"A .zip is unpacked up to {c.max_zip_bytes / 1024 ** 2:g} MB; the server keeps "
            f"{sessions.STORE.max_sessions} sessions' images at once.")


def _thumbs_html(mine) -> str:
    if mine is None or not len(mine):
        return "<div class='hen-mine-empty'>No images yet.</div>"
    cells = []
    for k, im in enumerate(mine.images):
        buf = io.BytesIO()
        Image.fromarray(im.image).resize((THUMB, THUMB), Image.BILINEAR).save(buf, "WEBP", quality=80)
        src = "data:image/webp;base64," + base64.b64encode(buf.getvalue()).decode()
        cells.append(f"<figure title='{html.escape(im.caption, quote=True)}'><img src='{src}' width='{THUMB}' "
                     f"height='{THUMB}' alt='#{k}'><figcaption>#{k}</figcaption></figure>")
    return "<div class='hen-mine-grid'>" + "".join(cells) + "</div>"


def _table(mine) -> list[list]:
    if mine is None:
        return []
    return [[k, im.name, im.caption, False] for k, im in enumerate(mine.images)]


def _view(mine, message: str = "") -> tuple:
    """(status, thumbnails, table, dataset dropdown) for the panel's outputs (N is left alone: for your images it
    means "at most", ``memory_controls.check_n``)."""
    n = len(mine) if mine is not None else 0
    notice = (mine.notice + "\n\n") if mine is not None and mine.notice else ""
    if mine is not None:
        mine.notice = ""
    status = notice + (message or (f"You have {n} image{'s' if n != 1 else ''} in your bank." if n else
                                   "Add images to build your own memory bank."))
    dataset = gr.update(choices=state.dataset_choices(), **({"value": MINE} if n else {}))
    return status, _thumbs_html(mine), _table(mine), dataset


def _encode(res, mine, encoder, progress) -> str:
    """Encode the bank with ``encoder`` now (progress bar, time estimate); a sentence on what it took."""
    if not len(mine) or not encoder:
        return ""
    state.check_available("encoder", encoder)

    def report(fraction, desc=""):
        progress(fraction, desc=desc or "encoding your images")

    bank = res.bank(MINE, encoder, len(mine), progress=report)
    return f"Encoded with **{bank.encoder}** (N = {bank.n})."


def _result_text(result, encoded: str) -> str:
    text = result.report()
    return text + ("\n\n" + encoded if encoded else "")


@user_errors
def add_files(res, files, encoder=None, progress=gr.Progress()):
    """Add uploaded files (images and .zip archives) to the calling session's bank and encode it."""
    if not files:
        raise ValueError("Choose one or more image files (or a .zip) to add.")
    if encoder:
        state.check_available("encoder", encoder)  # before anything is stored
    mine = sessions.current()
    files = list(files) if isinstance(files, (list, tuple)) else [files]
    try:
        result = mine.add(files)
    finally:
        forget_uploads(files)
    # the file box is emptied: Gradio's copies are gone, the pictures are in the bank (thumbnails, table)
    return _view(mine, _result_text(result, _encode(res, mine, encoder, progress))) + (None,)


@user_errors
def add_picture(res, picture, source: str, encoder=None, progress=gr.Progress()):
    """Add one webcam shot, pasted picture or sketchpad drawing (numpy, or a sketchpad's dict)."""
    if isinstance(picture, dict):  # a sketchpad / editor value: its composite
        picture = picture.get("composite")
    if picture is None:
        raise ValueError(f"There is no {source} picture yet: take, paste or draw one first.")
    arr = np.asarray(picture)
    if arr.size and arr.reshape(-1, arr.shape[-1] if arr.ndim == 3 else 1).std(0).max() == 0:
        raise ValueError(f"The {source} picture is blank (one colour): take, paste or draw something first.")
    if encoder:
        state.check_available("encoder", encoder)
    mine = sessions.current()
    result = mine.add([(f"{source}-{len(mine) + 1}.png", arr)])
    return _view(mine, _result_text(result, _encode(res, mine, encoder, progress)))


def forget_uploads(paths) -> None:
    """Delete the copies Gradio kept of uploaded files (in its upload folder only): once read, the pictures live in
    the session's memory alone."""
    root = Path(get_upload_folder()).resolve()
    for p in paths:
        try:
            path = Path(getattr(p, "path", p)).resolve()
        except (TypeError, OSError):
            continue
        if root in path.parents:
            path.unlink(missing_ok=True)
            with contextlib.suppress(OSError):
                path.parent.rmdir()  # Gradio's per-file folder, when now empty


def add_webcam(res, picture, encoder=None, progress=gr.Progress()):
    """A webcam shot or a pasted picture."""
    return add_picture(res, picture, "webcam", encoder, progress)


def add_drawing(res, picture, encoder=None, progress=gr.Progress()):
    """A sketchpad drawing."""
    return add_picture(res, picture, "drawing", encoder, progress)


@user_errors
def save_table(res, table, encoder=None, progress=gr.Progress()):
    """Apply the table: new captions, and remove the rows ticked "remove"."""
    mine = sessions.current()
    rows = table.values.tolist() if hasattr(table, "values") else list(table or [])
    if len(rows) != len(mine):
        raise ValueError(f"The table has {len(rows)} rows but you have {len(mine)} images; reload the panel.")
    changed = mine.set_captions([r[2] for r in rows])
    removed = mine.remove([k for k, r in enumerate(rows) if _ticked(r[3])])
    msg = f"{changed} caption{'s' if changed != 1 else ''} changed, {removed} image{'s' if removed != 1 else ''} removed."
    return _view(mine, msg + ("\n\n" + _encode(res, mine, encoder, progress) if removed else ""))


def _ticked(value) -> bool:
    return value is True or str(value).strip().lower() in ("true", "1", "yes", "x", "✓")


@user_errors
def clear_all():
    mine = sessions.current()
    mine.clear()
    return _view(mine, "All your images were removed.")


@user_errors
def show_mine():
    """The calling session's bank: status, thumbnails, table (also /my_memories)."""
    return _view(sessions.current(create=bool(sessions.STORE.default)))


def first_memory():
    """After the bank changes, the query is your memory #0 (the previous dataset's number may not exist here)."""
    return 0


def build_panel(res, mc, refresh=()) -> None:
    """The panel (inside the current Blocks), wired to the memory controls ``mc`` (dataset, encoder, N); ``res`` is
    the app's shared :class:`~hen_demo.ui.resources.Resources` (its encoders; the bank stays in the session).

    Args:
        refresh: ``(fn, inputs, outputs)`` run after the bank changes (Explore's gallery of stored memories).
    """
    with gr.Accordion("Your images — store your own pictures as memories", open=False, elem_id="explore-mine"):
        gr.Markdown(caps_text(), elem_id="mine-privacy")
        status = gr.Markdown("Add images to build your own memory bank.", elem_id="mine-status")
        with gr.Row(equal_height=False):
            with gr.Column(scale=3, min_width=260):
                files = gr.File(label="Add images or a .zip (several at once)", file_count="multiple",
                                file_types=["image", ".zip", ".txt", ".json"], type="filepath", height=120,
                                elem_id="mine-files")
                with gr.Tabs():
                    with gr.Tab("Webcam / paste"):
                        shot = gr.Image(label="Webcam or pasted picture", sources=["webcam", "clipboard"],
                                        type="numpy", height=200, elem_id="mine-webcam")
                        add_shot = gr.Button("Add this picture", size="sm")
                    with gr.Tab("Draw"):
                        pad = gr.Sketchpad(label="Draw a memory", type="numpy", image_mode="RGBA", height=260,
                                           canvas_size=(256, 256), elem_id="mine-sketch")
                        add_pad = gr.Button("Add this drawing", size="sm")
            with gr.Column(scale=4, min_width=280):
                thumbs = gr.HTML(_thumbs_html(None), elem_id="mine-thumbs")
                table = gr.Dataframe(headers=TABLE_HEADERS, datatype=["number", "str", "str", "bool"],
                                     column_count=(4, "fixed"), interactive=True, wrap=True, max_height=260,
                                     label="Captions (edit them; they feed Text → Image) — tick 'remove' to delete",
                                     elem_id="mine-table")
                with gr.Row():
                    save = gr.Button("Save captions / remove ticked", size="sm", elem_id="mine-save")
                    clear = gr.Button("Remove all", size="sm", variant="stop")
    outs = [status, thumbs, table, mc.dataset]

    def chain(event):
        for fn, inputs, outputs in refresh:
            event = event.then(fn, inputs, outputs, api_name=False, show_progress="hidden")
        return event

    chain(files.upload(functools.partial(add_files, res), [files, mc.encoder], outs + [files],
                       api_name="add_memories"))
    chain(add_shot.click(functools.partial(add_webcam, res), [shot, mc.encoder], outs, api_name=False))
    chain(add_pad.click(functools.partial(add_drawing, res), [pad, mc.encoder], outs, api_name=False))
    chain(save.click(functools.partial(save_table, res), [table, mc.encoder], outs, api_name=False))
    chain(clear.click(clear_all, None, outs, api_name=False))
    demo = gr.context.Context.root_block
    demo.load(show_mine, None, outs, api_name="my_memories", show_progress="hidden")
