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
There is no loop here: the similarity is ``similarity.VisibleL2`` and the dynamics are ``HopfieldMemory``'s
(:func:`mask_aware_memory`), with the visible dims as its clamp.

It only makes sense where code dims are pixels: :func:`check_mask_aware` refuses encoders.
"""

from __future__ import annotations

import numpy as np
import torch

from .calibration import calibrated_beta
from .hopfield import HopfieldMemory, as_patterns
from .separation import parse_separation
from .similarity import VisibleL2

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


def mask_aware_memory(patterns, visible, beta: float, separation: str = "softmax", device=None,
                      dtype=None) -> HopfieldMemory:
    """The modern Hopfield memory over ``patterns`` (N, K) whose similarity sees only the ``visible`` (K,) dims
    (``VisibleL2``). Run it with those dims clamped, ``retrieve(q, clamp=visible)``: the one retrieval loop of
    ``HopfieldMemory`` (HEN eq. 2), its energy (HEN eq. 1, L2 form) and its statistics, nothing of its own."""
    sep = parse_separation(separation)
    if sep.kind not in ("softmax", "entmax"):
        raise ValueError(f"The mask-aware similarity supports softmax, sparsemax and entmax separations; "
                         f"got {separation!r}.")
    return HopfieldMemory(patterns, similarity=VisibleL2(torch.as_tensor(visible).bool().cpu()),
                          separation=separation, beta=beta, device=device, dtype=dtype)


def visible_groups(visible: torch.Tensor) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """Queries that share one visibility mask: [(mask (K,) bool, row indices (b,) int64)] for visible (B, K)."""
    masks, inverse = torch.unique(visible.bool().cpu(), dim=0, return_inverse=True)
    return [(masks[g], torch.nonzero(inverse == g).reshape(-1)) for g in range(masks.shape[0])]


__all__ = ["check_mask_aware", "mask_aware_memory", "masked_calibrated_beta", "masked_l2_scores",
           "pixel_mask_to_code", "visible_groups"]
