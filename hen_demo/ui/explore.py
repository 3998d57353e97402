"""Explore tab: one query through HEN, streamed iteration by iteration (HEN eq. 5-7).

Query from the gallery of stored memories, an uploaded image, or a caption; corrupt it (a half occluded,
a region painted with the brush, random pixels masked, Gaussian noise); watch the decoded state, the energy,
the top-k memories and the effective number of memories 1/Σp² change at every step; at the end compare the
retrieved image with the original and the encoder's own reconstruction (MSE, 1-SSIM) and read a verdict.
"""

from __future__ import annotations

import os
import time

import gradio as gr
import numpy as np

from hen_demo.data.images import load_image_file, resize_square
from hen_demo.pipeline import HENFrame, corrupt_query, memory_thumbnails
from hen_demo.ui import plots, state
from hen_demo.ui.errors import user_errors
from hen_demo.ui.memory_controls import (
    QUERY_CORRUPTIONS,
    build_memory_controls,
    check_n,
    corruption_kind,
    retrieval_config,
)

SOURCES = ["stored memory", "upload", "caption"]
SHOW = 192  # px side images are shown at (nearest-neighbour upscaling keeps pixels crisp)
EDITOR = 256  # px side of the brush canvas
GALLERY = 48  # stored memories offered in the picker
# Tuned on tiles, N = 1,000, L2 (see the report): at beta = 0.05 with Gaussian noise sigma = 0.3 the shipped
# kl-small encoder retrieves 34 of 40 sampled queries, raw pixels 4 of 40 (the rest: metastable mixtures).
DEFAULTS = dict(beta=0.05, steps=60, tol=1e-6, corruption="noise", amount=0.3, index=25)
EXAMPLE_CAPTION = "Close-up of Chelsea, a tabby cat with green eyes and pink nose, looking at the camera."
VERDICT_COLOR = {"retrieved": "#2ca02c", "metastable": "#e08a00", "wrong": "#d62728"}
VERDICT_WORD = {"retrieved": "RETRIEVED", "metastable": "METASTABLE", "wrong": "WRONG MEMORY"}


def badge(kind: str) -> str:
    """A coloured word for a verdict kind (plain HTML inside Markdown; no emoji font needed)."""
    return (f'<span style="background:{VERDICT_COLOR.get(kind, "#777")};color:white;padding:2px 10px;'
            f'border-radius:6px;font-weight:700">{VERDICT_WORD.get(kind, kind.upper())}</span>')


def show(img: np.ndarray | None, size: int = SHOW) -> np.ndarray | None:
    """Upscale a small uint8 image with nearest neighbour so pixels stay crisp on a projector."""
    if img is None:
        return None
    k = max(1, size // img.shape[0])
    return np.ascontiguousarray(img.repeat(k, axis=0).repeat(k, axis=1))


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
            from PIL import Image

            painted = np.asarray(Image.fromarray(painted.astype(np.uint8) * 255).resize(bg.shape[1::-1])) > 127
        mask = painted if mask is None else (mask | painted)
    return np.ascontiguousarray(bg.astype(np.uint8)), mask


def clean_query(dataset: str, n: int, source: str, index, editor) -> tuple[np.ndarray, np.ndarray | None, int | None]:
    """(clean image (H, W, 3) uint8, brush mask or None, target memory index or None) for an image query."""
    bg, mask = editor_image_and_mask(editor)
    if source == "stored memory":
        if index is None or not 0 <= int(index) < n:
            raise ValueError(f"Pick a stored memory between #0 and #{n - 1} (got #{index}).")
        ds = state.RESOURCES.dataset(dataset, n)
        return np.asarray(ds.images[int(index)]), mask, int(index)
    if source == "upload":
        if bg is None:
            raise ValueError("Upload an image first (the 'Upload an image' button), or pick a stored memory.")
        return bg, mask, None
    raise ValueError(f"Unknown query source '{source}'.")


def frame_outputs(frame: HENFrame, bank, steps: int, target: int | None, t0: float,
                  previous: HENFrame | None = None) -> tuple:
    """The streamed part of the outputs for one frame: state image, status, energy + top-k plot, gallery.

    The top-k thumbnails are only re-sent when the set of top-k memories changed since ``previous``.
    """
    status = (f"**t = {frame.t}** of at most {steps} · energy **{frame.energies[-1]:.5g}** · "
              f"effective memories 1/Σp² = **{frame.n_eff:.2f}** · "
              f"{'converged' if frame.converged else 'running'} · {time.perf_counter() - t0:.2f} s")
    if previous is not None and previous.topk_indices == frame.topk_indices:
        gallery = gr.skip()
    else:
        thumbs = memory_thumbnails(bank, frame.topk_indices, 64)
        gallery = [(show(im, 96), f"#{i}" + (" ✓" if i == target else ""))
                   for im, i in zip(thumbs, frame.topk_indices)]
    fig = plots.dynamics_spec(frame.energies, frame.topk_indices, frame.topk_weights, target)
    return show(frame.image), status, plots.as_plot(fig), gallery


def final_outputs(frame: HENFrame, bank, query_img: np.ndarray) -> tuple:
    """Original, reconstruction, retrieved, verdict markdown, details JSON."""
    r = frame.result
    v = r.verdict
    right = ("" if r.correct is None else ("the right memory ✓" if r.correct else f"**not** the right memory (#{r.target})"))
    md = (f"### {badge(v.kind)} {v.text}\n"
          f"Nearest stored memory: **#{r.nearest}** {('— ' + right) if right else ''}  \n"
          f"MSE = **{r.mse:.4f}** · 1 − SSIM = **{r.one_minus_ssim:.4f}** (retrieved vs the encoder's own "
          f"reconstruction of {'the query' if r.target is not None else 'the nearest'} memory) · "
          f"{r.steps} steps, {'converged' if r.converged else 'not converged'} · "
          f"effective memories {r.n_eff:.2f}")
    details = {"verdict": v.kind, "memories_in_mixture": v.k, "top_index": r.nearest, "target": r.target,
               "correct": r.correct, "mse": r.mse, "one_minus_ssim": r.one_minus_ssim, "steps": r.steps,
               "converged": r.converged, "effective_memories": r.n_eff, "energies": frame.energies}
    original = r.original if r.original is not None else query_img
    return show(original), show(r.reconstruction), show(r.retrieved), md, details



@user_errors
def retrieve(dataset, encoder, similarity, separation, beta, n, steps, tol, source, index, editor, caption,
             text_encoder, corruption, amount, seed, progress=gr.Progress()):
    """Stream one HEN retrieval. Yields the 10 outputs of the Explore tab at every iteration."""
    t0 = time.perf_counter()
    state.check_available("dataset", dataset)
    state.check_available("encoder", encoder)
    n = check_n(dataset, n)
    cfg = retrieval_config(similarity, separation, beta, steps, tol)

    def bank_progress(fraction, desc=""):
        progress(fraction, desc=desc or "building the memory bank (cached for next time)")

    if source == "caption":
        if not caption or not str(caption).strip():
            raise ValueError("The caption is empty: type a few words describing a stored image.")
        pipe = state.caption_pipeline(dataset, encoder, text_encoder, n, cfg, progress=bank_progress)
        text_code = state.RESOURCES.text_encoder(text_encoder, encoder).encode([str(caption)])
        query, clamp = pipe.caption_query(text_code)
        target = pipe.find_caption(str(caption))
        query_img = pipe.decode(query)  # the empty canvas the image half starts from
    else:
        pipe = state.RESOURCES.pipeline(state.BankKey(dataset, encoder, n), cfg, progress=bank_progress)
        clean, mask, target = clean_query(dataset, n, source, index, editor)
        kind = corruption_kind(corruption)
        query_img = corrupt_query(clean, pipe.image_size, kind, float(amount or 0), int(seed or 0), mask)
        query, clamp = pipe.encode_image(query_img), None
    skip5 = (gr.skip(),) * 5  # the final-result outputs
    previous = None
    for frame in pipe.stream(query, cfg, target=target, clamp=clamp):
        # the last frame re-sends everything: API clients only keep the last message
        streamed = frame_outputs(frame, pipe.bank, cfg.steps, target, t0,
                                 previous if frame.result is None else None)
        previous = frame
        if frame.t == 0:
            yield (show(query_img),) + streamed + (None, None, None, "", None)
        elif frame.result is None:
            yield (gr.skip(),) + streamed + skip5
        if frame.result is not None:  # the last message carries every output (API clients see only it)
            yield (show(query_img),) + streamed + final_outputs(frame, pipe.bank, query_img)


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
    return editor_value(img), "upload", -1


@user_errors
def pick_memory(dataset, n, evt: gr.SelectData):
    """Gallery click -> that stored memory becomes the query."""
    index = int(evt.index)
    ds = state.RESOURCES.dataset(dataset, check_n(dataset, n))
    return editor_value(np.asarray(ds.images[index])), "stored memory", index


@user_errors
def set_memory(dataset, n, index):
    """Typed memory number (or an example) -> show it in the brush canvas. Negative = an upload: leave it."""
    if index is None or int(index) < 0:
        return gr.skip(), gr.skip()
    clean, _, _ = clean_query(dataset, check_n(dataset, n), "stored memory", index, None)
    return editor_value(clean), "stored memory"


@user_errors
def gallery_items(dataset, n):
    """The first stored memories of the bank, for the picker."""
    n = min(int(n or state.DEFAULT_N), state.dataset_size(dataset) or int(n or state.DEFAULT_N))
    ds = state.RESOURCES.dataset(dataset, n)
    k = min(GALLERY, n)
    return [(np.asarray(ds.images[i]), f"#{i}") for i in range(k)]


@user_errors
def preview(dataset, n, source, index, editor, corruption, amount, seed):
    """The corrupted query as it will enter the network (shown before Retrieve)."""
    if source == "caption":
        return gr.skip()
    n = check_n(dataset, n)
    clean, mask, _ = clean_query(dataset, n, source, index, editor)
    size = state.RESOURCES.dataset(dataset, n).images.shape[1]
    kind = corruption_kind(corruption)
    return show(corrupt_query(clean, size, kind, float(amount or 0), int(seed or 0), mask))


def build_tab() -> None:
    """The Explore tab (called inside ``with gr.Tab("Explore"):``)."""
    gr.Markdown("Store **N** images as memories, give the network a damaged cue, and watch the Hopfield "
                "dynamics pull it into a memory (or get stuck between several). Pick an encoder to run HEN; "
                "pick *raw pixels* for the plain modern Hopfield network.")
    with gr.Row(equal_height=False):
        with gr.Column(scale=3, min_width=280):
            with gr.Accordion("Memory", open=True):
                mc = build_memory_controls(beta=DEFAULTS["beta"], steps=DEFAULTS["steps"], tol=DEFAULTS["tol"],
                                           elem_prefix="explore")
        with gr.Column(scale=4, min_width=320):
            with gr.Accordion("Query", open=True):
                source = gr.Radio(SOURCES, value="stored memory", label="Query from")
                gallery = gr.Gallery(label="Stored memories (click one)", columns=8, height=190,
                                     allow_preview=False, object_fit="contain")
                with gr.Row():
                    index = gr.Number(value=DEFAULTS["index"], precision=0, label="memory #", min_width=80,
                                      elem_id="explore-index")
                    upload = gr.UploadButton("Upload an image", file_types=["image"], type="filepath")
                editor = gr.ImageEditor(label="Query — paint over regions to hide them (brush)", type="numpy",
                                        image_mode="RGBA", sources=[], height=300, canvas_size=(EDITOR, EDITOR),
                                        brush=gr.Brush(default_size=14, colors=["#000000"], color_mode="fixed"),
                                        transforms=[], layers=False, eraser=gr.Eraser(default_size=14))
                with gr.Row():
                    caption = gr.Textbox(label="Caption (for 'caption' queries)", scale=3,
                                         placeholder="e.g. the caption of a stored image")
                    text_encoder = gr.Dropdown(state.text_encoder_choices(), value=state.default_text_encoder(),
                                               label="Text encoder", scale=2)
                with gr.Row():
                    corruption = gr.Dropdown(QUERY_CORRUPTIONS, value=DEFAULTS["corruption"],
                                             label="Corruption")
                    amount = gr.Slider(0, 1, value=DEFAULTS["amount"], step=0.05,
                                       label="amount (fraction hidden / σ of noise)")
                    seed = gr.Number(value=0, precision=0, label="seed", min_width=60)
                with gr.Row():
                    go = gr.Button("Retrieve", variant="primary", elem_id="explore-retrieve")
                    stop = gr.Button("Stop", variant="stop")
        with gr.Column(scale=5, min_width=360):
            with gr.Row():
                query_img = gr.Image(label="Corrupted query s⁽⁰⁾", height=210, interactive=False, format="png")
                state_img = gr.Image(label="Network state Φ_dec(ŝ⁽ᵗ⁾)", height=210, interactive=False,
                                     format="png", elem_id="explore-state")
            status = gr.Markdown("Press **Retrieve**.", elem_id="explore-status")
            energy = gr.Plot(label="Energy and top-k weights", elem_id="explore-energy")
            topk_gallery = gr.Gallery(label="Top-k memories (stored originals)", columns=5, height=140,
                                      allow_preview=False, object_fit="contain")
            with gr.Row():
                original = gr.Image(label="Original", height=170, interactive=False, format="png", min_width=100)
                recon = gr.Image(label="Encoder's reconstruction", height=170, interactive=False, format="png",
                                 min_width=100)
                retrieved = gr.Image(label="Retrieved", height=170, interactive=False, format="png", min_width=100)
            verdict = gr.Markdown(elem_id="explore-verdict")
    with gr.Accordion("Details (JSON: energies, metrics)", open=False):
        details = gr.JSON(label="Details")

    inputs = mc.inputs() + [source, index, editor, caption, text_encoder, corruption, amount, seed]
    outputs = [query_img, state_img, status, energy, topk_gallery, original, recon, retrieved, verdict, details]
    run = go.click(state.gpu(retrieve), inputs, outputs, api_name="retrieve", concurrency_limit=4)
    stop.click(None, None, None, cancels=[run], queue=False)

    demo = gr.context.Context.root_block
    for trig in (demo.load, mc.dataset.change, mc.n.release):
        trig(gallery_items, [mc.dataset, mc.n], gallery, api_name=False, show_progress="minimal")
    demo.load(set_memory, [mc.dataset, mc.n, index], [editor, source], api_name=False)
    gallery.select(pick_memory, [mc.dataset, mc.n], [editor, source, index], api_name=False)
    index.change(set_memory, [mc.dataset, mc.n, index], [editor, source], api_name=False,
                 trigger_mode="always_last")
    upload.upload(upload_query, upload, [editor, source, index], api_name="upload_query")
    prev_inputs = [mc.dataset, mc.n, source, index, editor, corruption, amount, seed]
    for comp in (corruption, amount, seed, editor):
        comp.change(preview, prev_inputs, query_img, api_name=False, trigger_mode="always_last",
                    show_progress="hidden")

    enc = state.default_encoder()
    gr.Examples(
        label="Examples (click one, then Retrieve)",
        examples=[
            ["tiles", enc, "l2", 0.05, 1000, "stored memory", 25, "", "noise", 0.3],
            ["tiles", "pixels", "l2", 0.05, 1000, "stored memory", 25, "", "noise", 0.3],
            ["tiles", enc, "l2", 0.05, 1000, "stored memory", 100, "", "noise", 0.4],
            ["tiles", "pixels", "l2", 1.0, 1000, "stored memory", 7, "", "occlude-bottom", 0.5],
            ["photos", enc, "l2", 0.01, 27, "caption", 1, EXAMPLE_CAPTION, "none", 0.0],
        ],
        inputs=[mc.dataset, mc.encoder, mc.similarity, mc.beta, mc.n, source, index, caption, corruption, amount],
        cache_examples=False,
    )
