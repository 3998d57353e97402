"""Correlation-matrix recall of a masked query, as the classroom teaches it (slides 002: Kohonen vs Amari).

A bipolar pattern xi_mu (D,) is cued with some cells set to 0 (unknown). The correlation memory
M = sum_mu xi_mu xi_mu^T recalls g(M q) (``hen_demo.memory.classical.CorrelationMemory``):

* Kohonen (g = identity) returns a real vector M q = sum_nu xi_nu (xi_nu . q): the signal term
  xi_mu (xi_mu . q) plus cross-talk xi_nu (xi_nu . q) from every other memory nu;
* Amari (g = sgn) thresholds it, so recall is exact when the signal outweighs the cross-talk in every cell.

Kohonen's exact case: with orthonormal keys (the Gram-Schmidt / QR basis of the patterns' span) cued with the
full key, the linear recall returns the stored pattern exactly. Pure NumPy; the classroom tab only presents.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from hen_demo.memory.classical import CorrelationMemory

__all__ = ["MASKS", "masked_query", "orthonormal_keys", "KohonenAmari", "kohonen_vs_amari"]

MASKS = ("bottom", "top", "random")  # which cells of the query are set to 0


def masked_query(pattern: np.ndarray, kind: str, fraction: float, seed: int = 0) -> np.ndarray:
    """A float64 copy of a bipolar pattern (D,) with round(fraction * D) cells set to 0 (unknown).

    kind: "bottom" (the last cells, i.e. the lower rows of the picture), "top" (the first), or "random"
    (a ``seed``-fixed random subset).
    """
    if kind not in MASKS:
        raise ValueError(f"Unknown mask {kind!r}; choose one of: {', '.join(MASKS)}.")
    fraction = float(fraction)
    if not 0.0 <= fraction <= 1.0:
        raise ValueError(f"The masked fraction must lie between 0 and 1; got {fraction:g}.")
    q = np.asarray(pattern, dtype=np.float64).reshape(-1).copy()  # (D,)
    d = q.size
    k = int(round(fraction * d))
    if kind == "bottom":
        q[d - k:] = 0.0
    elif kind == "top":
        q[:k] = 0.0
    else:
        q[np.random.default_rng(seed).choice(d, size=k, replace=False)] = 0.0
    return q


def orthonormal_keys(patterns: np.ndarray) -> np.ndarray:
    """(P, D) orthonormal rows spanning the patterns (P, D): the QR form of Gram-Schmidt (P <= D)."""
    xi = np.asarray(patterns, dtype=np.float64)
    if xi.ndim != 2 or xi.shape[0] > xi.shape[1]:
        raise ValueError("Orthonormal keys need at most as many patterns as neurons (P <= D).")
    return np.linalg.qr(xi.T)[0].T  # (P, D)


@dataclass
class KohonenAmari:
    """Kohonen (linear) and Amari (sign) recall of one masked pattern, with the terms that explain them."""

    query: np.ndarray  # (D,) float64, the masked cue (0 = unknown)
    kohonen: np.ndarray  # (D,) float64, M q
    amari: np.ndarray  # (D,) sgn(M q)
    wrong_cells: int  # cells where Amari's recall differs from the target
    kohonen_cosine: float  # cos(M q, target)
    signal: float  # target . q
    cross_talk: float  # max_{nu != mu} |xi_nu . q| (0 with one pattern)
    orthonormal_error: float  # max |Kohonen recall with orthonormal keys and the full key - target| (nan if P > D)


def kohonen_vs_amari(patterns: np.ndarray, index: int, kind: str = "bottom", fraction: float = 0.5,
                     seed: int = 0) -> KohonenAmari:
    """Cue pattern ``index`` of bipolar ``patterns (P, D)`` with a ``kind`` mask of ``fraction`` and recall it."""
    xi = np.asarray(patterns)
    if xi.ndim != 2 or xi.shape[0] == 0:
        raise ValueError("Store some patterns first (a (P, D) array of bipolar patterns).")
    index = int(index)
    if not 0 <= index < xi.shape[0]:
        raise ValueError(f"Pattern #{index} is not stored; there are {xi.shape[0]} patterns.")
    target = xi[index].astype(np.float64)  # (D,)
    q = masked_query(target, kind, fraction, seed)
    kohonen = CorrelationMemory(xi, g="identity").recall(q)  # M q
    amari = np.sign(kohonen)  # g = sgn of the same M q: CorrelationMemory(xi, g="sign").recall(q), M built once
    overlaps = xi.astype(np.float64) @ q  # (P,) xi_nu . q: the signal at index, cross-talk elsewhere
    cos = float(kohonen @ target / (np.linalg.norm(kohonen) * np.linalg.norm(target) + 1e-12))
    cross = float(np.max(np.abs(np.delete(overlaps, index)))) if len(xi) > 1 else 0.0
    error = float("nan")  # P > D: the patterns cannot all have orthonormal keys
    if xi.shape[0] <= xi.shape[1]:
        keys = orthonormal_keys(xi)  # (P, D)
        error = float(np.abs(CorrelationMemory(keys, xi, g="identity").recall(keys[index]) - target).max())
    return KohonenAmari(query=q, kohonen=kohonen, amari=amari, wrong_cells=int(np.sum(amari != target)),
                        kohonen_cosine=cos, signal=float(overlaps[index]), cross_talk=cross,
                        orthonormal_error=error)
