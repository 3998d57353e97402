"""Plotly figures shared by every tab: energy curves, top-k weight bars, histograms.

Each builder ``*_spec(...) -> dict`` returns the figure as a plain plotly JSON dict
(``{"data": [...], "layout": {...}}``); :func:`to_figure` makes a ``plotly.graph_objects.Figure`` of it
(:func:`histogram_figure` does, for the U-Hop tab) when a caller needs one.

Streaming tabs send :func:`as_plot` of a spec instead of a Figure: building a ``go.Figure`` validates
every property (~20-100 ms on a busy CPU), which would cap the Explore tab below 10 frames per second;
a dict serialises in microseconds and plotly.js draws it the same way.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence

import numpy as np
import plotly.graph_objects as go

from hen_demo.ui.theme import (
    FONT_FAMILY,
    PLOT_AXIS_TITLE_PX,
    PLOT_FONT_PX,
    PLOT_TITLE_PX,
    PROJECTOR_FONT_PX,
    PROJECTOR_TITLE_PX,
)

# one colour per configuration / distribution, reused across tabs so A is always A
COLORS = ("#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b")
SELF_COLOR, CROSS_COLOR = COLORS[1], COLORS[0]  # HEN Fig. 3: red = self, blue = cross

_AXIS = dict(gridcolor="#e6e6e6", zerolinecolor="#cccccc", linecolor="#999999")


def base_layout(title: str, height: int, xaxis: str, yaxis: str, projector: bool = False, **extra) -> dict:
    """The layout every figure of the app shares; ``projector``: the teaching tabs' large fonts and margins.

    Ticks and legends are at least ``theme.PLOT_FONT_PX`` (16 px) and axis titles a little larger, readable at
    the back of a room at 1280×720 (issue 19 §9); the font is the page's (``theme.FONT_FAMILY``).
    """
    # no named template on purpose: copying one costs ~10 ms per figure
    font_size, title_size = (PROJECTOR_FONT_PX, PROJECTOR_TITLE_PX) if projector else (PLOT_FONT_PX, PLOT_TITLE_PX)
    axis_title = dict(size=max(font_size, PLOT_AXIS_TITLE_PX))
    layout = dict(
        title=dict(text=title, font=dict(size=title_size)),
        height=height,
        margin=dict(l=75, r=20, t=60, b=65) if projector else dict(l=65, r=15, t=40, b=55),
        paper_bgcolor="white",
        plot_bgcolor="white",
        font=dict(family=FONT_FAMILY, size=font_size, color="#333"),
        xaxis=dict(title=dict(text=xaxis, font=axis_title), **_AXIS),
        yaxis=dict(title=dict(text=yaxis, font=axis_title), **_AXIS),
        legend=dict(orientation="h", yanchor="bottom", y=1.02 if projector else 1.0, xanchor="right", x=1.0,
                    font=dict(size=font_size)),
    )
    layout.update(extra)
    return layout


def _floats(values) -> list[float]:
    return np.asarray(list(values), dtype=float).tolist()


def as_plot(spec: dict):
    """A spec ready for ``gr.Plot`` without building a ``go.Figure`` (fast path for streaming)."""
    from gradio.components.plot import PlotData

    return PlotData(type="plotly", plot=json.dumps(spec))


def to_figure(spec: dict) -> go.Figure:
    return go.Figure(spec)


# ---- energy -------------------------------------------------------------------------------------
def energy_spec(
    curves: Mapping[str, Sequence[float]] | Sequence[float],
    title: str = "Energy E(s⁽ᵗ⁾)",
    height: int = 280,
    max_steps: int | None = None,
    projector: bool = False,
) -> dict:
    """Energy per iteration (HEN eq. 1), one line per configuration.

    Args:
        curves: the energies at steps 0..t, or a mapping ``name -> energies`` for several configurations.
        max_steps: when given, the x axis spans 0..max_steps from the first frame (no rescaling while streaming).
        projector: large fonts and thick lines (the teaching tabs, see :func:`base_layout`).
    """
    if not isinstance(curves, Mapping):
        curves = {"energy": curves}
    width, marker = (4, 8) if projector else (2, 5)
    data = []
    for i, (name, values) in enumerate(curves.items()):
        y = _floats(values)
        data.append(dict(type="scatter", mode="lines+markers", name=name, x=list(range(len(y))), y=y,
                         line=dict(color=COLORS[i % len(COLORS)], width=width), marker=dict(size=marker)))
    longest = max((len(d["y"]) for d in data), default=1)
    layout = base_layout(title, height, "iteration t", "energy", projector, showlegend=len(data) > 1)
    layout["xaxis"].update(tickformat="d", **({"dtick": 1} if longest <= 12 else {}))
    if max_steps is not None:
        layout["xaxis"]["range"] = [-0.5, max(max_steps, 1) + 0.5]
    return dict(data=data, layout=layout)


# ---- top-k weights ------------------------------------------------------------------------------
def topk_spec(
    indices: Sequence[int],
    weights: Sequence[float],
    target: int | None = None,
    title: str = "Top memories by weight pₙ",
    height: int = 240,
) -> dict:
    """Horizontal bars of the top-k memory weights (the softmax / sparsemax output of HEN eq. 2 / 6).

    The bar of the correct memory (``target``) is green, the others grey-blue; the largest is on top.
    """
    idx = [int(i) for i in indices][::-1]
    w = _floats(weights)[::-1]
    labels = [f"#{i}" + (" ✓" if target is not None and i == target else "") for i in idx]
    colors = ["#2ca02c" if target is not None and i == target else "#6b8fb8" for i in idx]
    data = [dict(type="bar", orientation="h", x=w, y=labels, marker=dict(color=colors),
                 text=[f"{x:.3f}" for x in w], textposition="auto")]
    layout = base_layout(title, height, "weight pₙ", "")
    layout["xaxis"]["range"] = [0, 1]
    layout["yaxis"]["type"] = "category"
    return dict(data=data, layout=layout)


# ---- histograms ---------------------------------------------------------------------------------
def _series_color(name: str, i: int) -> str:
    low = name.lower()
    if low.startswith("self"):
        return SELF_COLOR
    if low.startswith("cross"):
        return CROSS_COLOR
    return COLORS[i % len(COLORS)]


def histogram_spec(
    samples: Mapping[str, Sequence[float]],
    title: str = "Cosine similarity of queries and memories",
    xaxis: str = "cos(ŝ⁽⁰⁾ᵢ, ξ̂ⱼ)",
    height: int = 320,
    nbins: int = 60,
    projector: bool = False,
) -> dict:
    """Overlaid histograms normalised to densities (HEN Fig. 3: a few self vs many cross similarities)."""
    data = [dict(type="histogram", x=_floats(v), name=f"{name} (n={len(v)})", histnorm="probability density",
                 nbinsx=nbins, opacity=0.6, marker=dict(color=_series_color(name, i)))
            for i, (name, v) in enumerate(samples.items())]
    return dict(data=data, layout=base_layout(title, height, xaxis, "density", projector, barmode="overlay"))


def histogram_figure(samples, title: str = "Cosine similarity of queries and memories", xaxis: str = "cos(ŝ⁽⁰⁾ᵢ, ξ̂ⱼ)",
                     height: int = 320, nbins: int = 60, projector: bool = False) -> go.Figure:
    return to_figure(histogram_spec(samples, title=title, xaxis=xaxis, height=height, nbins=nbins,
                                    projector=projector))


def histogram_grid_spec(
    panels: Mapping[str, Mapping[str, Sequence[float]]],
    title: str = "Self vs cross cosine similarity (HEN Fig. 3)",
    height: int = 340,
    nbins: int = 60,
    xaxis: str = "cosine",
) -> dict:
    """One histogram panel per configuration side by side: ``panel title -> {"self ...": v, "cross ...": v}``."""
    names = list(panels) or [""]
    cols = len(names)
    gap = 0.06
    width = (1.0 - gap * (cols - 1)) / cols
    layout = base_layout(title, height, xaxis, "density", barmode="overlay", annotations=[])
    data = []
    for c, name in enumerate(names):
        ax = "" if c == 0 else str(c + 1)
        lo = c * (width + gap)
        axis_title = dict(font=dict(size=PLOT_AXIS_TITLE_PX))
        layout[f"xaxis{ax}"] = dict(domain=[lo, lo + width], anchor=f"y{ax}", title=dict(text=xaxis, **axis_title),
                                    **_AXIS)
        layout[f"yaxis{ax}"] = dict(anchor=f"x{ax}", **_AXIS,
                                    **({"title": dict(text="density", **axis_title)} if c == 0 else {}))
        layout["annotations"].append(dict(text=name, x=lo + width / 2, y=1.0, xref="paper", yref="paper",
                                          xanchor="center", yanchor="bottom", showarrow=False,
                                          font=dict(size=PLOT_AXIS_TITLE_PX)))
        for i, (series, v) in enumerate(panels.get(name, {}).items()):
            data.append(dict(type="histogram", x=_floats(v), name=series, legendgroup=series, showlegend=c == 0,
                             histnorm="probability density", nbinsx=nbins, opacity=0.6,
                             marker=dict(color=_series_color(series, i)), xaxis=f"x{ax}", yaxis=f"y{ax}"))
    # one x range for every panel (the panels are compared by eye), from all the samples shown
    values = [x for d in data for x in d["x"]]
    if values:
        lo, hi = min(values), max(values)
        pad = 0.02 * (hi - lo) if hi > lo else 0.05
        for c in range(cols):
            layout[f"xaxis{'' if c == 0 else c + 1}"]["range"] = [lo - pad, hi + pad]
    layout["legend"].update(font=dict(size=PLOT_FONT_PX), y=1.12, bgcolor="rgba(255,255,255,0.8)")
    layout["margin"]["t"] = 90
    return dict(data=data, layout=layout)


# ---- one streamed frame: energy so far + top-k weights side by side ---------------------------------
def dynamics_spec(
    energies: Sequence[float],
    indices: Sequence[int],
    weights: Sequence[float],
    target: int | None = None,
    height: int = 260,
) -> dict:
    """Energy curve so far (left) and the top-k weights pₙ (right) in one figure.

    One figure per streamed frame instead of two halves the browser's plotting work, which is what limits
    the frame rate on a small CPU.
    """
    e = energy_spec(energies)
    k = topk_spec(indices, weights, target)
    data = e["data"] + [dict(d, xaxis="x2", yaxis="y2") for d in k["data"]]
    layout = base_layout("", height, "iteration t", "energy E(s⁽ᵗ⁾)", showlegend=False)
    layout["xaxis"].update(e["layout"]["xaxis"], domain=[0.0, 0.56])
    layout["xaxis2"] = dict(k["layout"]["xaxis"], domain=[0.7, 1.0], anchor="y2")
    layout["yaxis2"] = dict(k["layout"]["yaxis"], anchor="x2")
    layout["margin"].update(t=35, l=80)  # room for 16 px ticks beside the axis title
    layout["annotations"] = [
        dict(text="Energy so far", x=0.28, y=1.0, xref="paper", yref="paper", xanchor="center", yanchor="bottom",
             showarrow=False, font=dict(size=PLOT_AXIS_TITLE_PX)),
        dict(text="Top-k weights pₙ", x=0.85, y=1.0, xref="paper", yref="paper", xanchor="center",
             yanchor="bottom", showarrow=False, font=dict(size=PLOT_AXIS_TITLE_PX)),
    ]
    return dict(data=data, layout=layout)


# ---- per-iteration cosine-similarity histogram (the state against every memory) ---------------------
def similarity_histogram_spec(
    counts: Sequence[float],
    edges: Sequence[float],
    t: int | None = None,
    n: int | None = None,
    height: int = 205,
) -> dict:
    """Bars of how many memories have each cosine similarity cos(ŝ⁽ᵗ⁾, ξ̂ₙ) with the current state.

    A retrieval shows one memory leaving the crowd for cos = 1; a metastable mixture keeps several together
    below it. The y axis is logarithmic and fixed to 0.8 .. N (no rescaling while frames stream), the x axis
    spans the histogram's edges.

    Args:
        counts: (B,) memories per bin (they sum to N).
        edges: (B + 1,) bin edges in cosine similarity.
        t: the iteration, for the title; n: the number of memories N (the y range).
    """
    c = _floats(counts)
    e = _floats(edges)
    centres = [(a + b) / 2 for a, b in zip(e[:-1], e[1:])]
    widths = [b - a for a, b in zip(e[:-1], e[1:])]
    top = max(float(n) if n else max(c, default=1.0), 1.0)
    data = [dict(type="bar", x=centres, y=c, width=widths, marker=dict(color="#6b8fb8"),
                 hovertemplate="cos %{x:.3f}: %{y} memories<extra></extra>")]
    title = "Cosine similarity of the state to every memory" + (f" (t = {t})" if t is not None else "")
    layout = base_layout(title, height, "cos(ŝ⁽ᵗ⁾, ξ̂ₙ)", "memories (log)", showlegend=False, bargap=0)
    layout["xaxis"]["range"] = [e[0], e[-1]] if e else [-1, 1]
    # decades only: the minor 2 / 5 labels of a log axis crowd each other at 16 px
    layout["yaxis"].update(type="log", range=[-0.1, math.log10(top) + 0.1], dtick=1)
    layout["margin"]["t"] = 35
    layout["title"]["font"]["size"] = PLOT_AXIS_TITLE_PX
    return dict(data=data, layout=layout)
