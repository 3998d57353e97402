"""One streamed retrieval frame as the tabs show it: a small record (kept for playback) and its panels.

:func:`frame_record` turns a ``HENFrame`` into a small, deep-copyable dict (a ``gr.State`` value): the decoded
state, the energies so far, the top-k memories holding weight (thumbnails included), the similarity histogram and
the verdict of that state. :func:`frame_view` renders a record as the per-frame panels (state image, status,
energy + top-k plot, top-k gallery, histogram) for a live stream, a playback, a Step, a Pause or a Stop alike.

To add a per-frame panel: put what it needs into the record here, render it in :func:`frame_view` (one more
value, in the order of ``FRAME_PANELS``) and add its component where the tab lists its per-frame outputs.
"""

from __future__ import annotations

import gradio as gr
import numpy as np

from hen_demo import metrics
from hen_demo.pipeline import HENFrame
from hen_demo.ui import plots
from hen_demo.ui.present import ALL_WEIGHT, TOPK_MIN_WEIGHT, badge, show, topk_items, verdict_view
from hen_demo.ui.retrieval_map import RetrievalMap

FRAME_PANELS = ("state", "status", "energy", "topk", "hist")  # the order frame_view returns them in


def frame_record(frame: HENFrame, bank, steps: int, target: int | None, previous: dict | None = None,
                 route: RetrievalMap | None = None) -> dict:
    """What playback needs of one frame. Thumbnails are shared with ``previous`` when the top-k did not change;
    ``route``: the run's retrieval map, which gets the frame's point (the record keeps the path so far)."""
    if route is not None:
        route.add(frame)
    hist = frame.similarity_histogram
    w = list(frame.topk_weights)
    v = metrics.verdict_from(frame.topk_indices[0], w[0], sum(x > 0.05 for x in w), frame.n_eff, target)
    same = previous is not None and previous["topk_indices"] == list(frame.topk_indices) and \
        np.allclose(previous["topk_weights"], w, atol=5e-3)
    return {"t": int(frame.t), "image": frame.image, "energies": list(frame.energies),
            "topk_indices": list(frame.topk_indices), "topk_weights": w,
            "topk": previous["topk"] if same else topk_items(bank, frame.topk_indices, w, target),
            "n_eff": float(frame.n_eff), "converged": bool(frame.converged), "n": int(bank.codes.shape[0]),
            "steps": int(steps), "target": target, "verdict": verdict_view(v, target),
            "hist": None if hist is None else (np.asarray(hist.counts).tolist(), np.asarray(hist.edges).tolist()),
            "path": None if route is None else [np.asarray(p) for p in route.path]}


def map_view(route: RetrievalMap | None, rec: dict, plot: bool = True):
    """The retrieval map (issue 21) with the record's path so far and its top-k ringed; skip without a map."""
    if route is None or rec.get("path") is None or not plot:
        return gr.skip()
    route.path = list(rec["path"])
    return plots.as_plot(route.spec(_held(rec), rec["target"]))


def _held(rec: dict) -> list[int]:
    """The top-k memories holding at least TOPK_MIN_WEIGHT of the weight (at least the strongest)."""
    held = [i for i, w in zip(rec["topk_indices"], rec["topk_weights"]) if w >= TOPK_MIN_WEIGHT]
    return held or [rec["topk_indices"][0]]


def status_line(rec: dict, how: str = "", seconds: float | None = None) -> str:
    """'**t = 3** of at most 60 · energy … · effective memories … · running' (``how``: 'stopped at', 'paused at')."""
    head = f"**{how} t = {rec['t']}**" if how else f"**t = {rec['t']}**"
    state = "converged" if rec["converged"] else ("energy so far" if how else "running")
    alone = f" · all weight on #{rec['topk_indices'][0]}" if rec["topk_weights"][0] >= ALL_WEIGHT else ""
    return (f"{head} of at most {rec['steps']} · energy **{rec['energies'][-1]:.5g}** · effective memories "
            f"1/Σp² = **{rec['n_eff']:.2f}**{alone} · {state}" + ("" if seconds is None else f" · {seconds:.2f} s"))


def state_verdict(rec: dict, how: str) -> str:
    """The verdict panel for an intermediate state (after Stop / Pause): what the state is at that t."""
    kind, text = rec["verdict"]
    return f"### {badge(kind)} At t = {rec['t']} ({how}): {text}"


def frame_view(rec: dict, status: str, previous: dict | None = None, plot: bool = True) -> tuple:
    """The per-frame panels (FRAME_PANELS) of a record. Unchanged images and galleries are skipped (re-writing a
    cached file while the browser reads it showed a broken image, issue 10 §3); ``plot=False`` skips both plots."""
    same_image = previous is not None and np.array_equal(previous["image"], rec["image"])
    image = gr.skip() if same_image else show(np.asarray(rec["image"], dtype=np.uint8))
    gallery = gr.skip() if previous is not None and previous["topk"] is rec["topk"] else rec["topk"]
    energy = hist = gr.skip()
    if plot:
        held = _held(rec)  # only memories holding weight
        weights = dict(zip(rec["topk_indices"], rec["topk_weights"]))
        energy = plots.as_plot(plots.dynamics_spec(rec["energies"], held, [weights[i] for i in held], rec["target"]))
        if rec["hist"] is not None:
            hist = plots.as_plot(plots.similarity_histogram_spec(rec["hist"][0], rec["hist"][1], t=rec["t"],
                                                                 n=rec["n"]))
    return image, status, energy, gallery, hist
