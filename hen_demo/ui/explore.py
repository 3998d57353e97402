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
from hen_demo.pipeline import MASK_AWARE, HENFrame, corrupt_query, mask_aware_stream, memory_thumbnails
from hen_demo.ui import census_panel, limits, my_images, plots, state
from hen_demo.ui.errors import user_errors
from hen_demo.ui.memory_controls import (
    FILL_CHOICES,
    QUERY_CORRUPTIONS,
    build_memory_controls,
    check_n,
    corruption_kind,
    fill_and_stats,
    retrieval_config,
    similarity_and_mask,
)

SOURCES = ["stored memory", "upload", "caption"]
SHOW = 192  # px side images are shown at (nearest-neighbour upscaling keeps pixels crisp)
EDITOR = 256  # px side of the brush canvas
GALLERY = 48  # stored memories offered in the picker
# with playback unthrottled (0 frames / s) the energy plot and the histogram are re-sent at most this often: each
# is redrawn by Plotly in the browser, which (measured in headless chromium) held the page to ~10 frames / s
PLOT_HZ = 8.0
# Measured on emoji, N = 1,000, L2, calibrated beta (relative 1), 200 queries, 40 % of pixels masked black:
# kl-small 99.5 % identity (NN ceiling 99.5 %), raw pixels 0.5 % (ceiling 0.5 %): a contrast that holds at fair
# beta (tests/test_app_claims.py). (Gaussian noise sigma 0.3 gives no contrast there: both 99.5 %.)
DEFAULT_DATASET = state.DEFAULT_DATASET  # "emoji"
DEFAULTS = dict(beta=1.0, beta_mode="relative", steps=60, tol=1e-6, corruption="mask-random", amount=0.4, index=25,
                fps=5, fill="black")
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
                  previous: HENFrame | None = None, plot: bool = True) -> tuple:
    """The streamed part of the outputs for one frame: state image, status, energy + top-k plot, gallery.

    The top-k thumbnails and the state image are only re-sent when they changed since ``previous``; the last frame
    (``frame.result`` set) re-sends everything, since API clients keep only the last message. ``plot=False``
    skips the energy plot (throttled playback).
    """
    if frame.result is not None:
        previous = None
    status = (f"**t = {frame.t}** of at most {steps} · energy **{frame.energies[-1]:.5g}** · "
              f"effective memories 1/Σp² = **{frame.n_eff:.2f}** · "
              f"{'converged' if frame.converged else 'running'} · {time.perf_counter() - t0:.2f} s")
    if previous is not None and previous.topk_indices == frame.topk_indices:
        gallery = gr.skip()
    else:
        thumbs = memory_thumbnails(bank, frame.topk_indices, 64)
        gallery = [(show(im, 96), f"#{i}" + (" ✓" if i == target else ""))
                   for im, i in zip(thumbs, frame.topk_indices)]
    energy = (plots.as_plot(plots.dynamics_spec(frame.energies, frame.topk_indices, frame.topk_weights, target))
              if plot else gr.skip())
    # an unchanged state is not re-sent: re-writing the same cached file while the browser reads it showed a
    # broken-image icon after the last frame (issue 10 §3)
    same = previous is not None and np.array_equal(previous.image, frame.image)
    image = gr.skip() if same else show(frame.image)
    return image, status, energy, gallery


def histogram_output(frame: HENFrame, bank):
    """The frame's cosine-similarity histogram (state vs every memory) as a plot, or skip when absent."""
    hist = getattr(frame, "similarity_histogram", None)
    if hist is None:
        return gr.skip()
    return plots.as_plot(plots.similarity_histogram_spec(hist.counts, hist.edges, t=frame.t,
                                                         n=int(bank.codes.shape[0])))


def beta_text(beta: float, relative: float | None) -> str:
    """Both numbers of β: the absolute value the memory uses and the same β relative to the calibration."""
    rel = "" if relative is None else f" = {relative:.3g} × calibrated"
    return f"β = {beta:.4g}{rel}"


def ceiling_line(r) -> str:
    """Retrieved memory and the one-shot nearest-neighbour ceiling: did the dynamics or the representation fail?"""
    got = f"Retrieved **#{r.nearest}**" + ("" if r.correct is None else (" ✓" if r.correct else
                                                                          f" ✗ (wanted #{r.target})"))
    nn = f"one-shot nearest neighbour of the query code **#{r.nn_index}**"
    if r.nn_correct is None:
        return f"{got} · {nn} (the ceiling)"
    nn += " ✓" if r.nn_correct else " ✗"
    if r.correct and r.nn_correct:
        why = "dynamics reached the ceiling"
    elif r.nn_correct:
        why = "**the dynamics failed** (the representation had it)"
    elif r.correct:
        why = "the dynamics beat one-shot nearest neighbour"
    else:
        why = "**the representation failed** (even nearest neighbour misses)"
    return f"{got} · NN ceiling: {nn} → {why}"


def final_outputs(frame: HENFrame, bank, query_img: np.ndarray, size: int | None = None) -> tuple:
    """Original, reconstruction, retrieved, verdict markdown, details JSON."""
    r = frame.result
    v = r.verdict
    md = f"### {badge(v.kind)} {v.text}\n" + ceiling_line(r) + "  \n" + (
        f"MSE **{r.mse:.4f}** · 1 − SSIM **{r.one_minus_ssim:.4f}** (vs the encoder's reconstruction of "
        f"{'the query' if r.target is not None else 'the nearest'} memory) · {r.steps} steps"
        f"{'' if r.converged else ', not converged'} · {beta_text(r.beta, r.beta_relative)}")
    details = {"verdict": v.kind, "memories_in_mixture": v.k, "top_index": r.nearest, "target": r.target,
               "correct": r.correct, "nn_index": r.nn_index, "nn_correct": r.nn_correct, "beta": r.beta,
               "beta_relative": r.beta_relative, "mse": r.mse, "one_minus_ssim": r.one_minus_ssim,
               "steps": r.steps, "converged": r.converged, "effective_memories": r.n_eff,
               "energies": frame.energies}
    original = r.original if r.original is not None else query_img
    if size is not None and original.shape[0] != size:  # same pixel scale as the 28-64 px results
        original = resize_square(original, size)
    return show(original), show(r.reconstruction), show(r.retrieved), md, details



@user_errors
def retrieve(dataset, encoder, similarity, separation, beta, n, steps, tol, source, index, editor=None, caption=None,
             text_encoder=None, corruption=None, amount=None, seed=None, fps=DEFAULTS["fps"],
             beta_mode=DEFAULTS["beta_mode"], fill=DEFAULTS["fill"], progress=gr.Progress()):
    """Stream one HEN retrieval. Yields the 12 outputs of the Explore tab at every iteration.

    ``beta_mode`` says how ``beta`` is read: "relative" (calibrated to the bank) or "absolute".
    ``fps`` > 0 paces the frames (slow motion for a retrieval that converges in 2 steps); 0 = unthrottled.
    ``fill``: what hidden pixels become (black, grey, mean-image, noise). The similarity "mask-aware" (raw pixels
    only) compares the visible pixels alone (``hen_demo.pipeline.mask_aware_stream``).
    The last message carries every output and, for Replay, the frames of this run.
    """
    t0 = time.perf_counter()
    state.check_available("dataset", dataset)
    state.check_available("encoder", encoder)
    n = check_n(dataset, n)
    similarity, masked = similarity_and_mask(similarity, encoder)  # mask-aware + an encoder: ValueError
    cfg = retrieval_config(similarity, separation, beta, steps, tol, beta_mode=beta_mode)

    def bank_progress(fraction, desc=""):
        progress(fraction, desc=desc or "building the memory bank (cached for next time)")

    if source == "caption":
        if not caption or not str(caption).strip():
            raise ValueError("The caption is empty: type a few words describing a stored image.")
        if masked:
            raise ValueError("The mask-aware similarity compares visible pixels of an image query; a caption "
                             "query has none. Choose l2 for caption queries.")
        text_encoder = text_encoder or state.default_text_encoder()
        pipe = state.caption_pipeline(dataset, encoder, text_encoder, n, cfg, progress=bank_progress)
        text_code = state.RESOURCES.text_encoder(text_encoder, encoder).encode([str(caption)])
        query, clamp = pipe.caption_query(text_code)
        target = pipe.find_caption(str(caption))
        query_img = pipe.decode(query)  # the empty canvas the image half starts from
        clean = None
    else:
        pipe = state.RESOURCES.pipeline(state.BankKey(dataset, encoder, n), cfg, progress=bank_progress)
        clean, mask, target = clean_query(dataset, n, source, index, editor)
        kind = corruption_kind(corruption)
        fill, stats = fill_and_stats(fill, pipe.bank)
        query_img, hidden = corrupt_query(clean, pipe.image_size, kind, float(amount or 0), int(seed or 0), mask,
                                          fill=fill, stats=stats, return_mask=True)
        clean = resize_square(clean, pipe.image_size)  # the undamaged query at the bank's size
        query, clamp = pipe.encode_image(query_img), None
    skip6 = (gr.skip(),) * 6  # the final-result outputs and the replay frames
    period = 1.0 / float(fps) if fps and float(fps) > 0 else 0.0
    previous, shown_at, replay = None, 0.0, []
    every = limits.stream_every(cfg.steps)  # at most limits.MAX_STREAM_FRAMES frames per request
    if masked:
        frames = mask_aware_stream(pipe, query, hidden[None], cfg.run_options(every=every), target=target,
                                   relative=cfg.beta_relative, beta=None if cfg.beta_relative else cfg.beta)
    else:
        frames = pipe.stream(query, cfg.run_options(every=every), target=target, clamp=clamp)
    plotted_at = -1.0
    for frame in frames:
        # unthrottled: the plots go at most PLOT_HZ times a second (a browser redraws each Plotly plot it gets;
        # the state image is cheap and still goes every frame); the first and the last frame always carry them
        due = True
        if not period and frame.t and frame.result is None:
            due = time.perf_counter() - plotted_at >= 1.0 / PLOT_HZ
            plotted_at = time.perf_counter() if due else plotted_at
        streamed = (frame_outputs(frame, pipe.bank, cfg.steps, target, t0, previous, plot=due)
                    + ((histogram_output(frame, pipe.bank) if due else gr.skip()),))
        replay.append(replay_frame(frame, pipe.bank, cfg.steps, target))
        previous = frame
        if period:  # pace the frames (the compute of the next one overlaps the wait)
            time.sleep(max(0.0, shown_at + period - time.perf_counter()))
            shown_at = time.perf_counter()
        if frame.t == 0:
            yield (show(query_img),) + streamed + (None, None, None, "", None, gr.skip())
        elif frame.result is None:
            yield (gr.skip(),) + streamed + skip6
        if frame.result is not None:  # the last message carries every output (API clients see only it)
            original = clean if clean is not None and target is None else query_img
            yield ((show(query_img),) + streamed
                   + final_outputs(frame, pipe.bank, original, size=frame.image.shape[0]) + (replay,))


def replay_frame(frame: HENFrame, bank, steps: int, target: int | None) -> dict:
    """What Replay needs of one frame (small, deep-copyable: a gr.State value)."""
    hist = getattr(frame, "similarity_histogram", None)
    return {"t": frame.t, "image": frame.image, "energies": list(frame.energies),
            "topk_indices": list(frame.topk_indices), "topk_weights": list(frame.topk_weights),
            "n_eff": frame.n_eff, "converged": frame.converged, "n": int(bank.codes.shape[0]), "steps": steps,
            "target": target,
            "hist": None if hist is None else (np.asarray(hist.counts).tolist(), np.asarray(hist.edges).tolist())}


def replay(frames, fps):
    """Play the last run's frames again at ``fps`` (state image, status, energy plot, histogram)."""
    if not frames:
        raise gr.Error("Nothing to replay yet: press Retrieve first.")
    period = 1.0 / float(fps) if fps and float(fps) > 0 else 0.0
    period = period or 0.1  # unthrottled replay is pointless: 10 frames / s
    for f in frames:
        t0 = time.perf_counter()
        status = (f"**replay · t = {f['t']}** of at most {f['steps']} · energy **{f['energies'][-1]:.5g}** · "
                  f"effective memories 1/Σp² = **{f['n_eff']:.2f}**"
                  + (" · converged" if f["converged"] else ""))
        fig = plots.dynamics_spec(f["energies"], f["topk_indices"], f["topk_weights"], f["target"])
        hist = (gr.skip() if f["hist"] is None else
                plots.as_plot(plots.similarity_histogram_spec(f["hist"][0], f["hist"][1], t=f["t"], n=f["n"])))
        yield show(np.asarray(f["image"], dtype=np.uint8)), status, plots.as_plot(fig), hist
        time.sleep(max(0.0, period - (time.perf_counter() - t0)))


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
def pick_memory(dataset, n, evt: gr.SelectData):
    """Gallery click -> that stored memory becomes the query."""
    index = int(evt.index)
    ds = state.RESOURCES.dataset(dataset, check_n(dataset, n))
    return editor_value(np.asarray(ds.images[index])), "stored memory", index


@user_errors
def set_memory(dataset, n, index, source="stored memory"):
    """Typed memory number (or an example) -> show it in the brush canvas and make it the query source.

    An empty number changes nothing: the caption example leaves it empty, because setting one here switched
    its query back to "stored memory" and ran a stale stored-memory query (issue 10 §3).
    """
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
def preview(dataset, n, source, index, editor, corruption, amount, seed, fill=DEFAULTS["fill"]):
    """The corrupted query as it will enter the network (shown before Retrieve)."""
    if source == "caption":
        return gr.skip()
    n = check_n(dataset, n)
    clean, mask, _ = clean_query(dataset, n, source, index, editor)
    ds = state.RESOURCES.dataset(dataset, n)
    fill, stats = fill_and_stats(fill, ds)
    kind = corruption_kind(corruption)
    return show(corrupt_query(clean, ds.images.shape[1], kind, float(amount or 0), int(seed or 0), mask, fill=fill,
                              stats=stats))


def build_tab() -> None:
    """The Explore tab (called inside ``with gr.Tab("Explore"):``).

    Layout (issue 10 §2): the *stage* comes first — corrupted query with Retrieve, the network state, the
    energy / top-k plot and the similarity histogram — so at 1280×720 the cue, the button and the result are on
    the first screen, and on a phone they come before the controls. Controls follow; the rarely changed ones
    (separation, T, tolerance, seed) sit in a collapsed accordion.
    """
    gr.Markdown("Store **N** images as memories, give the network a damaged cue, and watch the Hopfield "
                "dynamics pull it into a memory (or get stuck between several). Pick an encoder to run HEN; "
                "pick *raw pixels* for the plain modern Hopfield network.", elem_classes="hen-intro")
    seed = gr.Number(value=0, precision=0, label="seed (corruption)", min_width=60, render=False,
                     elem_id="explore-seed")
    with gr.Row(equal_height=False, elem_id="explore-stage"):
        with gr.Column(scale=2, min_width=180):
            query_img = gr.Image(label="Corrupted query s⁽⁰⁾", height=190, interactive=False, format="png",
                                 buttons=[], elem_id="explore-query", elem_classes=["hen-img", "pixelated"])
            go = gr.Button("Retrieve", variant="primary", elem_id="explore-retrieve")
            with gr.Row(elem_id="explore-buttons"):
                stop = gr.Button("Stop", variant="stop", size="sm", min_width=50)
                replay_btn = gr.Button("Replay", size="sm", min_width=50, elem_id="explore-replay")
            fps = gr.Slider(0, 30, value=DEFAULTS["fps"], step=1, label="playback: frames / s (0 = unthrottled)",
                            elem_id="explore-fps")
        with gr.Column(scale=2, min_width=180):
            state_img = gr.Image(label="Network state Φ_dec(ŝ⁽ᵗ⁾)", height=190, interactive=False,
                                 format="png", buttons=[], elem_id="explore-state",
                                 elem_classes=["hen-img", "pixelated"])
            status = gr.Markdown("Press **Retrieve**.", elem_id="explore-status")
            verdict = gr.Markdown(elem_id="explore-verdict")
        with gr.Column(scale=5, min_width=320):
            energy = gr.Plot(label="Energy and top-k weights", show_label=False, elem_id="explore-energy")
            hist = gr.Plot(label="Cosine similarity to every memory", show_label=False, elem_id="explore-hist")
    with gr.Row(equal_height=False):
        with gr.Column(scale=3, min_width=300):
            topk_gallery = gr.Gallery(label="Top-k memories (stored originals)", columns=5, height=130,
                                      allow_preview=False, object_fit="contain", buttons=[],
                                      elem_classes=["hen-img", "pixelated"])
        with gr.Column(scale=3, min_width=300):
            with gr.Row():
                original = gr.Image(label="Original", height=150, interactive=False, format="png", min_width=90,
                                    buttons=[], elem_id="explore-original", elem_classes=["hen-img", "pixelated"])
                recon = gr.Image(label="Encoder's reconstruction", height=150, interactive=False, format="png",
                                 min_width=90, buttons=[], elem_classes=["hen-img", "pixelated"])
                retrieved = gr.Image(label="Retrieved", height=150, interactive=False, format="png",
                                     min_width=90, buttons=[], elem_id="explore-retrieved",
                                     elem_classes=["hen-img", "pixelated"])
    with gr.Row(equal_height=False, elem_id="explore-controls"):
        with gr.Column(scale=4, min_width=300):
            with gr.Accordion("Query", open=True):
                source = gr.Radio(SOURCES, value="stored memory", label="Query from", elem_id="explore-source")
                with gr.Row():
                    corruption = gr.Dropdown(QUERY_CORRUPTIONS, value=DEFAULTS["corruption"],
                                             label="Corruption", elem_id="explore-corruption")
                    amount = gr.Slider(0, 1, value=DEFAULTS["amount"], step=0.05,
                                       label="amount (fraction hidden / σ of noise)", elem_id="explore-amount")
                    fill = gr.Dropdown(FILL_CHOICES, value=DEFAULTS["fill"], label="hidden pixels become",
                                       elem_id="explore-fill", min_width=120)
                with gr.Row():
                    index = gr.Number(value=DEFAULTS["index"], precision=0, label="memory #", min_width=80,
                                      elem_id="explore-index")
                    upload = gr.UploadButton("Upload an image", file_types=["image"], type="filepath")
                gallery = gr.Gallery(label="Stored memories (click one)", columns=8, height=170,
                                     allow_preview=False, object_fit="contain", buttons=[],
                                     elem_classes=["hen-img", "pixelated"])
                with gr.Row():
                    caption = gr.Textbox(label="Caption (for 'caption' queries)", scale=3,
                                         placeholder="e.g. the caption of a stored image", elem_id="explore-caption")
                    text_encoder = gr.Dropdown(state.text_encoder_choices(), value=state.default_text_encoder(),
                                               label="Text encoder", scale=2)
        with gr.Column(scale=3, min_width=280):
            with gr.Accordion("Memory", open=True):
                mc = build_memory_controls(beta=DEFAULTS["beta"], steps=DEFAULTS["steps"], tol=DEFAULTS["tol"],
                                           elem_prefix="explore", advanced=True, extra_advanced=(seed,),
                                           beta_mode=DEFAULTS["beta_mode"], mask_aware=True,
                                           dataset=DEFAULT_DATASET)
        with gr.Column(scale=3, min_width=280):
            with gr.Accordion("Query canvas — paint over regions to hide them (brush)", open=False):
                # an empty value (not None): /retrieve is then callable with every parameter at its default
                editor = gr.ImageEditor(value={"background": None, "layers": [], "composite": None},
                                        label="Query canvas", type="numpy", image_mode="RGBA", sources=[],
                                        height=300, canvas_size=(EDITOR, EDITOR),
                                        brush=gr.Brush(default_size=14, colors=["#000000"], color_mode="fixed"),
                                        transforms=[], layers=False, eraser=gr.Eraser(default_size=14))
    my_images.build_panel(mc, refresh=[(gallery_items, [mc.dataset, mc.n], gallery)])  # "Your images" (issue 20)
    census = census_panel.build_panel()
    with gr.Accordion("Details (JSON: energies, metrics)", open=False):
        details = gr.JSON(label="Details")
    frames = gr.State([])  # the last run's frames, for Replay

    inputs = mc.inputs() + [source, index, editor, caption, text_encoder, corruption, amount, seed, fps,
                            mc.beta_mode, fill]
    outputs = [query_img, state_img, status, energy, topk_gallery, hist, original, recon, retrieved, verdict,
               details, frames]
    # outputs show "running" at the click (before the bank is built or the query encoded): a click must never
    # leave the previous result on screen as if it were new (issue 10 §3)
    running = go.click(_running, None, [status, verdict], queue=False, show_progress="hidden",
                       api_visibility="private")
    run = running.then(state.gpu(retrieve), inputs, outputs, api_name="retrieve", concurrency_limit=4)
    play = replay_btn.click(replay, [frames, fps], [state_img, status, energy, hist], api_visibility="private")
    stop.click(None, None, None, cancels=[run, play], queue=False)

    demo = gr.context.Context.root_block
    for trig in (demo.load, mc.dataset.change, mc.n.release):
        trig(gallery_items, [mc.dataset, mc.n], gallery, api_name=False, show_progress="minimal")
    prev_inputs = [mc.dataset, mc.n, source, index, editor, corruption, amount, seed, fill]
    # the corrupted query is on screen from the start, not only after a control changes
    demo.load(set_memory, [mc.dataset, mc.n, index, source], [editor, source], api_name=False).then(
        preview, prev_inputs, query_img, api_name=False, show_progress="hidden")
    gallery.select(pick_memory, [mc.dataset, mc.n], [editor, source, index], api_name=False)
    index.change(set_memory, [mc.dataset, mc.n, index, source], [editor, source], api_name=False,
                 trigger_mode="always_last")
    # typing a caption, or an example setting one, makes it the query (it was ignored while "stored memory"
    # stayed selected); .change covers both the keyboard and an example
    caption.change(lambda text: "caption" if str(text or "").strip() else gr.skip(), caption, source,
                   queue=False, api_name=False, show_progress="hidden")
    upload.upload(upload_query, upload, [editor, source], api_name="upload_query")
    census.wire(mc.inputs() + [mc.beta_mode, corruption, amount, fill, seed])
    for comp in (corruption, amount, seed, editor, source, fill):
        comp.change(preview, prev_inputs, query_img, api_name=False, trigger_mode="always_last",
                    show_progress="hidden")

    enc = state.default_encoder()
    rel, ab = "relative", "absolute"
    gr.Examples(
        label="Examples (click one, then Retrieve) — all at calibrated β unless marked",
        examples=[
            ["emoji", enc, "l2", rel, 1.0, 1000, "stored memory", 25, "", "mask-random", 0.4, "black"],
            ["emoji", "pixels", "l2", rel, 1.0, 1000, "stored memory", 25, "", "mask-random", 0.4, "black"],
            ["faces", "robust-small", "l2", rel, 1.0, 200, "stored memory", 12, "", "occlude-bottom", 0.5, "black"],
            ["faces", "pixels", "l2", rel, 1.0, 200, "stored memory", 12, "", "occlude-bottom", 0.5, "black"],
            ["tiles", enc, "l2", rel, 1.0, 1000, "stored memory", 2, "", "occlude-bottom", 0.5, "black"],
            ["tiles", "pixels", MASK_AWARE, rel, 1.0, 1000, "stored memory", 2, "", "occlude-bottom", 0.5, "black"],
            ["emoji", "pixels", "l2", rel, 1.0, 1000, "stored memory", 25, "", "noise", 0.3, "black"],
            # no memory number: setting one would make it a stored-memory query again (set_memory)
            ["photos", enc, "l2", ab, 0.01, 27, "caption", None, EXAMPLE_CAPTION, "none", 0.0, "black"],
        ],
        example_labels=[
            f"emoji · {enc} · 40 % pixels masked (encoder wins)",
            "emoji · raw pixels · 40 % pixels masked (pixels fail)",
            "faces (held out) · robust-small (our extension) · bottom half black",
            "faces (held out) · raw pixels · bottom half black",
            f"tiles · {enc} · bottom half black: every plain representation fails → run the census",
            "tiles · raw pixels · mask-aware L2 (our baseline) · bottom half black",
            "emoji · raw pixels · noise σ 0.3 (pixels are fine: encoding barely helps noise)",
            "photos · caption: “Chelsea, a tabby cat …”",
        ],
        inputs=[mc.dataset, mc.encoder, mc.similarity, mc.beta_mode, mc.beta, mc.n, source, index, caption,
                corruption, amount, fill],
        cache_examples=False,
        elem_id="explore-examples",
    )


def _running():
    """Instant feedback at the click (runs before the queued retrieval)."""
    return "⏳ **running…** (building the memory bank on first use)", ""
