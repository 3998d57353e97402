"""Plotly figures of the energy-landscape playground (Classroom step 7): the energy map and the basin map.

Pure presentation of a :class:`hen_demo.memory.landscape.Landscape`: the contour values are its ``energy`` array
(the engine's ``HopfieldMemory.energy`` at the grid points) and the basin colours are its ``labels`` (where the
engine's ``HopfieldMemory.retrieve`` ends from each grid point), unchanged. Figures are plain plotly dicts
(``plots.as_plot``), sized for a projector (``plots.base_layout(projector=True)``: 17 px axis labels).

Each memory is a disc (a layout shape) the page lets you drag. The trajectory trace carries its whole path; ``layout.meta.reveal`` tells the page's small script
(``hen_demo.ui.landscape``) to draw it point by point after the figure arrives.
"""

from __future__ import annotations

import numpy as np

from hen_demo.memory.landscape import MIXTURE, Attractor, Landscape, Trajectory
from hen_demo.ui.plots import COLORS, base_layout

MIXTURE_COLOR = "#b0b0b0"
PATH_COLOR = "#e6194b"
CONTOUR_LEVELS = 24
HATCH_LINES = 25  # hatch strokes per side of the map
# no toolbar over the title (nothing to zoom: the axes are fixed); the memories' discs can be dragged
CONFIG = {"displayModeBar": False, "edits": {"shapePosition": True}}
DISC = 0.13  # radius of a memory's disc, in data units (a finger-sized target on a phone)
CONTOUR_QUANTILE = 0.85


# one colour per memory (the app's six first, so memory 0 is always blue), none of them the mixtures' grey
PALETTE = COLORS + ("#17becf", "#bcbd22", "#e377c2", "#1a9850")


def memory_color(i: int) -> str:
    return PALETTE[i % len(PALETTE)]


def _axes(layout: dict, extent) -> None:
    """Square, fixed axes: a tap on a phone is a click, never a zoom or a pan."""
    x0, x1, y0, y1 = extent
    layout["xaxis"].update(range=[x0, x1], fixedrange=True, constrain="domain", zeroline=False)
    layout["yaxis"].update(range=[y0, y1], fixedrange=True, scaleanchor="x", scaleratio=1, constrain="domain",
                           zeroline=False)
    layout["dragmode"] = False
    layout["hovermode"] = "closest"
    layout["margin"] = dict(l=60, r=20, t=50, b=55)


def _memory_trace(memories: np.ndarray) -> dict:
    """The memories' names above them (the memories themselves are the draggable discs of :func:`memory_shapes`)."""
    n = len(memories)
    return dict(type="scatter", mode="text", x=memories[:, 0].tolist(), y=(memories[:, 1] + 1.6 * DISC).tolist(),
                text=[f"ξ{_sub(i)}" for i in range(n)], textposition="top center",
                textfont=dict(size=18, color="black"), name="memories", showlegend=False, hoverinfo="skip")


def memory_shapes(memories: np.ndarray) -> list[dict]:
    """One disc per memory, in its colour, that the page lets you drag (``config.edits.shapePosition``); the page
    script sends the new centre of a dragged disc to the server (``hen_demo.ui.landscape``)."""
    return [dict(type="circle", xref="x", yref="y", x0=float(x) - DISC, x1=float(x) + DISC, y0=float(y) - DISC,
                 y1=float(y) + DISC, fillcolor=memory_color(i), line=dict(color="black", width=2), layer="above",
                 editable=True) for i, (x, y) in enumerate(np.asarray(memories, dtype=float))]


def _sub(i: int) -> str:
    return str(i).translate(str.maketrans("0123456789", "₀₁₂₃₄₅₆₇₈₉"))


def _path_traces(path: Trajectory | None, revision: int) -> tuple[list[dict], dict]:
    """The path's trace (start marked) and the layout ``meta`` that asks the page to reveal it step by step."""
    if path is None:
        return [], {}
    s = path.states.numpy()
    e = path.energies.numpy()
    trace = dict(type="scatter", mode="lines+markers", x=s[:, 0].tolist(), y=s[:, 1].tolist(), name="path",
                 showlegend=False, line=dict(color=PATH_COLOR, width=3),
                 marker=dict(size=[13] + [8] * (len(s) - 1), color=PATH_COLOR, line=dict(color="white", width=1)),
                 customdata=[[t, float(v)] for t, v in enumerate(e)],
                 hovertemplate="step %{customdata[0]}: (%{x:.3f}, %{y:.3f}), E = %{customdata[1]:.4g}<extra></extra>")
    meta = {"reveal": {"trace": "path", "revision": int(revision), "n": int(len(s))}}
    return [trace], meta


def energy_map_spec(land: Landscape, path: Trajectory | None = None, revision: int = 0, height: int = 500) -> dict:
    """Filled contours of E(x) on the grid (valleys dark), the memories as stars, and the path when given."""
    z = np.asarray(land.energy, dtype=float)
    # the colours resolve the valleys: levels span the lowest 85 % of the values, higher ones share the top colour
    lo, hi = float(z.min()), float(np.quantile(z, CONTOUR_QUANTILE))
    data = [dict(type="contour", x=land.grid.xs.tolist(), y=land.grid.ys.tolist(),
                 z=np.round(z, 5).tolist(), colorscale="Viridis", zmin=lo, zmax=hi, zauto=False,
                 contours=dict(coloring="fill", showlines=True, start=lo, end=hi, size=max(hi - lo, 1e-9) / CONTOUR_LEVELS), line=dict(width=0.5, color="rgba(255,255,255,0.5)"),
                 colorbar=dict(title=dict(text="E(x)", side="top"), orientation="h", thickness=12, len=0.9,
                               y=-0.2, yanchor="top", tickangle=0, nticks=4, tickformat=".1f"),
                 hovertemplate="x = %{x:.2f}, y = %{y:.2f}<br>E = %{z:.4g}<extra></extra>", name="energy")]
    paths, meta = _path_traces(path, revision)
    data += [_memory_trace(land.memories.numpy())] + paths
    cfg = land.config
    layout = base_layout(f"Energy E(x), {cfg.similarity}, β = {cfg.beta:.3g}", height, "x₁", "x₂", projector=True,
                         showlegend=False, meta=meta, shapes=memory_shapes(land.memories.numpy()))
    _axes(layout, cfg.extent)
    layout["margin"]["b"] = 110  # the colour bar lies under the x axis (the square map keeps the full width)
    return dict(data=data, layout=layout, config=CONFIG)


def _basin_colorscale(n: int) -> list:
    """Piecewise-constant colours for z = label + 1 in 0..n (0 = mixture), zmin -0.5, zmax n + 0.5."""
    colors = [MIXTURE_COLOR] + [memory_color(i) for i in range(n)]
    scale = []
    for k, c in enumerate(colors):
        lo, hi = k / (n + 1), (k + 1) / (n + 1)
        scale += [[lo, c], [hi, c]]
    return scale


def _hatch_trace(land: Landscape) -> dict | None:
    """Diagonal strokes on a coarse lattice over the mixture region: grey AND hatched, so it reads in black and
    white and for colour-blind eyes."""
    step = max(1, land.labels.shape[0] // HATCH_LINES)
    sub = np.asarray(land.labels)[::step, ::step] == MIXTURE  # (h, w) on the coarse lattice
    if not sub.any():
        return None
    ii, jj = np.nonzero(sub)
    xs, ys = land.grid.xs.numpy()[::step], land.grid.ys.numpy()[::step]
    return dict(type="scatter", mode="markers", x=xs[jj].tolist(), y=ys[ii].tolist(),
                name="mixture hatch", showlegend=False, hoverinfo="skip",
                marker=dict(symbol="line-ne", size=9, line=dict(width=1.5, color="rgba(60,60,60,0.6)")))


def basin_map_spec(land: Landscape, found: list[Attractor], path: Trajectory | None = None, revision: int = 0,
                   height: int = 440) -> dict:
    """Each grid point coloured by where the dynamics from it end: memory n's colour, grey for a mixture
    (metastable state); the mixture attractors are marked with a cross."""
    n = int(land.memories.shape[0])
    z = (np.asarray(land.labels) + 1).astype(int)  # 0 = mixture
    weight = np.round(np.asarray(land.top_weight, dtype=float), 3)
    data = [dict(type="heatmap", x=land.grid.xs.tolist(), y=land.grid.ys.tolist(), z=z.tolist(),
                 customdata=weight.tolist(), colorscale=_basin_colorscale(n), zmin=-0.5, zmax=n + 0.5,
                 showscale=False, opacity=0.85, name="basins",
                 hovertemplate="start (%{x:.2f}, %{y:.2f}) ends with top weight %{customdata:.3f}"
                               "<br>(basin %{z}: 0 = mixture, k = ξ₍ₖ₋₁₎)<extra></extra>")]
    hatch = _hatch_trace(land)
    if hatch is not None:
        data.append(hatch)
    mixtures = [a for a in found if a.label == MIXTURE]
    if mixtures:
        pts = np.stack([a.point.numpy() for a in mixtures])
        data.append(dict(type="scatter", mode="markers", x=pts[:, 0].tolist(), y=pts[:, 1].tolist(),
                         name="mixture states", showlegend=False,
                         marker=dict(size=16, symbol="x-thin", color="black", line=dict(width=3, color="black")),
                         customdata=[a.count for a in mixtures],
                         hovertemplate="mixture (metastable) state (%{x:.3f}, %{y:.3f}):<br>"
                                       "%{customdata} grid points end here<extra></extra>"))
    paths, meta = _path_traces(path, revision)
    data += [_memory_trace(land.memories.numpy())] + paths
    cfg = land.config
    title = f"Basins · grey = mixture ({100 * land.mixture_fraction:.0f} %)"
    layout = base_layout(title, height, "x₁", "x₂", projector=True, showlegend=False, meta=meta,
                         shapes=memory_shapes(land.memories.numpy()))
    _axes(layout, cfg.extent)
    return dict(data=data, layout=layout, config=CONFIG)
