"""Retrieval metrics: image error, identity, metastability and separability.

HEN (§3.1) scores a retrieval by MSE and 1 - SSIM between the decoded retrieval and the
encoder's own reconstruction of the stored memory, and notes (footnote 1) that these track the
degeneracy of the recovered pattern matrix (its column rank). MSE alone hides mixtures (a blurry
average of similar memories can have a small MSE), so we also report identity accuracy (is the
retrieved state's nearest memory the right one) and metastability (how spread the retrieval
weights are). Separability statistics follow HEN Fig. 3 (cosine between queries and memories).

Image inputs: float tensors/arrays ``(B, 3, H, W)`` in [0, 1] or uint8 arrays ``(B, H, W, 3)``
(a single image without the batch axis is accepted too). Vectors: ``(B, K)``, ``(N, K)``.
SSIM comes from ``pytorch_msssim`` on torch tensors (any device, batched; Gaussian 11x11 window, sigma 1.5,
Wang et al. 2004), checked against scikit-image's ``structural_similarity`` with the same window in the tests.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from pytorch_msssim import ssim as _ssim

from hen_demo.memory.ties import correct_mask, nearest_of, winner_of_weights

__all__ = [
    "mse",
    "one_minus_ssim",
    "image_scores",
    "nearest_index",
    "verdict_from",
    "nearest_memory",
    "nearest_with_ties",
    "identity_accuracy",
    "effective_memories",
    "metastable_fraction",
    "rank_collapse",
    "separability",
    "SeparabilityStats",
    "RetrievalVerdict",
    "verdict",
]


# --------------------------------------------------------------------------------------------
# conversions (where bad input enters, it is refused with a sentence)
# --------------------------------------------------------------------------------------------
def _to_numpy(x) -> np.ndarray:
    if isinstance(x, torch.Tensor):
        return x.detach().cpu().numpy()
    return np.asarray(x)


def _images_hwc(x, name: str) -> np.ndarray:
    """Any supported image batch -> float64 numpy (B, H, W, 3) in [0, 1]."""
    a = _to_numpy(x)
    if a.ndim == 3:
        a = a[None]
    if a.ndim != 4:
        raise ValueError(f"{name} must be a batch of images (B, 3, H, W) or (B, H, W, 3); got shape {a.shape}.")
    if a.dtype == np.uint8:
        if a.shape[-1] not in (1, 3):
            raise ValueError(f"uint8 images in {name} must be channel-last (B, H, W, 3); got shape {a.shape}.")
        return a.astype(np.float64) / 255.0
    a = a.astype(np.float64)
    if a.shape[1] in (1, 3):  # float images are channel-first by contract, even when W happens to be 3
        a = np.transpose(a, (0, 2, 3, 1))  # (B, C, H, W) -> (B, H, W, C)
    elif a.shape[-1] not in (1, 3):
        raise ValueError(f"{name} has no colour axis of size 1 or 3; got shape {a.shape}.")
    if not np.all(np.isfinite(a)):
        raise ValueError(f"{name} contains NaN or infinite values.")
    return a


def _pair(a, b) -> tuple[np.ndarray, np.ndarray]:
    x, y = _images_hwc(a, "a"), _images_hwc(b, "b")
    if x.shape != y.shape:
        raise ValueError(
            f"the two image batches must have the same size to be compared; got {x.shape} and {y.shape} "
            "(as (B, H, W, C))."
        )
    return x, y


def _matrix(x, name: str) -> torch.Tensor:
    t = torch.as_tensor(_to_numpy(x), dtype=torch.float64) if not isinstance(x, torch.Tensor) else x.detach()
    t = t.to("cpu", torch.float64)
    if t.ndim == 1:
        t = t[None]
    if t.ndim != 2:
        raise ValueError(f"{name} must be a matrix (rows, K); got shape {tuple(t.shape)}.")
    return t


# --------------------------------------------------------------------------------------------
# image error (HEN §3.1 evaluation metrics)
# --------------------------------------------------------------------------------------------
def mse(a, b) -> np.ndarray:
    """Per-item mean squared error over pixels and channels, images scaled to [0, 1].

    Args:
        a, b: image batches, float (B, 3, H, W) in [0, 1] or uint8 (B, H, W, 3).
    Returns: numpy (B,) float64.
    """
    x, y = _pair(a, b)
    return ((x - y) ** 2).reshape(len(x), -1).mean(axis=1)


def _images_nchw(x, name: str, device) -> torch.Tensor:
    """Any supported image batch -> float32 tensor (B, C, H, W) in [0, 1] on ``device``."""
    if isinstance(x, torch.Tensor) and x.dtype != torch.uint8 and x.ndim == 4 and x.shape[1] in (1, 3):
        t = x.detach().to(device, torch.float32)
        if not torch.isfinite(t).all():
            raise ValueError(f"{name} contains NaN or infinite values.")
        return t
    a = _images_hwc(x, name)  # (B, H, W, C) float64
    return torch.from_numpy(np.ascontiguousarray(a.transpose(0, 3, 1, 2))).to(device, torch.float32)


SSIM_WIN = 11  # Gaussian window side (sigma 1.5); shrunk to the largest odd size that fits smaller images


def ssim_window(side: int) -> int:
    win = min(SSIM_WIN, side if side % 2 == 1 else side - 1)
    if win < 3:
        raise ValueError(f"images must be at least 3x3 pixels for SSIM; got a side of {side}.")
    return win


def image_scores(a, b, device=None) -> tuple[np.ndarray, np.ndarray]:
    """Per-item (MSE, 1 - SSIM) of two image batches, computed batched on ``device`` (default: CPU).

    Args:
        a, b: float (B, 3, H, W) in [0, 1] (tensor or array) or uint8 (B, H, W, 3).
    Returns: numpy (B,) float64 each. SSIM: ``pytorch_msssim.ssim`` (data_range 1, Gaussian window).
    """
    device = torch.device("cpu") if device is None else torch.device(device)
    x, y = _images_nchw(a, "a", device), _images_nchw(b, "b", device)
    if x.shape != y.shape:
        raise ValueError(f"the two image batches must have the same size to be compared; got {tuple(x.shape)} "
                         f"and {tuple(y.shape)} (as (B, C, H, W)).")
    if x.shape[0] == 0:
        return np.zeros(0), np.zeros(0)
    m = ((x - y) ** 2).flatten(1).mean(1)  # (B,)
    win = ssim_window(min(x.shape[2], x.shape[3]))
    out = []
    for i in range(0, x.shape[0], 1024):  # bounds the (b, C, H, W) filter buffers
        out.append(_ssim(x[i : i + 1024], y[i : i + 1024], data_range=1.0, size_average=False, win_size=win))
    s = torch.cat(out)  # (B,)
    return m.double().cpu().numpy(), (1.0 - s).double().cpu().numpy()


def one_minus_ssim(a, b, device=None) -> np.ndarray:
    """Per-item 1 - SSIM (``pytorch_msssim``, data_range 1, Gaussian 11x11 window, sigma 1.5, colour channels
    averaged; the window shrinks to the largest odd size that fits images smaller than 11 px).

    Returns: numpy (B,) float64; 0 for identical images.
    """
    return image_scores(a, b, device)[1]


# --------------------------------------------------------------------------------------------
# identity and metastability
# --------------------------------------------------------------------------------------------
def nearest_memory(states, patterns, chunk: int = 4096) -> np.ndarray:
    """Index of the nearest stored pattern (Euclidean) for each state; ties (``memory.ties``): the lowest index.

    Uses ||s - xi||^2 = ||s||^2 - 2 s.xi + ||xi||^2 (faster than cdist), chunked over states.
    Args: states (B, K), patterns (N, K). Returns numpy (B,) int64.
    """
    return nearest_with_ties(states, patterns, chunk)[0]


def nearest_with_ties(states, patterns, chunk: int = 4096) -> tuple[np.ndarray, np.ndarray]:
    """(nearest (B,) int64, tied (B,) bool) numpy arrays: :func:`nearest_memory` and whether another memory is
    as near (within ``memory.ties.DIST_TIE_RTOL``): a state halfway between two memories retrieves neither."""
    s, p = _matrix(states, "states"), _matrix(patterns, "patterns")
    if s.shape[1] != p.shape[1]:
        raise ValueError(f"states have {s.shape[1]} dimensions but patterns have {p.shape[1]}.")
    if s.shape[0] * p.shape[0] * p.shape[1] > 1e9:  # large banks: float32 matmul (4-8x faster)
        s, p = s.float(), p.float()
    p_sq = (p * p).sum(1)  # (N,)
    parts = [nearest_of(s[i : i + chunk], p, p_sq) for i in range(0, len(s), chunk)]
    if not parts:
        return np.zeros(0, np.int64), np.zeros(0, bool)
    return (torch.cat([a for a, _ in parts]).numpy().astype(np.int64),
            torch.cat([b for _, b in parts]).numpy().astype(bool))


def nearest_index(states: torch.Tensor, patterns: torch.Tensor, chunk: int = 4096,
                  with_ties: bool = False):
    """argmin_n ||s - xi_n||^2 for states (B, K) against patterns (N, K), on the patterns' device: (B,) int64.

    Torch only (no CPU round trip), in row chunks; ties (``memory.ties.nearest_of``): the lowest index.
    with_ties: also return (B,) bool, True where another memory is as near (the query retrieves neither).
    """
    if states.ndim != 2 or patterns.ndim != 2 or states.shape[1] != patterns.shape[1]:
        raise ValueError(f"states (B, K) and patterns (N, K) must share K; got {tuple(states.shape)} and "
                         f"{tuple(patterns.shape)}.")
    s = states.to(patterns.device, patterns.dtype)
    p_sq = (patterns * patterns).sum(1)  # (N,)
    parts = [nearest_of(s[i : i + chunk], patterns, p_sq) for i in range(0, s.shape[0], chunk)]
    if parts:
        idx, tied = torch.cat([a for a, _ in parts]), torch.cat([b for _, b in parts])
    else:
        idx = torch.zeros(0, dtype=torch.long, device=patterns.device)
        tied = torch.zeros(0, dtype=torch.bool, device=patterns.device)
    return (idx, tied) if with_ties else idx


def identity_accuracy(states, patterns, targets) -> float:
    """Fraction of states whose nearest stored pattern (L2) is the intended one (targets (B,) int)."""
    t = _to_numpy(targets).astype(np.int64).reshape(-1)
    nm, tied = nearest_with_ties(states, patterns)  # a state as near to two memories retrieves neither
    if len(t) != len(nm):
        raise ValueError(f"got {len(nm)} states but {len(t)} targets.")
    return float(correct_mask(nm, tied, t).mean()) if len(t) else float("nan")


def _probabilities(weights) -> np.ndarray:
    """Rows of retrieval weights -> nonnegative rows summing to 1 (poly separations may be unnormalised)."""
    w = np.abs(_to_numpy(weights).astype(np.float64))
    if w.ndim == 1:
        w = w[None]
    if w.ndim != 2:
        raise ValueError(f"weights must be (B, N); got shape {w.shape}.")
    total = w.sum(1, keepdims=True)
    total[total == 0] = 1.0
    return w / total


def effective_memories(weights) -> np.ndarray:
    """Participation ratio 1 / sum_n p_n^2 per query: 1 for a clean retrieval, k for an even k-mixture.

    weights (B, N) (rows renormalised to sum 1). Returns numpy (B,).
    """
    p = _probabilities(weights)
    return 1.0 / np.maximum((p**2).sum(1), 1e-300)


def metastable_fraction(weights, threshold: float = 0.9) -> float:
    """Fraction of queries whose largest retrieval weight is below ``threshold`` (a mixture state)."""
    if not 0.0 < threshold <= 1.0:
        raise ValueError(f"threshold must be in (0, 1]; got {threshold}.")
    p = _probabilities(weights)
    return float((p.max(1) < threshold).mean()) if len(p) else float("nan")


def _rank(m: torch.Tensor, tol: float | None) -> int:
    if m.numel() == 0:
        return 0
    sv = torch.linalg.svdvals(m)
    cutoff = tol if tol is not None else 1e-3 * float(sv[0])
    return int((sv > cutoff).sum())


def rank_collapse(states, tol: float | None = None, reference=None) -> float:
    """Relative reduction of the column rank of the recovered pattern matrix (HEN footnote 1, §3.1).

    HEN checks degeneracy of the recovered matrix S^(T_f) (the B retrieved states as columns): when
    many queries fall into the same metastable mixture, their states coincide and the rank drops.
    Returns ``1 - rank(S) / rank(reference)`` clipped to [0, 1]: 0 = as many independent states as
    distinct targets, 1 = everything collapsed onto one state. ``reference`` (M, K) is the matrix the
    retrievals should reproduce (e.g. the target memories); without it the denominator is min(B, K).
    ``tol``: singular values above it count; default 1e-3 x the largest singular value of each matrix
    (float32 retrievals of one mixture differ by ~1e-6, so they count as one).
    """
    s = _matrix(states, "states")
    r = _rank(s, tol)
    if reference is None:
        denom = min(s.shape)
    else:
        ref = _matrix(reference, "reference")
        denom = _rank(ref, tol)
    if denom == 0:
        return float("nan")
    return float(np.clip(1.0 - r / denom, 0.0, 1.0))


# --------------------------------------------------------------------------------------------
# separability (HEN Fig. 3)
# --------------------------------------------------------------------------------------------
@dataclass
class SeparabilityStats:
    """Cosine similarities between queries and memories (HEN Fig. 3).

    self_cos: (B,) cos(query_i, memory_{target_i}); cross_cos: (M,) cos(query_i, memory_j), j != target_i
    (all pairs when few, else a uniform random sample); overlap: overlap coefficient of the two
    normalised histograms (sum of bin-wise minima, 0 = disjoint, 1 = identical); d_prime: (mean_self -
    mean_cross) / sqrt((var_self + var_cross) / 2); margin_fraction: fraction of queries closer (cosine)
    to their own memory than to every other memory.
    """

    self_cos: np.ndarray
    cross_cos: np.ndarray
    overlap: float
    d_prime: float
    margin_fraction: float


def _unit_rows(m: torch.Tensor) -> torch.Tensor:
    return m / m.norm(dim=1, keepdim=True).clamp_min(1e-12)


def separability(queries, patterns, targets, max_cross: int = 200_000, bins: int = 100, seed: int = 0,
                 chunk: int = 2048) -> SeparabilityStats:
    """Self- vs cross-cosine statistics of encoded queries against stored memories (HEN Fig. 3).

    Args:
        queries (B, K), patterns (N, K), targets (B,) int: memory each query belongs to.
        max_cross: at most this many cross pairs are kept (uniform sample, fixed ``seed``).
        bins: histogram bins on [-1, 1] for the overlap coefficient.
    """
    q, p = _unit_rows(_matrix(queries, "queries")), _unit_rows(_matrix(patterns, "patterns"))
    t = torch.as_tensor(_to_numpy(targets).astype(np.int64).reshape(-1))
    B, N = q.shape[0], p.shape[0]
    if q.shape[1] != p.shape[1]:
        raise ValueError(f"queries have {q.shape[1]} dimensions but patterns have {p.shape[1]}.")
    if len(t) != B:
        raise ValueError(f"got {B} queries but {len(t)} targets.")
    if B == 0 or N < 2:
        raise ValueError("separability needs at least one query and two memories.")
    if int(t.min()) < 0 or int(t.max()) >= N:
        raise ValueError(f"targets must index the {N} memories.")
    self_cos = (q * p[t]).sum(1)  # (B,)
    n_cross = B * (N - 1)
    rng = np.random.default_rng(seed)
    keep = None if n_cross <= max_cross else max_cross / n_cross
    cross_parts, wins = [], 0
    for i in range(0, B, chunk):
        c = q[i : i + chunk] @ p.T  # (b, N)
        rows = torch.arange(c.shape[0])
        own = c[rows, t[i : i + chunk]].clone()
        c[rows, t[i : i + chunk]] = -np.inf
        wins += int((own > c.max(1).values).sum())
        flat = c[torch.isfinite(c)].numpy()  # (b * (N-1),)
        if keep is not None:
            flat = flat[rng.random(len(flat)) < keep]
        cross_parts.append(flat)
    cross = np.concatenate(cross_parts)
    s = self_cos.numpy()
    edges = np.linspace(-1.0, 1.0, bins + 1)
    hs = np.histogram(np.clip(s, -1, 1), edges)[0] / len(s)
    hc = np.histogram(np.clip(cross, -1, 1), edges)[0] / max(len(cross), 1)
    overlap = float(np.minimum(hs, hc).sum())
    pooled = np.sqrt(0.5 * (s.var() + cross.var()))
    d_prime = float((s.mean() - cross.mean()) / pooled) if pooled > 0 else float("inf")
    return SeparabilityStats(self_cos=s, cross_cos=cross, overlap=overlap, d_prime=d_prime,
                             margin_fraction=wins / B)


# --------------------------------------------------------------------------------------------
# one retrieval in plain words (for the UI)
# --------------------------------------------------------------------------------------------
@dataclass
class RetrievalVerdict:
    """What one retrieval did, in plain words.

    kind: "retrieved" (one memory holds >= threshold of the weight and it is the target, or no
    target was given), "metastable" (no memory reaches the threshold: a mixture), "wrong" (a single
    memory dominates but it is not the target). k: memories with weight > 0.05. top_index / top_weight:
    the dominant memory and its weight.
    """

    kind: str
    k: int
    text: str
    top_index: int
    top_weight: float


def verdict_from(top_index: int, top_weight: float, n_above: int, n_eff: float, target: int | None = None,
                 threshold: float = 0.9, tied: bool = False) -> RetrievalVerdict:
    """Classify one retrieval from the statistics of its final weights (computed on the device, see
    ``hen_demo.memory.hopfield.weight_stats``): the winner, its weight, how many weights exceed 5 %,
    1 / sum p^2 and whether another memory ties with the winner (``memory.ties``). The ONE definition of
    success: correct = (winner == target) and not tied; "retrieved" = correct and the winner holds >= threshold;
    "wrong" = not correct and it holds >= threshold; else "metastable" (a tie is always a mixture)."""
    if not 0.0 < threshold <= 1.0:
        raise ValueError(f"threshold must be in (0, 1]; got {threshold}.")
    top, w, k = int(top_index), float(top_weight), int(n_above)
    if w < threshold or tied:
        kind = "metastable"
        # when the weight is spread so thin that no memory reaches 5 %, count with 1/sum p^2 instead
        k = max(k, 2, int(round(float(n_eff))))
        if tied:
            text = (f"Metastable: the state is a mixture of about {k} memories; #{top} and at least one other "
                    f"memory hold equal weight ({w:.0%} each), so it retrieves none of them.")
        else:
            text = (f"Metastable: the state is a mixture of about {k} memories; the strongest, #{top}, "
                    f"holds only {w:.0%} of the weight.")
        if target is not None and top != target and not tied:
            text += f" The intended memory #{target} is not even the strongest."
    elif target is not None and top != target:
        kind = "wrong"
        text = f"Wrong memory: the state settled on #{top} ({w:.0%} of the weight) instead of #{target}."
    else:
        kind = "retrieved"
        text = f"Retrieved memory #{top}: it holds {w:.0%} of the weight."
    return RetrievalVerdict(kind=kind, k=k, text=text, top_index=top, top_weight=w)


def verdict(weights, target: int | None = None, threshold: float = 0.9) -> RetrievalVerdict:
    """Classify one retrieval from its final weights (1, N) or (N,) (see :func:`verdict_from`)."""
    p = _probabilities(weights)
    if p.shape[0] != 1:
        raise ValueError(f"verdict takes the weights of one query; got {p.shape[0]} rows.")
    p = p[0]
    top, tied = (int(v[0]) for v in winner_of_weights(torch.as_tensor(p)[None]))
    return verdict_from(top, float(p[top]), int((p > 0.05).sum()), float(effective_memories(p)[0]), target,
                        threshold, tied=bool(tied))
