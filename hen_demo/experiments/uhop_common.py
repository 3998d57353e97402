"""Shared setting of the U-Hop memory-retrieval experiments (U-Hop §4.1, App. F.2-F.3).

Memories are images flattened to vectors in [0, 1]: MNIST-like digits at 28x28 grey (K = 784) and
CIFAR-like colour images at 32x32x3 (K = 3,072). Every model does a *single* update step with beta = 1
(U-Hop App. F.2); the error is the sum of squared differences between the retrieved vector and the
ground-truth memory, averaged over all memories of the set. U-Hop's Stage I: SGD, lr 1, t = 2 (Table 4),
the loss on normalised Phi outputs without self pairs (App. D.2; ``hen_demo.memory.uhop``). The kernel is
fitted on the memories themselves, which is U-Hop's method; nothing is tuned on the digits, which serve as an
evaluation set here as in the paper.

Two query/scoring protocols (``PROTOCOLS``):

* "ours": queries from ``hen_demo.data.corruptions.corrupt`` (the app's corruptions): "mask-random" zeroes
  a random half of the entries; "noise" adds N(0, sigma) per entry and clips to [0, 1]. Error unclamped.
* "official": what the official U-Hop code does (MAGICS-LAB/UHop, memory_retrieval*.py). Its corruptions are
  not the app's, so they live here: ``torch.dropout(x, 0.5)`` (half the entries zeroed, the rest *doubled*),
  noise clamp(|x + N(0, sigma)|, 0, 1); the error is taken after clamping both vectors to [0, 1]; 20 seeds;
  for capacity the kernel is fitted on half of the memories (``fit_fraction`` 0.5); W_0 is Gaussian
  (``init="gaussian"``) and the step size decays as gamma / sqrt(i!) (``lr_schedule="official"``). We keep
  Alg. 1 line 4 (unit-norm rows of W) in both protocols; the official retrieval skips it.

Baselines (U-Hop §4.1): modern Hopfield (MHM: dot + softmax), sparse MHM, dense associative memory with a
10th-order polynomial (DAM poly-10), L2- and Manhattan-similarity MHM with the correct sign (similarity =
-distance, so the softmax favours the *nearest* memory), and "NN (L2)", the query's nearest memory, as the
ceiling of one-shot retrieval. ``PAPER_SIGN`` adds the L2 / Manhattan baselines as the official code computes
them: softmax(+distance), which favours the *farthest* memory. That is an error in the paper's code, kept
only to reproduce and explain the paper's ordering.

Two ways to set beta (``BETA_MODES``, issue 9's science rule):

* "absolute": one beta for every model, the paper's protocol (U-Hop App. F.2: beta = 1).
* "relative": the models' scores live on different scales (dot products, squared L2 and L1 distances, the
  kernel's feature dot products), so one absolute beta is sharper for some than for others. Each model then
  runs at ``beta_relative`` times its own calibrated beta, ``hen_demo.memory.calibrated_beta`` (beta = r C /
  median_n g_n with g_n the score gap of memory n to its runner-up; HEN eq. 2, U-Hop eq. 1.2), computed on the
  similarity it retrieves with (``CALIBRATION``; see ``model_beta``).
"""

from __future__ import annotations

from dataclasses import dataclass
from types import SimpleNamespace

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F

from hen_demo import metrics
from hen_demo.data import load_dataset
from hen_demo.data.corruptions import corrupt
from hen_demo.data.images import to_float_tensor
from hen_demo.memory import HopfieldMemory, calibrated_beta
from hen_demo.memory.calibration import check_relative
from hen_demo.memory.ties import correct_mask
from hen_demo.memory.uhop import fit_uhop_kernel

# model label -> (similarity, separation); "U-Hop" uses the learned kernel
BASELINES: dict[str, tuple[str, str]] = {
    "MHM": ("dot", "softmax"),
    "Sparse MHM": ("dot", "sparsemax"),
    "DAM poly-10": ("dot", "poly:10"),
    "L2 MHM": ("l2", "softmax"),
    "Manhattan MHM": ("manhattan", "softmax"),
}
NN = "NN (L2)"  # the nearest memory to the query: the one-shot ceiling
UHOP = "U-Hop"
# the official code's sign error: softmax(+distance) (Euclidean, not squared, for L2)
PAPER_SIGN: dict[str, str] = {"L2 MHM (paper sign)": "l2", "Manhattan MHM (paper sign)": "manhattan"}
ALL_MODELS = list(BASELINES) + [NN, UHOP] + list(PAPER_SIGN)
PROTOCOLS = ("ours", "official")
OFFICIAL_REPEATS = 20  # U-Hop App. F.2-F.3: "20 times for each baseline"

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
    if dataset not in VECTOR_DATASETS:
        raise ValueError(f"U-Hop experiments take one of {', '.join(VECTOR_DATASETS)}; got {dataset!r}.")
    _, side, grey = VECTOR_DATASETS[dataset]
    ds = load_dataset(dataset, n=n, seed=seed)
    x = to_float_tensor(ds.images)  # (n, 3, H, W)
    x = F.interpolate(x, size=(side, side), mode="bilinear", align_corners=False, antialias=True).clamp(0, 1)
    if grey:
        x = x.mean(1, keepdim=True)  # (n, 1, side, side)
    return x.reshape(len(x), -1).float()  # (n, K)


def check_protocol(protocol: str) -> str:
    if protocol not in PROTOCOLS:
        raise ValueError(f"protocol must be one of {', '.join(PROTOCOLS)}; got {protocol!r}.")
    return protocol


# ----------------------------------------------------------------------------- queries


def _corrupt_vectors(patterns: torch.Tensor, kind: str, amount: float, seed: int) -> torch.Tensor:
    """hen_demo.data.corruptions.corrupt on vectors (B, K): each entry is one 'pixel' of a (B, 3, 1, K) image
    whose three channels are equal, so every entry is masked / noised independently."""
    img = patterns[:, None, None, :].expand(-1, 3, 1, -1)  # (B, 3, 1, K)
    return corrupt(img, kind=kind, amount=amount, seed=seed)[:, 0, 0, :]  # (B, K)


def masked_queries(patterns: torch.Tensor, fraction: float = 0.5, seed: int = 0) -> torch.Tensor:
    """Each memory with a random ``fraction`` of its entries set to 0 (U-Hop §4.1: 50 % masked)."""
    return _corrupt_vectors(patterns, "mask-random", fraction, seed)


def dropout_queries(patterns: torch.Tensor, p: float = 0.5, seed: int = 0) -> torch.Tensor:
    """The official code's query, torch.dropout(x, p): entries zeroed with probability p, the rest x / (1 - p)
    (x 2 at p = 0.5). Not one of the app's corruptions, hence here."""
    if not 0.0 <= p < 1.0:
        raise ValueError(f"dropout probability must be in [0, 1); got {p}.")
    keep = torch.rand(patterns.shape, generator=torch.Generator().manual_seed(int(seed))) >= p  # (B, K)
    return patterns * keep / (1.0 - p)


def clamped_noise_queries(patterns: torch.Tensor, sigma: float, seed: int = 0) -> torch.Tensor:
    """The official code's noisy query clamp(|x + N(0, sigma)|, 0, 1) (the app's "noise" clips x + N instead)."""
    if not sigma >= 0:
        raise ValueError(f"noise sigma must be >= 0; got {sigma}.")
    noise = torch.randn(patterns.shape, generator=torch.Generator().manual_seed(int(seed))) * float(sigma)
    return (patterns + noise).abs().clamp(0.0, 1.0)


def capacity_queries(patterns: torch.Tensor, protocol: str, fraction: float = 0.5, seed: int = 0) -> torch.Tensor:
    """Half-hidden queries (U-Hop §4.1) under ``protocol``: app mask ("ours") or dropout x 2 ("official")."""
    if check_protocol(protocol) == "official":
        return dropout_queries(patterns, fraction, seed)
    return masked_queries(patterns, fraction, seed)


def noise_queries(patterns: torch.Tensor, level: float, protocol: str, seed: int = 0) -> torch.Tensor:
    """Noisy queries (U-Hop App. F.3), sigma = level: app noise, clipped ("ours") or clamp(|.|) ("official")."""
    if check_protocol(protocol) == "official":
        return clamped_noise_queries(patterns, level, seed)
    return _corrupt_vectors(patterns, "noise", level, seed)


# ----------------------------------------------------------------------------- models


class PaperSignMemory:
    """One step of softmax(beta * (+distance)) retrieval, the L2 / Manhattan baselines as the official code
    computes them (``functions.l2_distance`` / ``manhhatan_distance`` fed straight into the softmax): it favours
    the farthest memory. A reproduction of the paper's error, not a model to use."""

    def __init__(self, patterns: torch.Tensor, metric: str, beta: float = 1.0):
        if metric not in ("l2", "manhattan"):
            raise ValueError(f"metric must be 'l2' or 'manhattan'; got {metric!r}.")
        self.patterns, self.metric, self.beta = patterns.float(), metric, float(beta)

    def retrieve(self, queries: torch.Tensor, steps: int = 1, **_):
        x = queries.float()
        for _ in range(int(steps)):
            d = torch.cdist(x, self.patterns, p=2.0 if self.metric == "l2" else 1.0)  # (B, N) distances
            w = torch.softmax(self.beta * d, dim=1)  # + distance: the sign error
            x = w @ self.patterns
        return SimpleNamespace(states=x, weights=w)


class NearestMemory:
    """The query's L2-nearest memory (the ceiling of one-shot retrieval), as a retrieval result."""

    beta = float("nan")  # argmin: no beta

    def __init__(self, patterns: torch.Tensor):
        self.patterns = patterns.float()

    def retrieve(self, queries: torch.Tensor, **_):
        idx = torch.as_tensor(metrics.nearest_memory(queries, self.patterns))
        return SimpleNamespace(states=self.patterns[idx], weights=F.one_hot(idx, len(self.patterns)).float())


BETA_MODES = ("absolute", "relative")
# model -> the similarity whose calibration sets its beta in the "relative" mode (None: beta is not used)
CALIBRATION: dict[str, str | None] = {
    "MHM": "dot",
    "Sparse MHM": "dot",
    "DAM poly-10": None,  # poly weights are scale invariant: beta does not enter (see model_beta)
    "L2 MHM": "l2",
    "Manhattan MHM": "manhattan",
    NN: None,  # argmin, no beta
    UHOP: "kernel",  # the learned LinearKernel: dot on the features W xi (U-Hop eq. 2.1)
    "L2 MHM (paper sign)": "euclidean",  # calibrated as its correctly signed twin -||x - xi|| (unsquared)
    "Manhattan MHM (paper sign)": "manhattan",  # as its correctly signed twin -||x - xi||_1
}


def model_beta(model: str, patterns: torch.Tensor, beta: float = 1.0, fit=None,
               beta_relative: float | None = None) -> float:
    """The absolute beta ``model`` retrieves with: ``beta`` when ``beta_relative`` is None (the paper's
    protocol), else ``beta_relative * calibrated_beta(patterns, 1, CALIBRATION[model])``.

    The calibration (``hen_demo.memory.calibrated_beta``; HEN eq. 2, U-Hop eq. 1.2) fixes beta times the median
    gap g_n = sim(xi_n, xi_n) - max_{m != n} sim(xi_m, xi_n) between a memory's score and its runner-up's:
    "dot" for MHM and Sparse MHM (g_n = ||xi_n||^2 - max_m xi_m . xi_n), "l2" for L2 MHM (nearest-neighbour
    squared distance), "manhattan" for Manhattan MHM, and for U-Hop the learned kernel itself, i.e. the dot gaps
    of the features Phi(xi) = W xi (U-Hop eq. 2.1; a ``LinearKernel``). The paper-sign rows put +distance into
    the softmax, for which no gap exists (the sign is wrong); they get the beta of their correctly signed twin
    (Manhattan: "manhattan"; L2: "euclidean", the unsquared distance, whose gaps are the roots of the "l2"
    ones), so the error is shown at the sharpness the right sign would have.

    DAM poly-10 keeps the absolute ``beta`` in both modes: its weights p ∝ relu(xi . x)^(n-1) (Krotov & Hopfield
    2016; ``separation.poly_weights``) are invariant under scaling the scores, so beta never enters its update;
    calibrating it as dot would only change the number written in the table, not one retrieved value.
    NN (L2) has no beta (NaN).
    """
    if beta_relative is not None:
        r = check_relative(beta_relative)
        if model not in CALIBRATION:
            raise ValueError(f"unknown model {model!r}; choose from {', '.join(ALL_MODELS)}.")
        kind = CALIBRATION[model]
        if kind == "kernel" and fit is None:
            raise ValueError("U-Hop needs a fitted kernel (fit_uhop_kernel).")
        if kind is not None:
            return calibrated_beta(patterns, r, fit.kernel if kind == "kernel" else kind)
    return float("nan") if model == NN else float(beta)


def make_memory(model: str, patterns: torch.Tensor, beta: float = 1.0, fit=None, device=None,
                beta_relative: float | None = None):
    """The memory for ``model`` (a label of ``ALL_MODELS``; "U-Hop" needs ``fit`` from fit_uhop_kernel).

    ``beta_relative`` None: every model at the absolute ``beta`` (U-Hop App. F.2). Set: each model at
    ``beta_relative`` times its own calibrated beta (``model_beta``); the value used is ``memory.beta``."""
    if model not in ALL_MODELS:
        raise ValueError(f"unknown model {model!r}; choose from {', '.join(ALL_MODELS)}.")
    if model == UHOP and fit is None:
        raise ValueError("U-Hop needs a fitted kernel (fit_uhop_kernel).")
    if model == NN:
        return NearestMemory(patterns)
    b = model_beta(model, patterns, beta, fit, beta_relative)
    if model == UHOP:
        return HopfieldMemory(patterns, similarity=fit.kernel, separation="softmax", beta=b, device=device)
    if model in PAPER_SIGN:
        return PaperSignMemory(patterns, PAPER_SIGN[model], b)
    sim, sep = BASELINES[model]
    return HopfieldMemory(patterns, similarity=sim, separation=sep, beta=b, device=device)


def beta_runs(beta: float | None, beta_relatives) -> list[tuple[str, float | None]]:
    """[("absolute", None)] for the paper's beta (when ``beta`` is set) + [("relative", r)] per relative beta.
    A relative beta <= 0 or not finite is a ValueError."""
    rels = [] if beta_relatives is None else (list(beta_relatives) if isinstance(beta_relatives, (list, tuple))
                                              else [beta_relatives])
    out = [("absolute", None)] if beta is not None else []
    out += [("relative", check_relative(r)) for r in rels]
    if not out:
        raise ValueError("give an absolute beta, relative betas (beta_relatives), or both.")
    return out


def beta_label(mode: str, rel=None, beta: float | None = None) -> str:
    """How a beta setting reads in tables and plots: "β = 1 (absolute)" or "calibrated β × 1"."""
    if mode == "absolute":
        return "absolute β" if beta is None or beta != beta else f"β = {float(beta):g} (absolute)"
    return f"calibrated β × {float(rel):g}"


def with_beta_label(mean: pd.DataFrame) -> pd.DataFrame:
    """``mean`` with a column "β" naming each row's beta setting (absolute, or calibrated x relative)."""
    labels = [beta_label(m, r) for m, r in zip(mean.beta_mode, mean.beta_relative)]
    return mean.assign(**{"β": labels})


# ----------------------------------------------------------------------------- scores


@dataclass
class Scores:
    sse: float  # mean over queries of the sum of squared differences (U-Hop's metric)
    sse_std: float
    identity_accuracy: float
    metastable_fraction: float


def sum_squared_error(states: torch.Tensor, patterns: torch.Tensor, clamp: bool = False) -> np.ndarray:
    """(B,) sum of squared differences per query; ``clamp`` first clamps both to [0, 1] (official sqdiff)."""
    s, p = states.float().cpu(), patterns.float().cpu()
    if clamp:
        s, p = s.clamp(0, 1), p.clamp(0, 1)
    return ((s - p) ** 2).sum(1).numpy()


def one_step_scores(memory, patterns: torch.Tensor, queries: torch.Tensor, clamp: bool = False) -> Scores:
    """One update step from every query (all in one batched call); query i belongs to memory i."""
    out = memory.retrieve(queries, steps=1, tol=0.0, topk=1)
    sse = sum_squared_error(out.states, patterns, clamp)  # (B,)
    targets = np.arange(len(patterns))
    return Scores(sse=float(sse.mean()), sse_std=float(sse.std()),
                  identity_accuracy=metrics.identity_accuracy(out.states, patterns, targets),
                  metastable_fraction=metrics.metastable_fraction(out.weights))


def retrieval_scores(memory, queries: torch.Tensor, codes: torch.Tensor, steps: int):
    """(mean squared error to the target, identity accuracy, hits (B,) bool) for queries i -> memory i after
    ``steps`` updates (the U-Hop tab's before/after numbers)."""
    out = memory.retrieve(queries, steps=int(steps))
    targets = np.arange(queries.shape[0])
    err = float(((out.states.float().cpu() - codes[: queries.shape[0]].float()) ** 2).mean())
    nearest, tied = metrics.nearest_with_ties(out.states, codes)
    hits = correct_mask(nearest, tied, targets)  # a state as near to two memories retrieves neither
    return err, float(hits.mean()), hits


def fit_kernel(patterns: torch.Tensor, iterations: int, seed: int = 0, t: float = 2.0, lr: float = 1.0,
               protocol: str = "ours", fit_fraction: float | None = None, **kwargs):
    """U-Hop Stage I (Alg. 1) with the paper's settings (SGD, lr 1, t = 2) under ``protocol``: "official" starts
    from a Gaussian W and decays the step as the official code does; ``fit_fraction`` (default 1) is the share of
    memories Stage I sees."""
    official = check_protocol(protocol) == "official"
    return fit_uhop_kernel(patterns, iterations=iterations, lr=lr, t=t, seed=seed,
                           lr_schedule="official" if official else "constant",
                           init="gaussian" if official else "orthonormal",
                           fit_fraction=1.0 if fit_fraction is None else fit_fraction, **kwargs)


def stand_in(dataset: str) -> str:
    paper, side, grey = VECTOR_DATASETS[dataset]
    shape = f"{side}×{side}" + ("" if grey else "×3")
    if dataset in ("mnist", "cifar10"):
        return f"dataset `{dataset}`: the paper's own ({paper}), as {shape} vectors."
    return f"dataset `{dataset}` ({shape} vectors) stood in for {paper}."


SIGN_NOTE = (
    "With correctly signed L2 and Manhattan similarities (similarity = −distance) the simple baselines beat U-Hop "
    "here. The paper's comparison (its official code) put +distance into the softmax, which puts the weight on "
    "the *farthest* memory; the rows marked \"(paper sign)\" repeat that error, and wherever U-Hop falls below "
    "them the paper's ordering (U-Hop below L2/Manhattan) comes back (see the sentences above and the table). Digits are an evaluation set here, as MNIST is in the paper; nothing "
    "is tuned on them (U-Hop's kernel is fitted on the memories themselves, which is U-Hop's method)."
)


BETA_NOTE = (
    "β: every model at the paper's absolute β = 1 (U-Hop App. F.2), and beside it at calibrated β "
    "(`hen_demo.memory.calibrated_beta`, relative 1): each model at its own calibrated β, because dot products, "
    "squared L2 and L1 distances and the kernel's feature products have different scales. MHM and sparse MHM "
    "are calibrated on dot, L2 MHM on squared L2, Manhattan MHM on L1, U-Hop on its learned kernel (dot on the "
    "features W ξ); the paper-sign rows get the β of their correctly signed twin (L2: the unsquared Euclidean "
    "distance, as they use it; Manhattan: L1). DAM poly-10 stays at β = 1: its polynomial weights are scale "
    "invariant, so β never enters its update and its rows are the same in both modes. NN (L2) has no β."
)
