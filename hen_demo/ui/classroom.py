"""Classroom tab: associative memory from first principles, in the order of the lecture slides (slides 002),
as seven numbered sub-tabs ("steps"), each drawn on the first visit of the tab (no empty panel before a click):

1. store bipolar patterns (letters, digits, random, or drawn) with the Hebbian rule and look at W;
2. correlation-matrix recall of a masked query: Kohonen (g = identity) vs Amari (g = sgn);
3. the Hopfield energy and asynchronous recall, animated neuron by neuron (synchronous as an option);
4. capacity (~0.14 D) and spurious states; 5. dense associative memory F_n and Minerva 2;
6. the modern Hopfield network's log-sum-exp energy and its one-step update as attention;
7. its energy landscape in the plane: memories placed by hand, basins, mixtures, paths.
Steps 4-6 live in :mod:`hen_demo.ui.classroom_capacity`, step 7 in :mod:`hen_demo.ui.landscape`. No math here: it calls hen_demo.memory.classical
and hen_demo.memory.teaching (masked cues, Kohonen vs Amari).
"""

from __future__ import annotations

import gradio as gr
import numpy as np

from hen_demo.export import FrameRecord, RunCaption, RunRecord
from hen_demo.memory import teaching
from hen_demo.memory.classical import (
    HebbianHopfield,
    as_bipolar,
    classify_state,
    flip_bits,
    random_bipolar,
)
from hen_demo.ui import classroom_capacity, export_panel, landscape, pacing
from hen_demo.ui.classroom_capacity import picture
from hen_demo.ui.errors import user_errors
from hen_demo.ui.patterns import (
    SIDE,
    binarise_drawing,
    gallery_strip,
    sklearn_digit_patterns,
    state_image,
    text_patterns,
)
from hen_demo.ui.plots import as_plot
from hen_demo.ui.teaching_figures import energy_trace_spec, weight_matrix_figure

LATEX = [
    {"left": "$$", "right": "$$", "display": True},
    {"left": "$", "right": "$", "display": False},
]
SOURCES = ["letters", "handwritten digits", "random", "my drawings"]
DEFAULT_LETTERS = "XOLT"

INTRO = r"""
**Associative memory from first principles.** Store patterns, then recall one from a noisy, masked or degraded
cue. Every pattern is a $16\times16$ grid of bipolar neurons $\xi_\mu \in \{-1,+1\}^{D}$, $D = 256$ (dark = $+1$,
white = $-1$, grey = $0$ = unknown). Work through the steps in order: the patterns stored in step 1 are recalled in
steps 2, 3 and 6.
"""

HEBB_TEXT = r"""
### Hebbian learning
Presenting each pattern once with the activity-product rule $\Delta W = \eta\,\xi_\mu \xi_\mu^\top$ ($\eta = 1$) gives
$$W = \sum_{\mu=1}^{N} \xi_\mu \xi_\mu^\top = \Xi^\top \Xi .$$
The heatmap shows $W$ ($D\times D$, diagonal set to 0: no self-coupling). $W_{ij} = \sum_\mu \xi_{\mu i}\xi_{\mu j}$
ranges from $-N$ to $N$: red where neurons $i$ and $j$ agree in most stored patterns, blue where they disagree.
Every pattern is stored in the same matrix at once. Correlated patterns (letters sharing strokes) add
*cross-talk*; try storing `HOPE` instead of `XOLT`, then recall.
"""

CORR_TEXT = r"""
### Correlation-matrix memories: Kohonen vs Amari
An **associative memory** $\langle f, A, C\rangle$ stores address patterns $A$ ($N\times D$, the cues) with content
patterns $C$ ($N\times M$, the responses) and recalls $y = f_{A,C}(x)$; it is *auto-associative* when $A = C$.
In a correlation-matrix memory recall is one matrix product $f_{A,C}(x) = g(Wx)$ with $W = C^\top A$ (here $A = C = \Xi$).
**Kohonen (1988)** keeps $g(x) = x$: the output is the target plus cross-talk $\sum_{\nu\neq\mu}(\xi_\nu\cdot x)\,\xi_\nu$
(exact only for orthonormal keys). **Amari (1972)** / Nakano / Hopfield use $g = \operatorname{sgn}$, which cleans
bipolar outputs as long as the cross-talk stays below the signal. Masked cells are set to $0$.
"""

ENERGY_INTRO = r"""
### Energy and asynchronous updates
Press **Recall** and watch the network relax from the noisy query one neuron at a time (the red square is the neuron
being visited) while its energy falls; why it can only fall is explained below the picture.
"""

ENERGY_TEXT = r"""
$$E_{\text{Hopfield}}(\sigma) = -\tfrac12 \sum_{i,j} W_{ij}\,\sigma_i\sigma_j = -\tfrac12\sum_{\mu}\Big(\sum_i \xi_{\mu i}\sigma_i\Big)^2$$
(plus the constant $ND/2$ from the zero diagonal). **Asynchronous rule:** visit the neurons one at a time in random
order and set $\sigma_i \leftarrow \arg\min_{b\in\{-1,1\}} E(\sigma \text{ with } \sigma_i = b) = \operatorname{sgn}\big(\sum_{j} W_{ij}\sigma_j\big)$.
A flip changes $E$ by $-2\sigma_i' h_i \le 0$, so **the energy never rises** and the state stops in a local
minimum: ideally the stored pattern, sometimes a *spurious* state.
**Synchronous** updates ($\sigma \leftarrow \operatorname{sgn}(W\sigma)$ for all $i$ at once) have no such
guarantee and can oscillate between two states.
"""


# ----------------------------------------------------------------------------- handlers (plain functions)


def make_patterns(source: str, letters: str, digit_count: int, random_count: int, drawings) -> np.ndarray:
    """The stored patterns (P, 256) int8 for the chosen source. ``drawings``: list of bipolar vectors."""
    if source == "letters":
        return text_patterns(letters or "", SIDE)
    if source == "handwritten digits":
        return sklearn_digit_patterns(int(digit_count), SIDE)[0]
    if source == "random":
        return random_bipolar(int(random_count), SIDE * SIDE, seed=0)
    if source == "my drawings":
        if not drawings:
            raise ValueError("Draw a pattern and press 'Add drawing' first (at least one).")
        return np.stack([as_bipolar(d, "drawing", 1) for d in drawings])
    raise ValueError(f"Unknown pattern source {source!r}.")


@user_errors
def store(source, letters, digit_count, random_count, drawings):
    """Store the patterns: returns (patterns, gallery picture, weight heatmap, info, index-slider update)."""
    xi = make_patterns(source, letters, digit_count, random_count, drawings)
    net = HebbianHopfield(xi, zero_diagonal=True)
    p = xi.shape[0]
    info = (f"Stored **N = {p}** patterns of D = {xi.shape[1]} neurons (load N/D = {p / xi.shape[1]:.3f}; "
            f"the classical capacity is about 0.14 D = {0.138 * xi.shape[1]:.0f} random patterns).")
    slider = gr.update(maximum=max(p - 1, 0), value=0)
    return xi, gallery_strip(xi, scale=6), weight_matrix_figure(net.weights, height=440), info, slider, slider, slider


@user_errors
def add_drawing(editor_value, drawings):
    vec = binarise_drawing(editor_value, SIDE)
    if np.all(vec == -1):
        raise ValueError("The drawing is empty: draw with the dark brush.")
    drawings = list(drawings or []) + [vec]
    note = (f"{len(drawings)} drawing(s) ready; press *Store*. Drawings that are mostly background share it, "
            "which adds cross-talk: thick, different strokes work best.")
    return drawings, gallery_strip(np.stack(drawings), scale=6), note, gr.update(value="my drawings")


@user_errors
def kohonen_vs_amari(patterns, index, kind, fraction):
    if patterns is None:
        raise ValueError("Store some patterns first.")
    r = teaching.kohonen_vs_amari(np.asarray(patterns), int(index), kind, float(fraction))
    n_cells = r.query.size
    text = (f"**Amari:** {r.wrong_cells} of {n_cells} cells wrong "
            f"({'exact recall' if r.wrong_cells == 0 else 'not exact'}). **Kohonen:** real-valued output, cosine "
            f"with the target {r.kohonen_cosine:.3f}; its largest cross-talk term is {r.cross_talk:.0f} vs the "
            f"signal {r.signal:.0f}.")
    if r.orthonormal_error == r.orthonormal_error:  # not nan: P <= D
        text += (f" With orthonormal keys (Gram–Schmidt of the patterns) and the full key as the cue, Kohonen's "
                 f"recall differs from the target by at most {r.orthonormal_error:.1e}.")
    return state_image(r.query), state_image(r.amari), state_image(r.kohonen), text


@user_errors
def corrupt(patterns, index, noise, seed):
    """The noisy query as an editor background (draw on it to corrupt more) and as a vector."""
    if patterns is None:
        raise ValueError("Store some patterns first.")
    q = flip_bits(np.asarray(patterns)[int(index)], float(noise), seed=int(seed))
    img = state_image(q, grid=False)
    return {"background": img, "layers": [], "composite": img}, q


def query_from_editor(editor_value, fallback) -> np.ndarray:
    """Binarise the editor's picture; fall back to the stored query vector when the editor is empty."""
    if isinstance(editor_value, dict) and (editor_value.get("composite") is not None
                                           or editor_value.get("background") is not None):
        return binarise_drawing(editor_value, SIDE)
    if fallback is None:
        raise ValueError("Press 'Corrupt' first to make a query.")
    return as_bipolar(fallback, "query", 1)


def _relax(patterns, editor_value, query, mode, sweeps, seed):
    """Run the recall once: (network, trace, asynchronous?). Validation errors are ValueErrors."""
    if patterns is None:
        raise ValueError("Store some patterns first.")
    xi = np.asarray(patterns)
    net = HebbianHopfield(xi, zero_diagonal=True)
    q = query_from_editor(editor_value, query)
    asynchronous = mode == "asynchronous"
    trace = (net.run_async(q, sweeps=int(sweeps), seed=int(seed), record_every=1) if asynchronous
             else net.run_sync(q, steps=12))
    return xi, trace, asynchronous


def _xlabel(asynchronous: bool) -> str:
    return "single-neuron updates" if asynchronous else "synchronous steps"


def _final_view(xi, trace, asynchronous):
    """The picture, the energy plot and the verdict once the network has stopped (the animation's last frame,
    drawn like every other frame: a plotly dict, so it arrives as fast as they do)."""
    x = trace.update_index.astype(float)
    e = trace.energies
    verdict = classify_state(trace.final, xi)
    how = (("a full sweep" if asynchronous else "a synchronous step") + " changed nothing: a fixed point"
           if trace.converged
           else "a 2-cycle (synchronous oscillation)" if trace.cycle else "stopped at the sweep limit")
    status = (f"**Final state:** {verdict.text}. Energy {e[0]:.0f} → {e[-1]:.0f} after {int(x[-1])} "
              f"{_xlabel(asynchronous)}; {how}.")
    fig = as_plot(energy_trace_spec(x, e, x_max=float(x[-1]), y_range=(float(e.min()), float(e.max())),
                                    xaxis=_xlabel(asynchronous), flips=x[1:][trace.flipped] if asynchronous else None))
    return state_image(trace.final), fig, status


@user_errors
def recall_start_view(patterns, editor_value, query, mode, sweeps, seed):
    """The recall panel before Recall is pressed: the start state and its energy only (issue 19 §8: the end
    state and the energy curve are the reveal, shown by the animation, not before it). ``sweeps`` and ``seed``
    are the animation's; the start view does not depend on them."""
    if patterns is None:
        raise ValueError("Store some patterns first.")
    net = HebbianHopfield(np.asarray(patterns), zero_diagonal=True)
    q = query_from_editor(editor_value, query)
    e0 = float(net.energy(q))  # Hopfield energy of the start state (slides 002)
    # one dot on axes set around it (a lone point drawn as a line would not show); the y range says nothing
    # about where the energy will end
    pad = max(0.1 * abs(e0), 1.0)
    asynchronous = mode == "asynchronous"
    spec = energy_trace_spec([0.0], [e0], x_max=float(q.size if asynchronous else 12), y_range=(e0 - pad, e0 + pad),
                             xaxis=_xlabel(asynchronous))
    spec["data"][0].update(mode="markers", marker=dict(size=14), name="start")
    fig = as_plot(spec)
    status = (f"**Start state** (the query): energy E = {e0:.0f}. Press **Recall (animate)** to watch the network "
              "relax neuron by neuron.")
    return state_image(q), fig, status


# seconds between frames by default: the browser redraws the state picture and the energy plot for every frame,
# and much faster than this the frames pile up in the page, which then stalls and jumps (issue 19 §8)
FRAME_S = 0.06


@user_errors
def animate_recall(patterns, editor_value, query, mode, per_frame, delay, sweeps, seed):
    """Generator: yields (state picture, energy figure, status text) while the network relaxes, one frame every
    ``delay`` seconds by the clock (the next frame is computed during the wait), the final view included, so
    frames arrive evenly; ``delay`` 0 sends them as fast as they are made."""
    xi, trace, asynchronous = _relax(patterns, editor_value, query, mode, sweeps, seed)
    x = trace.update_index.astype(float)
    e = trace.energies
    y_range = (float(e.min()), float(e.max()))
    step = max(1, int(per_frame)) if asynchronous else 1
    frames = list(range(0, len(e), step))
    if frames[-1] != len(e) - 1:
        frames.append(len(e) - 1)
    xlabel = _xlabel(asynchronous)

    def views():
        for k in frames:
            flips = x[1:k + 1][trace.flipped[:k]] if asynchronous else None
            highlight = int(trace.neurons[k - 1]) if asynchronous and k > 0 and trace.neurons[k - 1] >= 0 else None
            fig = as_plot(energy_trace_spec(x[:k + 1], e[:k + 1], x_max=float(x[-1]), y_range=y_range, xaxis=xlabel,
                                            flips=flips))
            status = (f"update {int(x[k])} / {int(x[-1])} · flips so far {int(trace.flipped[:k].sum())} · "
                      f"E = {e[k]:.0f}")
            yield state_image(trace.states[k], highlight=highlight), fig, status
        yield _final_view(xi, trace, asynchronous)

    # hen_demo.ui.pacing: each view is computed, then sent when its time comes (frames arrive evenly)
    yield from pacing.paced(views(), period=max(float(delay or 0.0), 0.0))


def recall_record(patterns, editor_value, query, mode, per_frame, sweeps, seed) -> RunRecord | None:
    """The last recall as a RunRecord for the export panel: the frames ``animate_recall`` showed (the same
    deterministic relaxation: same patterns, query, order seed), each with its energy (Hebbian energy, slides)."""
    try:
        xi, trace, asynchronous = _relax(patterns, editor_value, query, mode, sweeps, seed)
    except ValueError:
        return None
    e, x = trace.energies, trace.update_index
    step = max(1, int(per_frame)) if asynchronous else 1
    ks = list(range(0, len(e), step))
    if ks[-1] != len(e) - 1:
        ks.append(len(e) - 1)
    frames = [FrameRecord(t=int(x[k]), image=state_image(trace.states[k]), energy=float(e[k])) for k in ks]
    verdict = classify_state(trace.final, xi)
    caption = RunCaption(dataset=f"{xi.shape[0]} stored patterns", encoder="Hebbian Hopfield network",
                         n=int(xi.shape[0]), similarity=f"{mode} updates", verdict_kind=verdict.kind,
                         verdict_text=f"Final state: {verdict.text}.", title="HEN Explorer · Classroom · recall",
                         state_label="network state s⁽ᵗ⁾",
                         t_label=_xlabel(asynchronous))
    return RunRecord(frames, caption, query=state_image(trace.states[0]))


# ----------------------------------------------------------------------------- first views


def _unless_drawn(fn, n_out: int):
    """``fn`` run only on a session's first visit of the tab: the wrapper's first input is the session's
    "already drawn" flag; when it is set every output is left as it is (the user's own runs stay on screen).
    (No functools.wraps: Gradio reads the wrapper's own signature, with the flag.)"""

    def gated(drawn, *args):
        if drawn:
            return gr.skip() if n_out == 1 else tuple(gr.skip() for _ in range(n_out))
        return fn(*args)

    gated.__name__ = f"first_view_{getattr(fn, '__name__', 'panel')}"
    return gated


def _first_visit_trigger(demo, tab, fn, inputs, outputs, **kw):
    """Register the first event of the first-view chain: the page load when the Classroom is the tab shown
    first (or the tab stands alone), else the click on the Classroom tab (the work is then done only for the
    visitors who open it; every later visit is skipped by the "drawn" flag)."""
    siblings = list(tab.parent.children) if isinstance(tab, gr.Tab) and tab.parent is not None else []
    first = tab not in siblings or not any(isinstance(b, gr.Tab) for b in siblings[:siblings.index(tab)])
    if first:
        return demo.load(fn, inputs, outputs, **kw)
    return tab.select(fn, inputs, outputs, **kw)


# ----------------------------------------------------------------------------- layout


def build_tab() -> None:
    """The Classroom tab (called inside ``with gr.Tab("Classroom"):``): an intro and six numbered steps as
    sub-tabs, each with its explanation, its controls and a first view drawn when the tab is first opened."""
    outer_tab = gr.context.Context.block  # the enclosing gr.Tab of the app (None when built alone)
    demo = gr.context.Context.root_block
    patterns = gr.State(None)  # (P, D) int8 stored patterns
    drawings = gr.State([])  # list of (D,) int8 drawn patterns
    query = gr.State(None)  # (D,) int8 current noisy query
    drawn = gr.State(False)  # this session's first views are on screen
    recall_run = gr.State(None)  # the last recall as a RunRecord, for the export panel

    gr.Markdown(INTRO, latex_delimiters=LATEX, elem_classes="hen-intro")
    with gr.Tabs(elem_id="classroom-steps", overflow_behavior="wrap"):
        with gr.Tab("1 · Store (Hebb)", elem_id="classroom-step1"):
            with gr.Row():
                with gr.Column(scale=3, min_width=320):
                    source = gr.Radio(SOURCES, value="letters", label="Patterns to store")
                    letters = gr.Textbox(DEFAULT_LETTERS, label="Letters / digits to store (one pattern per character)")
                    with gr.Row():
                        digit_count = gr.Slider(1, 30, value=5, step=1, label="Handwritten digits")
                        random_count = gr.Slider(1, 60, value=10, step=1, label="Random patterns")
                    store_btn = gr.Button("Store with the Hebbian rule", variant="primary", elem_id="classroom-store")
                    info = gr.Markdown()
                    gr.Markdown(HEBB_TEXT, latex_delimiters=LATEX)
                with gr.Column(scale=3, min_width=320):
                    stored_img = picture("Stored memories ξ_μ", height=120, elem_id="classroom-stored")
                    weights_plot = gr.Plot(label="Weight matrix W", elem_id="classroom-weights")
                with gr.Column(scale=2, min_width=240):
                    sketch = gr.ImageEditor(  # a Sketchpad: one fixed black brush, nothing to upload
                        label="Draw", canvas_size=(256, 256), height=300, sources=(), layers=False, transforms=(),
                        brush=gr.Brush(colors=["#000000"], default_size=18, color_mode="fixed"))
                    add_btn = gr.Button("Add drawing")
                    drawings_img = picture("My drawings", height=90)
                    drawings_info = gr.Markdown("Pick the brush on the left of the canvas, draw a pattern, press "
                                                "*Add drawing*; then store *my drawings*.")

        with gr.Tab("2 · Kohonen vs Amari", elem_id="classroom-step2"):
            gr.Markdown(CORR_TEXT, latex_delimiters=LATEX)
            with gr.Row():
                corr_index = gr.Slider(0, 3, value=0, step=1, label="Memory to cue")
                mask_kind = gr.Radio(["bottom", "top", "random"], value="bottom", label="Mask")
                mask_frac = gr.Slider(0.0, 0.9, value=0.5, step=0.05, label="Fraction hidden")
                corr_btn = gr.Button("Recall both")
            with gr.Row():
                masked_img = picture("Masked query", elem_id="classroom-masked")
                amari_img = picture("Amari recall: sgn(Wx)")
                kohonen_img = picture("Kohonen recall: Wx")
            corr_info = gr.Markdown()

        with gr.Tab("3 · Energy and recall", elem_id="classroom-step3"):
            gr.Markdown(ENERGY_INTRO, latex_delimiters=LATEX)
            with gr.Row(equal_height=False):
                with gr.Column(scale=2, min_width=200):
                    corrupt_btn = gr.Button("Corrupt", elem_id="classroom-corrupt")
                    editor = gr.ImageEditor(label="Query", height=300, canvas_size=(256, 256), sources=(),
                                            layers=False, transforms=(),
                                            brush=gr.Brush(colors=["#000000", "#ffffff"], default_size=16),
                                            elem_id="classroom-query")
                with gr.Column(scale=2, min_width=200):
                    recall_btn = gr.Button("Recall (animate)", variant="primary", elem_id="classroom-recall")
                    live_img = picture("Network state", elem_id="classroom-live")
                with gr.Column(scale=4, min_width=320):
                    energy_plot = gr.Plot(label="Energy", elem_id="classroom-energy")
                    status = gr.Markdown(elem_id="classroom-status")
            gr.Markdown(ENERGY_TEXT + "\nDraw on the query with black or white to damage it more before pressing "
                        "*Recall*.", latex_delimiters=LATEX)
            with gr.Row():
                rec_index = gr.Slider(0, 3, value=0, step=1, label="Memory to corrupt")
                noise = gr.Slider(0.0, 0.5, value=0.2, step=0.02, label="Fraction of cells flipped")
                noise_seed = gr.Number(0, precision=0, label="Noise seed")
                mode = gr.Radio(["asynchronous", "synchronous"], value="asynchronous", label="Updates")
            with gr.Row():
                per_frame = gr.Slider(1, 128, value=8, step=1, label="Neurons per frame (speed)")
                delay = gr.Slider(0.0, 0.5, value=FRAME_S, step=0.01, label="Delay between frames (s)")
                sweeps = gr.Slider(1, 10, value=4, step=1, label="Max sweeps")
                run_seed = gr.Number(0, precision=0, label="Update-order seed")

            # issue 22: GIF / MP4 / PNG of the last recall (the frames it showed, kept in recall_run)
            export_panel.build_export_panel([recall_run], export_panel.stored_record, "classroom")

        sections = classroom_capacity.build_sections(patterns, LATEX)
        playground = landscape.build_step()

    store_inputs = [source, letters, digit_count, random_count, drawings]
    store_outputs = [patterns, stored_img, weights_plot, info, corr_index, rec_index, sections.attn_index]
    add_btn.click(add_drawing, [sketch, drawings], [drawings, drawings_img, drawings_info, source])
    corr_inputs = [patterns, corr_index, mask_kind, mask_frac]
    corr_outputs = [masked_img, amari_img, kohonen_img, corr_info]
    corr_btn.click(kohonen_vs_amari, corr_inputs, corr_outputs)
    for c in (corr_index, mask_kind, mask_frac):
        c.change(kohonen_vs_amari, corr_inputs, corr_outputs)
    corrupt_io = ([patterns, rec_index, noise, noise_seed], [editor, query])
    corrupt_btn.click(corrupt, *corrupt_io)
    recall_inputs = [patterns, editor, query, mode, per_frame, delay, sweeps, run_seed]
    recall_outputs = [live_img, energy_plot, status]
    recall = recall_btn.click(animate_recall, recall_inputs, recall_outputs)
    # issue 22: the last recall, kept for the export panel
    recall.then(recall_record, [patterns, editor, query, mode, per_frame, sweeps, run_seed], recall_run,
                api_visibility="private", show_progress="hidden")
    preview = (recall_start_view, [patterns, editor, query, mode, sweeps, run_seed], recall_outputs)
    plumbing = {"api_visibility": "private", "show_progress": "hidden"}

    # after storing: Kohonen/Amari, a noisy query, where it relaxes to, and the attention demo follow the patterns
    chain_steps = [(kohonen_vs_amari, corr_inputs, corr_outputs), (corrupt, *corrupt_io), preview,
                   sections.attn_event]
    event = store_btn.click(store, store_inputs, store_outputs)
    for fn, inputs, outputs in chain_steps:
        event = event.then(fn, inputs, outputs)

    # the first visit draws every panel (cheap ones first; the capacity curves ~1 s, cached per process)
    if demo is not None:
        first = [(store, store_inputs, store_outputs), *chain_steps, *sections.first_views, playground.first_view]
        (fn, inputs, outputs), rest = first[0], first[1:]
        event = _first_visit_trigger(demo, outer_tab, _unless_drawn(fn, len(outputs)), [drawn, *inputs],
                                     outputs, **plumbing)
        for fn, inputs, outputs in rest:
            event = event.then(_unless_drawn(fn, len(outputs)), [drawn, *inputs], outputs, **plumbing)
        event.then(lambda: True, None, drawn, **plumbing)
