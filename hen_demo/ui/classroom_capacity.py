"""Classroom tab, second half (slides 002 "Capacity", "Dense Associative Memories", "Modern Hopfield"):
capacity and spurious states, dense associative memory F_n with Minerva 2, and the modern Hopfield update as
attention. Presentation only; the math is in hen_demo.memory.classical."""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache

import gradio as gr
import numpy as np

from hen_demo.memory.classical import (
    CLASSICAL_CAPACITY,
    DenseAssociativeMemory,
    attention_step,
    capacity_curve,
    classify_state,
    dam_capacity_estimate,
    flip_bits,
    lse_energy,
    modern_hopfield_step,
    random_bipolar,
)
from hen_demo.ui import limits
from hen_demo.ui.errors import user_errors
from hen_demo.ui.patterns import gallery_strip, labelled_grid, sklearn_digit_patterns, state_image
from hen_demo.ui.priority import low_priority
from hen_demo.ui.teaching_figures import bar_figure, capacity_figure

CAPACITY_TEXT = r"""
### Capacity and spurious states
Store $N$ random patterns in $D$ neurons. The signal on neuron $i$ is $D\,\xi_{\mu i}$; the cross-talk from the other
$N-1$ patterns is a sum of $\approx ND$ random $\pm1$ terms, of size $\sqrt{ND}$. Recall works while the ratio
$\sqrt{D/N}$ is large: the Hopfield network stores about $\mathbf{0.14\,D}$ patterns (Amit, Gutfreund & Sompolinsky;
perfect recall of *every* bit only up to $D/(2\ln D)$). Past that, recall collapses ("crap in, crap out"): the
dynamics end in **spurious** minima, e.g. mixtures $\operatorname{sgn}(\pm\xi_1\pm\xi_2\pm\xi_3)$. (Negated patterns
$-\xi_\mu$ are minima too, since $E(-\sigma) = E(\sigma)$.)
"""

DAM_TEXT = r"""
### Dense associative memory and Minerva 2
Generalise the energy with a *Lagrangian* $F_n(x) = x^n/n$ (Krotov & Hopfield 2016):
$$E_{F_n}(\sigma) = -\sum_{\mu=1}^N F_n\Big(\sum_{i=1}^D \xi_{\mu i}\sigma_i\Big),\qquad
\sigma_i^{(t+1)} = \operatorname{sgn}\Big\{\sum_\mu \xi_{\mu i}\,F_n'\Big(\sum_{j\neq i}\xi_{\mu j}\sigma_j\Big)\Big\}
\;\approx\; \operatorname{sgn}\{\Xi^\top F_n'(\Xi\sigma)\}.$$
$n=2$ is the classical network. **Minerva 2** (Hintzman 1984), as the slides write it, is $E_{F_4}$ with the
**cubic** update $\operatorname{sgn}\{\Xi^\top(\Xi\sigma)^3\}$. Higher $n$ sharpens the contribution of the closest
memory, and the capacity grows as $N^{\max}\propto D^{\,n-1}$ (error-free: $\approx D^{n-1}/(2(2n-3)!!\ln D)$). Below, the
asynchronous rule takes the exact energy-minimising value of each neuron, so $E_{F_n}$ never rises.
"""

ATTN_TEXT = r"""
### Modern Hopfield network = attention
Let $n\to\infty$ in spirit and use the log-sum-exp Lagrangian on real-valued states (Ramsauer et al. 2021):
$$E(\sigma) = -\operatorname{lse}(\beta, \Xi\sigma) + \tfrac12\sigma^\top\sigma,\qquad
\operatorname{lse}(\beta,x) = \tfrac1\beta\log\sum_{\mu}e^{\beta x_\mu},\qquad
\sigma^{(t+1)} = \Xi^\top\operatorname{softmax}(\beta\,\Xi\sigma^{(t)}).$$
The update is **attention** with query $\sigma$, keys = values = the stored patterns and scale $\beta$ (instead of
$1/\sqrt{D}$). Below: the weights $\operatorname{softmax}(\beta\Xi\sigma)$ over the stored memories, the state after one
step, and the same step through PyTorch's `scaled_dot_product_attention`.
"""

IMG_CLASSES = ["hen-img", "pixelated"]  # labels clear of toolbars, square pixels (ui/style.css)


def picture(label: str, **kw) -> gr.Image:
    """An output picture of the Classroom (steps 1-6): not editable, no toolbar buttons, crisp square pixels."""
    return gr.Image(label=label, interactive=False, buttons=[], elem_classes=IMG_CLASSES, **kw)


def _row(*states: np.ndarray) -> np.ndarray:
    """States side by side in one picture (e.g. target | final), large enough for a projector."""
    return gallery_strip(np.stack(states), scale=8, gap=6)


@user_errors
def spurious_demo(D, P, flip, seed):
    """Store P random patterns of D neurons, recall every one from a noisy cue; gallery of (target | final)."""
    D, P = int(D), int(P)
    xi = random_bipolar(P, D, seed=int(seed))
    cues = flip_bits(xi, float(flip), seed=int(seed) + 1)
    final, _ = DenseAssociativeMemory(xi, n=2).run_async_batch(cues, sweeps=6, seed=int(seed))
    kinds = {"stored": 0, "negated": 0, "mixture": 0, "spurious": 0}
    exact = 0
    gallery = []
    for mu in range(P):
        v = classify_state(final[mu], xi)
        kinds[v.kind] += 1
        ok = bool(np.array_equal(final[mu], xi[mu]))
        exact += ok
        if len(gallery) < 8:
            m = float(v.overlaps[mu])
            label = ("recalled" if ok else f"spurious, m = {m:+.2f}" if v.kind == "spurious"
                     else f"mixture of {v.indices}" if v.kind == "mixture" else f"{v.kind} #{v.indices[0]}")
            gallery.append((_row(xi[mu], final[mu]), f"#{mu}: {label}"))
    text = (f"**N = {P}, D = {D} (N/D = {P / D:.3f}).** From {flip:.0%} flipped cues: **{exact}/{P}** recalled "
            f"exactly; final states: {kinds['stored']} stored patterns, {kinds['negated']} negated, "
            f"{kinds['mixture']} 3-mixtures, {kinds['spurious']} other spurious. Each pair: target | final.")
    return labelled_grid([g[0] for g in gallery], [g[1] for g in gallery], columns=2, font_size=17), text


@low_priority  # a heavy event: the cores go to other visitors' requests first
@user_errors
def capacity_plot(D, P, flip, progress=gr.Progress()):
    D = int(D)
    p_values = sorted({max(1, int(round(f * D))) for f in np.linspace(0.02, 0.4, 14)})
    curve = capacity_curve(D, p_values, n=2, flip=float(flip), trials=1, seed=0, sweeps=5, max_cues=25,
                           progress=lambda f, d: progress(f, desc=d))
    markers = {f"0.138 D = {CLASSICAL_CAPACITY * D:.0f}": CLASSICAL_CAPACITY,
               f"D/(2 ln D) = {D / (2 * math.log(D)):.0f}": 1 / (2 * math.log(D))}
    return capacity_figure(curve.load, {"recalled exactly": curve.recall_fraction,
                                        "overlap m with target": curve.mean_overlap,
                                        "ended in a spurious state": curve.spurious_fraction},
                           markers, current=int(P) / D, title=f"Hebbian Hopfield, D = {D}, {flip:.0%} flipped cues")


@user_errors
def dam_recall(n, count, flip, seed):
    """Store ``count`` handwritten digits, recall 6 noisy cues with n = 2 and with n; gallery of
    (cue | n=2 | n=n) triples."""
    n, count = int(n), int(count)
    xi = sklearn_digit_patterns(count)[0]
    cues = flip_bits(xi, float(flip), seed=int(seed))
    f2, _ = DenseAssociativeMemory(xi, n=2).run_async_batch(cues, sweeps=6, seed=int(seed))
    fn, _ = DenseAssociativeMemory(xi, n=n).run_async_batch(cues, sweeps=6, seed=int(seed))
    ok2, okn = (f2 == xi).all(axis=1), (fn == xi).all(axis=1)
    gallery = []
    for mu in range(min(count, 6)):
        gallery.append((_row(cues[mu], f2[mu], fn[mu]), f"#{mu}: n=2 {'right' if ok2[mu] else 'wrong'}, n={n} {'right' if okn[mu] else 'wrong'}"))
    name = " (Minerva 2)" if n == 4 else ""
    text = (f"Digits are strongly correlated (they share strokes), so the classical network fails early. "
            f"Exact recall of {count} digits from {flip:.0%} flipped cues: **n = 2: {ok2.sum()}/{count}**, "
            f"**n = {n}{name}: {okn.sum()}/{count}**. Each row: cue | n = 2 | n = {n}.")
    return labelled_grid([g[0] for g in gallery], [g[1] for g in gallery], columns=2, font_size=17), text


@low_priority  # a heavy event: the cores go to other visitors' requests first
@user_errors
def dam_capacity_plot(n_max, D, progress=gr.Progress()):
    D, n_max = int(D), min(int(n_max), 5)
    series, markers, x_all = {}, {}, None
    orders = list(range(2, n_max + 1))
    # one shared, log-spaced P grid covering all orders up to ~3x the largest estimate (capped for speed)
    top = min(1200, int(3 * dam_capacity_estimate(D, n_max)) + 4)
    x_all = np.unique(np.geomspace(2, top, 12).round().astype(int))
    for k, n in enumerate(orders):
        curve = capacity_curve(D, x_all, n=n, flip=0.0, trials=1, seed=0, sweeps=3, max_cues=25,
                               progress=lambda f, d, k=k: progress((k + f) / len(orders), desc=f"n = {n}: {d}"))
        series[f"n = {n}" + (" (Minerva 2)" if n == 4 else "")] = curve.recall_fraction
        markers[f"estimate n={n}: {dam_capacity_estimate(D, n):.0f}"] = dam_capacity_estimate(D, n)
    fig = capacity_figure(x_all, series, markers, title=f"Fraction of stored patterns that are fixed points, D = {D}",
                          log_x=True, xaxis="number of stored patterns N (log scale)")
    table = "| n | estimate D^(n-1)/(2(2n-3)!! ln D) |\n|---|---|\n" + "\n".join(
        f"| {n} | {dam_capacity_estimate(D, n):.1f} |" for n in orders)
    return fig, table


@user_errors
def attention_demo(patterns, index, flip, beta):
    if patterns is None:
        raise ValueError("Store some patterns first.")
    xi = np.asarray(patterns).astype(np.float64)
    target = int(index)
    s = flip_bits(np.asarray(patterns)[target], float(flip), seed=0).astype(np.float64)
    new, p = modern_hopfield_step(xi, s, float(beta))
    sdpa = attention_step(xi, s, float(beta))
    err = float(np.abs(new - sdpa).max())
    e0, e1 = lse_energy(xi, s, float(beta)), lse_energy(xi, new, float(beta))
    fig = bar_figure([f"#{i}" for i in range(len(p))], p, title=f"softmax(β Ξ σ), β = {beta:g}", highlight=target)
    text = (f"Energy $E$ = {e0:.2f} → **{e1:.2f}** after one step. Weight on the cued memory #{target}: "
            f"**{p[target]:.3f}**. Ξᵀ softmax(βΞσ) vs `torch.nn.functional.scaled_dot_product_attention"
            f"(q=σ, k=v=Ξ, scale=β)`: largest difference **{err:.1e}** (float32 round-off).")
    return state_image(s), state_image(new), fig, text


def _no_progress(*args, **kwargs):
    pass


@lru_cache(maxsize=8)
def capacity_first_view(D, P, flip, seed):
    """Step 4 before any click: the spurious-state gallery and the capacity curve for the controls' values
    (deterministic; cached per process, since the curve takes about half a second)."""
    gallery, text = spurious_demo(D, P, flip, seed)
    return gallery, text, capacity_plot(D, P, flip, progress=_no_progress)


@lru_cache(maxsize=8)
def dense_first_view(n, count, flip, seed, D):
    """Step 5 before any click: digits recalled with n = 2 and n, and the capacity growth curves (cached)."""
    gallery, text = dam_recall(n, count, flip, seed)
    fig, table = dam_capacity_plot(n, D, progress=_no_progress)
    return gallery, text, fig, table


@dataclass
class Sections:
    """What the Classroom's first half wires to steps 4-6."""

    attn_index: gr.Slider  # the memory-index slider that storing must update
    attn_event: tuple  # (fn, inputs, outputs) of the attention demo, run after storing
    first_views: list[tuple]  # (fn, inputs, outputs) drawing steps 4 and 5 on the first visit


def build_sections(patterns: gr.State, latex) -> Sections:
    """Lay out steps 4-6 (capacity and spurious states, dense memory, attention) as sub-tabs; call inside the
    Classroom's ``gr.Tabs``."""
    with gr.Tab("4 · Capacity", elem_id="classroom-step4"):
        gr.Markdown(CAPACITY_TEXT, latex_delimiters=latex)
        with gr.Row():
            cap_D = gr.Radio([100, 256, 400], value=256, label="D (neurons)")
            cap_P = gr.Slider(1, 160, value=20, step=1, label="N stored random patterns")
            cap_flip = gr.Slider(0.0, 0.3, value=0.1, step=0.02, label="Fraction flipped in each cue")
            cap_seed = gr.Number(0, precision=0, label="Seed")
        with gr.Row():
            spur_btn = gr.Button("Store N patterns and recall each", elem_id="classroom-spurious")
            curve_btn = gr.Button("Measure recall vs N/D", variant="primary", elem_id="classroom-capacity")
        with gr.Row():
            with gr.Column(scale=1):
                spur_gallery = picture("target | final state", show_label=False, elem_id="classroom-spur-img")
                spur_text = gr.Markdown()
            with gr.Column(scale=1):
                cap_plot = gr.Plot(label="Capacity", elem_id="classroom-capacity-plot")

    with gr.Tab("5 · Dense memory", elem_id="classroom-step5"):
        gr.Markdown(DAM_TEXT, latex_delimiters=latex)
        with gr.Row():
            dam_n = gr.Slider(2, 10, value=4, step=1, label="n (order of F_n; 4 = Minerva 2)")
            dam_count = gr.Slider(2, 30, value=5, step=1, label="Handwritten digits stored")
            dam_flip = gr.Slider(0.0, 0.4, value=0.15, step=0.01, label="Fraction flipped")
            dam_seed = gr.Number(0, precision=0, label="Seed")
            dam_btn = gr.Button("Recall with n = 2 and with n", elem_id="classroom-dam")
        with gr.Row():
            with gr.Column(scale=1):
                dam_gallery = picture("cue | n = 2 | n", show_label=False, elem_id="classroom-dam-img")
                dam_text = gr.Markdown()
            with gr.Column(scale=1):
                with gr.Row():
                    dam_D = gr.Slider(12, 48, value=24, step=4, label="D for the capacity curves")
                    dam_cap_btn = gr.Button("Capacity growth for n = 2 … min(n, 5)")
                dam_plot = gr.Plot(label="Dense capacity", elem_id="classroom-dense-plot")
                dam_table = gr.Markdown()

    with gr.Tab("6 · Attention", elem_id="classroom-step6"):
        gr.Markdown(ATTN_TEXT, latex_delimiters=latex)
        with gr.Row():
            attn_index = gr.Slider(0, 3, value=0, step=1, label="Memory to cue")
            attn_flip = gr.Slider(0.0, 0.5, value=0.3, step=0.02, label="Fraction flipped")
            attn_beta = gr.Slider(0.001, 0.3, value=0.02, step=0.001, label="β (inverse temperature)")
        with gr.Row():
            attn_query = picture("query σ", elem_id="classroom-attn-query")
            attn_new = picture("one step: Ξᵀ softmax(βΞσ)")
            attn_plot = gr.Plot(label="attention weights", elem_id="classroom-attn-plot")
        attn_text = gr.Markdown(latex_delimiters=latex)

    spur_io = ([cap_D, cap_P, cap_flip, cap_seed], [spur_gallery, spur_text])
    spur_btn.click(spurious_demo, *spur_io)
    curve_btn.click(capacity_plot, [cap_D, cap_P, cap_flip], [cap_plot], **limits.heavy_events())
    # moving the N slider re-stores and re-measures (about a second on a laptop CPU)
    cap_P.release(spurious_demo, *spur_io).then(capacity_plot, [cap_D, cap_P, cap_flip], [cap_plot])
    dam_io = ([dam_n, dam_count, dam_flip, dam_seed], [dam_gallery, dam_text])
    dam_btn.click(dam_recall, *dam_io)
    for c in (dam_n, dam_count):
        c.release(dam_recall, *dam_io)
    dam_cap_btn.click(dam_capacity_plot, [dam_n, dam_D], [dam_plot, dam_table], **limits.heavy_events())
    attn_inputs = [patterns, attn_index, attn_flip, attn_beta]
    attn_outputs = [attn_query, attn_new, attn_plot, attn_text]
    for c in (attn_index, attn_flip, attn_beta):
        c.change(attention_demo, attn_inputs, attn_outputs)
    first_views = [(capacity_first_view, [cap_D, cap_P, cap_flip, cap_seed], [spur_gallery, spur_text, cap_plot]),
                   (dense_first_view, [dam_n, dam_count, dam_flip, dam_seed, dam_D],
                    [dam_gallery, dam_text, dam_plot, dam_table])]
    return Sections(attn_index, (attention_demo, attn_inputs, attn_outputs), first_views)
