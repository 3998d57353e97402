"""Separability tab: self vs cross cosine similarity of queries and memories (HEN Fig. 3).

For each chosen encoder: the N memories xi_j = Phi_enc(x_j) and the N corrupted queries s_i(0) =
Phi_enc(corrupt(x_i)); c_ij = cos(s_i(0), xi_j). Red: self pairs (i = j); blue: cross pairs (i != j).
The less the two histograms overlap, the better separated the attractor basins (HEN sec. 3.1).
"""

from __future__ import annotations

import functools

import gradio as gr
import numpy as np

from hen_demo.pipeline import MemoryConfig
from hen_demo.ui import plots, state
from hen_demo.ui.errors import user_errors
from hen_demo.ui.explore_run import DEFAULTS
from hen_demo.ui.memory_controls import QUERY_CORRUPTIONS, check_n, corruption_kind

BATCH = 256


@user_errors
def compute(res, dataset, encoders, n, corruption, amount, seed, progress=gr.Progress()):
    """Histograms and a table (encoder, overlap, d', fraction nearest own memory) for each encoder."""
    if not encoders:
        raise ValueError("Choose at least one encoder.")
    state.check_available("dataset", dataset)
    n = check_n(dataset, n)
    if n < 2:
        raise ValueError("Separability needs at least two memories.")
    kind = corruption_kind(corruption)
    panels, rows = {}, []
    for e, name in enumerate(encoders):
        state.check_available("encoder", name)
        progress((e, len(encoders)), desc=f"{name}: memory bank")
        bank = res.bank(dataset, name, n)
        # beta plays no part in separability: an absolute one spares the bank's calibration
        pipe = res.pipeline(MemoryConfig(bank, res.encoder(name), beta=1.0, device=res.device))

        def step(f, e=e, name=name):
            progress((e + f) / len(encoders), desc=f"{name}: encoding corrupted queries")

        queries = pipe.encode_corrupted(bank.images, kind, float(amount or 0), int(seed or 0), batch=BATCH,
                                        progress=step)  # (n, K): query i is the cue of memory i
        s = pipe.separability(queries, max_cross=100_000)
        label = next((lab for lab, v in state.encoder_choices() if v == name), name)
        panels[f"{name}: overlap {s.overlap:.2f}"] = {"self i=j": s.self_cos, "cross i≠j": s.cross_cos}
        rows.append([label, round(s.overlap, 3), round(s.d_prime, 2), round(s.margin_fraction, 3),
                     round(float(np.mean(s.self_cos)), 3), round(float(np.mean(s.cross_cos)), 3)])
    fig = plots.as_plot(plots.histogram_grid_spec(panels, title=f"cos(ŝ⁽⁰⁾ᵢ, ξ̂ⱼ), {dataset}, N={n}, query: {kind} {amount}"))
    return fig, rows


def build_tab(res) -> None:
    gr.Markdown("How far apart are the memories as the network sees them? For every stored image *i*, the "
                "corrupted query ŝ⁽⁰⁾ᵢ is compared (cosine) with its own memory ξ̂ᵢ (**red**, self) and with all "
                "others ξ̂ⱼ (**blue**, cross). Overlapping histograms mean overlapping attractor basins, i.e. "
                "metastable mixtures (HEN Fig. 3). *Overlap* = shared area of the two normalised histograms.")
    choices = [(lab, v) for lab, v in state.encoder_choices() if "(unavailable" not in lab]
    missing = [v for lab, v in state.encoder_choices() if "(unavailable" in lab]
    available = [v for _, v in choices]
    default = [e for e in ("pixels", state.default_encoder()) if e in available]
    with gr.Row():
        dataset = gr.Dropdown(state.dataset_choices(), value=state.DEFAULT_DATASET, label="Dataset")
        n = gr.Slider(10, 5000, value=state.DEFAULT_N, step=10, label="Memories N")
        corruption = gr.Dropdown(QUERY_CORRUPTIONS, value=DEFAULTS["corruption"],
                                 label="Corruption of the queries")
        amount = gr.Slider(0, 1, value=DEFAULTS["amount"], step=0.05, label="amount")
        seed = gr.Number(value=0, precision=0, label="seed", min_width=60)
    encoders = gr.CheckboxGroup(choices, value=sorted(set(default), key=default.index),
                                label="Encoders to compare",
                                info=("Not available here: " + ", ".join(missing) + " (the Explore tab's encoder "
                                      "list says why)") if missing else None)
    go = gr.Button("Compute", variant="primary")
    fig = gr.Plot(label="Histograms")
    table = gr.Dataframe(headers=["encoder", "overlap", "d′", "nearest = own memory", "mean self cos",
                                  "mean cross cos"], interactive=False, label="Separation")
    inputs = [dataset, encoders, n, corruption, amount, seed]
    compute_ = functools.partial(compute, res)
    go.click(compute_, inputs, [fig, table], api_name="separability", concurrency_limit=2)
    for comp in (dataset, encoders, corruption):
        comp.change(compute_, inputs, [fig, table], api_name=False, trigger_mode="always_last")
    for comp in (n, amount):
        comp.release(compute_, inputs, [fig, table], api_name=False, trigger_mode="always_last")
