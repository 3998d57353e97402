"""Modern Hopfield retrieval: s <- Xi^T Sep(beta * sim(Xi, s)).

HEN eq. 2 and 6 (softmax, dot product); U-Hop eq. 1.2 and 2.4 (any separation, learned kernel).
Energies: see energy.py (HEN eq. 1; U-Hop eq. 1.1, 2.2). Batched: B queries against N memories per
call; each query stops once its update is smaller than ``tol`` and leaves the active batch.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterator

import numpy as np
import torch

from .devices import resolve_device_dtype
from .energy import energy_from_lse, hopfield_energy, is_monotone
from .fastpath import FastAttentionStep, check_fast_method, fast_supported
from .separation import parse_separation, separate
from .similarity import _CHUNK_ELEMENTS, LinearKernel, PreparedSimilarity, accurate


@dataclass
class RetrievalResult:
    """Output of ``HopfieldMemory.retrieve`` (all float32 / bool / int64 CPU tensors)."""

    states: torch.Tensor  # (B, K) final states
    energies: torch.Tensor  # (T+1, B) energy at steps 0..T; rows after a query converged repeat its value
    weights: torch.Tensor  # (B, N) Sep(beta sim(Xi, s)) at the final state
    steps: int  # T, the largest number of updates any query ran
    converged: torch.Tensor  # (B,) bool: the last update moved less than tol
    topk_indices: torch.Tensor  # (B, k) memories with the largest final weights
    topk_weights: torch.Tensor  # (B, k) their weights
    n_steps: torch.Tensor | None = None  # (B,) int64 updates run per query


@dataclass
class RetrievalStep:
    """One frame of ``HopfieldMemory.stream``: step t = 0 is the query itself."""

    t: int
    state: torch.Tensor  # (B, K)
    energy: torch.Tensor  # (B,)
    weights: torch.Tensor  # (B, N) Sep(beta sim(Xi, s_t)), the weights producing s_{t+1}
    topk_indices: torch.Tensor  # (B, k)
    topk_weights: torch.Tensor  # (B, k)
    converged: torch.Tensor  # (B,) bool


def _check_finite(x: torch.Tensor, what: str) -> None:
    if not torch.isfinite(x).all():
        raise ValueError(f"The {what} contain NaN or infinite values; clean them before retrieval.")


def _as_float_tensor(x, what: str) -> torch.Tensor:
    if isinstance(x, np.ndarray):
        x = torch.from_numpy(np.ascontiguousarray(x))
    elif not isinstance(x, torch.Tensor):
        try:
            x = torch.as_tensor(x)
        except (TypeError, ValueError, RuntimeError):
            raise ValueError(f"The {what} must be a numeric tensor or array.") from None
    if x.dtype == torch.bool or x.is_complex():
        raise ValueError(f"The {what} must be real numbers, not {x.dtype}.")
    return x


def as_patterns(patterns, device: torch.device, dtype: torch.dtype) -> torch.Tensor:
    """Validated patterns (N, K) on ``device`` / ``dtype`` (shared with KernelMemoryNetwork)."""
    xi = _as_float_tensor(patterns, "patterns")
    if xi.ndim != 2 or xi.shape[0] < 1 or xi.shape[1] < 1:
        raise ValueError(f"patterns must be a 2-D array (N memories, K dimensions); got shape {tuple(xi.shape)}.")
    xi = xi.to(device=device, dtype=dtype)
    _check_finite(xi, "patterns")
    return xi


def as_queries(queries, dim: int, device: torch.device, dtype: torch.dtype) -> torch.Tensor:
    """Validated queries (B, K) from (B, K) or (K,) on ``device`` / ``dtype`` (shared with KernelMemoryNetwork)."""
    q = _as_float_tensor(queries, "queries")
    if q.ndim == 1:
        q = q[None]
    if q.ndim != 2 or q.shape[1] != dim:
        raise ValueError(f"queries must have shape (B, {dim}) or ({dim},) to match the patterns; "
                         f"got {tuple(q.shape)}.")
    if q.shape[0] < 1:
        raise ValueError("queries is empty; pass at least one query.")
    q = q.to(device=device, dtype=dtype)
    _check_finite(q, "queries")
    return q


def check_beta(beta) -> float:
    """beta (inverse temperature) as a positive finite float, or a ValueError."""
    try:
        beta = float(beta)
    except (TypeError, ValueError):
        raise ValueError(f"beta must be a positive number; got {beta!r}.") from None
    if not (beta > 0 and np.isfinite(beta)):
        raise ValueError(f"beta (inverse temperature) must be a positive finite number; got {beta!r}.")
    return beta


def check_run_options(steps, tol, topk, n_memories: int) -> tuple[int, float, int]:
    """Validated ``steps`` (>= 1), ``tol`` (>= 0) and ``topk`` (None = 0, capped at N) of a retrieval run."""
    if isinstance(steps, bool) or not isinstance(steps, (int, np.integer)) or steps < 1:
        raise ValueError(f"steps must be a whole number >= 1; got {steps!r}.")
    try:
        tol = float(tol)
    except (TypeError, ValueError):
        raise ValueError(f"tol must be a number >= 0; got {tol!r}.") from None
    if not (tol >= 0 and np.isfinite(tol)):
        raise ValueError(f"tol must be a finite number >= 0; got {tol!r}.")
    if topk is None:
        topk = 0
    if isinstance(topk, bool) or not isinstance(topk, (int, np.integer)) or topk < 0:
        raise ValueError(f"topk must be a whole number >= 0; got {topk!r}.")
    return int(steps), tol, min(int(topk), n_memories)


def moved_less(new: torch.Tensor, old: torch.Tensor, tol: float) -> torch.Tensor:
    """Convergence test ||s' - s|| <= tol * max(1, ||s||) (absolute below norm 1, relative above,
    so float round-off cannot keep a large fixed point from converging). (b,) bool."""
    delta = accurate(new - old).norm(dim=-1)
    return delta <= tol * accurate(old).norm(dim=-1).clamp_min(1.0)


def topk_cpu(w: torch.Tensor, k: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(indices (b, k) int64, values (b, k) float32) of the k largest entries of each row of w, on the CPU."""
    if k == 0:
        return torch.zeros(w.shape[0], 0, dtype=torch.long), torch.zeros(w.shape[0], 0)
    vals, idx = torch.topk(w.float(), k, dim=-1)
    return idx.cpu(), vals.cpu()


class HopfieldMemory:
    """A modern Hopfield network over a bank of stored patterns.

    Args:
        patterns: (N, K) tensor or array of stored patterns xi_n (rows).
        similarity: "dot" | "l2" | "manhattan" | "cosine" or a LinearKernel (U-Hop eq. 2.1).
        separation: "softmax" | "sparsemax" | "entmax:<alpha>" (1 < alpha <= 2) | "poly:<n>".
        beta: inverse temperature, > 0 (ignored by poly, whose weights are scale invariant).
        device: None/"auto" (CUDA if present), "cpu", "cuda" or a torch.device.
        dtype: float32 (default), float64; bfloat16/float16 only on a GPU.
        fast: use the fast path where it applies (softmax with dot, l2, kernel; see fastpath.py).
        fast_method: "auto" (fused matmul while the (B, N) logits are small, scaled_dot_product_attention
            above), "sdpa" or "matmul".

    Example:
        >>> mem = HopfieldMemory(torch.eye(3), beta=8.0)
        >>> mem.retrieve(torch.tensor([[0.9, 0.2, 0.0]])).topk_indices[0, 0].item()
        0
    """

    def __init__(self, patterns, similarity="dot", separation="softmax", beta: float = 8.0,
                 device=None, dtype=None, fast: bool = True, fast_method: str = "auto"):
        self.device, self.dtype = resolve_device_dtype(device, dtype)
        xi = as_patterns(patterns, self.device, self.dtype)
        self.sim = PreparedSimilarity(similarity, xi)  # validates the similarity
        self.separation = parse_separation(separation)
        self.beta = beta = check_beta(beta)
        if self.separation.kind == "poly" and self.sim.name in ("l2", "manhattan"):
            raise ValueError("poly:<n> separation needs a similarity that can be positive (dot, cosine or a kernel); "
                             "distances are never positive.")
        self.fast = bool(fast)
        check_fast_method(fast_method)  # also when this model has no fast path, so a typo is never ignored
        self._fast_step = FastAttentionStep(self.sim, beta, fast_method) if fast_supported(self.sim, self.separation) else None

    # ---- properties -------------------------------------------------------------------------
    @property
    def patterns(self) -> torch.Tensor:
        """Stored patterns Xi (N, K) on the working device."""
        return self.sim.patterns

    @property
    def n_memories(self) -> int:
        return int(self.patterns.shape[0])

    @property
    def dim(self) -> int:
        return int(self.patterns.shape[1])

    @property
    def similarity(self) -> str | LinearKernel:
        return self.sim.kind

    @property
    def energy_is_monotone(self) -> bool:
        """Whether the update is a CCCP step of the reported energy (energy.py)."""
        return is_monotone(self.sim, self.separation)

    def __repr__(self) -> str:
        return (f"HopfieldMemory(N={self.n_memories}, K={self.dim}, similarity={self.sim.name!r}, "
                f"separation={self.separation.name!r}, beta={self.beta:g}, device={self.device}, dtype={self.dtype})")

    # ---- single-state maps ------------------------------------------------------------------
    def _queries(self, queries) -> torch.Tensor:
        return as_queries(queries, self.dim, self.device, self.dtype)

    def similarity_scores(self, states) -> torch.Tensor:
        """z = sim(Xi, s) before beta: states (B, K) -> (B, N)."""
        return self.sim.scores(self._queries(states))

    def weights(self, states) -> torch.Tensor:
        """p = Sep(beta z): states (B, K) -> (B, N)."""
        z = accurate(self.sim.scores(self._queries(states)))
        return separate(self.separation, z, self.beta).to(self.dtype)

    def energy(self, states) -> torch.Tensor:
        """E(s) of the chosen model (HEN eq. 1; U-Hop eq. 1.1, 2.2; see energy.py): (B, K) -> (B,)."""
        return hopfield_energy(self.sim, self.separation, self.beta, self._queries(states))

    def update(self, states) -> torch.Tensor:
        """One reference update s' = Xi^T Sep(beta sim(Xi, s)) (HEN eq. 2): (B, K) -> (B, K)."""
        return self.weights(states) @ self.patterns

    def _evaluate(self, s: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Reference path for states s (b, K): (weights (b, N), energies (b,)). Scores, weights and
        energies are computed in float32 when the working dtype is bfloat16/float16."""
        z = accurate(self.sim.scores(s))  # (b, N)
        p = separate(self.separation, z, self.beta)  # (b, N)
        e = hopfield_energy(self.sim, self.separation, self.beta, s, scores=z, weights=p)
        return p.to(self.dtype), e

    # ---- argument checks --------------------------------------------------------------------
    def _options(self, steps, tol, clamp, topk):
        steps, tol, k = check_run_options(steps, tol, topk, self.n_memories)
        mask = None
        if clamp is not None:
            mask = torch.as_tensor(np.asarray(clamp) if not isinstance(clamp, torch.Tensor) else clamp)
            if mask.dtype != torch.bool or mask.shape != (self.dim,):
                raise ValueError(f"clamp must be a boolean mask of shape ({self.dim},) (True = held fixed).")
            mask = mask.to(self.device)
            if not bool(mask.any()):
                mask = None
        return steps, tol, mask, k

    # ---- retrieval --------------------------------------------------------------------------
    def retrieve(self, queries, steps: int = 100, tol: float = 1e-6, clamp=None, topk: int = 5,
                 fast: bool | None = None) -> RetrievalResult:
        """Run the dynamics from each query until it converges or ``steps`` updates are done.

        Args:
            queries: (B, K) or (K,) partial / noisy patterns s^(0).
            steps: maximum number of updates T (>= 1).
            tol: a query stops when its update moves less than tol * max(1, ||s||).
            clamp: optional bool mask (K,); True dims keep the query's values (hetero-association,
                HEN Fig. 4). With clamping the update is the CCCP step restricted to the free dims.
            topk: how many of the largest final weights to report.
            fast: override the constructor's ``fast`` (False = plain reference path).
        """
        q = self._queries(queries)
        steps, tol, mask, k = self._options(steps, tol, clamp, topk)
        use_fast = (self.fast if fast is None else bool(fast)) and self._fast_step is not None
        rows = max(1, _CHUNK_ELEMENTS // self.n_memories)  # bounds every (rows, N) matrix, fast path included
        parts = [self._retrieve_block(q[i : i + rows], steps, tol, mask, use_fast) for i in range(0, q.shape[0], rows)]
        T = max(p[3] for p in parts)
        energies = torch.cat([torch.cat([p[1], p[1][-1:].expand(T + 1 - p[1].shape[0], -1)]) for p in parts], dim=1)
        weights = torch.cat([p[2] for p in parts])
        idx, vals = topk_cpu(weights, k)
        return RetrievalResult(
            states=torch.cat([p[0] for p in parts]).float().cpu(),
            energies=energies.float().cpu(),
            weights=weights.float().cpu(),
            steps=int(T),
            converged=torch.cat([p[4] for p in parts]).cpu(),
            topk_indices=idx,
            topk_weights=vals,
            n_steps=torch.cat([p[5] for p in parts]).cpu(),
        )

    def _retrieve_block(self, q: torch.Tensor, steps: int, tol: float, mask, use_fast: bool):
        """Dynamics for one block of queries (b, K). Returns states, energies (T+1, b), weights, T,
        converged (b,), n_steps (b,)."""
        b = q.shape[0]
        s = q.clone()  # (b, K) current states of all queries
        e_dtype = accurate(q).dtype  # energies at least in float32
        energies = torch.full((steps + 1, b), float("nan"), dtype=e_dtype, device=self.device)
        n_steps = torch.zeros(b, dtype=torch.long, device=self.device)
        converged = torch.zeros(b, dtype=torch.bool, device=self.device)
        active = torch.arange(b, device=self.device)  # rows still moving
        for t in range(steps):
            cur = s[active]
            if use_fast:
                new, lse = self._fast_step.step(cur)
                energies[t, active] = energy_from_lse(self.sim, cur, lse, self.beta).to(e_dtype)
            else:
                p, e = self._evaluate(cur)
                energies[t, active] = e
                new = p @ self.patterns
            if mask is not None:
                new[:, mask] = q[active][:, mask]
            done = moved_less(new, cur, tol)
            s[active] = new
            n_steps[active] = t + 1
            converged[active[done]] = True
            active = active[~done]
            if active.numel() == 0:
                break
        if use_fast:  # weights and energy at the final states, from the fast path's logits
            w, lse = self._fast_step.weights(s)
            w, e_final = w.to(self.dtype), energy_from_lse(self.sim, s, lse, self.beta).to(e_dtype)
        else:
            w, e_final = self._evaluate(s)
        T = int(n_steps.max())
        energies = energies[: T + 1]
        cols = torch.arange(b, device=self.device)
        for r in range(T + 1):  # row n_steps[b] is the final state's energy; later rows repeat it
            later = n_steps <= r
            energies[r, cols[later]] = e_final[later]
        return s, energies, w, T, converged, n_steps

    def stream(self, query, steps: int = 100, tol: float = 1e-6, clamp=None, topk: int = 5) -> Iterator[RetrievalStep]:
        """Yield every step of the dynamics for the UI (reference path: the weights are needed each step).

        Step t = 0 is the query itself. Converged queries keep their state; the stream ends when all
        queries converged or ``steps`` updates were made. The last frame's states equal
        ``retrieve(..., fast=False).states``.
        """
        q = self._queries(query)
        steps, tol, mask, k = self._options(steps, tol, clamp, topk)
        s = q.clone()
        p, e = self._evaluate(s)
        converged = torch.zeros(s.shape[0], dtype=torch.bool, device=self.device)
        yield self._frame(0, s, e, p, converged, k)
        for t in range(1, steps + 1):
            active = (~converged).nonzero().squeeze(1)
            cur = s[active]
            new = p[active] @ self.patterns
            if mask is not None:
                new[:, mask] = q[active][:, mask]
            done = moved_less(new, cur, tol)
            s[active] = new
            converged[active[done]] = True
            p_new, e_new = self._evaluate(new)
            p[active], e[active] = p_new, e_new
            yield self._frame(t, s, e, p, converged, k)
            if bool(converged.all()):
                break

    def _frame(self, t, s, e, p, converged, k) -> RetrievalStep:
        idx, vals = topk_cpu(p, k)
        return RetrievalStep(t=t, state=s.float().cpu().clone(), energy=e.float().cpu().clone(),
                             weights=p.float().cpu().clone(), topk_indices=idx, topk_weights=vals,
                             converged=converged.cpu().clone())
