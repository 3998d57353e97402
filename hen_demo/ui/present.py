"""How every tab presents a retrieval: crisp images, the verdict badge and sentence, β, the NN-ceiling line, top-k.

One wording for all tabs. A verdict is only called RETRIEVED / WRONG MEMORY where there is a stored original to
compare with; for an upload, a drawing or a caption that names no stored image the verdict is neutral
(SETTLED, with the weight it settled with), and no MSE / SSIM is shown against a stand-in.
"""

from __future__ import annotations

import numpy as np

from hen_demo.pipeline import memory_thumbnails

SHOW = 192  # px side images are shown at (nearest-neighbour upscaling keeps pixels crisp)
VERDICT_COLOR = {"retrieved": "#2ca02c", "metastable": "#e08a00", "wrong": "#d62728", "settled": "#4a5a78",
                 "stopped": "#666666"}
VERDICT_WORD = {"retrieved": "RETRIEVED", "metastable": "METASTABLE", "wrong": "WRONG MEMORY", "settled": "SETTLED",
                "stopped": "STOPPED"}
# the top-k panel shows only memories holding at least this share of the weight (the rest are not runners-up)
TOPK_MIN_WEIGHT = 0.01
ALL_WEIGHT = 0.995  # one memory holding this much: "all weight on #i"


def show(img: np.ndarray | None, size: int = SHOW) -> np.ndarray | None:
    """Upscale a small uint8 image with nearest neighbour so pixels stay crisp on a projector."""
    if img is None:
        return None
    k = max(1, size // img.shape[0])
    return np.ascontiguousarray(img.repeat(k, axis=0).repeat(k, axis=1))


def badge(kind: str) -> str:
    """A coloured word for a verdict kind (plain HTML inside Markdown; no emoji font needed)."""
    return (f'<span class="hen-badge" style="background:{VERDICT_COLOR.get(kind, "#777")};color:white;'
            f'padding:2px 10px;border-radius:6px;font-weight:700">{VERDICT_WORD.get(kind, kind.upper())}</span>')


def verdict_view(verdict, target: int | None) -> tuple[str, str]:
    """(kind, sentence) shown for a verdict: without a stored original (target None) a single winner is neutral."""
    if target is None and verdict.kind != "metastable":
        return "settled", (f"Settled on #{verdict.top_index} — {100 * verdict.top_weight:.0f} % of the weight; there is "
                           "no stored original to compare with.")
    return verdict.kind, verdict.text


def beta_text(beta: float, relative: float | None) -> str:
    """Both numbers of β: the absolute value the memory uses and the same β relative to the calibration."""
    rel = "" if relative is None else f" = {relative:.3g} × calibrated"
    return f"β = {beta:.4g}{rel}"


def ceiling_line(r) -> str:
    """Retrieved memory and the one-shot nearest-neighbour ceiling: did the dynamics or the representation fail?"""
    if r.correct is None:  # no stored original: nothing was "retrieved", the state settled somewhere
        got = f"Settled nearest to **#{r.nearest}**"
    else:
        got = f"Retrieved **#{r.nearest}**" + (" ✓" if r.correct else f" ✗ (wanted #{r.target})")
    nn = f"one-shot nearest neighbour of the query code **#{r.nn_index}**"
    if r.nn_correct is None:
        return f"{got} · {nn} (the ceiling)"
    nn += " ✓" if r.nn_correct else " ✗"
    if r.correct and r.nn_correct:
        why = "dynamics reached the ceiling"
    elif r.nn_correct:
        why = "**the dynamics failed** (the representation had it)"
    elif r.correct:
        why = "the dynamics beat one-shot nearest neighbour"
    else:
        why = "**the representation failed** (even nearest neighbour misses)"
    return f"{got} · NN ceiling: {nn} → {why}"


def result_markdown(r, note: str = "") -> str:
    """The verdict panel of a finished retrieval: badge and sentence, NN ceiling, scores where a target exists."""
    kind, text = verdict_view(r.verdict, r.target)
    scores = (f"MSE **{r.mse:.4f}** · 1 − SSIM **{r.one_minus_ssim:.4f}** (vs the encoder's reconstruction of the "
              "query memory) · " if r.target is not None else "")
    return (f"### {badge(kind)} {text}{note}\n" + ceiling_line(r) + "  \n" + scores
            + f"{r.steps} steps{'' if r.converged else ', not converged'} · {beta_text(r.beta, r.beta_relative)}")


def topk_items(bank, indices, weights, target: int | None, size: int = 96) -> list[tuple[np.ndarray, str]]:
    """The top-k panel: the stored originals of the memories holding at least TOPK_MIN_WEIGHT of the weight, with
    their weights (one memory holding all of it is said in the status line: ``frames.status_line``)."""
    kept = [(int(i), float(w)) for i, w in zip(indices, weights) if float(w) >= TOPK_MIN_WEIGHT] or \
        [(int(indices[0]), float(weights[0]))]
    thumbs = memory_thumbnails(bank, [i for i, _ in kept], 64)
    mark = {i: (" ✓" if i == target else "") for i, _ in kept}
    return [(show(t, size), f"#{i}{mark[i]} · {100 * w:.0f} %") for t, (i, w) in zip(thumbs, kept)]
