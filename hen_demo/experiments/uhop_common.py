"""Shared setting of the U-Hop memory-retrieval experiments (U-Hop §4.1, App. F.2-F.3).

Memories are images flattened to vectors in [0, 1]: MNIST-like digits at 28x28 grey (K = 784) and
CIFAR-like colour images at 32x32x3 (K = 3,072). A query is a memory with 50 % of its entries zeroed
(capacity) or with Gaussian noise added (noise robustness). Every model does a *single* update step with
beta = 1 (U-Hop App. F.2), and the error is the sum of squared differences between the retrieved vector and
the ground-truth memory, averaged over all memories of the set (U-Hop "Setting and Metrics"). U-Hop's
Stage I uses SGD with learning rate 1 and t = 2 (App. F, Table 4).

Baselines (U-Hop §4.1): modern Hopfield (MHM: dot + softmax), sparse MHM (dot + sparsemax), dense
associative memory with a 10th-order polynomial (poly:10), L2- and Manhattan-similarity MHM, and U-Hop
(learned kernel + softmax).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from hen_demo import metrics

# model label -> (similarity, separation); "U-Hop" uses the learned kernel
BASELINES: dict[str, tuple[str, str]] = {
    "MHM": ("dot", "softmax"),
    "Sparse MHM": ("dot", "sparsemax"),
    "DAM poly-10": ("dot", "poly:10"),
    "L2 MHM": ("l2", "softmax"),
    "Manhattan MHM": ("manhattan", "softmax"),
}
UHOP = "U-Hop"
ALL_MODELS = list(BASELINES) + [UHOP]

# dataset -> (what it stands for, side, grey)
VECTOR_DATASETS = {
    "digits": ("MNIST", 28, True),
    "mnist": ("MNIST", 28, True),
    "tiles": ("CIFAR-10", 32, False),
    "faces": ("CIFAR-10", 32, False),
    "cifar10": ("CIFAR-10", 32, False),
    "photos": ("CIFAR-10", 32, False),
}


def load_vectors(dataset: str, n: int, seed: int = 0) -> torch.Tensor:
    """n images of ``dataset`` as vectors (n, K) in [0, 1] (28x28 grey for digit sets, else 32x32x3)."""
    from hen_demo.data import load_dataset
    from hen_demo.data.images import to_float_tensor

    if dataset not in VECTOR_DATASETS:
        raise ValueError(f"U-Hop experiments take one of {', '.join(VECTOR_DATASETS)}; got {dataset!r}.")
    _, side, grey = VECTOR_DATASETS[dataset]
    ds = load_dataset(dataset, n=n, seed=seed)
    x = to_float_tensor(ds.images)  # (n, 3, H, W)
    x = F.interpolate(x, size=(side, side), mode="bilinear", align_corners=False, antialias=True).clamp(0, 1)
    if grey:
        x = x.mean(1, keepdim=True)  # (n, 1, side, side)
    return x.reshape(len(x), -1).float()  # (n, K)


def masked_queries(patterns: torch.Tensor, fraction: float = 0.5, seed: int = 0) -> torch.Tensor:
    """Each memory with a random ``fraction`` of its entries set to 0 (U-Hop §4.1: 50 % masked)."""
    g = torch.Generator().manual_seed(seed)
    keep = torch.rand(patterns.shape, generator=g) >= fraction
    return patterns * keep


def noisy_queries(patterns: torch.Tensor, level: float, seed: int = 0) -> torch.Tensor:
    """Each memory plus Gaussian noise whose norm is ``level`` x the memory's norm (U-Hop App. F.3 rescales
    the noise norm by the noise level; relative to the memory's norm so levels mean the same on both sets)."""
    g = torch.Generator().manual_seed(seed)
    noise = torch.randn(patterns.shape, generator=g)
    noise = noise / noise.norm(dim=1, keepdim=True).clamp_min(1e-12)
    return patterns + level * patterns.norm(dim=1, keepdim=True) * noise


@dataclass
class Scores:
    sse: float  # mean over queries of the sum of squared differences (U-Hop's metric)
    sse_std: float
    identity_accuracy: float
    metastable_fraction: float


def make_memory(model: str, patterns: torch.Tensor, beta: float = 1.0, fit=None, device=None):
    """The memory for ``model`` (a BASELINES label or "U-Hop" with ``fit`` from fit_uhop_kernel)."""
    from hen_demo.memory import HopfieldMemory

    if model == UHOP:
        if fit is None:
            raise ValueError("U-Hop needs a fitted kernel (fit_uhop_kernel).")
        return HopfieldMemory(patterns, similarity=fit.kernel, separation="softmax", beta=beta, device=device)
    if model not in BASELINES:
        raise ValueError(f"unknown model {model!r}; choose from {', '.join(ALL_MODELS)}.")
    sim, sep = BASELINES[model]
    return HopfieldMemory(patterns, similarity=sim, separation=sep, beta=beta, device=device)


def one_step_scores(memory, patterns: torch.Tensor, queries: torch.Tensor) -> Scores:
    """One update step from every query (all in one batched call); query i belongs to memory i."""
    out = memory.retrieve(queries, steps=1, tol=0.0, topk=1)
    sse = ((out.states - patterns) ** 2).sum(1).numpy()  # (B,)
    targets = np.arange(len(patterns))
    return Scores(sse=float(sse.mean()), sse_std=float(sse.std()),
                  identity_accuracy=metrics.identity_accuracy(out.states, patterns, targets),
                  metastable_fraction=metrics.metastable_fraction(out.weights))


def fit_kernel(patterns: torch.Tensor, iterations: int, seed: int = 0, t: float = 2.0, lr: float = 1.0):
    """U-Hop Stage I (Alg. 1) with the paper's settings (SGD, lr 1, t = 2)."""
    from hen_demo.memory.uhop import fit_uhop_kernel

    return fit_uhop_kernel(patterns, iterations=iterations, lr=lr, t=t, seed=seed)


def stand_in(dataset: str) -> str:
    paper, side, grey = VECTOR_DATASETS[dataset]
    shape = f"{side}×{side}" + ("" if grey else "×3")
    if dataset in ("mnist", "cifar10"):
        return f"dataset `{dataset}`: the paper's own ({paper}), as {shape} vectors."
    return f"dataset `{dataset}` ({shape} vectors) stood in for {paper}."
