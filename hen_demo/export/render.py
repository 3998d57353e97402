"""Draw a recorded retrieval as still pictures: one RGB frame per streamed iteration (and a title card).

Every frame shows the query s(0), the decoded state Phi_dec(s_hat(t)) (HEN eq. 7), the energy E(s(t))
(HEN eq. 1) growing along the iterations, the cosine-similarity histogram of the state against every memory,
and a caption: dataset, encoder, similarity, β (absolute and relative to the calibration), N, and on the last
frame the verdict. Plots are drawn by matplotlib's Agg canvas (no pyplot, no display: safe in a server thread);
the two images are pasted by Pillow, upscaled by a whole factor with nearest neighbour, so the pixels of the
state panel are exactly the decoded state's (:meth:`Layout.state_pixels` is the box a test can crop).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import matplotlib

matplotlib.use("Agg")  # before any canvas exists; the app never opens a window
import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.patches import FancyBboxPatch
from matplotlib.ticker import MaxNLocator
from PIL import Image

from .record import VERDICT_WORDS, RunRecord

SIZES = {"slide": (1280, 720), "square": (720, 720)}  # (width, height) px: a 16:9 slide, a square post
DPI = 100  # 1 pt = DPI / 72 px
VERDICT_COLORS = {"retrieved": "#1a7f1a", "metastable": "#b35900", "wrong": "#c00000",
                  # the classical network's verdicts (hen_demo.memory.capacity.classify_state)
                  "stored": "#1a7f1a", "negated": "#b35900", "mixture": "#b35900", "spurious": "#c00000"}
INK, ACCENT, BARS = "#111111", "#0b3d91", "#3a3a3a"  # high contrast on white (projectors wash colours out)


def frame_size(size) -> tuple[int, int]:
    """(width, height) for a size name ("slide", "square") or a (width, height) pair (even numbers, for video)."""
    if isinstance(size, str):
        if size not in SIZES:
            raise ValueError(f"Unknown export size '{size}'; choose one of {', '.join(SIZES)} or give (width, height).")
        return SIZES[size]
    try:
        w, h = (int(v) for v in size)
    except (TypeError, ValueError):
        raise ValueError(f"An export size is a name ({', '.join(SIZES)}) or (width, height) in pixels; got {size!r}.") from None
    if not (160 <= w <= 3840 and 160 <= h <= 2160):
        raise ValueError(f"An export frame is 160 to 3840 px wide and 160 to 2160 px high; {w} × {h} was asked.")
    return w - w % 2, h - h % 2


@dataclass(frozen=True)
class Box:
    """A rectangle in pixels, origin top left."""

    x: int
    y: int
    w: int
    h: int

    def fig_rect(self, width: int, height: int) -> list[float]:
        """[left, bottom, width, height] in figure fractions (matplotlib's origin is bottom left)."""
        return [self.x / width, 1 - (self.y + self.h) / height, self.w / width, self.h / height]


@dataclass(frozen=True)
class Layout:
    """Where each part of a frame goes, for a frame of ``width`` × ``height`` px."""

    width: int
    height: int
    header: Box  # title and setup line
    query: Box  # square panel of the query
    state: Box  # square panel of the decoded state
    status: Box  # t, energy, 1/sum p^2, top memory
    energy: Box  # energy axes
    hist: Box  # histogram axes
    verdict: Box  # the verdict badge and sentence

    @property
    def scale(self) -> float:
        """Text scale: 1 at 720 px of height (the smaller side of a slide)."""
        return min(self.width, self.height) / 720

    def state_pixels(self, image_side: int) -> Box:
        """The box the decoded state's pixels occupy (whole-factor nearest-neighbour upscale, centred)."""
        return _fitted(self.state, image_side)


def layout_for(width: int, height: int) -> Layout:
    """Landscape (a slide): images left, plots right. Square / portrait: images above the plots."""
    s = min(width, height) / 720
    pad, head = int(24 * s), int(96 * s)
    line = int(40 * s)
    if width >= 1.4 * height:
        left_w = int(width * 0.46)
        side = min((left_w - 3 * pad) // 2, int(height * 0.5))
        top = head + line
        query = Box(pad, top, side, side)
        state = Box(2 * pad + side, top, side, side)
        status = Box(pad, top + side + pad // 2, left_w - pad, line)
        verdict = Box(pad, status.y + line + pad // 2, left_w - pad, height - status.y - line - pad)
        px, pw = left_w + pad, width - left_w - 2 * pad
        ph = (height - head - 3 * pad) // 2
        energy = Box(px + int(70 * s), head + pad // 2, pw - int(70 * s), ph - int(40 * s))
        hist = Box(px + int(70 * s), head + ph + 2 * pad, pw - int(70 * s), ph - int(40 * s))
    else:
        side = min((width - 3 * pad) // 2, int(height * 0.34))
        top = head + line
        x0 = (width - 2 * side - pad) // 2
        query = Box(x0, top, side, side)
        state = Box(x0 + side + pad, top, side, side)
        status = Box(pad, top + side + pad // 3, width - 2 * pad, line)
        plots_y = status.y + line + pad
        verdict_h = int(84 * s)
        ph = height - plots_y - verdict_h - int(76 * s)
        pw = (width - 3 * pad - int(140 * s)) // 2
        energy = Box(pad + int(70 * s), plots_y, pw, ph)
        hist = Box(2 * pad + int(140 * s) + pw, plots_y, pw, ph)
        verdict = Box(pad, height - verdict_h - pad // 3, width - 2 * pad, verdict_h)
    return Layout(width, height, Box(pad, pad // 2, width - 2 * pad, head - pad // 2), query, state, status,
                  energy, hist, verdict)


def _fitted(box: Box, side: int) -> Box:
    k = max(1, box.w // side)
    shown = side * k if side * k <= box.w else box.w
    return Box(box.x + (box.w - shown) // 2, box.y + (box.h - shown) // 2, shown, shown)


def panel_pixels(image: np.ndarray, box: Box) -> np.ndarray:
    """``image`` (s, s, 3) as pasted into ``box``: upscaled by the whole factor box.w // s (nearest), or
    shrunk with a Lanczos filter when it is larger than the box."""
    s = image.shape[0]
    fitted = _fitted(box, s)
    if fitted.w == s * (fitted.w // s) and fitted.w >= s:
        k = fitted.w // s
        return np.ascontiguousarray(image.repeat(k, axis=0).repeat(k, axis=1))
    return np.asarray(Image.fromarray(image).resize((fitted.w, fitted.w), Image.Resampling.LANCZOS))


def _paste(canvas: np.ndarray, image: np.ndarray | None, box: Box) -> None:
    if image is None:
        return
    if image.shape[0] != image.shape[1]:  # a non-square query: centre-crop to its shorter side
        m = min(image.shape[:2])
        y0, x0 = (image.shape[0] - m) // 2, (image.shape[1] - m) // 2
        image = image[y0:y0 + m, x0:x0 + m]
    fitted = _fitted(box, image.shape[0])
    canvas[fitted.y:fitted.y + fitted.h, fitted.x:fitted.x + fitted.w] = panel_pixels(image, box)


def _pt(px: float) -> float:
    return px * 72 / DPI


class FrameRenderer:
    """Draws the frames of one :class:`RunRecord` at one size, reusing a single matplotlib figure.

    Args:
        record: the run (frames, caption, query).
        size: "slide" (1280 × 720), "square" (720 × 720) or (width, height).
    """

    def __init__(self, record: RunRecord, size="slide"):
        self.record = record
        self.width, self.height = frame_size(size)
        self.layout = layout_for(self.width, self.height)
        self._build()

    # ---- the figure, built once -------------------------------------------------------------------------
    def _build(self) -> None:
        lay, rec, s = self.layout, self.record, self.layout.scale
        fig = Figure(figsize=(self.width / DPI, self.height / DPI), dpi=DPI, facecolor="white")
        self.canvas = FigureCanvasAgg(fig)
        self.fig = fig
        W, H = self.width, self.height
        cap = rec.caption
        fig.text(lay.header.x / W, 1 - lay.header.y / H, cap.title, fontsize=_pt(34 * s), weight="bold",
                 color=INK, va="top")
        fig.text(lay.header.x / W, 1 - (lay.header.y + 46 * s) / H, cap.setup_line(), fontsize=_pt(22 * s),
                 color=INK, va="top")
        for box, label in ((lay.query, "query s⁽⁰⁾"), (lay.state, cap.state_label)):
            fig.text((box.x + box.w / 2) / W, 1 - (box.y - 6 * s) / H, label, fontsize=_pt(20 * s), color=INK,
                     ha="center", va="bottom")
        self.status = fig.text(lay.status.x / W, 1 - lay.status.y / H, "", fontsize=_pt(20 * s), color=INK,
                               va="top")
        self.badge = fig.text(lay.verdict.x / W, 1 - (lay.verdict.y + 4 * s) / H, "", fontsize=_pt(24 * s),
                              weight="bold", color="white", va="top",
                              bbox=dict(boxstyle="round,pad=0.3", facecolor="#777", edgecolor="none"))
        self.badge.set_visible(False)
        self.sentence = fig.text(lay.verdict.x / W, 1 - (lay.verdict.y + 52 * s) / H, "", fontsize=_pt(19 * s),
                                 color=INK, va="top", wrap=True)
        ts = np.array([f.t for f in rec.frames], dtype=float)
        es = np.array([f.energy for f in rec.frames], dtype=float)
        self.ts, self.es = ts, es
        ax = fig.add_axes(lay.energy.fig_rect(W, H))
        finite = es[np.isfinite(es)]
        lo, hi = (float(finite.min()), float(finite.max())) if finite.size else (0.0, 1.0)
        pad = 0.08 * (hi - lo) if hi > lo else max(1e-6, 0.08 * abs(hi) or 1e-3)
        ax.set_ylim(lo - pad, hi + pad)
        ax.set_xlim(-0.3, max(1.0, float(ts[-1])) + 0.3)
        marker = dict(marker="o", ms=7 * s) if len(ts) <= 40 else {}  # dots only while they stay apart
        (self.energy_line,) = ax.plot([], [], color=ACCENT, lw=3 * s, **marker)
        ax.set_title("energy E(s⁽ᵗ⁾)", fontsize=_pt(20 * s), color=INK)
        ax.set_xlabel(cap.t_label, fontsize=_pt(18 * s), color=INK)
        ax.xaxis.set_major_locator(MaxNLocator(integer=True, nbins=6))
        self.energy_ax = ax
        hx = fig.add_axes(lay.hist.fig_rect(W, H))
        first = next((f for f in rec.frames if f.hist_counts is not None), None)
        self.bars = None
        if first is not None:
            edges = first.hist_edges
            top = max(float(np.max(f.hist_counts)) for f in rec.frames if f.hist_counts is not None)
            self.bars = hx.bar(0.5 * (edges[:-1] + edges[1:]), np.zeros(len(edges) - 1), width=np.diff(edges),
                               color=BARS, edgecolor="white", linewidth=0.5)
            hx.set_xlim(float(edges[0]), float(edges[-1]))
            hx.set_ylim(0, max(1.0, top) * 1.1)
        else:  # no histogram (the classical network): the energy plot takes the whole column
            hx.set_visible(False)
            top_box, bottom = lay.energy, lay.hist
            ax.set_position(Box(top_box.x, top_box.y, top_box.w, bottom.y + bottom.h - top_box.y).fig_rect(W, H))
        hx.set_title("cos(state, every memory)", fontsize=_pt(20 * s), color=INK)
        hx.set_xlabel("cosine similarity", fontsize=_pt(18 * s), color=INK)
        for a in (ax, hx):
            a.tick_params(labelsize=_pt(18 * s), colors=INK, width=1.5 * s)
            for spine in a.spines.values():
                spine.set_color(INK)
            a.grid(alpha=0.3)

    # ---- one frame ------------------------------------------------------------------------------------
    def render(self, i: int) -> np.ndarray:
        """Frame ``i`` of the run as (height, width, 3) uint8."""
        rec = self.record
        f = rec.frames[i]
        self.energy_line.set_data(self.ts[: i + 1], self.es[: i + 1])
        if self.bars is not None and f.hist_counts is not None:
            for bar, c in zip(self.bars, f.hist_counts):
                bar.set_height(float(c))
        top = "" if f.top_index is None else f" · top #{f.top_index} p = {f.top_weight:.2f}"
        n_eff = "" if not np.isfinite(f.n_eff) else f" · 1/Σp² = {f.n_eff:.2f}"
        self.status.set_text(f"t = {f.t} · E = {f.energy:.5g}{n_eff}{top}")
        last = i == len(rec.frames) - 1
        cap = rec.caption
        if last and cap.verdict_kind:
            self.badge.set_text(VERDICT_WORDS.get(cap.verdict_kind, cap.verdict_kind.upper()))
            self.badge.get_bbox_patch().set_facecolor(VERDICT_COLORS.get(cap.verdict_kind, "#555"))
            self.badge.set_visible(True)
            self.sentence.set_text("\n".join([cap.verdict_text, *cap.extra]).strip())
        else:
            self.badge.set_visible(False)
            self.sentence.set_text("running …" if not last else "\n".join(cap.extra))
        self.canvas.draw()
        out = np.asarray(self.canvas.buffer_rgba())[..., :3].copy()
        _paste(out, rec.query if rec.query is not None else rec.frames[0].image, self.layout.query)
        _paste(out, f.image, self.layout.state)
        return out

    def title_card(self) -> np.ndarray:
        """A title frame: what ran (title, setup line) over the query, before the iterations."""
        s, cap = self.layout.scale, self.record.caption
        fig = Figure(figsize=(self.width / DPI, self.height / DPI), dpi=DPI, facecolor="white")
        canvas = FigureCanvasAgg(fig)
        fig.text(0.5, 0.9, cap.title, ha="center", va="top", fontsize=_pt(44 * s), weight="bold", color=INK)
        fig.text(0.5, 0.9 - 64 * s / self.height, cap.setup_line(), ha="center", va="top", fontsize=_pt(24 * s),
                 color=INK, wrap=True)
        fig.text(0.5, 0.06, "the query, then the network state at every iteration", ha="center",
                 fontsize=_pt(20 * s), color=INK)
        fig.patches.append(FancyBboxPatch((0.02, 0.02), 0.96, 0.96, boxstyle="round,pad=0", transform=fig.transFigure,
                                          fill=False, edgecolor=ACCENT, linewidth=4 * s))
        canvas.draw()
        out = np.asarray(canvas.buffer_rgba())[..., :3].copy()
        side = int(min(self.width, self.height) * 0.5)
        box = Box((self.width - side) // 2, int(self.height * 0.3), side, side)
        _paste(out, self.record.query if self.record.query is not None else self.record.frames[0].image, box)
        return out

    def __iter__(self) -> Iterator[np.ndarray]:
        for i in range(len(self.record.frames)):
            yield self.render(i)


def figure(record: RunRecord, size="slide") -> np.ndarray:
    """The still "figure" of a run for a paper: its final frame (final state, the whole energy curve, verdict)."""
    return FrameRenderer(record, size).render(len(record.frames) - 1)
