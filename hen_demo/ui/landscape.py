"""Classroom step 7: the energy landscape of a modern Hopfield network, memories you place by hand.

Memories are points in the plane (a table you edit, or clicks on a map); β and the similarity are controls. The
left map is the energy (HEN eq. 1) on a 200 × 200 grid, the right map colours each grid point by the memory the
dynamics (HEN eq. 2) reach from it, grey where they end in a mixture (a metastable / spurious state). A click
starts a retrieval there and its path is drawn step by step. The math is :mod:`hen_demo.memory.landscape`; the
figures are :mod:`hen_demo.ui.landscape_figures`; this module wires and presents.

Plotly clicks reach Python through a tiny ``gr.HTML`` bridge: Gradio's ``gr.Plot`` has no click event (only
``change``), so a script attaches ``plotly_click`` to the two plots and calls the bridge's ``trigger('click', ...)``
with the clicked grid point. Dragging a memory's disc (a plotly shape, ``plotly_relayout``) calls ``trigger('select', ...)`` with its new
centre. The same script reveals the path point by point (``layout.meta.reveal``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache

import gradio as gr
import numpy as np

from hen_demo.memory.landscape import (
    MIXTURE,
    LandscapeConfig,
    as_memories,
    attractors,
    closest_pair,
    compute_landscape,
    symmetric_pair_critical_beta,
    trajectory,
)
from hen_demo.ui.errors import user_errors
from hen_demo.ui.landscape_figures import basin_map_spec, energy_map_spec
from hen_demo.ui.plots import as_plot

LATEX = [{"left": "$$", "right": "$$", "display": True}, {"left": "$", "right": "$", "display": False}]
STEP_LABEL = "7 · Energy landscape"  # the Classroom sub-tab (How it works opens it by this label)
HALF_WIDTH = 3.0  # the maps show [-3, 3]^2
RESOLUTION = 200  # grid points per side
MAX_MEMORIES = 10
SAME_POINT = 0.05  # a click this close to a memory does not add another one
MODES = ["start a retrieval here", "add a memory", "delete the nearest memory"]
PRESETS = {
    "two close memories and one far": [[-0.5, -0.6], [0.5, -0.6], [0.0, 1.4]],
    "a symmetric pair": [[-0.6, 0.0], [0.6, 0.0]],
    "four corners": [[-1.2, -1.2], [1.2, -1.2], [-1.2, 1.2], [1.2, 1.2]],
    "six in a ring": [[round(1.5 * math.cos(k * math.pi / 3), 3), round(1.5 * math.sin(k * math.pi / 3), 3)]
                      for k in range(6)],
}
DEFAULT_PRESET = "two close memories and one far"
DEFAULT_LOG_BETA = 0.9  # beta = 7.9: three separate basins; slide below ~0.3 (beta 2) and the close pair merges

INTRO = ("**The energy landscape: basins you can shape by hand.** Coloured discs are memories (drag them); slide **β** down and watch "
         "basins merge into grey mixtures; click a map to start a retrieval there.")

TEXT = r"""
Each coloured disc is a memory $\xi_n$ in the plane. The left map is the modern Hopfield energy (HEN eq. 1)
$$E(x) = -\tfrac1\beta \log\sum_n e^{\beta\,\xi_n^\top x} + \tfrac12\lVert x\rVert^2 \;\;\text{(dot)},\qquad
E(x) = -\tfrac1\beta \log\sum_n e^{-\beta\lVert \xi_n - x\rVert^2} \;\;(\ell_2),$$
dark = low. The right map colours every starting point by the memory the update
$x \leftarrow \Xi^\top \operatorname{softmax}(\beta\,\mathrm{sim}(\Xi, x))$ (HEN eq. 2) reaches from it: its
**basin of attraction**. **Grey** points end in a **mixture** (no memory gets 90 % of the weight): the HEN paper's
*metastable state*, the continuous cousin of the classical network's *spurious* mixtures (step 4).
**Lower β** and watch two nearby basins merge into one grey valley between them. **Click** a map to start a
retrieval there (or to add / delete a memory, see *a click on a map will*), **drag** a memory's disc to move it,
or type coordinates in the table.
"""


# ----------------------------------------------------------------------------- handlers (plain functions)
def memories_from_table(table) -> np.ndarray:
    """(N, 2) memories from the table's rows; blank rows are skipped, anything else must be two numbers."""
    if isinstance(table, dict):  # a Dataframe value as Gradio stores it ({"headers": ..., "data": rows})
        rows = list(table.get("data") or [])
    elif hasattr(table, "to_numpy"):  # a pandas DataFrame
        rows = table.to_numpy().tolist()
    else:
        rows = list(table if table is not None else [])
    out = []
    for row in rows:
        cells = list(row)[:2]
        if all(c is None or (isinstance(c, str) and not c.strip()) for c in cells):
            continue
        try:
            x, y = (float(c) for c in cells)
        except (TypeError, ValueError):
            raise ValueError(f"Each row of the table needs two numbers, x and y; got {cells}.") from None
        out.append([x, y])
    xi = as_memories(out).numpy()
    if len(xi) > MAX_MEMORIES:
        raise ValueError(f"The playground holds at most {MAX_MEMORIES} memories; delete some first.")
    if np.abs(xi).max() > HALF_WIDTH:
        raise ValueError(f"Keep the memories inside the map: x and y between -{HALF_WIDTH:g} and {HALF_WIDTH:g}.")
    return xi


def config(similarity: str, log_beta: float) -> LandscapeConfig:
    h = HALF_WIDTH
    return LandscapeConfig(similarity=str(similarity), beta=float(10.0 ** float(log_beta)), extent=(-h, h, -h, h),
                           resolution=RESOLUTION)


@lru_cache(maxsize=16)
def _landscape(memories: tuple, similarity: str, log_beta: float):
    """The landscape and its attractors, cached (clicking "start here" only adds a path)."""
    land = compute_landscape(np.asarray(memories), config(similarity, log_beta))
    return land, attractors(land)


def _num(v) -> str:
    return f"{round(float(v), 3) + 0.0:.3f}"  # + 0.0: no "-0.000"


def caption(land, found, path) -> str:
    """The plain-words caption under the maps: what the colours and numbers are, and what this landscape does."""
    cfg = land.config
    n = int(land.memories.shape[0])
    sizes = land.basin_sizes()
    owned = [i for i in range(n) if sizes.get(i, 0) > 0]
    mixtures = [a for a in found if a.label == MIXTURE]
    total = land.labels.numel()
    none = [str(i) for i in range(n) if i not in owned]
    if not owned:
        who = "**No** memory has a basin of its own"
    else:
        who = (f"**{len(owned)}** of the {n} memories {'has' if len(owned) == 1 else 'have'} a basin"
               + (f" (ξ {', '.join(none)}: none, other memories or mixtures capture every start)" if none else ""))
    ends = f"{len(mixtures)} mixture state(s) (× on the right map)" if mixtures else "a mixture"
    parts = [f"**β = {cfg.beta:.3g}, {cfg.similarity}.** {who}; "
             f"**{100 * land.mixture_fraction:.0f} %** of the map ends in {ends}."]
    if n >= 2 and cfg.similarity == "l2":
        i, j, dist = closest_pair(land.memories)
    if n >= 2 and cfg.similarity == "l2" and dist < SAME_POINT:
        parts.append(f"ξ{i} and ξ{j} are the same point: one memory stored twice.")
    elif n >= 2 and cfg.similarity == "l2":
        parts.append(f"The closest pair, ξ{i} and ξ{j}, {dist:.2f} apart, would merge on its own below "
                     f"β ≈ {symmetric_pair_critical_beta(dist / 2, 'l2'):.2g} (β = 1 / (2a²), a = half their "
                     "distance).")
    settled = float(land.converged.double().mean())
    if settled < 0.99:
        parts.append(f"Only {100 * settled:.0f} % of the starts settled within {cfg.steps} steps: near a merger the "
                     "dynamics slow down (the colours show where each start is after the last step).")
    if path is not None:
        end = (f"memory ξ{path.label}" if path.label != MIXTURE
               else f"a mixture (top weight {path.top_weight:.2f} on ξ{path.top_index})")
        parts.append(f"The path from ({path.states[0, 0]:.2f}, {path.states[0, 1]:.2f}) took "
                     f"**{len(path.states) - 1} steps** to {end}; E fell from {_num(path.energies[0])} to "
                     f"{_num(path.energies[-1])}.")
    parts.append(f"Numbers match the pictures: every contour value is the engine's `HopfieldMemory.energy` at that "
                 f"point, and every colour is where the engine's `HopfieldMemory.retrieve` ends from it "
                 f"({RESOLUTION} × {RESOLUTION} = {total:,} starts run at once; hover a map to read them).")
    return " ".join(parts)


@user_errors
def draw(table, similarity, log_beta, start, revision):
    """(energy map, basin map, caption, revision) for the table's memories and the start (x, y) or None."""
    xi = memories_from_table(table)
    land, found = _landscape(tuple(map(tuple, xi.tolist())), str(similarity), float(log_beta))
    path = None if start is None else trajectory(xi, start, land.config)
    revision = int(revision or 0) + 1
    return (as_plot(energy_map_spec(land, path, revision)), as_plot(basin_map_spec(land, found, path, revision)),
            caption(land, found, path), revision)


def _rows(table) -> list[list[float]]:
    return memories_from_table(table).tolist()


@user_errors
def on_click(mode, table, similarity, log_beta, start, revision, evt: gr.EventData):
    """A click on a map at (evt.x, evt.y): start a path there, add a memory, or delete the nearest memory."""
    x, y = float(evt.x), float(evt.y)
    rows = _rows(table)
    if mode == "add a memory":
        if any((rx - x) ** 2 + (ry - y) ** 2 < SAME_POINT ** 2 for rx, ry in rows):
            return (gr.skip(),) * 6  # a memory is already there (e.g. a touch screen's second click event)
        if len(rows) >= MAX_MEMORIES:
            raise ValueError(f"The playground holds at most {MAX_MEMORIES} memories; delete some first.")
        rows.append([round(x, 3), round(y, 3)])
    elif mode == "delete the nearest memory":
        if len(rows) <= 1:
            raise ValueError("Keep at least one memory (add another one before deleting this one).")
        d = [(rx - x) ** 2 + (ry - y) ** 2 for rx, ry in rows]
        rows.pop(int(np.argmin(d)))
    else:
        start = [x, y]
    return (rows, start) + draw(rows, similarity, log_beta, start, revision)


@user_errors
def on_drag(table, similarity, log_beta, start, revision, evt: gr.EventData):
    """A memory's disc dragged to (evt.x, evt.y): move memory evt.index there (kept inside the map)."""
    rows = _rows(table)
    i = int(evt.index)
    if not 0 <= i < len(rows):
        raise ValueError(f"There is no memory #{i} to move.")
    rows[i] = [round(min(max(float(v), -HALF_WIDTH), HALF_WIDTH), 3) for v in (evt.x, evt.y)]
    return (rows, start) + draw(rows, similarity, log_beta, start, revision)


def bridge_js(plot_ids: list[str]) -> str:
    """The page script of the click bridge (see the module docstring): attaches ``plotly_click`` to each plot
    once it exists, and reveals a new path point by point."""
    ids = ", ".join(f"'{i}'" for i in plot_ids)
    return r"""
const ids = [%IDS%];
function reveal(gd) {
  const m = gd.layout && gd.layout.meta && gd.layout.meta.reveal;
  if (!m || gd.__henRevealed === m.revision || !window.Plotly) return;
  gd.__henRevealed = m.revision;
  const i = gd.data.findIndex(t => t.name === m.trace);
  if (i < 0) return;
  const xs = gd.data[i].x.slice(), ys = gd.data[i].y.slice();
  let k = 1;
  const step = () => {
    if (gd.__henRevealed !== m.revision) return;  // a newer figure arrived
    window.Plotly.restyle(gd, {x: [xs.slice(0, k)], y: [ys.slice(0, k)]}, [i]);
    if (k++ < xs.length) setTimeout(step, 180);
  };
  step();
}
function attach() {
  for (const id of ids) {
    const gd = document.querySelector('#' + id + ' .js-plotly-plot');
    if (!gd || !gd.on || gd.__henClick) continue;
    gd.__henClick = true;
    gd.on('plotly_click', ev => {
      const p = ev && ev.points && ev.points[0];
      if (!p || !isFinite(p.x) || !isFinite(p.y)) return;
      const now = Date.now(), key = p.x + ',' + p.y;
      if (window.__henLast && window.__henLast.key === key && now - window.__henLast.at < 600) return;  // touch: one tap, two events
      window.__henLast = {key: key, at: now};
      trigger('click', {x: Number(p.x), y: Number(p.y), map: id});
    });
    gd.on('plotly_relayout', ev => {  // a memory's disc was dragged: send its new centre
      const moved = new Set(Object.keys(ev || {}).map(k => (k.match(/^shapes\[(\d+)\]\.[xy][01]$/) || [])[1])
                                                   .filter(i => i !== undefined));
      for (const i of moved) {
        const s = gd.layout.shapes[Number(i)];
        if (s) trigger('select', {index: Number(i), x: (s.x0 + s.x1) / 2, y: (s.y0 + s.y1) / 2, map: id});
      }
    });
    gd.on('plotly_afterplot', () => reveal(gd));
    reveal(gd);
  }
}
setInterval(attach, 500);
""".replace("%IDS%", ids)


@dataclass
class Playground:
    """The playground's components (for tests and for a caller that draws it on a tab's first visit)."""

    table: gr.Dataframe
    similarity: gr.Radio
    log_beta: gr.Slider
    energy: gr.Plot
    basins: gr.Plot
    caption: gr.Markdown
    bridge: gr.HTML
    first_view: tuple  # (fn, inputs, outputs) drawing the default landscape


def build_playground(prefix: str = "landscape") -> Playground:
    """Lay out and wire the playground (inside any Blocks context); element ids start with ``prefix``."""
    start = gr.State(None)  # [x, y] of the current path's start, or None
    revision = gr.State(0)  # counts figures sent, so the page reveals each new path once
    gr.Markdown(INTRO, elem_classes="hen-intro")
    with gr.Row(equal_height=False, elem_id=f"{prefix}-maps"):
        energy = gr.Plot(label="Energy map", show_label=False, elem_id=f"{prefix}-energy", min_width=330, scale=3)
        basins = gr.Plot(label="Basins of attraction", show_label=False, elem_id=f"{prefix}-basins", min_width=330,
                         scale=3)
        with gr.Column(scale=2, min_width=280, elem_id=f"{prefix}-controls"):
            similarity = gr.Radio(["l2", "dot"], value="l2", label="similarity", elem_id=f"{prefix}-similarity")
            log_beta = gr.Slider(-1.5, 2.0, value=DEFAULT_LOG_BETA, step=0.05, label="log₁₀ β (β from 0.03 to 100)",
                                 elem_id=f"{prefix}-beta")
            mode = gr.Radio(MODES, value=MODES[0], label="a click on a map will", elem_id=f"{prefix}-mode")
            preset = gr.Dropdown(list(PRESETS), value=DEFAULT_PRESET, label="memories: start from")
            clear = gr.Button("Clear the path", size="sm")
    cap = gr.Markdown(elem_id=f"{prefix}-caption")
    with gr.Row(equal_height=False):
        with gr.Column(scale=2, min_width=260):
            table = gr.Dataframe(value=PRESETS[DEFAULT_PRESET], headers=["x", "y"], datatype=["number", "number"],
                                 column_count=2, column_limits=(2, 2), row_count=len(PRESETS[DEFAULT_PRESET]),
                                 row_limits=(1, MAX_MEMORIES),
                                 interactive=True, label=f"memories (x, y in ±{HALF_WIDTH:g}; at most {MAX_MEMORIES})",
                                 elem_id=f"{prefix}-table", type="array")
        with gr.Column(scale=5, min_width=300):
            gr.Markdown(TEXT, latex_delimiters=LATEX)
    bridge = gr.HTML("", js_on_load=bridge_js([f"{prefix}-energy", f"{prefix}-basins"]), elem_id=f"{prefix}-bridge",
                     min_height=0)

    views = [energy, basins, cap, revision]
    inputs = [table, similarity, log_beta, start, revision]
    quiet = {"show_progress": "minimal", "api_visibility": "private"}
    for trigger in (similarity.change, log_beta.change, table.input):  # change: a drag and a typed value alike
        trigger(draw, inputs, views, trigger_mode="always_last", **quiet)
    bridge.click(on_click, [mode, *inputs], [table, start, *views], trigger_mode="always_last", **quiet)
    bridge.select(on_drag, inputs, [table, start, *views], trigger_mode="always_last", **quiet)
    preset.input(lambda name: (PRESETS[name], None), preset, [table, start], queue=False, api_visibility="private",
                 show_progress="hidden").then(draw, inputs, views, **quiet)
    clear.click(lambda: None, None, start, queue=False, api_visibility="private",
                show_progress="hidden").then(draw, inputs, views, **quiet)
    return Playground(table, similarity, log_beta, energy, basins, cap, bridge, (draw, inputs, views))


def build_step() -> Playground:
    """Classroom step 7 (call inside the Classroom's ``gr.Tabs``): the playground. The caller draws it on its
    first view by running ``Playground.first_view`` (the Classroom's first-visit chain does)."""
    with gr.Tab(STEP_LABEL, elem_id="classroom-step7"):
        return build_playground("landscape")
