"""Explore tab: one query through HEN, iteration by iteration (HEN eq. 5-7) — the layout and its wiring.

Query from the gallery of stored memories, an uploaded image, or a caption; corrupt it (a half occluded,
a region painted with the brush, random pixels masked, Gaussian noise); watch the decoded state, the energy,
the top-k memories and the effective number of memories 1/Σp² change at every step; at the end compare the
retrieved image with the original and the encoder's own reconstruction (MSE, 1-SSIM) and read a verdict.
The query is :mod:`explore_query`, the run and its playback :mod:`explore_run`, the panels :mod:`frames`.
"""

from __future__ import annotations

import functools

import gradio as gr

from hen_demo.pipeline import MASK_AWARE
from hen_demo.ui import (
    census_panel,
    explore_query,
    explore_run,
    export_panel,
    my_images,
    pacing,
    retrieval_map,
    share,
    state,
)
from hen_demo.ui.explore_query import EDITOR
from hen_demo.ui.explore_run import DEFAULTS
from hen_demo.ui.memory_controls import FILL_CHOICES, QUERY_CORRUPTIONS, build_memory_controls

SOURCES = ["stored memory", "upload", "caption"]
DEFAULT_DATASET = state.DEFAULT_DATASET  # "emoji"
EXAMPLE_CAPTION = "Close-up of Chelsea, a tabby cat with green eyes and pink nose, looking at the camera."
PRIVATE = dict(api_visibility="private")


def image(label: str, elem_id: str | None = None, height: int = 190, **kw) -> gr.Image:
    return gr.Image(label=label, height=height, interactive=False, format="png", buttons=[], elem_id=elem_id,
                    elem_classes=["hen-img", "pixelated"], **kw)


def combine_note(encoder, similarity, source):
    """Options that cannot combine, said before Retrieve: (note beside the similarity, Retrieve button update)."""
    why = ""
    if similarity == MASK_AWARE and encoder != "pixels" and not str(encoder).startswith("pixels-"):
        why = "mask-aware L2 compares visible pixels, so it needs the raw-pixel encoder: pick *raw pixels* or l2."
    elif similarity == MASK_AWARE and source == "caption":
        why = "mask-aware L2 compares the visible pixels of an image query; a caption has none: pick l2."
    return (f"⚠️ {why}" if why else ""), gr.update(interactive=not why)


def running(res, dataset, encoder, n, source, text_encoder):
    """Instant feedback at the click (before the queued run); mentions the bank only when it is not in memory."""
    try:
        text = text_encoder if source == "caption" else None
        building = not res.has_bank(dataset, encoder, n, text)
    except (TypeError, ValueError):  # a bad N or dataset: the run itself says why
        building = False
    message = "⏳ **running…**" + (" (loading the memory bank; it is built only on its first use)" if building else "")
    return message, "", ""  # status, verdict, and no hold: the playback follows the run


def build_tab(res) -> None:
    """The Explore tab (inside ``with gr.Tab("Explore"):``), over the app's shared :class:`Resources` ``res``.

    The *stage* comes first — corrupted query with Retrieve and the playback buttons, the network state, the
    energy / top-k plot and the similarity histogram — so at 1280×720 the cue, the button and the result are on the
    first screen (issue 10 §2); controls follow, the rarely changed ones in a collapsed accordion.
    """
    gr.Markdown("Store **N** images as memories, give the network a damaged cue, and watch the Hopfield "
                "dynamics pull it into a memory (or get stuck between several). Pick an encoder to run HEN; "
                "pick *raw pixels* for the plain modern Hopfield network.", elem_classes="hen-intro")
    seed = gr.Number(value=0, precision=0, label="seed (corruption)", min_width=60, render=False,
                     elem_id="explore-seed")
    with gr.Row(equal_height=False, elem_id="explore-stage"):
        with gr.Column(scale=2, min_width=180):
            query_img = image("Corrupted query s⁽⁰⁾", "explore-query")
            go = gr.Button("Retrieve", variant="primary", elem_id="explore-retrieve")
            with gr.Row(elem_id="explore-buttons"):
                stop = gr.Button("Stop", variant="stop", size="sm", min_width=50, elem_id="explore-stop")
                pause = gr.Button("Pause", size="sm", min_width=50, elem_id="explore-pause")
                step = gr.Button("Step", size="sm", min_width=50, elem_id="explore-step")
                resume = gr.Button("Resume", size="sm", min_width=50, elem_id="explore-resume")
                replay = gr.Button("Replay", size="sm", min_width=50, elem_id="explore-replay")
            with gr.Row():
                fps = gr.Slider(0, pacing.FPS_MAX, value=DEFAULTS["fps"], step=0.5, elem_id="explore-fps",
                                label="frames / s", info=f"0 = as fast as possible, else {pacing.FPS_MIN:g}–"
                                                         f"{pacing.FPS_MAX:g}")
                classroom = gr.Button(f"classroom pace ({pacing.CLASSROOM_FPS:g} / s)", size="sm", min_width=60,
                                      elem_id="explore-classroom-pace")
        with gr.Column(scale=2, min_width=180):
            state_img = image("Network state Φ_dec(ŝ⁽ᵗ⁾)", "explore-state")
            status = gr.Markdown("Press **Retrieve**.", elem_id="explore-status")
            verdict = gr.Markdown(elem_id="explore-verdict")
        with gr.Column(scale=5, min_width=320):
            energy = gr.Plot(label="Energy and top-k weights", show_label=False, elem_id="explore-energy")
            hist = gr.Plot(label="Cosine similarity to every memory", show_label=False, elem_id="explore-hist")
            route = gr.Plot(label="Retrieval map", show_label=False, elem_id="explore-map")
            gr.Markdown(retrieval_map.CAPTION, elem_id="explore-map-caption")
    with gr.Row(equal_height=False):
        with gr.Column(scale=3, min_width=300):
            topk_gallery = gr.Gallery(label="Memories holding ≥ 1 % of the weight (stored originals)", columns=5,
                                      height=130, allow_preview=False, object_fit="contain", buttons=[],
                                      elem_id="explore-topk", elem_classes=["hen-img", "pixelated"])
        with gr.Column(scale=3, min_width=300):
            with gr.Row():
                original = image("Original", "explore-original", 150, min_width=90)
                recon = image("Encoder's reconstruction", None, 150, min_width=90)
                retrieved = image("Retrieved", "explore-retrieved", 150, min_width=90)
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
                    upload = gr.UploadButton("Upload an image", file_types=["image"], type="filepath",
                                              elem_id="explore-upload")
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
                                           dataset=DEFAULT_DATASET, res=res)
                note = gr.Markdown(elem_id="explore-combine-note")
        with gr.Column(scale=3, min_width=280):
            with gr.Accordion("Query canvas — paint over regions to hide them (brush)", open=False):
                # an empty value (not None): /retrieve is then callable with every parameter at its default
                editor = gr.ImageEditor(value={"background": None, "layers": [], "composite": None},
                                        label="Query canvas", type="numpy", image_mode="RGBA", sources=[],
                                        height=300, canvas_size=(EDITOR, EDITOR),
                                        brush=gr.Brush(default_size=14, colors=["#000000"], color_mode="fixed"),
                                        transforms=[], layers=False, eraser=gr.Eraser(default_size=14))
    my_images.build_panel(res, mc, refresh=[(my_images.first_memory, None, index),  # "Your images" (issue 20)
                                            (functools.partial(explore_query.gallery_items, res), [mc.dataset, mc.n],
                                             gallery)])
    census = census_panel.build_panel()
    with gr.Accordion("Details (JSON: energies, metrics)", open=False):
        details = gr.JSON(label="Details")
    run = gr.State(None)  # the last run's frames and final panels (playback, Step, Stop)
    cursor = gr.State(-1)  # the frame on screen
    hold = gr.State("")  # "paused" / "stopped": Pause, Step or Stop clicked during the compute (explore_run.HOLD_*)

    inputs = mc.inputs() + [source, index, editor, caption, text_encoder, corruption, amount, seed, fps,
                            mc.beta_mode, fill]
    frame_panels = [state_img, status, energy, topk_gallery, hist]  # frames.FRAME_PANELS
    final_panels = [original, recon, retrieved, verdict, details]
    # the retrieval map (issue 21) goes last: the API's 13th output, a per-frame panel of playback too
    outputs = [query_img] + frame_panels + final_panels + [run, route]
    played = frame_panels + final_panels + [route, cursor]
    # the API endpoint: the same run, answered at full speed, its last message complete
    api = gr.Button(visible=False)
    api.click(state.gpu(functools.partial(explore_run.retrieve, res)), inputs, outputs, api_name="retrieve",
              concurrency_limit=4)
    # the browser: "running" at once, the run at full speed in a compute slot, the playback outside any slot
    compute = explore_run.keep_screen(explore_run.compute, len(outputs) + 1)
    clicked = go.click(functools.partial(running, res), [mc.dataset, mc.encoder, mc.n, source, text_encoder],
                       [status, verdict, hold], queue=False, show_progress="hidden", **PRIVATE)
    computing = clicked.then(state.gpu(functools.partial(compute, res)), inputs, outputs + [cursor],
                             concurrency_limit=4, **PRIVATE)
    play_args = dict(concurrency_limit=pacing.PLAYBACK, show_progress="hidden", **PRIVATE)
    playing = computing.then(explore_run.playback_unless_held, [run, cursor, fps, hold], played, **play_args)
    resuming = resume.click(explore_run.playback, [run, cursor, fps], played, **play_args)
    replaying = replay.click(explore_run.replay, [run, cursor, fps], played, **play_args)
    plays = [playing, resuming, replaying]
    # Stop: the cancel and the report are two listeners of the click, so the report runs even when Gradio's cancel of
    # a run that has just ended fails; Pause and Step report after their cancel (the frame on screen at the click)
    # each also sets ``hold`` first, for a playback that has not begun yet (clicked while the run still computes)
    stop.click(lambda: explore_run.HOLD_STOPPED, None, hold, cancels=[computing] + plays, queue=False, **PRIVATE)
    stop.click(explore_run.stopped, [run, cursor], [status, verdict], queue=False, show_progress="hidden", **PRIVATE)
    pause.click(lambda: explore_run.HOLD_PAUSED, None, hold, cancels=plays, queue=False, **PRIVATE).then(
        explore_run.paused, [run, cursor], status, queue=False, show_progress="hidden", **PRIVATE)
    step.click(lambda: explore_run.HOLD_PAUSED, None, hold, cancels=plays, queue=False, **PRIVATE).then(
        explore_run.step_once, [run, cursor], played, **play_args)
    classroom.click(lambda: pacing.CLASSROOM_FPS, None, fps, queue=False, **PRIVATE)
    for comp in (mc.encoder, mc.similarity, source):
        comp.change(combine_note, [mc.encoder, mc.similarity, source], [note, go], queue=False,
                    show_progress="hidden", **PRIVATE)
    _wire_query(res, mc, query_img, source, index, editor, caption, corruption, amount, seed, fill, gallery, upload)
    census.wire(res, mc.inputs() + [mc.beta_mode, corruption, amount, fill, seed])
    # issue 22: export the last run (its kept frames), and a link that restores these controls
    export_panel.build_export_panel([run, details, query_img], export_panel.explore_record, "explore",
                                    after_run=computing, caption_inputs=[mc.dataset, mc.encoder, mc.similarity, mc.n,
                                                                         corruption, amount, fill])
    share.build_link_bar("explore", {"dataset": mc.dataset, "encoder": mc.encoder, "sim": mc.similarity,
                                     "beta": mc.beta, "mode": mc.beta_mode, "n": mc.n, "steps": mc.steps,
                                     "source": source, "index": index, "caption": caption, "damage": corruption,
                                     "amount": amount, "fill": fill, "seed": seed, "fps": fps}, "explore")
    _examples(mc, source, index, caption, corruption, amount, fill)


def _wire_query(res, mc, query_img, source, index, editor, caption, corruption, amount, seed, fill, gallery,
                upload) -> None:
    """The query's small handlers: picker, typed number, upload, caption, and the preview of the corrupted cue."""
    q = explore_query
    demo = gr.context.Context.root_block
    items = functools.partial(q.gallery_items, res)
    for trig in (demo.load, mc.dataset.change, mc.n.release):
        trig(items, [mc.dataset, mc.n], gallery, api_name=False, show_progress="minimal")
    preview = functools.partial(q.preview, res)
    prev_inputs = [mc.dataset, mc.n, source, index, editor, corruption, amount, seed, fill]
    set_memory = functools.partial(q.set_memory, res)
    # the corrupted query is on screen from the start, not only after a control changes
    demo.load(set_memory, [mc.dataset, mc.n, index, source], [editor, source], api_name=False).then(
        preview, prev_inputs, query_img, api_name=False, show_progress="hidden")

    def pick(dataset, n, evt: gr.SelectData):  # Gradio fills evt by this annotation (not through a partial)
        return q.pick_memory(res, dataset, n, evt)

    gallery.select(pick, [mc.dataset, mc.n], [editor, source, index], api_name=False)
    index.change(set_memory, [mc.dataset, mc.n, index, source], [editor, source], api_name=False,
                 trigger_mode="always_last")
    # typing a caption, or an example setting one, makes it the query; .change covers the keyboard and examples
    caption.change(lambda text: "caption" if str(text or "").strip() else gr.skip(), caption, source,
                   queue=False, api_name=False, show_progress="hidden")
    upload.upload(q.upload_query, upload, [editor, source], api_name="upload_query")
    for comp in (corruption, amount, seed, editor, source, fill):
        comp.change(preview, prev_inputs, query_img, api_name=False, trigger_mode="always_last",
                    show_progress="hidden")


def _examples(mc, source, index, caption, corruption, amount, fill) -> None:
    enc = state.default_encoder()
    rel, ab = "relative", "absolute"
    slow, slow_label = slow_example(enc)
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
            slow,
            # no memory number: setting one would make it a stored-memory query again (set_memory)
            ["photos", enc, "l2", ab, 0.01, 27, "caption", None, EXAMPLE_CAPTION, "none", 0.0, "black"],
        ],
        example_labels=[
            f"emoji · {enc} · 40 % pixels masked (encoder wins)",
            "emoji · raw pixels · 40 % pixels masked (pixels fail)",
            "faces (held out) · robust-small (ours) · bottom half black",
            "faces (held out) · raw pixels · bottom half black",
            f"tiles · {enc} · bottom black: plain codes fail → census",
            "tiles · raw pixels · mask-aware L2 (ours) · bottom black",
            "emoji · raw pixels · noise σ 0.3 (noise is easy for pixels)",
            slow_label,
            "photos · caption: “Chelsea, a tabby cat …”",
        ],
        inputs=[mc.dataset, mc.encoder, mc.similarity, mc.beta_mode, mc.beta, mc.n, source, index, caption,
                corruption, amount, fill],
        cache_examples=False,
        elem_id="explore-examples",
    )


# slow to settle (issue 19 §7): a soft beta and heavy damage. Measured (emoji, N = 1,000, kl-small, memory #25, 60 %
# masked, seed 0): 0.025 × calibrated passes through mixtures for 13 iterations before it settles on #25 (0.02: still a
# two-memory mixture after 60; 1 × calibrated: 2 iterations)
SLOW_BETA, SLOW_AMOUNT = 0.025, 0.6


def slow_example(encoder: str) -> tuple[list, str]:
    return (["emoji", encoder, "l2", "relative", SLOW_BETA, 1000, "stored memory", 25, "", "mask-random", SLOW_AMOUNT,
             "black"],
            f"SLOW TO SETTLE · {encoder} · soft β {SLOW_BETA:g}× · 60 % masked")
