"""Mask-aware L2 retrieval on raw pixels: compare a query with the memories on its visible pixels only.

This is OUR baseline, not the papers': HEN and U-Hop score an occluded query against whole memories, so
the hidden half (black, grey, ...) takes part in the distance. When the query's visibility mask is known
(the user drew it, or the corruption says which pixels it hid), the honest similarity ignores hidden
pixels:

    sim_M(xi, s) = - sum_{i visible} (xi_i - s_i)^2
                 = -(M ⊙ s^2) 1 + 2 (M ⊙ s) xi^T - M (xi^2)^T        (B, N), one mask row per query,

three matrix products (M (B, K) in {0, 1}). Retrieval is the modern Hopfield update of HEN eq. 2,
s <- Xi^T Sep(beta sim_M(Xi, s)), with the visible dims clamped to the query after every update (the
clamped CCCP step of HEN Fig. 4). Because sim_M reads only the visible dims and those are clamped, the
weights are fixed by the query: the dynamics converge after one update and, at large beta, return the
memory nearest to the query on its visible pixels (the masked nearest neighbour). The energy reported per
step is E(s) = -(1/beta) Psi*(beta sim_M(Xi, s)) (HEN eq. 1's L2 analogue; see energy.py).

It only makes sense where code dims are pixels: :func:`check_mask_aware` refuses encoders.
"""

from __future__ import annotations

import numpy as np
import torch

from .hopfield import (
    RetrievalResult,
    as_patterns,
    as_queries,
    check_beta,
    check_run_options,
    moved_less,
    topk_cpu,
    weight_stats,
)
from .separation import conjugate, parse_separation, separate

RAW_PIXEL_ENCODERS = ("pixels",)  # code dims = pixel values (pixels-<size> too)


def check_mask_aware(encoder_name: str) -> None:
    """ValueError unless ``encoder_name`` is raw pixels (the only representation whose dims are pixels)."""
    name = str(encoder_name)
    if name in RAW_PIXEL_ENCODERS or name.startswith("pixels-"):
        return
    raise ValueError(f"The mask-aware similarity compares visible pixels, so it works on raw pixels only; "
                     f"{name!r} is an encoder whose code dims are not pixels. Choose the raw-pixel "
                     f"representation or another similarity.")


def pixel_mask_to_code(visible) -> torch.Tensor:
    """(B, H, W) bool visibility of pixels -> (B, 3*H*W) bool over the raw-pixel code (channel-major, as the
    pixels encoder flattens (3, H, W))."""
    v = torch.as_tensor(np.asarray(visible) if not isinstance(visible, torch.Tensor) else visible).bool()
    if v.ndim != 3:
        raise ValueError(f"a pixel visibility mask must have shape (B, H, W); got {tuple(v.shape)}")
    return v.unsqueeze(1).expand(-1, 3, -1, -1).reshape(v.shape[0], -1)


def masked_l2_scores(patterns: torch.Tensor, states: torch.Tensor, visible: torch.Tensor) -> torch.Tensor:
    """sim_M(xi_n, s_b) = -sum_{i: visible[b, i]} (xi_ni - s_bi)^2 by three matrix products.

    Args:
        patterns: (N, K) memories Xi. states: (B, K). visible: (B, K) bool or {0, 1}, True = compared.
    Returns:
        (B, N) scores (<= 0).
    """
    m = visible.to(states.dtype)  # (B, K)
    ms = m * states  # (B, K)
    z = 2.0 * ms @ patterns.T - m @ (patterns * patterns).T  # (B, N)
    return (z - (ms * states).sum(-1, keepdim=True)).clamp_max(0.0)  # round-off can push a 0 above 0


def masked_calibrated_beta(patterns, visible, relative: float = 1.0) -> float:
    """Calibrated beta (``calibration.calibrated_beta``, L2) on the distance scale of the visible dims.

    sim_M sums squared differences over the visible dims only, so its gaps are smaller than full-image L2's.
    One mask shared by every query (visible (K,) or identical rows of (B, K)): the calibration of the
    patterns restricted to those dims, exactly. Per-query masks: the full calibration divided by the mean
    visible fraction (gaps scale with the number of compared dims when the dims are alike).
    """
    from .calibration import calibrated_beta

    xi = as_patterns(patterns, torch.device("cpu"), torch.float32)  # (N, K)
    v = torch.as_tensor(np.asarray(visible) if not isinstance(visible, torch.Tensor) else visible).bool().cpu()
    if v.ndim == 1:
        v = v.unsqueeze(0)
    if v.ndim != 2 or v.shape[1] != xi.shape[1] or not bool(v.any()):
        raise ValueError(f"visible must be a mask (K,) or (B, K) with K = {xi.shape[1]} and some dims visible; "
                         f"got shape {tuple(v.shape)}")
    if bool((v == v[:1]).all()):
        return calibrated_beta(xi[:, v[0]], relative, "l2")
    return calibrated_beta(xi, relative, "l2") / float(v.float().mean())


class MaskAwareMemory:
    """Modern Hopfield memory on raw pixels with the mask-aware L2 similarity (module docstring).

    Args:
        patterns: (N, K) stored raw-pixel codes.
        beta: inverse temperature (> 0); e.g. ``calibrated_beta(patterns)``.
        separation: "softmax" or "sparsemax" (or "entmax:<alpha>").
        device, dtype: where and in what precision to compute (default CPU float32).
    """

    def __init__(self, patterns, beta: float = 1.0, separation: str = "softmax", device=None,
                 dtype: torch.dtype = torch.float32) -> None:
        self.device = torch.device(device or "cpu")
        self.dtype = dtype
        self.patterns = as_patterns(patterns, self.device, dtype)  # (N, K)
        self.beta = check_beta(beta)
        self.separation = parse_separation(separation)
        if self.separation.kind not in ("softmax", "entmax"):
            raise ValueError(f"the mask-aware memory supports softmax, sparsemax and entmax separations; "
                             f"got {separation!r}.")

    @property
    def n_memories(self) -> int:
        return self.patterns.shape[0]

    @property
    def dim(self) -> int:
        return self.patterns.shape[1]

    def _visible(self, visible, b: int) -> torch.Tensor:
        v = torch.as_tensor(np.asarray(visible) if not isinstance(visible, torch.Tensor) else visible)
        if v.ndim == 1:
            v = v.unsqueeze(0).expand(b, -1)
        if tuple(v.shape) != (b, self.dim):
            raise ValueError(f"visible must be a mask of shape ({b}, {self.dim}) (one row per query, True = "
                             f"visible); got {tuple(v.shape)}")
        v = v.bool().to(self.device)
        if not bool(v.any(1).all()):
            raise ValueError("every query needs at least one visible pixel for the mask-aware similarity.")
        return v

    def scores(self, states, visible) -> torch.Tensor:
        """sim_M(Xi, s): states (B, K), visible (B, K) -> (B, N)."""
        s = as_queries(states, self.dim, self.device, self.dtype)
        return masked_l2_scores(self.patterns, s, self._visible(visible, s.shape[0]))

    def energy(self, states, visible) -> torch.Tensor:
        """E(s) = -(1/beta) Psi*(beta sim_M(Xi, s)) (HEN eq. 1, L2 form): (B, K) -> (B,)."""
        return -conjugate(self.separation, self.scores(states, visible), self.beta)

    def retrieve(self, queries, visible, steps: int = 100, tol: float = 1e-6, topk: int = 5) -> RetrievalResult:
        """HEN eq. 2 with sim_M and the visible dims clamped to the query; same result shape as HopfieldMemory.

        Args:
            queries: (B, K) raw-pixel queries s^(0) (hidden dims may hold any fill).
            visible: (B, K) bool, True where the query's pixel is visible (``pixel_mask_to_code``).
            steps, tol, topk: as ``HopfieldMemory.retrieve``.
        """
        q = as_queries(queries, self.dim, self.device, self.dtype)  # (B, K)
        v = self._visible(visible, q.shape[0])  # (B, K)
        steps, tol, k = check_run_options(steps, tol, topk, self.n_memories)
        s = q.clone()
        energies, converged = [], torch.zeros(q.shape[0], dtype=torch.bool, device=self.device)
        n_steps = torch.zeros(q.shape[0], dtype=torch.long)
        T = 0
        for t in range(steps + 1):
            z = masked_l2_scores(self.patterns, s, v)  # (B, N)
            p = separate(self.separation, z, self.beta)  # (B, N)
            energies.append(-conjugate(self.separation, z, self.beta, p))  # (B,)
            if t == steps or bool(converged.all()):
                break
            new = torch.where(v, q, p @ self.patterns)  # (B, K) update, visible dims clamped
            moving = ~converged
            done = moved_less(new, s, tol) & moving
            s = torch.where(moving.unsqueeze(1), new, s)
            n_steps[moving.cpu()] = t + 1
            converged |= done
            T = t + 1
        idx, vals = topk_cpu(p, k)
        n_eff, top_i, top_w, n_above, tied = weight_stats(p)
        return RetrievalResult(states=s.float().cpu(), energies=torch.stack(energies).float().cpu(),
                               weights=p.float().cpu(), steps=T, converged=converged.cpu(), topk_indices=idx,
                               topk_weights=vals, n_steps=n_steps, n_eff=n_eff, top_index=top_i,
                               top_weight=top_w, n_above=n_above, tied=tied)


__all__ = ["MaskAwareMemory", "check_mask_aware", "masked_calibrated_beta", "masked_l2_scores", "pixel_mask_to_code"]
