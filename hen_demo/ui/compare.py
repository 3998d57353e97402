"""Compare tab: the same corrupted query through two configurations, streaming side by side (HEN Fig. 1 live).

Typical use: raw pixels (the plain modern Hopfield network) against an encoder (HEN), each at calibrated beta
(relative 1, ``hen_demo.memory.calibrated_beta``): one absolute beta is sharp for one representation and
blurry for another, so only calibrated (or each one's best) beta compares them fairly. Each verdict shows the
one-shot nearest-neighbour ceiling of its representation.
"""

from __future__ import annotations

import functools
import math
from dataclasses import replace
from itertools import zip_longest

import gradio as gr
import numpy as np

from hen_demo.pipeline import corrupt_query
from hen_demo.ui import export_panel, pacing, plots, share, state
from hen_demo.ui.errors import user_errors
from hen_demo.ui.explore_query import clean_query, preview
from hen_demo.ui.explore_run import DEFAULTS
from hen_demo.ui.memory_controls import (
    BETA_MODES,
    FILL_CHOICES,
    LOG_BETA_MAX,
    LOG_BETA_MIN,
    QUERY_CORRUPTIONS,
    beta_from_log,
    check_n,
    corruption_kind,
    fill_and_stats,
    log_from_beta,
    run_options,
    similarity_choices,
)
from hen_demo.ui.present import result_markdown, show

SIDES = ("A", "B")
ENERGY_HEIGHT = 300


def _status(frame, steps: int) -> str:
    return (f"**t = {frame.t}** / {steps} · E = {frame.energies[-1]:.5g} · "
            f"1/Σp² = {frame.n_eff:.2f} · top #{frame.topk_indices[0]} p={frame.topk_weights[0]:.3f}"
            + (" · converged" if frame.converged else ""))


def _verdict(frame) -> str:
    return result_markdown(frame.result)


def _energy_plot(frame, side: int, y_range: list[float] | None):
    spec = plots.energy_spec(frame.energies, title=f"Energy E(s⁽ᵗ⁾) — {SIDES[side]}", height=ENERGY_HEIGHT)
    spec["layout"]["yaxis"]["title"]["text"] = "energy E"
    if y_range is not None:
        spec["layout"]["yaxis"]["range"] = y_range
    return plots.as_plot(spec)


def _shared_range(frames) -> list[float] | None:
    """One y range for both energy plots (used only when the two energies are on one scale)."""
    values = [e for f in frames if f is not None for e in f.energies]
    if not values:
        return None
    lo, hi = min(values), max(values)
    pad = 0.05 * (hi - lo) if hi > lo else max(1e-6, 0.05 * abs(hi))
    return [lo - pad, hi + pad]


@user_errors
def compare(res, dataset, n, steps, tol, index, corruption, amount, seed,
            enc_a, sim_a, beta_a, enc_b, sim_b, beta_b, mode_a="relative", mode_b="relative", fill="black",
            progress=gr.Progress()):
    """Stream both configurations together; yields (query, target, img A, img B, status A, status B, energy A,
    energy B, verdict A, verdict B).

    ``mode_a`` / ``mode_b``: "relative" (β calibrated to each side's own bank: a fair comparison) or "absolute".
    ``fill``: what hidden pixels become; a side's similarity "mask-aware" (raw pixels only) compares visible pixels.
    """
    state.check_available("dataset", dataset)
    n = check_n(dataset, n)
    clean, _, target = clean_query(res, dataset, n, "stored memory", index, None)
    pipes = []
    opts = run_options(steps, tol, stream=False)
    for enc, sim, beta, mode in ((enc_a, sim_a, beta_a, mode_a), (enc_b, sim_b, beta_b, mode_b)):
        cfg = res.memory_config(dataset, enc, n, sim, "softmax", beta, mode or "relative",
                                progress=lambda f, d="": progress(f, desc=d or "building bank"))
        pipes.append(res.pipeline(cfg))
    # energies are on one scale only when both sides store the same codes with the same similarity and beta
    comparable = enc_a == enc_b and sim_a == sim_b and pipes[0].beta == pipes[1].beta
    kind = corruption_kind(corruption)
    fill, stats = fill_and_stats(fill, pipes[0].bank)
    query_img, hidden = corrupt_query(clean, pipes[0].image_size, kind, float(amount or 0), int(seed or 0),
                                      fill=fill, stats=stats, return_mask=True)
    target_img = show(np.asarray(pipes[0].bank.images[target]))
    streams = [p.stream(p.encode_image(query_img), replace(opts, visible=p.visible_dims(hidden)), target=target)
               for p in pipes]
    last, throttle = [None, None], pacing.PlotThrottle()
    streamed = ([], [])  # every frame of each side, for the export panel
    for fa, fb in zip_longest(*streams):
        first = last[0] is None
        out = [show(query_img) if first else gr.skip(), target_img if first else gr.skip()]
        frames = [fa, fb]
        for i, f in enumerate(frames):
            if f is not None:
                last[i] = f
                streamed[i].append(f)
        y_range = _shared_range(last) if comparable else None
        out += [show(f.image) if f is not None else gr.skip() for f in frames]
        out += [_status(f, opts.steps) if f is not None else gr.skip() for i, f in enumerate(frames)]
        plot = throttle.due(force=first or any(f is not None and f.result is not None for f in frames))
        out += [_energy_plot(f, i, y_range) if f is not None and plot else gr.skip() for i, f in enumerate(frames)]
        out += [_verdict(f) if f is not None and f.result is not None else ("" if first else gr.skip())
                for f in frames]  # the first frame clears the previous run's verdicts
        done = all(f is not None and f.result is not None for f in last)  # the last message: keep the run
        yield tuple(out) + ((export_panel.compare_records(streamed, query_img, dataset, n, (enc_a, enc_b),
                                                          (sim_a, sim_b), kind, amount, fill) if done
                             else gr.skip()),)


@user_errors
def query_and_target(res, dataset, n, index, corruption, amount, seed, fill="black"):
    """(corrupted query, target memory) as Retrieve will use them: shown on load and whenever they change."""
    n = check_n(dataset, n)
    query = preview.__wrapped__(res, dataset, n, "stored memory", index, None, corruption, amount, seed, fill)
    _, _, target = clean_query(res, dataset, n, "stored memory", index, None)
    return query, show(np.asarray(res.dataset(dataset, n).images[target]))


def _side(label: str, encoder: str, beta: float, mode: str):
    with gr.Group():
        gr.Markdown(f"#### Configuration {label}")
        with gr.Row():
            enc = gr.Dropdown(state.encoder_choices(), value=encoder, label="Encoder", elem_id=f"compare-enc-{label}")
            sim = gr.Dropdown(similarity_choices(mask_aware=True), value="l2", label="Similarity")
        beta_mode = gr.Radio(BETA_MODES, value=mode, label="β is given as", elem_id=f"compare-beta-mode-{label}")
        with gr.Row():
            log_beta = gr.Slider(LOG_BETA_MIN, LOG_BETA_MAX, value=round(math.log10(beta), 2), step=0.05,
                                 label="log₁₀ β")
            beta_box = gr.Number(value=beta, label=f"β ({mode})", min_width=80)
        log_beta.input(beta_from_log, log_beta, beta_box, queue=False, show_progress="hidden", api_name=False)
        beta_box.change(log_from_beta, beta_box, log_beta, queue=False, show_progress="hidden", api_name=False)
        beta_mode.change(lambda m: gr.update(label=f"β ({m})"), beta_mode, beta_box, queue=False,
                         show_progress="hidden", api_name=False)
    return enc, sim, beta_box, beta_mode


def build_tab(res) -> None:
    gr.Markdown("The same damaged query, two memories side by side — HEN Fig. 1, live. Both sides use "
                "**calibrated β** by default (relative 1: equally sharp on each representation's own distance "
                "scale; distances differ ~10× between pixels and codes, so one absolute β is unfair), and each "
                "verdict shows the one-shot **nearest-neighbour ceiling**. What holds at fair β: encoding helps "
                "random masking and grey fills (the default: emoji, 40 % masked), barely helps Gaussian noise, and "
                "on tiles, faces and digits a black half leaves every representation low except the occlusion-trained "
                "*robust-small* (our extension, not the paper's) and the *mask-aware* raw-pixel baseline (emoji, "
                "which the shipped encoders were trained on, are the exception: kl-small keeps 70 %, its NN ceiling).", elem_classes="hen-intro")
    with gr.Row(equal_height=False):
        with gr.Column(scale=2, min_width=220):
            with gr.Row():
                query = gr.Image(label="Corrupted query", height=170, interactive=False, buttons=[],
                                 elem_id="compare-query", elem_classes=["hen-img", "pixelated"], min_width=100)
                target = gr.Image(label="Target memory", height=170, interactive=False, buttons=[],
                                  elem_id="compare-target", elem_classes=["hen-img", "pixelated"], min_width=100)
            go = gr.Button("Retrieve both", variant="primary", elem_id="compare-retrieve")
        sides = []
        for label in SIDES:
            with gr.Column(scale=3, min_width=280):
                img = gr.Image(label=f"State {label}", height=170, interactive=False, buttons=[],
                               elem_classes=["hen-img", "pixelated"], elem_id=f"compare-state-{label}")
                status = gr.Markdown()
                verdict = gr.Markdown(elem_id=f"compare-verdict-{label}")
                sides.append([img, status, verdict])
    with gr.Row(equal_height=False):
        energies = []
        for label in SIDES:
            with gr.Column(scale=1, min_width=300):
                energies.append(gr.Plot(label=f"Energy {label}", show_label=False, elem_id=f"compare-energy-{label}"))
    with gr.Row(equal_height=False):
        with gr.Column(scale=2, min_width=260):
            dataset = gr.Dropdown(state.dataset_choices(), value=state.DEFAULT_DATASET, label="Dataset")
            n = gr.Slider(10, state.dataset_size(state.DEFAULT_DATASET) or 1000, value=state.DEFAULT_N, step=10,
                          label="Memories N")
            index = gr.Number(value=DEFAULTS["index"], precision=0, label="Query: stored memory #")
            with gr.Row():
                corruption = gr.Dropdown(QUERY_CORRUPTIONS, value=DEFAULTS["corruption"], label="Corruption")
                amount = gr.Slider(0, 1, value=DEFAULTS["amount"], step=0.05, label="amount")
            fill = gr.Dropdown(FILL_CHOICES, value=DEFAULTS["fill"], label="hidden pixels become",
                               elem_id="compare-fill")
            with gr.Accordion("Advanced: steps, tolerance, seed", open=False):
                steps = gr.Slider(1, 300, value=DEFAULTS["steps"], step=1, label="Steps T")
                tol = gr.Number(value=DEFAULTS["tol"], label="Tolerance")
                seed = gr.Number(value=0, precision=0, label="seed")
        side_controls = []
        for label, enc in (("A", "pixels"), ("B", state.default_encoder())):
            with gr.Column(scale=3, min_width=280):
                side_controls.append(_side(label, enc, DEFAULTS["beta"], DEFAULTS["beta_mode"]))
    (enc_a, sim_a, beta_a, mode_a), (enc_b, sim_b, beta_b, mode_b) = side_controls
    inputs = [dataset, n, steps, tol, index, corruption, amount, seed, enc_a, sim_a, beta_a, enc_b, sim_b, beta_b,
              mode_a, mode_b, fill]
    outputs = [query, target, sides[0][0], sides[1][0], sides[0][1], sides[1][1], energies[0], energies[1],
               sides[0][2], sides[1][2]]
    runs = gr.State(None)  # the last run's two RunRecords, for the export panel
    go.click(state.gpu(functools.partial(compare, res)), inputs, outputs + [runs], api_name="compare",
             concurrency_limit=2)
    # the damaged query and its target are on screen before the first click (issue 10 §4)
    shown = [dataset, n, index, corruption, amount, seed, fill]
    query_and_target_ = functools.partial(query_and_target, res)
    gr.context.Context.root_block.load(query_and_target_, shown, [query, target], api_name=False,
                                       show_progress="hidden")
    for comp in (dataset, index, corruption, amount, seed, fill):
        comp.change(query_and_target_, shown, [query, target], api_name=False, trigger_mode="always_last",
                    show_progress="hidden")
    n.release(query_and_target_, shown, [query, target], api_name=False, show_progress="hidden")
    # issue 22: export either side of the last run, and a link that restores these controls
    export_panel.build_export_panel([runs], export_panel.stored_record, "compare", sides=SIDES)
    share.build_link_bar("compare", {"dataset": dataset, "n": n, "steps": steps, "index": index, "damage": corruption,
                                     "amount": amount, "fill": fill, "seed": seed, "encoder": enc_a, "sim": sim_a,
                                     "beta": beta_a, "mode": mode_a, "encoder_b": enc_b, "sim_b": sim_b,
                                     "beta_b": beta_b, "mode_b": mode_b}, "compare")
    enc = state.default_encoder()
    gr.Examples(
        label="Examples (click one, then Retrieve both) — both sides at calibrated β",
        examples=[
            ["emoji", 1000, 25, "mask-random", 0.4, "black", "pixels", "l2", enc, "l2"],
            ["faces", 200, 12, "occlude-bottom", 0.5, "black", "pixels", "l2", "robust-small", "l2"],
            ["tiles", 1000, 2, "occlude-bottom", 0.5, "black", "pixels", "mask-aware", enc, "l2"],
            ["emoji", 1000, 25, "noise", 0.3, "black", "pixels", "l2", enc, "l2"],
        ],
        example_labels=[
            f"emoji · 40 % masked · pixels vs {enc} (encoding helps)",
            "faces (held out) · bottom black · pixels vs robust-small",
            f"tiles · bottom black · mask-aware pixels vs {enc}",
            f"emoji · noise σ 0.3 · pixels vs {enc} (both fine)",
        ],
        inputs=[dataset, n, index, corruption, amount, fill, enc_a, sim_a, enc_b, sim_b],
        cache_examples=False,
        elem_id="compare-examples",
    )
