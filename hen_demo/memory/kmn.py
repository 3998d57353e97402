"""Kernel memory network (KMN) baseline (HEN §2.1, eq. 3; Iatropoulos et al. 2022).

With patterns Xi (N, K) stored one per row, an exponential kernel

    K_(alpha, r)(x, y) = exp(-(||x - y||_2 / r)^alpha)                     (HEN §2.1, "Kernel")

and K^+ the Moore-Penrose pseudo-inverse of the Gram matrix K(Xi, Xi) (N, N), the state update is

    s <- Xi^T K^+ K(Xi, s)                                                  (HEN eq. 3)

i.e. kernel interpolation: the coefficients c(s) = K^+ K(Xi, s) (N,) weight the memories, and
c(xi_mu) = e_mu whenever K(Xi, Xi) is invertible, so every stored pattern is an exact fixed point.
For 0 < alpha <= 2 the kernel is positive definite (Schoenberg), hence K(Xi, Xi) is invertible for
distinct patterns in exact arithmetic; numerically it can be badly conditioned (large r, alpha = 2).

Numerics (choices made here):
* K^+ is computed once per bank, in float64 by default, with ``torch.linalg.pinv(..., hermitian=True,
  rtol=rtol)``: singular values below ``rtol * sigma_max`` are treated as zero; ``rtol=None`` is
  torch's default N * eps (about N * 2.2e-16 in float64). Cost O(N^3) time and O(N^2) memory
  (N = 6,000: ~290 MB and tens of seconds on 2 CPU cores).
* Distances use ||x||^2 + ||y||^2 - 2 x.y (clamped at 0) in the compute dtype, recomputed from
  explicit differences for near-coincident pairs (where round-off would make K(x, x) != 1); the
  Gram diagonal is set to exactly 1.

Energy: KMN in this form has **no energy function** that the update provably descends (HEN §2.1:
the kernel view and the MHN energy differ). ``retrieve`` therefore fills ``RetrievalResult.energies``
with a convergence surrogate, the fixed-point residual ||T(s_t) - s_t||_2 (zero exactly at fixed
points), and ``weights`` with the kernel coefficients c(s) = K^+ K(Xi, s), which can be negative and
need not sum to 1. ``ENERGY_LABEL`` names the surrogate for plots.
"""

from __future__ import annotations

import math
from typing import Iterator

import torch

from hen_demo.memory.hopfield import (
    RetrievalResult,
    RetrievalStep,
    as_patterns,
    as_queries,
    check_run_options,
    moved_less,
    topk_cpu,
)

ENERGY_LABEL = "fixed-point residual ||T(s) - s|| (KMN has no energy)"


def exponential_kernel(x: torch.Tensor, y: torch.Tensor, r: float, alpha: float) -> torch.Tensor:
    """K(x, y) = exp(-(||x - y|| / r)^alpha) for rows: x (B, K), y (N, K) -> (B, N) (HEN §2.1)."""
    nx, ny = (x * x).sum(-1)[:, None], (y * y).sum(-1)[None, :]  # (B, 1), (1, N)
    sq = nx + ny - 2.0 * x @ y.T  # (B, N), fast but loses digits when x ~ y
    # near-coincident pairs: sqrt and ^alpha amplify that round-off (K(x, x) must be exactly 1 for
    # exact retrieval), so recompute them from explicit differences; there are few of them.
    close = (sq <= 1e-6 * (nx + ny)).nonzero(as_tuple=True)
    if close[0].numel():
        sq = sq.clone()
        sq[close] = ((x[close[0]] - y[close[1]]) ** 2).sum(-1)
    dist = sq.clamp_min(0.0).sqrt()
    return torch.exp(-((dist / r) ** alpha))


class KernelMemoryNetwork:
    """Kernel memory network with the exponential kernel (HEN §2.1, eq. 3).

    Args:
        patterns: (N, K) memories Xi, one per row (tensor or array).
        r: spatial scale r > 0 of the kernel.
        alpha: exponent 0 < alpha <= 2 (1 = Laplace kernel, 2 = Gaussian kernel).
        rtol: relative cut-off of ``torch.linalg.pinv`` (None = torch's default N * eps).
        device: where the math runs (default CPU).
        compute_dtype: dtype of the Gram matrix, K^+ and the updates (default float64: K^+ of an
            ill-conditioned kernel matrix is unreliable in float32). Results are returned in float32.

    Attributes:
        gram: (N, N) K(Xi, Xi). pinv: (N, N) K^+, computed once here and reused by every retrieval.
    """

    energy_label = ENERGY_LABEL

    def __init__(self, patterns, r: float = 1.0, alpha: float = 1.0, rtol: float | None = None,
                 device=None, compute_dtype: torch.dtype = torch.float64):
        if isinstance(r, bool) or not isinstance(r, (int, float)) or not math.isfinite(r) or r <= 0:
            raise ValueError(f"The kernel scale r must be a positive number, got {r!r}.")
        if isinstance(alpha, bool) or not isinstance(alpha, (int, float)) or not (0 < alpha <= 2):
            raise ValueError(
                f"The kernel exponent alpha must be in (0, 2] (the exponential kernel is positive "
                f"definite only there), got {alpha!r}."
            )
        if rtol is not None and not (isinstance(rtol, (int, float)) and 0 <= rtol < 1):
            raise ValueError(f"rtol must be None or a number in [0, 1), got {rtol!r}.")
        if compute_dtype not in (torch.float32, torch.float64):
            raise ValueError(f"compute_dtype must be torch.float32 or torch.float64, got {compute_dtype}.")
        self.r = float(r)
        self.alpha = float(alpha)
        self.rtol = rtol
        self.device = torch.device(device) if device is not None else torch.device("cpu")
        self.dtype = compute_dtype
        self.patterns = as_patterns(patterns, self.device, compute_dtype)  # (N, K)
        n = self.patterns.shape[0]
        gram = exponential_kernel(self.patterns, self.patterns, self.r, self.alpha)  # (N, N)
        gram = 0.5 * (gram + gram.T)  # exactly symmetric
        gram.diagonal().fill_(1.0)  # K(x, x) = exp(0)
        self.gram = gram
        # HEN eq. 3's K^+, once per bank
        self.pinv = torch.linalg.pinv(gram, rtol=rtol, hermitian=True)  # (N, N)
        self.n_memories = n

    @property
    def dim(self) -> int:
        return int(self.patterns.shape[1])

    # ------------------------------------------------------------------ one step

    def coefficients(self, states: torch.Tensor) -> torch.Tensor:
        """c(s) = K^+ K(Xi, s): states (B, K) -> (B, N) (K^+ is symmetric)."""
        k = exponential_kernel(states, self.patterns, self.r, self.alpha)  # (B, N)
        return k @ self.pinv

    def update(self, states) -> torch.Tensor:
        """One HEN eq. 3 step s' = Xi^T K^+ K(Xi, s): (B, K) -> (B, K) float32."""
        s = self._check_queries(states)
        return (self.coefficients(s) @ self.patterns).float()

    def kernel_scores(self, states) -> torch.Tensor:
        """K(Xi, s) (B, N) float32, the kernel similarities before the pseudo-inverse."""
        s = self._check_queries(states)
        return exponential_kernel(s, self.patterns, self.r, self.alpha).float()

    def _check_queries(self, queries) -> torch.Tensor:
        return as_queries(queries, self.dim, self.device, self.dtype)

    # ------------------------------------------------------------------ dynamics

    def _frame(self, t, s, e, c, converged, k) -> RetrievalStep:
        idx, vals = topk_cpu(c, k)
        return RetrievalStep(t=t, state=s.float().cpu().clone(), energy=e.float().cpu().clone(),
                             weights=c.float().cpu().clone(), topk_indices=idx, topk_weights=vals,
                             converged=converged.cpu().clone())

    def stream(self, queries, steps: int = 100, tol: float = 1e-6, topk: int = 5) -> Iterator[RetrievalStep]:
        """Yield a RetrievalStep for t = 0 (the query) and after each update (HEN eq. 3).

        Like HopfieldMemory.stream: ``weights`` at step t are the coefficients c(s_t) producing
        s_{t+1}; ``energy`` is the surrogate ||T(s_t) - s_t||_2 (see module docstring). A query
        converges when its update moves less than tol * max(1, ||s||) and then stays put; the stream
        ends when all queries converged or after `steps` updates.
        """
        steps, tol, k = check_run_options(steps, tol, topk, self.n_memories)
        s = self._check_queries(queries).clone()  # (B, K); clone: never write into the caller's tensor
        c = self.coefficients(s)  # (B, N)
        nxt = c @ self.patterns  # (B, K) T(s_0)
        e = (nxt - s).norm(dim=1)  # (B,)
        converged = torch.zeros(s.shape[0], dtype=torch.bool, device=self.device)
        yield self._frame(0, s, e, c, converged, k)
        for t in range(1, steps + 1):
            active = (~converged).nonzero().squeeze(1)
            cur, new = s[active], nxt[active]
            done = moved_less(new, cur, tol)
            s[active] = new
            converged[active[done]] = True
            c_new = self.coefficients(new)
            nxt_new = c_new @ self.patterns
            c[active], nxt[active] = c_new, nxt_new
            e[active] = (nxt_new - new).norm(dim=1)
            yield self._frame(t, s, e, c, converged, k)
            if bool(converged.all()):
                break

    def retrieve(self, queries, steps: int = 100, tol: float = 1e-6, topk: int = 5) -> RetrievalResult:
        """Run HEN eq. 3 from `queries` (B, K) or (K,) until each converges or `steps` updates.

        Returns the RetrievalResult of HopfieldMemory; here ``energies`` (T+1, B) hold the
        fixed-point residual ||T(s_t) - s_t|| (KMN has no energy) and ``weights`` (B, N) the kernel
        coefficients c(s) = K^+ K(Xi, s) of the final states (signed, not normalised).
        """
        energies = []
        n_steps = None
        last = None
        for step in self.stream(queries, steps=steps, tol=tol, topk=topk):
            if n_steps is None:
                n_steps = torch.zeros(step.state.shape[0], dtype=torch.long)
            else:
                n_steps[~last.converged] = step.t
            energies.append(step.energy)
            last = step
        return RetrievalResult(
            states=last.state,
            energies=torch.stack(energies),  # (T+1, B); converged rows repeat their last value
            weights=last.weights,
            steps=int(last.t),
            converged=last.converged,
            topk_indices=last.topk_indices,
            topk_weights=last.topk_weights,
            n_steps=n_steps,
        )
