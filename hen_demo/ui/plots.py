"""Plotly figure builders shared by every tab: energy curves, top-k weight bars, histograms.

Pure presentation: each function takes plain numbers and returns a ``plotly.graph_objects.Figure``.
Figures are kept small (few points, no images) so they stream cheaply, many times a second.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import plotly.graph_objects as go

# one colour per configuration / distribution, reused across tabs so A is always A
COLORS = ("#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b")

_MARGIN = dict(l=50, r=15, t=40, b=40)


_AXIS = dict(gridcolor="#e6e6e6", zerolinecolor="#cccccc", linecolor="#999999")


def _layout(fig: go.Figure, title: str, height: int, xaxis: str, yaxis: str) -> go.Figure:
    # template=None on purpose: copying a named plotly template costs ~10 ms per figure, and the Explore tab
    # builds two figures per streamed frame. The few styles we want are set directly.
    fig.update_layout(
        dict(
            template=None,
            title=dict(text=title, font=dict(size=14)),
            height=height,
            margin=_MARGIN,
            paper_bgcolor="white",
            plot_bgcolor="white",
            font=dict(family="sans-serif", size=12, color="#333"),
            xaxis=dict(title=dict(text=xaxis), **_AXIS),
            yaxis=dict(title=dict(text=yaxis), **_AXIS),
            legend=dict(orientation="h", yanchor="bottom", y=1.0, xanchor="right", x=1.0),
        )
    )
    return fig


def energy_figure(
    curves: Mapping[str, Sequence[float]] | Sequence[float],
    title: str = "Energy E(s⁽ᵗ⁾)",
    height: int = 280,
    max_steps: int | None = None,
) -> go.Figure:
    """Energy per iteration (HEN eq. 1), one line per configuration.

    Args:
        curves: the energies at steps 0..t, or a mapping ``name -> energies`` for several configurations.
        max_steps: when given, the x axis spans 0..max_steps from the first frame, so the plot does not
            rescale while a retrieval streams.
    """
    if not isinstance(curves, Mapping):
        curves = {"energy": curves}
    fig = go.Figure(layout=dict(template=None))
    for i, (name, values) in enumerate(curves.items()):
        y = np.asarray(list(values), dtype=float)
        fig.add_trace(
            go.Scatter(
                x=list(range(len(y))),
                y=y.tolist(),  # plain lists: readable JSON for API clients
                mode="lines+markers",
                name=name,
                line=dict(color=COLORS[i % len(COLORS)], width=2),
                marker=dict(size=5),
            )
        )
    _layout(fig, title, height, "iteration t", "energy")
    fig.update_layout(showlegend=len(curves) > 1)
    longest = max((len(v) for v in curves.values()), default=1)
    fig.update_xaxes(tickformat="d", dtick=1 if longest <= 12 else None)
    if max_steps is not None:
        fig.update_xaxes(range=[-0.5, max(max_steps, 1) + 0.5])
    return fig


def topk_figure(
    indices: Sequence[int],
    weights: Sequence[float],
    target: int | None = None,
    title: str = "Top memories by weight p_n",
    height: int = 260,
) -> go.Figure:
    """Horizontal bars of the top-k memory weights (softmax / sparsemax output of HEN eq. 2/6).

    The bar of the correct memory (``target``) is drawn green, the others grey-blue.
    """
    idx = [int(i) for i in indices]
    w = [float(x) for x in weights]
    labels = [f"#{i}" + (" ✓" if target is not None and i == target else "") for i in idx]
    colors = ["#2ca02c" if target is not None and i == target else "#6b8fb8" for i in idx]
    fig = go.Figure(
        go.Bar(
            x=w[::-1],
            y=labels[::-1],
            orientation="h",
            marker_color=colors[::-1],
            text=[f"{x:.3f}" for x in w[::-1]],
            textposition="auto",
        ),
        layout=dict(template=None),
    )
    _layout(fig, title, height, "weight", "")
    fig.update_xaxes(range=[0, 1])
    return fig


def histogram_figure(
    samples: Mapping[str, Sequence[float]],
    title: str = "Cosine similarity of queries and memories",
    xaxis: str = "cos(ŝ⁽⁰⁾ᵢ, ξ̂ⱼ)",
    height: int = 320,
    nbins: int = 60,
) -> go.Figure:
    """Overlaid, normalised histograms (HEN Fig. 3: self vs cross similarity).

    Args:
        samples: ``name -> values``; each histogram is normalised to a probability density so a few
            self-similarities and many cross-similarities can be compared on one axis.
    """
    fig = go.Figure(layout=dict(template=None))
    palette = {"self": COLORS[1], "cross": COLORS[0]}
    for i, (name, values) in enumerate(samples.items()):
        v = np.asarray(list(values), dtype=float)
        color = next((c for key, c in palette.items() if name.lower().startswith(key)), COLORS[i % len(COLORS)])
        fig.add_trace(
            go.Histogram(
                x=v.tolist(),
                name=f"{name} (n={len(v)})",
                histnorm="probability density",
                nbinsx=nbins,
                opacity=0.6,
                marker_color=color,
            )
        )
    fig.update_layout(barmode="overlay")
    return _layout(fig, title, height, xaxis, "density")


def lines_figure(
    x: Sequence[float],
    series: Mapping[str, Sequence[float]],
    title: str,
    xaxis: str,
    yaxis: str,
    height: int = 300,
    log_x: bool = False,
) -> go.Figure:
    """Generic line plot (e.g. a metric against N or beta), one line per series."""
    fig = go.Figure(layout=dict(template=None))
    for i, (name, values) in enumerate(series.items()):
        fig.add_trace(
            go.Scatter(
                x=list(x),
                y=list(values),
                mode="lines+markers",
                name=name,
                line=dict(color=COLORS[i % len(COLORS)], width=2),
            )
        )
    _layout(fig, title, height, xaxis, yaxis)
    if log_x:
        fig.update_xaxes(type="log")
    return fig


def histogram_grid(
    panels: Mapping[str, Mapping[str, Sequence[float]]],
    title: str = "Self vs cross cosine similarity (HEN Fig. 3)",
    height: int = 340,
    nbins: int = 60,
) -> go.Figure:
    """One histogram panel per configuration, side by side: ``panel title -> {"self": ..., "cross": ...}``."""
    from plotly.subplots import make_subplots

    names = list(panels)
    fig = make_subplots(rows=1, cols=max(1, len(names)), subplot_titles=names, shared_yaxes=False)
    fig.update_layout(template=None)
    palette = {"self": COLORS[1], "cross": COLORS[0]}
    for col, name in enumerate(names, start=1):
        for series, values in panels[name].items():
            color = next((c for key, c in palette.items() if series.lower().startswith(key)), COLORS[2])
            fig.add_trace(
                go.Histogram(x=np.asarray(list(values), dtype=float).tolist(), name=series, legendgroup=series,
                             showlegend=col == 1, histnorm="probability density", nbinsx=nbins, opacity=0.6,
                             marker_color=color),
                row=1, col=col,
            )
        fig.update_xaxes(title_text="cosine", row=1, col=col)
    fig.update_layout(barmode="overlay")
    return _layout(fig, title, height, "cosine", "density")
