"""Explore's retrieval map: where a retrieval went, drawn on a 2-D map of the memory bank.

The memories are the bank's codes (the current representation: an encoder's latents, or raw pixels) projected on
their two principal directions (:func:`hen_demo.memory.projection.fit_pca`, computed once per bank and kept in the
app's shared cache under the bank's key). The query, every streamed state s_hat(t) (HEN eq. 6) and the final state
are projected with the SAME mean and directions and drawn as one path, one point per streamed frame; the top-k
memories of the current frame are ringed and shown as thumbnails beside their points (always visible: a phone
has no hover). Presentation only: the projection is the package's.
"""

from __future__ import annotations

import base64
import io
from dataclasses import dataclass

import numpy as np
from PIL import Image

from hen_demo.memory.projection import PCAProjection, fit_pca
from hen_demo.pipeline import memory_thumbnails
from hen_demo.ui.plots import as_plot, base_layout

CAPTION = ("**Retrieval map.** Grey dots: every stored memory, placed by the two main directions in which their "
           "codes vary (PCA; each axis says how much of the variance it holds). Red: the state's path from the query "
           "(square) through every streamed step to the final state (star), projected the same way. Orange rings "
           "with thumbnails: the memories holding the most weight now; green diamond: the query's own memory. "
           "Points close on this map can still be far apart in the full code space.")
THUMB = 40  # px side of a thumbnail
PATH_COLOR = "#d62728"
TOPK_COLOR = "#ff7f0e"
TARGET_COLOR = "#2ca02c"


@dataclass
class BankMap:
    """A bank's 2-D map: the projection and its memories' coordinates."""

    pca: PCAProjection
    coords: np.ndarray  # (N, 2) float32 the memories on the map


def bank_map(bank, cache=None) -> BankMap:
    """The bank's map, computed once per bank when ``cache`` (the app's ``Resources.cache``) is given (keyed by the
    bank's cache key)."""

    def make():
        pca = fit_pca(bank.codes)
        return BankMap(pca, pca.project(bank.codes).numpy())

    key = getattr(bank, "key", "")
    return cache.namespace("retrieval-map").get(key, make) if key and cache is not None else make()


def _png_uri(img: np.ndarray) -> str:
    buf = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(img)).save(buf, format="PNG")
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


class RetrievalMap:
    """The path of one retrieval on its bank's map: ``add`` every streamed frame, ``plot`` when a frame is drawn.

    Args:
        bank: the memory bank (``codes`` (N, K), ``images``, ``key``).
        image_dims: how many leading dimensions of a state are the image code (caption memories append a text
            code, which the map leaves out); default all of the bank's.
        cache: the app's shared ``ByteCache`` (``Resources.cache``) that keeps each bank's map.
    """

    def __init__(self, bank, image_dims: int | None = None, cache=None):
        self.bank = bank
        self.map = bank_map(bank, cache)
        self.dims = int(image_dims or bank.codes.shape[1])
        self.path: list[np.ndarray] = []  # (2,) per streamed frame
        self._range = None  # fixed axes (memories and the query), so the map does not jump while it streams

    def add(self, frame) -> None:
        """Project the frame's latent state onto the map (frames without one are skipped)."""
        if getattr(frame, "state", None) is None:
            return
        self.path.append(self.map.pca.project(frame.state[: self.dims])[0].numpy())

    def _axes_range(self) -> tuple[list[float], list[float]]:
        if self._range is None:
            pts = np.concatenate([self.map.coords, np.asarray(self.path[:1]).reshape(-1, 2)])
            lo, hi = pts.min(0), pts.max(0)
            pad = 0.08 * np.maximum(hi - lo, 1e-6)
            self._range = ([float(lo[0] - pad[0]), float(hi[0] + pad[0])], [float(lo[1] - pad[1]), float(hi[1] + pad[1])])
        return self._range

    def spec(self, topk_indices=(), target: int | None = None, height: int = 320) -> dict:
        """The map as a plotly dict: memories, the top-k (ringed, with thumbnails), the target, the path so far."""
        c = np.round(self.map.coords, 4)
        data = [dict(type="scattergl" if len(c) > 2000 else "scatter", mode="markers", x=c[:, 0].tolist(),
                     y=c[:, 1].tolist(), name="memories", marker=dict(size=5, color="#9aa5b1"),
                     hovertemplate="memory #%{pointNumber}<extra></extra>")]
        top = [int(i) for i in topk_indices]
        xr, yr = self._axes_range()
        images = []
        if top:
            tc = self.map.coords[top]
            data.append(dict(type="scatter", mode="markers", x=tc[:, 0].tolist(), y=tc[:, 1].tolist(),
                             name="top-k now", text=[f"#{i}" for i in top],
                             marker=dict(size=13, color="rgba(0,0,0,0)", line=dict(color=TOPK_COLOR, width=3)),
                             hovertemplate="top-k memory %{text}<extra></extra>"))
            side = 0.11 * (xr[1] - xr[0])
            for (x, y), img in zip(tc, memory_thumbnails(self.bank, top, THUMB)):
                images.append(dict(source=_png_uri(img), x=float(x), y=float(y), xref="x", yref="y", sizex=side,
                                   sizey=side * (yr[1] - yr[0]) / (xr[1] - xr[0]), xanchor="left", yanchor="bottom",
                                   layer="above"))
        if target is not None:
            tx, ty = self.map.coords[int(target)]
            data.append(dict(type="scatter", mode="markers", x=[float(tx)], y=[float(ty)], name=f"target #{target}",
                             marker=dict(size=15, symbol="diamond-open", color=TARGET_COLOR, line=dict(width=3)),
                             hovertemplate=f"the query's memory #{target}<extra></extra>"))
        if self.path:
            p = np.asarray(self.path)
            n = len(p)
            data.append(dict(type="scatter", mode="lines+markers", x=p[:, 0].tolist(), y=p[:, 1].tolist(),
                             name="state path", line=dict(color=PATH_COLOR, width=3),
                             marker=dict(color=PATH_COLOR, size=[12] + [6] * (n - 2) + [14] if n > 1 else [12],
                                         symbol=["square"] + ["circle"] * (n - 2) + ["star"] if n > 1 else ["square"]),
                             customdata=list(range(n)),
                             hovertemplate="streamed frame %{customdata}<extra></extra>"))
        ev = [float(v) for v in self.map.pca.explained]
        layout = base_layout("Where the state goes (PCA map of the bank)", height, f"PC 1 ({100 * ev[0]:.0f} %)",
                             f"PC 2 ({100 * ev[1]:.0f} %)", showlegend=False, images=images)
        layout["xaxis"].update(range=xr, fixedrange=True, zeroline=False)
        layout["yaxis"].update(range=yr, fixedrange=True, zeroline=False)
        layout["margin"]["t"] = 35
        layout["dragmode"] = False
        return dict(data=data, layout=layout, config={"displayModeBar": False})

    def plot(self, frame, target: int | None = None):
        """``gr.Plot`` value for a frame (its top-k ringed)."""
        return as_plot(self.spec(getattr(frame, "topk_indices", ()), target))
