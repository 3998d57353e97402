"""Correlation-matrix associative memories (slides 002, "Correlation Matrix based AMs").

An associative memory <f, A, C> stores address (cue) patterns A (P, D) with content (response) patterns C (P, M)
in the correlation matrix ``W = C^T A`` (M, D) and recalls ``f(x) = g(W x)``:

* Kohonen (1988): ``g`` = identity. With orthonormal address rows, ``W a_k = C^T A a_k = C^T e_k = c_k``: recall is
  exact; with correlated addresses the output is the target plus "cross-talk" from the other memories.
* Amari (1972) / Nakano (1972) / Hopfield (1982): ``g = sgn`` (with sgn(0) = 0, as on the slides), which cleans the
  cross-talk off bipolar contents as long as it is smaller than the signal.

Auto-association is the special case A = C (then ``W = Xi^T Xi``, the Hebbian Hopfield matrix, one pass).
"""

from __future__ import annotations

import numpy as np

_G_NAMES = ("identity", "sign")


def _as_matrix(x, name: str) -> np.ndarray:
    if hasattr(x, "detach"):
        x = x.detach().cpu().numpy()
    arr = np.asarray(x, dtype=np.float64)
    if arr.ndim != 2 or arr.size == 0:
        raise ValueError(f"{name} must be a non-empty 2-D array (patterns as rows), got shape {arr.shape}.")
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{name} contains NaN or infinite values.")
    return arr


class CorrelationMemory:
    """Correlation-matrix memory ``f(x) = g(C^T A x)`` (slides 002).

    Args:
        A: (P, D) address / cue patterns, one per row (real-valued; bipolar for the classroom).
        C: (P, M) content / response patterns; pass the same array as A for auto-association.
        g: "identity" (Kohonen 1988) or "sign" (Amari 1972, sgn(0) = 0).
    """

    def __init__(self, A, C=None, g: str = "identity"):
        self.A = _as_matrix(A, "A (address patterns)")  # (P, D)
        self.C = self.A.copy() if C is None else _as_matrix(C, "C (content patterns)")  # (P, M)
        if self.C.shape[0] != self.A.shape[0]:
            raise ValueError(f"A and C must hold the same number of patterns (rows): "
                             f"A has {self.A.shape[0]}, C has {self.C.shape[0]}.")
        if g not in _G_NAMES:
            raise ValueError(f"Unknown recall function g={g!r}; use 'identity' (Kohonen) or 'sign' (Amari).")
        self.g = g
        self.weights = self.C.T @ self.A  # (M, D), W = C^T A

    def recall(self, x) -> np.ndarray:
        """f(x) = g(W x). x: (D,) -> (M,), or (B, D) -> (B, M). Masked entries of a bipolar cue can be set to 0."""
        if hasattr(x, "detach"):
            x = x.detach().cpu().numpy()
        q = np.asarray(x, dtype=np.float64)
        if q.ndim not in (1, 2) or q.shape[-1] != self.A.shape[1]:
            raise ValueError(f"The query must have shape (D,) or (B, D) with D = {self.A.shape[1]}, got {q.shape}.")
        if not np.all(np.isfinite(q)):
            raise ValueError("The query contains NaN or infinite values.")
        y = q @ self.weights.T  # (..., M)
        return np.sign(y) if self.g == "sign" else y
