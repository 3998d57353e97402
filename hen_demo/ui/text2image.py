"""Text -> Image tab: hetero-associative recall from a caption (HEN sec. 3.2, Fig. 4-6).

Memories are xi_n = [Phi_enc^I(image_n); Phi_enc^T(caption_n)]; the query is s(0) = [0; Phi_enc^T(caption)],
with the text half clamped while the image half fills in (HEN Fig. 4-5). With "bind two images to one
caption" a second memory gets the same text code, so the caption no longer names a unique image and the
state settles in a metastable mixture of both (HEN Fig. 6, Hypothesis 2).
"""

from __future__ import annotations

import functools
import time

import gradio as gr
import numpy as np

from hen_demo.ui import export_panel, pacing, share, state
from hen_demo.ui.errors import user_errors
from hen_demo.ui.frames import frame_record, frame_view, status_line
from hen_demo.ui.memory_controls import build_memory_controls, check_n, run_options
from hen_demo.ui.present import result_markdown

DEFAULT_DATASET = "emoji"  # a typed emoji name recalls its picture (5 of 5 sampled names at calibrated beta, minilm)


# On photos (27) at absolute beta = 0.001 a caption bound to two images gives a 50/50 mixture (state.CAPTION_WEIGHT);
# larger beta lets the image halves break the tie (one of the pair wins).
# emoji, N = 1,000, kl-small + minilm, calibrated beta (relative 1): "open mailbox with lowered flag", "accordion",
# "violin", ... each recalled its own picture with 96-100 % of the weight, at the NN ceiling.
DEFAULTS = dict(similarity="l2", beta=1.0, text_weight=state.CAPTION_WEIGHT, n=1000, bind_index=10,
                beta_mode="relative")


CLOSEST = 3  # closest stored captions listed when none matches


def _progress(progress):
    return lambda f, d="": progress(f, desc=d or "encoding images and captions")


@user_errors
def text_to_image(res, dataset, encoder, similarity, separation, beta, n, steps, tol, caption, text_encoder,
                  bind_on, bind_index, text_weight=DEFAULTS["text_weight"], beta_mode="absolute",
                  progress=gr.Progress()):
    """Stream the image half filling in from a caption. Yields (state img, status, energy + top-k plot,
    top-k gallery, targets gallery, verdict markdown)."""
    t0 = time.perf_counter()
    n = check_n(dataset, n)
    opts = run_options(steps, tol, stream=False)
    caption = str(caption or "").strip()
    if not caption:
        raise ValueError("The caption is empty: type a few words, or pick a stored caption.")
    if text_weight is None or not float(text_weight) > 0:
        raise ValueError(f"The caption weight must be positive (got {text_weight}).")

    def pipeline(bind):
        return res.pipeline(res.memory_config(dataset, encoder, n, similarity, separation, beta, beta_mode,
                                              text_encoder=text_encoder, bind=bind, text_weight=text_weight,
                                              progress=_progress(progress)))

    probe = pipeline(None)
    target = probe.find_caption(caption)
    bind = None
    if bind_on:
        if target is None:
            raise ValueError("To bind two images to one caption, pick one of the stored captions.")
        j = int(bind_index if bind_index is not None else -1)
        if not 0 <= j < n or j == target:
            raise ValueError(f"The second image must be another stored memory, #0 to #{n - 1} (not #{target}).")
        bind = (target, j)
    pipe = probe if bind is None else pipeline(bind)
    text_code = res.text_encoder(text_encoder, encoder).encode([caption])
    query, clamp = pipe.caption_query(text_code)
    ds = pipe.bank
    if target is None:  # nothing stored to compare with: say so, and which stored captions come closest
        close = pipe.closest_captions(text_code, CLOSEST)
        targets = [(np.asarray(ds.images[i]), f"closest caption #{i}: {str(ds.captions[i])[:60]}") for i in close]
        no_match = ("  \nNo stored caption matches this text, so there is no stored original to compare with. "
                    "Closest stored captions: " + "; ".join(f"#{i} “{str(ds.captions[i])[:60]}”" for i in close))
    else:
        bound = [target] + ([bind[1]] if bind else [])
        targets = [(np.asarray(ds.images[i]), f"#{i}: {str(ds.captions[i])[:60]}") for i in bound]
        no_match = ""
    prev, throttle, streamed = None, pacing.PlotThrottle(), []  # streamed: the run's frames, for export
    for frame in pipe.stream(query, opts, target=None if bind else target, clamp=clamp):
        rec = frame_record(frame, ds, opts.steps, target, prev)
        status = status_line(rec, seconds=time.perf_counter() - t0)
        last = frame.result is not None  # the last message carries every output (API clients keep only it)
        state_img, status, energy, gallery, _ = frame_view(rec, status, None if last else prev,
                                                           throttle.due(force=frame.t == 0 or last))
        out = (state_img, status, energy, gallery, targets if frame.t == 0 else gr.skip())
        prev = rec
        streamed.append(frame)
        if frame.result is None:
            yield out + (gr.skip(), gr.skip())
        else:
            note = no_match
            if bind:
                w = {i: p for i, p in zip(frame.topk_indices, frame.topk_weights)}
                note = (f"  \nBound memories: #{bind[0]} p={w.get(bind[0], 0):.3f}, #{bind[1]} "
                        f"p={w.get(bind[1], 0):.3f} — one caption, two images: HEN Fig. 6.")
            yield out + (result_markdown(frame.result, note),
                         export_panel.caption_record(streamed, dataset, encoder, similarity, n, caption))


@user_errors
def caption_choices(res, dataset, n, current=None, request: gr.Request = None):
    """The dataset's stored captions; the value is the first of them, unless the page's link names a caption
    (``?tab=text2image&caption=...``) that is still the one shown (``share.link_value``)."""
    n = check_n(dataset, n)
    ds = res.dataset(dataset, n)
    caps = [str(c) for c in (ds.captions or [])[: min(n, 200)]]
    linked = share.link_value(request, "text2image", "caption")
    if linked and current in (None, "", linked):
        return gr.update(choices=caps, value=linked)
    return gr.update(choices=caps, value=caps[0] if caps else None)


def build_tab(res) -> None:
    gr.Markdown("Recall an image from words. Each memory is **[image code; text code]**; the query is "
                "**[0; text code]** with the text half held fixed (clamped) while the image half fills in "
                "(HEN Fig. 4–5). Tick *bind two images to one caption* to break the uniqueness of the "
                "association and watch a metastable mixture appear (HEN Fig. 6). Default: emoji at calibrated β, where a "
                "typed emoji name recalls its picture; there a bound pair is decided by the image halves (one of the "
                "two wins) unless β is lowered to about 0.02 × calibrated — for the clean 50/50 mixture use *photos*, "
                "N = 27, absolute β = 0.001.")
    with gr.Row(equal_height=False):
        with gr.Column(scale=3, min_width=280):
            with gr.Accordion("Memory", open=True):
                mc = build_memory_controls(dataset=DEFAULT_DATASET, n=DEFAULTS["n"], beta=DEFAULTS["beta"],
                                           similarity=DEFAULTS["similarity"], steps=60, tol=1e-6,
                                           beta_mode=DEFAULTS["beta_mode"], res=res)
                text_weight = gr.Slider(0.5, 20, value=DEFAULTS["text_weight"], step=0.5,
                                        label="Caption weight (text half's norm ÷ image half's)")
        with gr.Column(scale=4, min_width=320):
            text_encoder = gr.Dropdown(state.text_encoder_choices(), value=state.default_text_encoder(),
                                       label="Text encoder Φ_enc^T")
            caption = gr.Dropdown([], value=None, allow_custom_value=True, label="Caption (pick or type)")
            with gr.Row():
                bind_on = gr.Checkbox(value=False, label="bind two images to one caption (HEN Fig. 6)")
                bind_index = gr.Number(value=DEFAULTS["bind_index"], precision=0, label="second image #",
                                       min_width=80)
            go = gr.Button("Recall from caption", variant="primary", elem_id="t2i-retrieve")
            targets = gr.Gallery(label="Stored image(s) the caption names", columns=2, height=200,
                                 allow_preview=False, object_fit="contain", buttons=[],
                                 elem_classes=["hen-img", "pixelated"], elem_id="t2i-targets")
        with gr.Column(scale=5, min_width=360):
            state_img = gr.Image(label="Image half Φ_dec(ŝ_I⁽ᵗ⁾)", height=220, interactive=False, buttons=[],
                                 elem_classes=["hen-img", "pixelated"])
            status = gr.Markdown()
            energy = gr.Plot(label="Energy and top-k weights")
            topk_gallery = gr.Gallery(label="Top-k memories", columns=5, height=140, allow_preview=False,
                                      buttons=[], elem_classes=["hen-img", "pixelated"])
            verdict = gr.Markdown()
    inputs = mc.inputs() + [caption, text_encoder, bind_on, bind_index, text_weight, mc.beta_mode]
    outputs = [state_img, status, energy, topk_gallery, targets, verdict]
    run = gr.State(None)  # the last run as a RunRecord, for the export panel
    go.click(state.gpu(functools.partial(text_to_image, res)), inputs, outputs + [run], api_name="text_to_image",
             concurrency_limit=4)
    # issue 22: export the last recall, and a link that restores these controls
    export_panel.build_export_panel([run], export_panel.stored_record, "t2i")
    share.build_link_bar("text2image", {"dataset": mc.dataset, "encoder": mc.encoder, "sim": mc.similarity,
                                        "beta": mc.beta, "mode": mc.beta_mode, "n": mc.n, "steps": mc.steps,
                                        "caption": caption, "text_encoder": text_encoder}, "t2i")
    demo = gr.context.Context.root_block

    def choices(dataset, n, current=None, request: gr.Request = None):  # Gradio fills request by annotation
        return caption_choices(res, dataset, n, current, request)

    for trig in (demo.load, mc.dataset.change, mc.n.release):
        trig(choices, [mc.dataset, mc.n, caption], caption, api_name=False)
