"""U-Hop: learned linear kernel for modern Hopfield retrieval (U-Hop paper, §2, Alg. 1).

U-Hop replaces the similarity of a modern Hopfield model by a learned kernel
K(u, v) = <W u, W v> (U-Hop eq. 2.1) and retrieves with
T_K(x) = Xi . Sep(beta K(Xi, x)) (U-Hop eq. 2.4). The kernel is learned in two stages (Alg. 1):

* Stage I: N plain gradient steps W <- W - gamma grad_W L_Phi(Xi) on the *separation loss*
  L_Phi(Xi; t) = log E_{u,v ~ Xi} exp(-t ||W u - W v||^2)      (U-Hop Def. 2.2)
  then normalise the rows of W (Alg. 1, line 4);
* Stage II: ordinary retrieval with the learned kernel (here: ``HopfieldMemory`` with a
  ``LinearKernel`` similarity, see :func:`uhop_memory`).

Choices the paper leaves open, made here and documented where they are used:

* **Self pairs.** The expectation over u, v ~ Xi draws u and v independently, so u = v happens with
  probability 1/N; those pairs contribute exp(0) = 1 each. We keep them by default
  (``include_self=True``, the paper's definition); they carry no gradient but bound the loss below
  by log(1/N). ``include_self=False`` averages over u != v only.
* **Pair sampling.** With ``pairs=None`` the loss is exact over all N^2 pairs when
  N <= ``EXACT_PAIRS_MAX_N``; above that, about ``DEFAULT_SAMPLED_PAIRS`` pairs are used per call:
  m = ceil(sqrt(pairs)) + 1 distinct random patterns and all m(m-1) ordered pairs among them
  (self pairs keep their exact weight 1/N). The log of a Monte-Carlo mean is a slightly biased
  estimate of L_Phi (Jensen), but its gradient points the same way on average; this is the
  stochastic ("SGD", App. F.2) version of Alg. 1 line 2.
* **Pattern normalisation.** App. D.2 derives l_Phi(u, v) = 2t <Phi u, Phi v> - 2t "with the output
  vector of Phi normalized", and App. E.3 "assumes normalized patterns". Raw pixel patterns have
  squared distances in the tens, where exp(-t d^2) underflows and Stage I gets no gradient. So
  ``fit_uhop_kernel(normalize_patterns=True)`` runs Stage I on the unit-norm patterns xi / ||xi||
  (the kernel is linear, so W learned on directions applies to the raw patterns unchanged);
  Stage II retrieves the raw patterns.
* **Initialisation.** W_0 has orthonormal columns (W_0^T W_0 = I): the identity when D_Phi = K, a
  seeded random semi-orthogonal matrix when D_Phi > K. It is full rank (U-Hop Assumption 2.1) and
  makes the untrained kernel exactly the dot product, so N = 0 iterations is the plain model.

The exact-retrieval condition (U-Hop eq. 2.6, Thm 2.2, App. E.3) is in
:func:`exact_retrieval_condition`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Callable

import numpy as np
import torch

from hen_demo.memory.hopfield import HopfieldMemory, as_patterns, check_beta
from hen_demo.memory.similarity import LinearKernel, PreparedSimilarity, safe_normalize

# Largest N for which pairs=None computes the loss over all N^2 pairs exactly (an (N, N) matrix).
# Above it, pairs=None samples: at N = 1000, K = D_Phi = 2048 an exact step takes ~1 s on 2 CPU
# cores, a sampled one (65,536 pairs on 257 patterns) ~0.1-0.3 s.
EXACT_PAIRS_MAX_N = 512
# Pairs drawn per loss evaluation when pairs=None and N > EXACT_PAIRS_MAX_N.
DEFAULT_SAMPLED_PAIRS = 65536


# ----------------------------------------------------------------------------- input checks


def _kernel_weight(W) -> torch.Tensor:
    """The (D_Phi, K) matrix of a LinearKernel, or W itself when a tensor/array is given."""
    if isinstance(W, np.ndarray):
        W = torch.from_numpy(W)
    if isinstance(W, torch.Tensor):
        return W
    for attr in ("W", "weight"):
        w = getattr(W, attr, None)
        if isinstance(w, torch.Tensor):
            return w
    raise ValueError(f"expected a (D_Phi, K) weight matrix or a LinearKernel, got {type(W).__name__}.")


# ----------------------------------------------------------------------------- separation loss


def separation_loss(
    W,
    patterns,
    t: float = 2.0,
    pairs: int | str | None = None,
    generator: torch.Generator | None = None,
    include_self: bool = True,
) -> torch.Tensor:
    """Average separation loss L_Phi(Xi; t) = log E_{u,v~Xi} exp(-t ||W u - W v||^2) (U-Hop Def. 2.2).

    Args:
        W: (D_Phi, K) feature map Phi(u) = W u (U-Hop eq. 2.1), or a LinearKernel. Gradients flow
            to W when it requires grad.
        patterns: (N, K) memories Xi, one per row.
        t: RBF scale t > 0 (the paper uses t = 2).
        pairs: None = exact over all pairs when N <= EXACT_PAIRS_MAX_N, else DEFAULT_SAMPLED_PAIRS
            sampled pairs; an int P = the u != v part estimated on m = ceil(sqrt(P)) + 1 random
            distinct patterns (all m(m-1) ordered pairs among them; exact once m reaches N);
            "all" = exact.
        generator: torch.Generator for the pattern sampling (reproducible losses).
        include_self: keep the u = v pairs of the i.i.d. expectation (paper's definition, default);
            False averages over u != v only (needs N >= 2).

    Returns:
        scalar tensor.
    """
    W = _kernel_weight(W)
    if W.ndim != 2:
        raise ValueError(f"W must be a (D_Phi, K) matrix, got shape {tuple(W.shape)}.")
    patterns = as_patterns(patterns, W.device, W.dtype)
    n, k = patterns.shape
    if W.shape[1] != k:
        raise ValueError(f"W has {W.shape[1]} columns but the patterns have K = {k} dimensions.")
    if not t > 0:
        raise ValueError(f"t must be > 0 (the RBF scale of U-Hop Def. 2.2), got {t}.")
    if not include_self and n < 2:
        raise ValueError("include_self=False needs at least 2 patterns (there are no pairs u != v).")
    if pairs is None:
        pairs = "all" if n <= EXACT_PAIRS_MAX_N else DEFAULT_SAMPLED_PAIRS
    if n == 1:  # only the self pair u = v: L = log 1 = 0 (kept connected to W for autograd)
        return (W * 0.0).sum()
    if pairs == "all":
        rows = patterns
    elif isinstance(pairs, bool) or not isinstance(pairs, (int, np.integer)) or pairs < 1:
        raise ValueError(f"pairs must be None, 'all' or a positive int, got {pairs!r}.")
    else:
        # m distinct random patterns and all m(m-1) ordered pairs among them: as many pairs as asked
        # for, at the cost of an (m, m) Gram matrix on m feature vectors (gathering P independent
        # pairs is ~5x slower on CPU because of the scattered backward).
        m = min(n, int(math.ceil(math.sqrt(int(pairs)))) + 1)
        idx = torch.randperm(n, generator=generator)[:m].to(patterns.device)
        rows = patterns[idx]  # (m, K)
    feats = rows @ W.T  # (m, D_Phi) = Phi(rows)
    m = feats.shape[0]
    sq = (feats * feats).sum(dim=1)  # (m,)
    d2 = (sq[:, None] + sq[None, :] - 2.0 * feats @ feats.T).clamp_min(0.0)  # (m, m)
    eye = torch.eye(m, dtype=torch.bool, device=feats.device)
    logits = (-t * d2).masked_fill(eye, float("-inf"))
    log_mean_other = torch.logsumexp(logits.reshape(-1), dim=0) - math.log(m * (m - 1))  # log E_{u != v}
    if not include_self:
        return log_mean_other
    # i.i.d. u, v ~ Xi: u = v with probability 1/N, contributing exp(0) = 1 (exact weight even when sampling)
    return torch.logaddexp(
        torch.tensor(-math.log(n), dtype=feats.dtype, device=feats.device),
        log_mean_other + math.log1p(-1.0 / n),
    )


# ----------------------------------------------------------------------------- Stage I


@dataclass
class UHopFit:
    """Result of U-Hop Stage I (Alg. 1, lines 1-4).

    kernel: LinearKernel holding the row-normalised W (what Stage II uses).
    loss_history: L_Phi before any step (entry 0) and after each of the N steps (length N + 1),
        evaluated on the patterns Stage I saw (unit-norm ones when normalize_patterns=True);
        Monte-Carlo estimates when pairs are sampled.
    W_initial: (D_Phi, K) W_0. W_trained: (D_Phi, K) W after Stage I, before row normalisation.
    W: (D_Phi, K) final, row-normalised W (same as kernel's matrix).
    loss_normalized: L_Phi of the row-normalised W (same estimator).
    """

    kernel: object
    loss_history: list[float]
    W_initial: torch.Tensor
    W_trained: torch.Tensor = None
    W: torch.Tensor = None
    loss_normalized: float = float("nan")
    t: float = 2.0
    lr: float = 1.0
    normalize_patterns: bool = True
    normalize_rows: bool = True
    settings: dict = field(default_factory=dict)


def initial_feature_map(k: int, d_phi: int | None = None, seed: int = 0, dtype=torch.float32) -> torch.Tensor:
    """W_0 (D_Phi, K) with orthonormal columns, W_0^T W_0 = I_K (full rank, U-Hop Assumption 2.1).

    D_Phi = K gives the identity; D_Phi > K a seeded random semi-orthogonal matrix (QR of a Gaussian).
    """
    d_phi = k if d_phi is None else int(d_phi)
    if d_phi < k:
        raise ValueError(
            f"d_phi = {d_phi} is smaller than the pattern dimension K = {k}; U-Hop needs D_Phi >= K "
            "so that W is full rank (Assumption 2.1)."
        )
    if d_phi == k:
        return torch.eye(k, dtype=dtype)
    g = torch.Generator().manual_seed(seed)
    q, r = torch.linalg.qr(torch.randn(d_phi, k, generator=g, dtype=torch.float64))  # (D_Phi, K)
    q = q * torch.sign(torch.diagonal(r))[None, :]  # unique QR, sign-fixed
    return q.to(dtype)


def fit_uhop_kernel(
    patterns,
    iterations: int = 100,
    lr: float = 1.0,
    t: float = 2.0,
    d_phi: int | None = None,
    pairs: int | str | None = None,
    seed: int = 0,
    callback: Callable[[int, float], None] | None = None,
    normalize_rows: bool = True,
    normalize_patterns: bool = True,
    include_self: bool = True,
    device=None,
) -> UHopFit:
    """U-Hop Stage I (Alg. 1, lines 1-4): learn the kernel W by gradient descent on L_Phi.

    Args:
        patterns: (N, K) memories Xi.
        iterations: N, the number of Stage I gradient steps (0 keeps W_0: the plain dot product).
        lr: step size gamma (paper: SGD with learning rate 1, App. F.2 Table 4).
        t: RBF scale of the separation loss (paper: t = 2).
        d_phi: feature dimension D_Phi (default K); must be >= K (Assumption 2.1).
        pairs: pair sampling of :func:`separation_loss` (None: exact when N <= EXACT_PAIRS_MAX_N).
        seed: seeds W_0 (when D_Phi > K) and the pair sampling.
        callback: called as callback(i, loss) for i = 0..iterations (i = 0 is the initial loss), so
            a UI can stream the curve.
        normalize_rows: apply Alg. 1 line 4 (unit-norm rows of W) at the end. Note: then
            trace(W^T W) = D_Phi, so with D_Phi > K the kernel's scale grows ~D_Phi / K relative to
            the dot product, like a larger beta (on sklearn digits, D_Phi = 2K or 4K retrieved worse).
        normalize_patterns: run Stage I on xi / ||xi|| (see module docstring, App. D.2).
        include_self: keep u = v pairs in the expectation (paper's definition).
        device: where to run Stage I (default: the patterns' device).

    Returns:
        UHopFit with kernel (LinearKernel of the final W), loss_history (N + 1 floats), W_initial.
    """
    if isinstance(iterations, bool) or not isinstance(iterations, (int, np.integer)) or iterations < 0:
        raise ValueError(f"iterations must be a non-negative int, got {iterations!r}.")
    if not (isinstance(lr, (int, float)) and math.isfinite(lr) and lr > 0):
        raise ValueError(f"lr (the Stage I step size gamma) must be a positive number, got {lr!r}.")
    if not (isinstance(t, (int, float)) and math.isfinite(t) and t > 0):
        raise ValueError(f"t must be a positive number (U-Hop Def. 2.2), got {t!r}.")
    if device is None and isinstance(patterns, torch.Tensor):
        device = patterns.device
    xi = as_patterns(patterns, device, torch.float32)  # (N, K)
    n, k = xi.shape
    if n < 2:
        raise ValueError("U-Hop Stage I needs at least 2 patterns to separate.")
    if normalize_patterns:
        norms = xi.norm(dim=1, keepdim=True)
        if (norms == 0).any():
            raise ValueError("a pattern is all zeros; it has no direction to normalise (use normalize_patterns=False).")
        xi = xi / norms
    W0 = initial_feature_map(k, d_phi, seed=seed).to(xi.device)  # (D_Phi, K)
    gen = torch.Generator().manual_seed(seed)

    W = W0.clone().requires_grad_(True)
    history: list[float] = []
    for i in range(iterations + 1):
        loss = separation_loss(W, xi, t=t, pairs=pairs, generator=gen, include_self=include_self)
        value = float(loss.detach())
        if not math.isfinite(value):
            raise ValueError(f"the separation loss became {value} at iteration {i}; lower lr.")
        history.append(value)
        if callback is not None:
            callback(i, value)
        if i == iterations:
            break
        (grad,) = torch.autograd.grad(loss, W)
        with torch.no_grad():
            W -= lr * grad  # Alg. 1 line 2
    W_trained = W.detach()
    W_final = safe_normalize(W_trained) if normalize_rows else W_trained.clone()  # Alg. 1 line 4: unit-norm rows
    with torch.no_grad():
        loss_norm = float(separation_loss(W_final, xi, t=t, pairs=pairs, generator=gen, include_self=include_self))
    return UHopFit(
        kernel=LinearKernel(W_final),
        loss_history=history,
        W_initial=W0,
        W_trained=W_trained,
        W=W_final,
        loss_normalized=loss_norm,
        t=float(t),
        lr=float(lr),
        normalize_patterns=normalize_patterns,
        normalize_rows=normalize_rows,
        settings=dict(iterations=int(iterations), d_phi=int(W0.shape[0]), pairs=pairs, seed=seed,
                      include_self=include_self),
    )


# ----------------------------------------------------------------------------- Stage II


def uhop_memory(patterns, fit: UHopFit, separation: str = "softmax", beta: float = 1.0, **kwargs):
    """U-Hop Stage II (Alg. 1, lines 5-8): a HopfieldMemory whose similarity is the learned kernel.

    Retrieval is T_K(x) = Xi . Sep(beta K(Xi, x)) with K(u, v) = <W u, W v> (U-Hop eq. 2.4).
    Extra keyword arguments (device, dtype) go to HopfieldMemory.
    """
    return HopfieldMemory(patterns, similarity=fit.kernel, separation=separation, beta=beta, **kwargs)


# ----------------------------------------------------------------------------- exact retrieval


def _self_similarity_matrix(patterns: torch.Tensor, similarity) -> torch.Tensor:
    """S (N, N) with S[nu, mu] = sim(xi_nu, xi_mu), in the patterns' dtype and device."""
    if not isinstance(similarity, str):
        similarity = LinearKernel(_kernel_weight(similarity))
    return PreparedSimilarity(similarity, patterns).scores(patterns).T  # scores (B=mu, N=nu) -> (nu, mu)


def exact_retrieval_condition(
    patterns, similarity="dot", beta: float = 1.0, alpha: float = 2.0
) -> tuple[torch.Tensor, torch.Tensor]:
    """Which memories are exact fixed points of alpha-entmax retrieval (U-Hop eq. 2.6, Thm 2.2, App. E.3).

    Memory mu is a fixed point, T(xi_mu) = xi_mu via Sep(beta K(Xi, xi_mu)) = e_mu (eq. 2.6), iff
    (App. E.3, eq. E.1 with theta = beta K(Xi, xi_mu); for alpha-entmax this is necessary and sufficient)

        margin_mu := beta * (K(xi_mu, xi_mu) - max_{nu != mu} K(xi_nu, xi_mu)) - 1 / (alpha - 1) >= 0.

    (Eq. 2.7 restates this in terms of l_Phi assuming normalised features; we use the kernel form,
    which needs no such assumption.) Softmax (alpha = 1) never gives a one-hot vector: margin = -inf.

    Args:
        patterns: (N, K) memories.
        similarity: "dot", a LinearKernel / (D_Phi, K) matrix W, or any similarity name
            HopfieldMemory accepts (e.g. "l2": scores -||xi - x||^2).
        beta: inverse temperature > 0.
        alpha: entmax order, 1 <= alpha <= 2 (2 = sparsemax, 1 = softmax).

    Returns:
        (holds (N,) bool, margin (N,) float64 tensor). With a single memory the condition holds
        trivially (margin = +inf).
    """
    beta = check_beta(beta)
    if not (isinstance(alpha, (int, float)) and 1.0 <= alpha <= 2.0):
        raise ValueError(f"alpha must be in [1, 2] (1 = softmax, 2 = sparsemax), got {alpha!r}.")
    xi = as_patterns(patterns, None, torch.float64)
    n = xi.shape[0]
    S = _self_similarity_matrix(xi, similarity).to(torch.float64)  # (nu, mu)
    if n == 1:
        margin = torch.full((1,), float("inf"), dtype=torch.float64)
        return torch.ones(1, dtype=torch.bool), margin
    own = torch.diagonal(S)  # (N,) K(xi_mu, xi_mu)
    others = S.masked_fill(torch.eye(n, dtype=torch.bool), float("-inf")).amax(dim=0)  # (N,) max over nu != mu
    gap = beta * (own - others)
    if alpha == 1.0:
        margin = torch.full_like(gap, float("-inf"))
    else:
        margin = gap - 1.0 / (alpha - 1.0)
    return margin >= 0, margin.cpu()
