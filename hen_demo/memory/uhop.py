"""U-Hop: learned linear kernel for modern Hopfield retrieval (U-Hop paper, §2, Alg. 1).

U-Hop replaces the similarity of a modern Hopfield model by a learned kernel
K(u, v) = <W u, W v> (U-Hop eq. 2.1) and retrieves with
T_K(x) = Xi . Sep(beta K(Xi, x)) (U-Hop eq. 2.4). The kernel is learned in two stages (Alg. 1):

* Stage I: N gradient steps W <- W - gamma_i grad_W L_Phi(Xi) on the *separation loss*
  L_Phi(Xi; t) = log E_{u,v ~ Xi} exp(-t ||Phi(u) - Phi(v)||^2)      (U-Hop Def. 2.2)
  then normalise the rows of W (Alg. 1, line 4);
* Stage II: ordinary retrieval with the learned kernel (``HopfieldMemory`` with a ``LinearKernel``
  similarity, see :func:`uhop_memory`).

Choices, each an argument, with the default first:

* **Normalised features** (``normalize_features=True``). App. D.2 evaluates the loss "with the output
  vector of Phi normalized": Phi(u) = W u / ||W u||, so ||Phi(u) - Phi(v)||^2 = 2 - 2 cos and
  l_Phi = 2t <Phi u, Phi v> - 2t (eq. D.4); the official code does the same. ``False`` is Def. 2.2 on the
  raw features W u: on raw [0, 1] pixels the squared distances are in the tens, exp(-t d^2) underflows and
  Stage I gets almost no gradient (kept because the test of Def. 2.2 itself pins it).
* **Self pairs** (``include_self=False``). The official loss averages over pairs u != v (``torch.pdist``);
  so do we by default. ``True`` keeps the u = v pairs of an i.i.d. draw (weight 1/N, value exp(0) = 1):
  they carry no gradient and floor the loss at log(1/N).
* **Step size** (``lr_schedule``): "constant" gamma (Alg. 1 as written, Table 4: SGD, lr 1);
  "inv-sqrt" gamma / sqrt(i + 1); "official": the official code divides the step by sqrt(i + 1) after
  every step *cumulatively*, gamma_i = gamma / sqrt(i!), so Stage I all but stops after ~10 steps.
* **Fit subset** (``fit_fraction``): the official memory-capacity script fits the kernel on half of the
  memories and retrieves all of them.
* **Early stopping** (``holdout``): the one-step retrieval error of held-out corrupted queries is tracked
  during Stage I and the W with the lowest one is kept (stopping after ``patience`` evaluations without a
  better one). The paper has no such rule; it makes the rise of the error after a few steps visible.
* **Pair sampling.** With ``pairs=None`` the loss is exact over all pairs when N <= ``EXACT_PAIRS_MAX_N``;
  above that about ``DEFAULT_SAMPLED_PAIRS`` pairs per call (all ordered pairs among m random patterns),
  the stochastic ("SGD", App. F.2) version of Alg. 1 line 2.
* **Initialisation.** W_0 has orthonormal columns (W_0^T W_0 = I): the identity when D_Phi = K. It is full
  rank (Assumption 2.1) and makes the untrained kernel exactly the dot product, so N = 0 is the plain
  model. (The official code starts from a Gaussian W; the paper does not say.)

The exact-retrieval condition (U-Hop eq. 2.6, Thm 2.2, App. E.3) is in :func:`exact_retrieval_condition`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Callable

import numpy as np
import torch

from hen_demo.memory.hopfield import HopfieldMemory, as_patterns, check_beta
from hen_demo.memory.similarity import LinearKernel, PreparedSimilarity, safe_normalize

# Largest N for which pairs=None computes the loss over all pairs exactly (an (N, N) matrix).
EXACT_PAIRS_MAX_N = 512
# Pairs drawn per loss evaluation when pairs=None and N > EXACT_PAIRS_MAX_N.
DEFAULT_SAMPLED_PAIRS = 65536
LR_SCHEDULES = ("constant", "inv-sqrt", "official")


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
    include_self: bool = False,
    normalize_features: bool = True,
) -> torch.Tensor:
    """Average separation loss L_Phi(Xi; t) = log E_{u,v~Xi} exp(-t ||Phi(u) - Phi(v)||^2) (U-Hop Def. 2.2).

    Args:
        W: (D_Phi, K) feature map W (U-Hop eq. 2.1), or a LinearKernel. Gradients flow to W.
        patterns: (N, K) memories Xi, one per row.
        t: RBF scale t > 0 (the paper uses t = 2).
        pairs: None = exact over all pairs when N <= EXACT_PAIRS_MAX_N, else DEFAULT_SAMPLED_PAIRS
            sampled pairs; an int P = the u != v part estimated on m = ceil(sqrt(P)) + 1 random
            distinct patterns (all m(m-1) ordered pairs among them); "all" = exact.
        generator: torch.Generator for the pattern sampling (reproducible losses).
        include_self: keep the u = v pairs of an i.i.d. draw (weight 1/N each); default: u != v only,
            as the official code.
        normalize_features: Phi(u) = W u / ||W u|| (App. D.2, default); False uses W u as it is.

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
        # m distinct random patterns and all m(m-1) ordered pairs among them (an (m, m) Gram matrix is
        # ~5x faster on CPU than gathering P independent pairs, because of the scattered backward)
        m = min(n, int(math.ceil(math.sqrt(int(pairs)))) + 1)
        idx = torch.randperm(n, generator=generator)[:m].to(patterns.device)
        rows = patterns[idx]  # (m, K)
    feats = rows @ W.T  # (m, D_Phi) W u
    if normalize_features:
        feats = safe_normalize(feats)  # App. D.2: unit-norm Phi(u)
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

    kernel: LinearKernel holding the final W (what Stage II uses).
    loss_history: L_Phi before any step (entry 0) and after each step run, on the fit memories.
    W_initial: (D_Phi, K) W_0. W_trained: (D_Phi, K) the chosen W before row normalisation.
    W: (D_Phi, K) final, row-normalised W (same as kernel's matrix).
    loss_normalized: L_Phi of the row-normalised W.
    snapshots: {i: final-form W after i steps} for the requested ``snapshot_at`` (equal to fitting
        from scratch for i steps). holdout_history: [(i, held-out one-step error)] when early stopping.
    best_iteration: the step count whose W was kept (= steps run without a holdout).
    fit_indices: (n_fit,) which memories Stage I saw.
    """

    kernel: object
    loss_history: list[float]
    W_initial: torch.Tensor
    W_trained: torch.Tensor = None
    W: torch.Tensor = None
    loss_normalized: float = float("nan")
    t: float = 2.0
    lr: float = 1.0
    normalize_rows: bool = True
    snapshots: dict = field(default_factory=dict)
    holdout_history: list = field(default_factory=list)
    best_iteration: int = 0
    fit_indices: torch.Tensor = None
    settings: dict = field(default_factory=dict)


def initial_feature_map(k: int, d_phi: int | None = None, seed: int = 0, dtype=torch.float32,
                        init: str = "orthonormal") -> torch.Tensor:
    """W_0 (D_Phi, K), full rank (U-Hop Assumption 2.1).

    init "orthonormal": orthonormal columns, W_0^T W_0 = I_K; D_Phi = K gives the identity, D_Phi > K a seeded
    random semi-orthogonal matrix (QR of a Gaussian). init "gaussian": seeded N(0, 1) entries, as the official
    code (``torch.randn(d, d)``); rows of norm ~ sqrt(K), which on the scale-free normalised-feature loss divides
    the effective step size by ~K compared with the identity.
    """
    d_phi = k if d_phi is None else int(d_phi)
    if d_phi < k:
        raise ValueError(
            f"d_phi = {d_phi} is smaller than the pattern dimension K = {k}; U-Hop needs D_Phi >= K "
            "so that W is full rank (Assumption 2.1)."
        )
    if init not in ("orthonormal", "gaussian"):
        raise ValueError(f"init must be 'orthonormal' or 'gaussian'; got {init!r}.")
    g = torch.Generator().manual_seed(seed)
    if init == "gaussian":
        return torch.randn(d_phi, k, generator=g, dtype=torch.float64).to(dtype)
    if d_phi == k:
        return torch.eye(k, dtype=dtype)
    q, r = torch.linalg.qr(torch.randn(d_phi, k, generator=g, dtype=torch.float64))  # (D_Phi, K)
    q = q * torch.sign(torch.diagonal(r))[None, :]  # unique QR, sign-fixed
    return q.to(dtype)


def step_size(lr: float, schedule: str, i: int) -> float:
    """gamma_i, the step size of Stage I step i = 0, 1, ... under ``schedule`` (see the module docstring)."""
    if schedule == "constant":
        return float(lr)
    if schedule == "inv-sqrt":
        return float(lr) / math.sqrt(i + 1)
    if schedule == "official":  # gamma_0 = gamma, gamma_i = gamma_{i-1} / sqrt(i): gamma / sqrt(i!)
        return float(lr) * math.exp(-0.5 * math.lgamma(i + 1))
    raise ValueError(f"lr_schedule must be one of {', '.join(LR_SCHEDULES)}; got {schedule!r}.")


def kernel_retrieval_error(W, patterns, queries, targets, beta: float = 1.0) -> float:
    """Mean over queries of ||T_K(q) - xi_target||^2 after one softmax step with K = <W., W.> (U-Hop eq. 2.4).

    patterns (N, K), queries (B, K), targets (B,) indices into patterns; W (D_Phi, K) or a LinearKernel.
    """
    W = _kernel_weight(W).float()
    xi, q = patterns.float(), queries.float()
    with torch.no_grad():
        p = torch.softmax(float(beta) * (q @ W.T) @ (xi @ W.T).T, dim=1)  # (B, N)
        err = ((p @ xi - xi[torch.as_tensor(targets, dtype=torch.long)]) ** 2).sum(1)  # (B,)
    return float(err.mean())


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
    normalize_features: bool = True,
    include_self: bool = False,
    lr_schedule: str = "constant",
    fit_fraction: float = 1.0,
    holdout: tuple | None = None,
    beta: float | Callable[[torch.Tensor], float] = 1.0,
    patience: int | None = None,
    snapshot_at=(),
    init: str = "orthonormal",
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
        seed: seeds W_0 (when D_Phi > K), the fit subset and the pair sampling.
        callback: called as callback(i, loss) for i = 0..steps run (i = 0 is the initial loss).
        normalize_rows: apply Alg. 1 line 4 (unit-norm rows of W) at the end.
        normalize_features, include_self: the loss variant (see :func:`separation_loss`).
        lr_schedule: "constant", "inv-sqrt" or "official" (see :func:`step_size`).
        fit_fraction: Stage I sees a seeded random ceil(fraction * N) of the memories (official: 0.5).
        holdout: (queries (B, K), targets (B,) indices into patterns) for early stopping: after every step
            the one-step softmax error at ``beta`` (:func:`kernel_retrieval_error`, with the final-form W)
            is measured and the best W kept. ``beta`` may be a function of that W (e.g. its calibrated beta).
        patience: with a holdout, stop after this many steps without a lower held-out error (None: run all).
        snapshot_at: step counts i whose final-form W is kept in ``fit.snapshots``.
        init: W_0, "orthonormal" (identity when D_Phi = K) or "gaussian" (the official code's), see
            :func:`initial_feature_map`.
        device: where to run Stage I (default: the patterns' device).
    """
    if isinstance(iterations, bool) or not isinstance(iterations, (int, np.integer)) or iterations < 0:
        raise ValueError(f"iterations must be a non-negative int, got {iterations!r}.")
    if not (isinstance(lr, (int, float)) and math.isfinite(lr) and lr > 0):
        raise ValueError(f"lr (the Stage I step size gamma) must be a positive number, got {lr!r}.")
    if not (isinstance(t, (int, float)) and math.isfinite(t) and t > 0):
        raise ValueError(f"t must be a positive number (U-Hop Def. 2.2), got {t!r}.")
    step_size(lr, lr_schedule, 0)  # validates the schedule name
    if not (isinstance(fit_fraction, (int, float)) and 0 < fit_fraction <= 1):
        raise ValueError(f"fit_fraction must be in (0, 1], got {fit_fraction!r}.")
    if patience is not None and (not isinstance(patience, (int, np.integer)) or patience < 1):
        raise ValueError(f"patience must be None or a positive int, got {patience!r}.")
    if device is None and isinstance(patterns, torch.Tensor):
        device = patterns.device
    xi_all = as_patterns(patterns, device, torch.float32)  # (N, K)
    n, k = xi_all.shape
    if n < 2:
        raise ValueError("U-Hop Stage I needs at least 2 patterns to separate.")
    gen = torch.Generator().manual_seed(seed)
    n_fit = max(2, int(math.ceil(fit_fraction * n)))
    fit_idx = torch.arange(n) if n_fit >= n else torch.randperm(n, generator=gen)[:n_fit].sort().values
    xi = xi_all[fit_idx.to(xi_all.device)]  # (n_fit, K)
    if holdout is not None:
        hq, ht = holdout
        hq = as_patterns(hq, xi_all.device, torch.float32)
        ht = torch.as_tensor(ht, dtype=torch.long)
        if hq.shape[1] != k or ht.shape != (hq.shape[0],) or ht.min() < 0 or ht.max() >= n:
            raise ValueError("holdout must be (queries (B, K), targets (B,) indices of memories).")
    loss_kw = dict(t=t, pairs=pairs, generator=gen, include_self=include_self, normalize_features=normalize_features)
    W0 = initial_feature_map(k, d_phi, seed=seed, init=init).to(xi.device)  # (D_Phi, K)

    def final_form(w: torch.Tensor) -> torch.Tensor:
        return safe_normalize(w) if normalize_rows else w.clone()  # Alg. 1 line 4: unit-norm rows

    W = W0.clone().requires_grad_(True)
    history: list[float] = []
    snapshots, holdout_history = {}, []
    best = (float("inf"), 0, W0.clone())  # (held-out error, step, W before row normalisation)
    wanted = {int(s) for s in snapshot_at}
    for i in range(iterations + 1):
        loss = separation_loss(W, xi, **loss_kw)
        value = float(loss.detach())
        if not math.isfinite(value):
            raise ValueError(f"the separation loss became {value} at iteration {i}; lower lr.")
        history.append(value)
        if callback is not None:
            callback(i, value)
        if i in wanted:
            snapshots[i] = final_form(W.detach())
        if holdout is not None:
            Wf = final_form(W.detach())
            err = kernel_retrieval_error(Wf, xi_all, hq, ht, beta(Wf) if callable(beta) else beta)
            holdout_history.append((i, err))
            if err < best[0]:
                best = (err, i, W.detach().clone())
            elif patience is not None and i - best[1] >= patience:
                break
        if i == iterations:
            break
        (grad,) = torch.autograd.grad(loss, W)
        with torch.no_grad():
            W -= step_size(lr, lr_schedule, i) * grad  # Alg. 1 line 2
    W_trained = best[2] if holdout is not None else W.detach()
    W_final = final_form(W_trained)
    with torch.no_grad():
        loss_norm = float(separation_loss(W_final, xi, **loss_kw))
    return UHopFit(
        kernel=LinearKernel(W_final), loss_history=history, W_initial=W0, W_trained=W_trained, W=W_final,
        loss_normalized=loss_norm, t=float(t), lr=float(lr), normalize_rows=normalize_rows, snapshots=snapshots,
        holdout_history=holdout_history, best_iteration=best[1] if holdout is not None else len(history) - 1,
        fit_indices=fit_idx,
        settings=dict(iterations=int(iterations), d_phi=int(W0.shape[0]), pairs=pairs, seed=seed,
                      include_self=include_self, normalize_features=normalize_features, lr_schedule=lr_schedule,
                      fit_fraction=float(fit_fraction), patience=patience, init=init),
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


def exact_fixed_points(patterns, similarity="dot", beta: float = 1.0) -> tuple[np.ndarray, np.ndarray, int]:
    """Thm 2.2 with sparsemax, predicted and checked: (holds (N,), margins (N,), verified).

    holds / margins come from :func:`exact_retrieval_condition` (alpha = 2); ``verified`` counts the memories
    whose one sparsemax step from xi_mu puts all the weight (>= 1 - 1e-5) on mu itself.
    """
    holds, margin = exact_retrieval_condition(patterns, similarity, beta=float(beta), alpha=2.0)
    if not isinstance(similarity, str):
        similarity = LinearKernel(_kernel_weight(similarity))
    mem = HopfieldMemory(patterns, similarity=similarity, separation="sparsemax", beta=float(beta))
    w = mem.retrieve(mem.patterns, steps=1).weights  # (N, N)
    return holds.numpy(), margin.numpy(), int((w.diagonal() >= 1.0 - 1e-5).sum())


def kernel_cosines(patterns: torch.Tensor, W=None, max_pairs: int = 20_000, seed: int = 0) -> np.ndarray:
    """cos(Phi(xi_mu), Phi(xi_nu)) for up to ``max_pairs`` seeded random pairs mu != nu; W None = identity.

    patterns (N, K), N >= 2; returns (P,) float array (the statistic U-Hop's Stage I lowers on average).
    """
    feats = patterns if W is None else patterns @ _kernel_weight(W).to(patterns.dtype).T  # (N, D_Phi)
    feats = safe_normalize(feats)
    n = feats.shape[0]
    if n < 2:
        raise ValueError("kernel_cosines needs at least 2 memories.")
    g = torch.Generator().manual_seed(seed)
    m = min(int(max_pairs), n * (n - 1))
    a = torch.randint(0, n, (m,), generator=g)
    b = (a + torch.randint(1, n, (m,), generator=g)) % n  # never equal to a
    return (feats[a] * feats[b]).sum(dim=1).numpy()
