"""Calibrated beta: an inverse temperature relative to the memory bank's own score scale.

Why: in the modern Hopfield update (HEN eq. 2 / 6) only the products ``beta * sim(Xi, s)`` matter, and
every representation (raw pixels, each encoder) has its own distance scale. One absolute beta is therefore
sharp for one bank and blurry for another (HEN sec. 3.1 compares encoders at a single beta). We instead fix
how sharply the *stored memories themselves* are told apart:

    g_n  = sim(xi_n, xi_n) - max_{m != n} sim(xi_m, xi_n)      (the score gap of memory n to its runner-up)
    beta = relative * C / median_n { g_n : g_n > 0 }

so that ``beta * g`` (the log-ratio of the weights of a memory and its nearest rival, when the state sits on
the memory; HEN eq. 2, U-Hop eq. 1.2) is the same for every bank. With the similarity conventions of
``similarity.py``:

    l2         sim = -||xi - s||^2   ->  g_n = min_{m != n} ||xi_m - xi_n||^2  (nearest-neighbour squared distance)
    manhattan  sim = -||xi - s||_1   ->  g_n = min_{m != n} ||xi_m - xi_n||_1
    euclidean  sim = -||xi - s||     ->  g_n = min_{m != n} ||xi_m - xi_n||  (the square root of the l2 gap)
    dot        sim = xi . s          ->  g_n = ||xi_n||^2 - max_{m != n} xi_m . xi_n
    cosine     sim = cos(xi, s)      ->  g_n = 1 - max_{m != n} cos(xi_m, xi_n)
    kernel     sim = <W xi, W s>     ->  the dot gaps of the features Phi(xi) = W xi (U-Hop eq. 2.1, a LinearKernel)

Duplicates and memories that a rival out-scores (possible for dot) have g_n <= 0 and are left out of the
median. For big banks the gaps are taken over a fixed-seed subsample of ``MAX_ROWS`` memories (each against
all N). The constant ``C = 300`` was chosen on tiles and photos only (faces and digits are held out): at
``relative = 1`` retrieval lands within 5 points of the one-shot nearest-neighbour identity in every tiles /
photos cell we measured (issue 9 reports the same c ~ 300 for L2). Scaling every pattern and query by a
factor ``a`` scales the L2 gaps by ``a^2`` and beta by ``1 / a^2``, so retrieval at a fixed relative beta is
scale free (tests/test_calibration.py).
"""

from __future__ import annotations

import math

import numpy as np
import torch

from .hopfield import BETA_MAX, as_patterns
from .similarity import LinearKernel

CALIBRATION_C = 300.0  # beta * median gap at relative = 1 (tuned on tiles / photos only)
MAX_ROWS = 2000  # memories whose gap enters the median (fixed-seed subsample above this)
_CALIBRATED = ("l2", "manhattan", "dot", "cosine", "euclidean")


def check_relative(relative) -> float:
    """``relative`` as a positive finite float, or a ValueError with a plain sentence."""
    try:
        r = float(relative)
    except (TypeError, ValueError):
        raise ValueError(f"The relative beta must be a positive number; got {relative!r}.") from None
    if not (r > 0 and math.isfinite(r)):
        raise ValueError(f"The relative beta must be a positive finite number (1 = calibrated sharpness); "
                         f"got {relative!r}.")
    return r


def score_gaps(patterns, similarity: str = "l2", max_rows: int = MAX_ROWS, seed: int = 0) -> torch.Tensor:
    """g_n = sim(xi_n, xi_n) - max_{m != n} sim(xi_m, xi_n) for up to ``max_rows`` memories n (see module doc).

    Args:
        patterns: (N, K) stored patterns, N >= 2.
        similarity: "l2" | "manhattan" | "dot" | "cosine" | "euclidean", or U-Hop's learned LinearKernel (dot on
            its features).
    Returns:
        (n,) float64 gaps (may contain values <= 0: duplicates, or out-scored memories for dot).
    """
    if isinstance(similarity, LinearKernel):  # K(u, v) = <Wu, Wv>: dot product of the features (U-Hop eq. 2.1)
        xi = as_patterns(patterns, torch.device("cpu"), torch.float64)  # (N, K)
        if xi.shape[1] != similarity.dim:
            raise ValueError(f"The kernel expects {similarity.dim}-dimensional patterns; the bank has {xi.shape[1]}.")
        return score_gaps(similarity.features(xi), "dot", max_rows, seed)  # features (N, D_phi) float64
    if similarity == "euclidean":  # unsquared distance (no engine similarity; U-Hop's paper-sign L2 row uses it)
        return score_gaps(patterns, "l2", max_rows, seed).clamp_min(0.0).sqrt()
    if similarity not in _CALIBRATED:
        known = ", ".join(_CALIBRATED)
        raise ValueError(f"calibrated beta is defined for the similarities {known}; got {similarity!r}.")
    xi = as_patterns(patterns, torch.device("cpu"), torch.float64)  # (N, K), float64 so tiny gaps survive
    n = xi.shape[0]
    if n < 2:
        raise ValueError("calibrated beta needs at least two memories (it measures the gap between them).")
    rows = torch.arange(n)
    if n > max_rows:
        rows = torch.from_numpy(np.sort(np.random.default_rng(seed).choice(n, max_rows, replace=False)))
    if similarity == "cosine":
        xi = xi / xi.norm(dim=1, keepdim=True).clamp_min(1e-300)
    sq = (xi * xi).sum(1)  # (N,)
    gaps = []
    for i in range(0, len(rows), 256):
        r = rows[i : i + 256]  # (b,)
        q = xi[r]  # (b, K)
        if similarity == "l2":
            s = -(sq[r, None] - 2.0 * q @ xi.T + sq[None]).clamp_min(0.0)  # (b, N) = -||xi_m - xi_n||^2
        elif similarity == "manhattan":
            s = -torch.cdist(q, xi, p=1)  # (b, N)
        else:  # dot, cosine (rows already unit length)
            s = q @ xi.T  # (b, N)
        own = s[torch.arange(len(r)), r].clone()  # (b,) sim(xi_n, xi_n)
        if similarity == "l2" or similarity == "manhattan":
            own.zero_()  # exactly 0 (round-off aside)
        s[torch.arange(len(r)), r] = -math.inf
        gaps.append(own - s.max(1).values)  # (b,)
    return torch.cat(gaps)


def calibrated_beta(patterns, relative: float = 1.0, similarity: str = "l2") -> float:
    """beta = relative * C / median of the positive score gaps g_n of the bank (module docstring; HEN eq. 2).

    Args:
        patterns: (N, K) stored patterns (the memory bank's codes).
        relative: sharpness relative to the calibration (1 = retrieval reaches the nearest-neighbour
            ceiling; smaller = softer, more mixtures). Must be > 0.
        similarity: "l2" | "manhattan" | "dot" | "cosine" | "euclidean" or a LinearKernel (the similarity the
            memory will use).
    Returns:
        The absolute beta (float) to hand to ``HopfieldMemory``.
    Raises:
        ValueError: relative <= 0 or not finite, bad patterns, no positive gap (all memories identical), or a
            beta outside the engine's range (``hopfield.BETA_MAX``).
    """
    r = check_relative(relative)
    g = score_gaps(patterns, similarity)
    g = g[g > 0]
    if g.numel() == 0:
        raise ValueError("calibrated beta needs memories that differ: every memory has a duplicate or a rival "
                         "that scores at least as high, so the bank has no distance scale.")
    beta = r * CALIBRATION_C / float(g.median())
    if not (math.isfinite(beta) and beta <= BETA_MAX):
        raise ValueError(f"The relative beta {r:g} gives beta = {beta:.3g} for this bank, above the engine's "
                         f"limit of {BETA_MAX:g}; use a smaller relative beta or rescale the memories.")
    return beta


__all__ = ["CALIBRATION_C", "calibrated_beta", "check_relative", "score_gaps"]
