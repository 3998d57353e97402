"""Compare tab: the same corrupted query through two configurations, streaming side by side (HEN Fig. 1 live).

Typical use: raw pixels (the plain modern Hopfield network) against an encoder (HEN) at the same beta and
similarity: the raw-pixel state tends to stall in a blurred mixture, the encoded one snaps to the memory.
"""

from __future__ import annotations

import math
from itertools import zip_longest

import gradio as gr

from hen_demo.pipeline import corrupt_query
from hen_demo.ui import plots, state
from hen_demo.ui.errors import user_errors
from hen_demo.ui.explore import badge, clean_query, show
from hen_demo.ui.memory_controls import (
    LOG_BETA_MAX,
    LOG_BETA_MIN,
    QUERY_CORRUPTIONS,
    beta_from_log,
    check_n,
    corruption_kind,
    retrieval_config,
)

SIDES = ("A", "B")


def _status(frame, steps: int) -> str:
    return (f"**t = {frame.t}** / {steps} · E = {frame.energies[-1]:.5g} · "
            f"1/Σp² = {frame.n_eff:.2f} · top #{frame.topk_indices[0]} p={frame.topk_weights[0]:.3f}"
            + (" · converged" if frame.converged else ""))


def _verdict(frame) -> str:
    r = frame.result
    return (f"**{badge(r.verdict.kind)} {r.verdict.text}**  \n"
            f"MSE {r.mse:.4f} · 1−SSIM {r.one_minus_ssim:.4f} · {r.steps} steps")


@user_errors
def compare(dataset, n, steps, tol, index, corruption, amount, seed,
            enc_a, sim_a, beta_a, enc_b, sim_b, beta_b, progress=gr.Progress()):
    """Stream both configurations together; yields (query, img A, img B, status A, status B, energy A,
    energy B, verdict A, verdict B)."""
    state.check_available("dataset", dataset)
    n = check_n(dataset, n)
    clean, _, target = clean_query(dataset, n, "stored memory", index, None)
    pipes, cfgs = [], []
    for enc, sim, beta in ((enc_a, sim_a, beta_a), (enc_b, sim_b, beta_b)):
        state.check_available("encoder", enc)
        cfg = retrieval_config(sim, "softmax", beta, steps, tol)
        pipes.append(state.RESOURCES.pipeline(state.BankKey(dataset, enc, n), cfg,
                                              progress=lambda f, d="": progress(f, desc=d or "building bank")))
        cfgs.append(cfg)
    kind = corruption_kind(corruption)
    query_img = corrupt_query(clean, pipes[0].image_size, kind, float(amount or 0), int(seed or 0))
    streams = [p.stream(p.encode_image(query_img), c, target=target) for p, c in zip(pipes, cfgs)]
    last = [None, None]
    for fa, fb in zip_longest(*streams):
        first = last[0] is None
        out = [show(query_img) if first else gr.skip()]
        frames = [fa, fb]
        for i, f in enumerate(frames):
            if f is not None:
                last[i] = f
        out += [show(f.image) if f is not None else gr.skip() for f in frames]
        out += [_status(f, cfgs[i].steps) if f is not None else gr.skip() for i, f in enumerate(frames)]
        out += [plots.as_plot(plots.energy_spec(f.energies, title=f"Energy ({SIDES[i]})", height=220)) if f is not None
                else gr.skip() for i, f in enumerate(frames)]
        out += [_verdict(f) if f is not None and f.result is not None else ("" if first else gr.skip())
                for f in frames]  # the first frame clears the previous run's verdicts
        yield tuple(out)


def _side(label: str, encoder: str, beta: float):
    with gr.Group():
        gr.Markdown(f"### Configuration {label}")
        enc = gr.Dropdown(state.encoder_choices(), value=encoder, label="Encoder")
        sim = gr.Dropdown(state.SIMILARITIES, value="l2", label="Similarity")
        log_beta = gr.Slider(LOG_BETA_MIN, LOG_BETA_MAX, value=round(math.log10(beta), 2), step=0.05, label="log₁₀ β")
        beta_box = gr.Number(value=beta, label="β")
        log_beta.input(beta_from_log, log_beta, beta_box, queue=False, show_progress="hidden", api_name=False)
    return enc, sim, beta_box


def build_tab() -> None:
    gr.Markdown("The same damaged query, two memories side by side — HEN Fig. 1, live. Left: raw pixels "
                "(plain modern Hopfield network); right: an encoder (HEN).")
    from hen_demo.ui.explore import DEFAULTS

    with gr.Row():
        with gr.Column(scale=2, min_width=260):
            dataset = gr.Dropdown(state.dataset_choices(), value=state.DEFAULT_DATASET, label="Dataset")
            n = gr.Slider(10, state.dataset_size(state.DEFAULT_DATASET) or 1000, value=state.DEFAULT_N, step=10,
                          label="Memories N")
            steps = gr.Slider(1, 300, value=DEFAULTS["steps"], step=1, label="Steps T")
            tol = gr.Number(value=DEFAULTS["tol"], label="Tolerance")
            index = gr.Number(value=DEFAULTS["index"], precision=0, label="Query: stored memory #")
            corruption = gr.Dropdown(QUERY_CORRUPTIONS, value=DEFAULTS["corruption"],
                                     label="Corruption")
            amount = gr.Slider(0, 1, value=DEFAULTS["amount"], step=0.05, label="amount")
            seed = gr.Number(value=0, precision=0, label="seed")
            go = gr.Button("Retrieve both", variant="primary")
            query = gr.Image(label="Corrupted query", height=180, interactive=False)
        for col, (label, enc, beta) in enumerate((("A", "pixels", DEFAULTS["beta"]),
                                                  ("B", state.default_encoder(), DEFAULTS["beta"]))):
            with gr.Column(scale=3, min_width=300):
                side = _side(label, enc, beta)
                img = gr.Image(label=f"State {label}", height=220, interactive=False, elem_classes="pixelated")
                status = gr.Markdown()
                energy = gr.Plot(label=f"Energy {label}")
                verdict = gr.Markdown()
                if col == 0:
                    a = (side, img, status, energy, verdict)
                else:
                    b = (side, img, status, energy, verdict)
    inputs = [dataset, n, steps, tol, index, corruption, amount, seed, *a[0], *b[0]]
    outputs = [query, a[1], b[1], a[2], b[2], a[3], b[3], a[4], b[4]]
    go.click(state.gpu(compare), inputs, outputs, api_name="compare", concurrency_limit=2)
