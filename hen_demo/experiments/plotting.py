"""The two plot shapes the experiments need, drawn twice: plotly (interactive HTML, the app) and
matplotlib (PNG for the report). Pure presentation: tables in, figures out.

Matplotlib figures are plain ``Figure`` objects, not pyplot's: pyplot keeps every figure open until it is
closed, so each run in the app would leak one; a ``Figure`` is freed with its result and needs no backend.
matplotlib is imported where a figure is drawn: the app imports every experiment module at start-up for its
title, and importing matplotlib there cost about a second."""

from __future__ import annotations

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

# projector-size fonts (issue 10 §4): a committed figure must read from the back of a lecture hall
FONT = dict(title=17, panel=15, axis=14, tick=12, legend=12)  # matplotlib points
PLOTLY_FONT = dict(family="sans-serif", size=16)
PLOTLY_JS = "plotly.min.js"  # one shared copy in the results folder, referenced by every HTML figure

DASHES = ("solid", "dash", "dot", "dashdot")  # plotly names; matplotlib takes the same four below
_MPL_DASH = {"solid": "-", "dash": "--", "dot": ":", "dashdot": "-."}
PALETTE = ("#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b", "#e377c2", "#7f7f7f",
           "#bcbd22", "#17becf")


def check_series(d: pd.DataFrame, x: str, name: str) -> None:
    """ValueError when one plotted line would visit an x value twice (it would zigzag between two settings that
    belong on separate lines: group the table by more columns)."""
    repeated = d[x][d[x].duplicated()]
    if len(repeated):
        raise ValueError(f"The line {name!r} has several points at {x} = {repeated.iloc[0]}; draw one line per "
                         "setting (add the column that differs to the grouping).")


def line_figures(df: pd.DataFrame, x: str, ys: list[str], group: str | list[str], title: str,
                 logx: bool = False, logy: bool | list[bool] = False, y_labels: list[str] | None = None,
                 x_label: str | None = None, vline: float | None = None, dash: str | None = None):
    """One panel per metric in ``ys``; one line per value of ``group`` (column name or list of names), and per
    value of ``dash`` when given: same colour per group, solid / dashed / dotted per ``dash`` value (e.g. the beta
    mode, as the U-Hop figures draw it). A line never visits an x twice (``check_series``).

    Returns (plotly Figure, matplotlib Figure).
    """
    groups = [group] if isinstance(group, str) else list(group)
    df = df.copy()
    df["_label"] = df[groups].astype(str).agg(" · ".join, axis=1) if groups else "all"
    colors = {lab: PALETTE[i % len(PALETTE)] for i, lab in enumerate(dict.fromkeys(df["_label"]))}
    styles = {v: DASHES[i % len(DASHES)] for i, v in enumerate(dict.fromkeys(df[dash].astype(str)))} if dash else {}
    df["_style"] = df[dash].astype(str) if dash else ""
    df["_line"] = df["_label"] + (" · " + df["_style"] if dash else "")
    labels = list(dict.fromkeys(df["_line"]))
    logys = logy if isinstance(logy, list) else [logy] * len(ys)
    y_labels = y_labels or ys
    x_label = x_label or x
    shared_x = len(ys) > 1 and len(x_label) > 24  # a long x title goes once under all the panels: repeated per
    # panel it runs into its neighbours

    pfig = make_subplots(rows=1, cols=len(ys), subplot_titles=y_labels)
    from matplotlib.figure import Figure

    mfig = Figure(figsize=(5.4 * len(ys), 4.4))
    axes = mfig.subplots(1, len(ys), squeeze=False)
    for lab in labels:
        d = df[df["_line"] == lab].sort_values(x)
        check_series(d, x, lab)
        color, style = colors[d["_label"].iloc[0]], styles.get(d["_style"].iloc[0], "solid")
        for j, y in enumerate(ys):
            pfig.add_trace(go.Scatter(x=d[x], y=d[y], mode="lines+markers", name=lab, legendgroup=lab,
                                      showlegend=(j == 0), line=dict(color=color, dash=style)), row=1, col=j + 1)
            axes[0, j].plot(d[x], d[y], marker="o", ms=3, color=color, ls=_MPL_DASH[style],
                            label=lab if j == 0 else None)
    for j, y in enumerate(ys):
        ax = axes[0, j]
        ax.set_title(y_labels[j], fontsize=FONT["panel"])
        if not shared_x:
            ax.set_xlabel(x_label, fontsize=FONT["axis"])
            pfig.update_xaxes(title_text=x_label, row=1, col=j + 1)
        ax.tick_params(labelsize=FONT["tick"])
        ax.grid(alpha=0.3)
        if logx:
            ax.set_xscale("log")
            pfig.update_xaxes(type="log", row=1, col=j + 1)
        if logys[j]:  # symlog keeps exact zeros on the plot; nothing below 0 exists
            ax.set_yscale("symlog", linthresh=1e-3)
            ax.set_ylim(bottom=0)
            pfig.update_yaxes(type="log", row=1, col=j + 1)
        if vline is not None:
            ax.axvline(vline, color="k", ls="--", lw=0.8)
    mfig.suptitle(title, fontsize=FONT["title"])
    if shared_x:
        pfig.add_annotation(text=x_label, xref="paper", yref="paper", x=0.5, y=-0.2, showarrow=False,
                            font=dict(size=PLOTLY_FONT["size"]))
        mfig.supxlabel(x_label, fontsize=FONT["axis"])
    mfig.legend(loc="lower center", ncol=min(4, max(1, len(labels))), fontsize=FONT["legend"], bbox_to_anchor=(0.5, -0.04 -
                0.07 * ((len(labels) - 1) // 4 + 1)))
    mfig.tight_layout()
    pfig.update_layout(title=title, template="plotly_white", font=PLOTLY_FONT, height=440,
                       margin=dict(l=50, r=20, t=70, b=80 if shared_x else 50))
    return pfig, mfig




def facet_line_figures(df: pd.DataFrame, x: str, ys: list[str], facets: list[str], color: str, dash: str | None,
                       title: str, logx: bool = False, logy: bool | list[bool] = False,
                       y_labels: list[str] | None = None, x_label: str | None = None):
    """A grid: one row per metric in ``ys``, one column per value of ``facets`` (e.g. dataset x protocol); in each
    panel one line per value of ``color`` (same colour in every panel), drawn solid / dashed / dotted by the value
    of ``dash`` (e.g. the beta setting). Many models x settings stay readable: the legend lists each colour and
    each line style once. Returns (plotly Figure, matplotlib Figure)."""
    df = df.copy()
    df["_facet"] = df[facets].astype(str).agg(" · ".join, axis=1) if facets else ""
    cols = list(dict.fromkeys(df["_facet"]))
    colors = {v: PALETTE[i % len(PALETTE)] for i, v in enumerate(dict.fromkeys(df[color].astype(str)))}
    dashes = ({v: DASHES[i % len(DASHES)] for i, v in enumerate(dict.fromkeys(df[dash].astype(str)))}
              if dash else {"": "solid"})
    logys = logy if isinstance(logy, list) else [logy] * len(ys)
    y_labels = y_labels or ys
    x_label = x_label or x
    pfig = make_subplots(rows=len(ys), cols=len(cols), shared_xaxes=True, horizontal_spacing=0.04,
                         vertical_spacing=0.08, subplot_titles=[c if i == 0 else "" for i in range(len(ys))
                                                                for c in cols])
    from matplotlib.figure import Figure
    from matplotlib.lines import Line2D

    mfig = Figure(figsize=(4.6 * len(cols), 3.6 * len(ys) + 1.2))
    axes = mfig.subplots(len(ys), len(cols), squeeze=False, sharex=True)
    shown = set()
    for j, facet in enumerate(cols):
        f = df[df["_facet"] == facet]
        for (cv, dv), d in f.groupby([f[color].astype(str), f[dash].astype(str) if dash else pd.Series("", index=f.index)],
                                     sort=False):
            d = d.sort_values(x)
            name = f"{cv} · {dv}" if dash else cv
            check_series(d, x, f"{facet} · {name}")
            for i, y in enumerate(ys):
                pfig.add_trace(go.Scatter(x=d[x], y=d[y], mode="lines+markers", name=name, legendgroup=name,
                                          showlegend=name not in shown and i == 0,
                                          line=dict(color=colors[cv], dash=dashes[dv])), row=i + 1, col=j + 1)
                axes[i, j].plot(d[x], d[y], marker="o", ms=3, color=colors[cv], ls=_MPL_DASH[dashes[dv]], lw=1.4)
            shown.add(name)
    for i, y in enumerate(ys):
        for j, facet in enumerate(cols):
            ax = axes[i, j]
            if i == 0:
                ax.set_title(facet, fontsize=FONT["panel"])
            if j == 0:
                ax.set_ylabel(y_labels[i], fontsize=FONT["axis"])
            if i == len(ys) - 1:
                ax.set_xlabel(x_label, fontsize=FONT["axis"])
                pfig.update_xaxes(title_text=x_label, row=i + 1, col=j + 1)
            ax.tick_params(labelsize=FONT["tick"])
            ax.grid(alpha=0.3)
            if logx:
                ax.set_xscale("log")
                pfig.update_xaxes(type="log", row=i + 1, col=j + 1)
            if logys[i]:  # symlog keeps exact zeros (a perfect retrieval) on the plot; nothing below 0 exists
                ax.set_yscale("symlog", linthresh=1e-3)
                ax.set_ylim(bottom=0)
                pfig.update_yaxes(type="log", row=i + 1, col=j + 1)
        pfig.update_yaxes(title_text=y_labels[i], row=i + 1, col=1)
    handles = [Line2D([], [], color=c, lw=2.5, label=v) for v, c in colors.items()]
    if dash and len(dashes) > 1:
        handles += [Line2D([], [], color="k", lw=1.6, ls=_MPL_DASH[d], label=v) for v, d in dashes.items()]
    mfig.suptitle(title, fontsize=FONT["title"])
    mfig.legend(handles=handles, loc="lower center", ncol=min(6, len(handles)), fontsize=FONT["legend"],
                bbox_to_anchor=(0.5, 0.0))
    mfig.tight_layout(rect=(0, 0.06 + 0.035 * ((len(handles) - 1) // 6), 1, 1))
    pfig.update_layout(title=title, template="plotly_white", font=PLOTLY_FONT, height=300 * len(ys) + 120,
                       margin=dict(l=60, r=20, t=80, b=50))
    return pfig, mfig


def histogram_figures(panels: dict[str, dict[str, np.ndarray]], title: str, bins: int = 60,
                      x_label: str = "cosine similarity"):
    """One panel per key of ``panels``; each panel overlays normalised histograms of its named samples.

    Returns (plotly Figure, matplotlib Figure).
    """
    names = list(panels)
    pfig = make_subplots(rows=1, cols=len(names), subplot_titles=names)
    from matplotlib.figure import Figure

    mfig = Figure(figsize=(5.0 * len(names), 4.0))
    axes = mfig.subplots(1, len(names), squeeze=False)
    edges = np.linspace(-1, 1, bins + 1)
    for j, panel in enumerate(names):
        for si, (label, values) in enumerate(panels[panel].items()):
            color = ("#d62728", "#1f77b4")[si % 2] if len(panels[panel]) <= 2 else PALETTE[si % len(PALETTE)]
            v = np.clip(np.asarray(values, dtype=float), -1, 1)
            # pre-binned bars: the HTML holds `bins` numbers, not every sample (200,000 cosines would be megabytes)
            freq = np.histogram(v, edges)[0] / max(len(v), 1)
            pfig.add_trace(go.Bar(x=0.5 * (edges[:-1] + edges[1:]), y=freq, width=2 / bins, name=label,
                                  legendgroup=label, showlegend=(j == 0), opacity=0.6, marker_color=color),
                           row=1, col=j + 1)
            axes[0, j].hist(v, bins=edges, weights=np.full(len(v), 1 / max(len(v), 1)), alpha=0.6, color=color,
                            label=label if j == 0 else None)
        axes[0, j].set_title(panel, fontsize=FONT["panel"])
        axes[0, j].set_xlabel(x_label, fontsize=FONT["axis"])
        axes[0, j].tick_params(labelsize=FONT["tick"])
        pfig.update_xaxes(title_text=x_label, row=1, col=j + 1)
    pfig.update_layout(barmode="overlay", title=title, template="plotly_white", font=PLOTLY_FONT, height=380,
                       margin=dict(l=50, r=20, t=70, b=50))
    mfig.suptitle(title, fontsize=FONT["title"])
    mfig.legend(loc="lower center", ncol=2, fontsize=FONT["legend"], bbox_to_anchor=(0.5, -0.12))
    mfig.tight_layout()
    return pfig, mfig


def bar_figures(df: pd.DataFrame, x: str, ys: list[str], group: str, title: str, y_labels: list[str] | None = None):
    """Grouped bars: one panel per metric, bars at each ``x`` coloured by ``group``."""
    y_labels = y_labels or ys
    groups = list(dict.fromkeys(df[group].astype(str)))
    xs = list(dict.fromkeys(df[x].astype(str)))
    pfig = make_subplots(rows=1, cols=len(ys), subplot_titles=y_labels)
    from matplotlib.figure import Figure

    mfig = Figure(figsize=(5.4 * len(ys), 4.4))
    axes = mfig.subplots(1, len(ys), squeeze=False)
    width = 0.8 / max(len(groups), 1)
    for gi, g in enumerate(groups):
        d = df[df[group].astype(str) == g].set_index(df[df[group].astype(str) == g][x].astype(str))
        color = PALETTE[gi % len(PALETTE)]
        for j, y in enumerate(ys):
            vals = [float(d[y].get(xv, np.nan)) for xv in xs]
            pfig.add_trace(go.Bar(x=xs, y=vals, name=g, legendgroup=g, showlegend=(j == 0), marker_color=color),
                           row=1, col=j + 1)
            axes[0, j].bar(np.arange(len(xs)) + gi * width, vals, width=width, color=color,
                           label=g if j == 0 else None)
    for j in range(len(ys)):
        axes[0, j].set_xticks(np.arange(len(xs)) + width * (len(groups) - 1) / 2, xs, fontsize=FONT["tick"])
        axes[0, j].set_title(y_labels[j], fontsize=FONT["panel"])
        axes[0, j].grid(alpha=0.3, axis="y")
        axes[0, j].tick_params(axis="y", labelsize=FONT["tick"])
    pfig.update_layout(barmode="group", title=title, template="plotly_white", font=PLOTLY_FONT, height=400,
                       margin=dict(l=50, r=20, t=70, b=50))
    mfig.suptitle(title, fontsize=FONT["title"])
    mfig.legend(loc="lower center", ncol=min(4, len(groups)), fontsize=FONT["legend"], bbox_to_anchor=(0.5, -0.14))
    mfig.tight_layout()
    return pfig, mfig


def plotly_js_source() -> str:
    """Path of the plotly.js bundle that ships inside the ``plotly`` package (no network needed)."""
    import os

    import plotly

    return os.path.join(os.path.dirname(plotly.__file__), "package_data", PLOTLY_JS)


def write_html(figure: go.Figure, path) -> None:
    """Write ``figure`` as a standalone HTML page that works offline (issue 10 §5).

    plotly.js (4.8 MB) is not embedded in every page: one copy is placed in the folder above the figure's
    (``results/plotly.min.js`` for ``results/<name>/<name>.html``) and each page loads it by a relative path,
    so the committed results hold the library once and no page references a CDN. The page is written to a
    temporary file and renamed (nothing half-written is left).
    """
    import os
    import shutil
    from pathlib import Path

    from hen_demo.atomic import atomic_write

    path = Path(path)
    shared = path.parent.parent / PLOTLY_JS
    src = plotly_js_source()
    if not shared.exists() or shared.stat().st_size != os.path.getsize(src):
        atomic_write(shared, lambda tmp: shutil.copyfile(src, tmp))
    atomic_write(path, lambda tmp: figure.write_html(tmp, include_plotlyjs=f"../{PLOTLY_JS}", full_html=True))
