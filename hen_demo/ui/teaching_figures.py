"""Plotly figures for the teaching tabs (classroom and U-Hop), sized for a projector: large fonts, thick lines,
fixed axes while an animation streams. Pure presentation: plain numbers in, ``go.Figure`` out (or, for a streamed
frame, a plotly dict for ``plots.as_plot``). The layout is ``plots.base_layout(projector=True)``."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import plotly.graph_objects as go

from hen_demo.ui.plots import COLORS, base_layout
from hen_demo.ui.theme import PROJECTOR_FONT_PX


def _style(fig: go.Figure, title: str, xaxis: str, yaxis: str, height: int) -> go.Figure:
    fig.update_layout(base_layout(title, height, xaxis, yaxis, projector=True))
    return fig


def weight_matrix_figure(weights: np.ndarray, title: str = "Hebbian weights W = ΞᵀΞ", height: int = 520):
    """Heatmap of a (D, D) weight matrix on a symmetric colour scale (blue < 0 < red)."""
    w = np.asarray(weights, dtype=float)
    peak = float(np.abs(w).max()) or 1.0
    fig = go.Figure(go.Heatmap(z=w, colorscale="RdBu_r", zmin=-peak, zmax=peak,
                               colorbar=dict(title=dict(text="W<sub>ij</sub>", side="right"),
                                             thickness=14)))  # beside the bar: never over a tick
    _style(fig, title, "neuron j", "neuron i", height)
    fig.update_yaxes(autorange="reversed", scaleanchor="x", constrain="domain")
    fig.update_xaxes(constrain="domain")
    return fig


def energy_trace_spec(x: Sequence[float], energies: Sequence[float], x_max: float | None = None,
                      y_range: tuple[float, float] | None = None, xaxis: str = "single-neuron updates",
                      title: str = "Energy E(s) = −½ Σᵢⱼ Wᵢⱼ sᵢ sⱼ", height: int = 360,
                      flips: Sequence[float] | None = None) -> dict:
    """Energy along a run as a plotly dict (streamed with ``plots.as_plot``: no Figure validation per frame);
    axes fixed in advance (``x_max``, ``y_range``) so frames do not jump. ``flips``: the x positions where a
    neuron actually changed sign (marked with dots)."""
    x = np.asarray(list(x), dtype=float)
    e = np.asarray(list(energies), dtype=float)
    data = [dict(type="scatter", x=x.tolist(), y=e.tolist(), mode="lines", line=dict(color=COLORS[0], width=4),
                 name="energy")]
    if flips is not None and len(flips):
        fx = np.asarray(list(flips), dtype=float)
        fy = np.interp(fx, x, e) if len(x) > 1 else e[:1].repeat(len(fx))
        data.append(dict(type="scatter", x=fx.tolist(), y=fy.tolist(), mode="markers",
                         marker=dict(color=COLORS[1], size=9), name="a neuron flipped"))
    layout = base_layout(title, height, xaxis, "energy", projector=True)
    if x_max is not None:
        layout["xaxis"]["range"] = [0, max(x_max, 1)]
    if y_range is not None:
        lo, hi = y_range
        pad = 0.05 * (hi - lo if hi > lo else 1.0)
        layout["yaxis"]["range"] = [lo - pad, hi + pad]
    return dict(data=data, layout=layout)


def energy_trace_figure(*args, **kwargs) -> go.Figure:
    """:func:`energy_trace_spec` as a ``go.Figure``."""
    return go.Figure(energy_trace_spec(*args, **kwargs))


def capacity_figure(load: Sequence[float], series: Mapping[str, Sequence[float]], markers: Mapping[str, float],
                    current: float | None = None, title: str = "Recall vs load P/D", height: int = 520,
                    log_x: bool = False, xaxis: str = "load P / D"):
    """Recall statistics against load, with vertical reference lines (``markers``: label -> x) and the current
    slider position (``current``)."""
    fig = go.Figure()
    for i, (name, values) in enumerate(series.items()):
        fig.add_trace(go.Scatter(x=list(load), y=list(values), mode="lines+markers", name=name,
                                 line=dict(color=COLORS[i % len(COLORS)], width=4), marker=dict(size=9)))
    for k, (label, xpos) in enumerate(markers.items()):
        if log_x:  # plotly places vline annotations in log10 units on log axes: draw plain segments instead
            fig.add_trace(go.Scatter(x=[xpos, xpos], y=[0, 1.02], mode="lines", name=label,
                                     line=dict(color=COLORS[k % len(COLORS)], width=2, dash="dot")))
            continue
        # labels just above the plot area (never over the curves), alternately right and left of their line
        fig.add_vline(x=xpos, line=dict(color="#444", width=2, dash="dash" if k % 2 == 0 else "dot"))
        fig.add_annotation(x=xpos, y=1.0, yref="paper", yanchor="bottom", xanchor="left" if k % 2 == 0 else "right",
                           yshift=22 * (k // 2), text=label, showarrow=False, font=dict(size=PROJECTOR_FONT_PX),
                           bgcolor="rgba(255,255,255,0.8)")
    if current is not None:
        fig.add_vline(x=current, line=dict(color=COLORS[4], width=3), annotation_text="your N",
                      annotation_position="left", annotation_font=dict(size=PROJECTOR_FONT_PX, color=COLORS[4]))
    _style(fig, title, xaxis, "fraction", height)
    # the legend below the axis title: several entries in rows above the plot would cover the title
    rows = -(-(len(series) + (len(markers) if log_x else 0)) // 3)
    bottom = 70 + 26 * rows
    fig.update_layout(margin=dict(t=90, b=bottom),
                      legend=dict(orientation="h", yanchor="top", xanchor="left", x=0.0,
                                  y=-62 / max(height - 90 - bottom, 100)))
    fig.update_yaxes(range=[-0.03, 1.05])
    if log_x:
        fig.update_xaxes(type="log")
    return fig


def bar_figure(labels: Sequence[str], values: Sequence[float], title: str, yaxis: str = "weight",
               highlight: int | None = None, height: int = 340, y_max: float | None = 1.0):
    """Vertical bars (e.g. attention weights softmax(β Ξ s) over memories); bar ``highlight`` in green."""
    colors = [COLORS[2] if i == highlight else "#6b8fb8" for i in range(len(values))]
    fig = go.Figure(go.Bar(x=list(labels), y=list(values), marker_color=colors,
                           text=[f"{v:.2f}" for v in values], textposition="outside",
                           textfont=dict(size=PROJECTOR_FONT_PX)))
    _style(fig, title, "memory μ", yaxis, height)
    if y_max is not None:
        fig.update_yaxes(range=[0, y_max * 1.15])
    return fig


def loss_figure(losses: Sequence[float], total: int, title: str = "Separation loss L<sub>Φ</sub> (U-Hop Def. 2.2)",
                height: int = 360):
    """Stage I loss per iteration; the x axis spans all ``total`` iterations from the first frame."""
    y = np.asarray(list(losses), dtype=float)
    fig = go.Figure(go.Scatter(x=np.arange(len(y)), y=y, mode="lines+markers",
                               line=dict(color=COLORS[1], width=4), marker=dict(size=6)))
    _style(fig, title, "Stage I iteration", "L<sub>Φ</sub>", height)
    fig.update_xaxes(range=[-0.5, max(total, 1) + 0.5])
    return fig


def margin_figure(margin_before: Sequence[float], margin_after: Sequence[float], height: int = 360,
                  title: str = "Exact-retrieval margin per memory (≥ 0: exact fixed point)"):
    """Per-memory margins of U-Hop Thm 2.2 before and after Stage I, with the zero line."""
    fig = go.Figure()
    for i, (name, m) in enumerate((("plain (before Stage I)", margin_before), ("U-Hop (after Stage I)", margin_after))):
        m = np.asarray(list(m), dtype=float)
        fig.add_trace(go.Scatter(x=np.arange(len(m)), y=m, mode="markers", name=name,
                                 marker=dict(size=9, color=COLORS[i], symbol="circle" if i == 0 else "diamond")))
    fig.add_hline(y=0.0, line=dict(color="#222", width=2))
    _style(fig, title, "memory μ", "margin", height)
    return fig
