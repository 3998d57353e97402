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
from .ties import winner_of_weights

SDPA_BLOCK_ROWS = 8192  # query block of the flash path (only its final weights pass is (rows, N))


@dataclass
class RetrievalResult:
    """Output of ``HopfieldMemory.retrieve`` (all float32 / bool / int64 CPU tensors)."""

    states: torch.Tensor  # (B, K) final states
    energies: torch.Tensor  # (T+1, B) energy at steps 0..T; rows after a query converged repeat its value
    weights: torch.Tensor | None  # (B, N) Sep(beta sim(Xi, s)) at the final state (None: keep_weights=False)
    steps: int  # T, the largest number of updates any query ran
    converged: torch.Tensor  # (B,) bool: the last update moved less than tol
    topk_indices: torch.Tensor  # (B, k) memories with the largest final weights
    topk_weights: torch.Tensor  # (B, k) their weights
    n_steps: torch.Tensor | None = None  # (B,) int64 updates run per query
    # from the final weights, computed on the device (see weight_stats)
    n_eff: torch.Tensor | None = None  # (B,) 1 / sum p^2
    top_index: torch.Tensor | None = None  # (B,) int64 the winner: argmax_n p_n, ties as in memory.ties
    top_weight: torch.Tensor | None = None  # (B,) max_n p_n
    n_above: torch.Tensor | None = None  # (B,) int64 count of p_n > 0.05
    tied: torch.Tensor | None = None  # (B,) bool: another memory ties with the winner (memory.ties): a mixture


@dataclass
class RetrievalStep:
    """One frame of ``HopfieldMemory.stream``: step t = 0 is the query itself."""

    t: int
    state: torch.Tensor  # (B, K)
    energy: torch.Tensor  # (B,)
    weights: torch.Tensor  # (B, N) Sep(beta sim(Xi, s_t)), the weights producing s_{t+1} (on the memory's device)
    topk_indices: torch.Tensor  # (B, k)
    topk_weights: torch.Tensor  # (B, k)
    converged: torch.Tensor  # (B,) bool
    # computed on the device (None from models that do not compute them): the verdict's inputs
    n_eff: torch.Tensor | None = None  # (B,) 1 / sum_n p_n^2 (p renormalised)
    top_index: torch.Tensor | None = None  # (B,) int64 the winner: argmax_n p_n, ties as in memory.ties
    top_weight: torch.Tensor | None = None  # (B,) max_n p_n (renormalised)
    n_above: torch.Tensor | None = None  # (B,) int64 memories with p_n > 0.05
    tied: torch.Tensor | None = None  # (B,) bool: another memory ties with the winner (memory.ties)


@dataclass
class _Tick:
    """One step of ``HopfieldMemory._dynamics`` (device tensors, updated in place by later steps)."""

    t: int
    state: torch.Tensor  # (b, K) s_t
    energy: torch.Tensor  # (b,) E(s_t)
    weights: torch.Tensor | None  # (b, N) Sep(beta sim(Xi, s_t)) on ticks that asked for them
    converged: torch.Tensor  # (b,) bool
    n_steps: torch.Tensor  # (b,) updates run per query
    last: bool
    stats: dict | None = None  # last tick without weights: FastAttentionStep.final_stats of s_T


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


BETA_MAX = 1e8  # the engine's range: beta * scores stay far inside float32 (logits are max-shifted anyway)


def check_beta(beta) -> float:
    """beta (inverse temperature) as a positive finite float <= BETA_MAX, or a ValueError."""
    try:
        beta = float(beta)
    except (TypeError, ValueError):
        raise ValueError(f"beta must be a positive number; got {beta!r}.") from None
    if not (beta > 0 and np.isfinite(beta)):
        raise ValueError(f"beta (inverse temperature) must be a positive finite number; got {beta!r}.")
    if beta > BETA_MAX:
        raise ValueError(f"beta = {beta:g} is above the engine's limit of {BETA_MAX:g}; use a smaller beta "
                         "(or a relative beta, see calibrated_beta).")
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


def weight_stats(p: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """The verdict's inputs from weights p (B, N), on p's device: (n_eff = 1 / sum p^2, winner, its weight,
    count > 0.05, tied), rows renormalised to sum 1 first (poly separations are unnormalised). The winner and
    ``tied`` follow the one tie rule (``memory.ties.winner_of_weights``). Small CPU tensors (B,)."""
    pf = accurate(p).abs()
    pf = pf / pf.sum(-1, keepdim=True).clamp_min(1e-30)
    n_eff = 1.0 / (pf * pf).sum(-1).clamp_min(1e-30)
    top_i, tied = winner_of_weights(pf)
    top_w = pf.amax(-1)
    return n_eff.float().cpu(), top_i.cpu(), top_w.float().cpu(), (pf > 0.05).sum(-1).cpu(), tied.cpu()


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
        self._fast_step = None
        self.beta = beta = check_beta(beta)
        if self.separation.kind == "poly" and self.sim.name in ("l2", "manhattan", "masked-l2"):
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

    # ---- beta (HEN eq. 2): changing it reaches retrieve and stream alike ---------------------
    @property
    def beta(self) -> float:
        return self._beta

    @beta.setter
    def beta(self, value) -> None:
        self._beta = check_beta(value)
        fast = getattr(self, "_fast_step", None)
        if fast is not None:
            self._fast_step = FastAttentionStep(self.sim, self._beta, fast.method)

    # ---- retrieval --------------------------------------------------------------------------
    def retrieve(self, queries, steps: int = 100, tol: float = 1e-6, clamp=None, topk: int = 5,
                 fast: bool | None = None, keep_weights: bool = True) -> RetrievalResult:
        """Run the dynamics from each query until it converges or ``steps`` updates are done.

        Args:
            queries: (B, K) or (K,) partial / noisy patterns s^(0).
            steps: maximum number of updates T (>= 1).
            tol: a query stops when its update moves less than tol * max(1, ||s||).
            clamp: optional bool mask (K,); True dims keep the query's values (hetero-association,
                HEN Fig. 4). With clamping the update is the CCCP step restricted to the free dims.
            topk: how many of the largest final weights to report.
            fast: override the constructor's ``fast`` (False = plain reference path).
            keep_weights: False = do not copy the (B, N) final weights to the CPU (``weights`` is None);
                top-k and the verdict's inputs (n_eff, top_index, top_weight, n_above) are always there.
        """
        q = self._queries(queries)
        steps, tol, mask, k = self._options(steps, tol, clamp, topk)
        use_fast = self._use_fast(fast)
        rows = max(1, _CHUNK_ELEMENTS // self.n_memories)  # bounds every (rows, N) matrix, fast path included
        if use_fast and self._fast_step.kernel(q.shape[0], self.device) == "sdpa":
            rows = max(rows, SDPA_BLOCK_ROWS)  # flash sdpa never builds the (rows, N) scores: bigger blocks
        # without keep_weights the softmax fast path reduces the final weights chunk by chunk (final_stats)
        # instead of building, copying and reducing the whole (B, N) matrix: on large B x N that pass cost
        # as much as several updates
        stats_k = k if use_fast and not keep_weights else None
        parts = [self._retrieve_block(q[i : i + rows], steps, tol, mask, use_fast, stats_k)
                 for i in range(0, q.shape[0], rows)]
        T = max(p[3] for p in parts)
        energies = torch.cat([torch.cat([p[1], p[1][-1:].expand(T + 1 - p[1].shape[0], -1)]) for p in parts], dim=1)
        if stats_k is not None:
            st = {name: torch.cat([p[2][name] for p in parts]) for name in parts[0][2]}
            weights = None
            idx, vals = st["idx"].cpu(), st["vals"].float().cpu()  # (B, k)
            n_eff, top_i = st["n_eff"].float().cpu(), st["top_i"].cpu()
            top_w, n_above, tied = st["top_w"].float().cpu(), st["n_above"].cpu(), st["tied"].cpu()
        else:
            weights = torch.cat([p[2] for p in parts])  # (B, N) on the device
            idx, vals = topk_cpu(weights, k)
            n_eff, top_i, top_w, n_above, tied = weight_stats(weights)
        return RetrievalResult(
            states=torch.cat([p[0] for p in parts]).float().cpu(),
            energies=energies.float().cpu(),
            weights=weights.float().cpu() if keep_weights else None,
            n_eff=n_eff, top_index=top_i, top_weight=top_w, n_above=n_above, tied=tied,
            steps=int(T),
            converged=torch.cat([p[4] for p in parts]).cpu(),
            topk_indices=idx,
            topk_weights=vals,
            n_steps=torch.cat([p[5] for p in parts]).cpu(),
        )

    def _use_fast(self, fast: bool | None) -> bool:
        return (self.fast if fast is None else bool(fast)) and self._fast_step is not None

    def _retrieve_block(self, q: torch.Tensor, steps: int, tol: float, mask, use_fast: bool,
                        stats_k: int | None = None):
        """Dynamics for one block of queries (b, K) through :meth:`_dynamics`. Returns states, energies
        (T+1, b), weights (b, N) (or the fast path's final stats dict when ``stats_k`` is set), T,
        converged (b,), n_steps (b,)."""
        energies = []
        for tick in self._dynamics(q, steps, tol, mask, use_fast, weights_every=0, stats_k=stats_k):
            energies.append(tick.energy.clone())  # (b,) converged rows repeat their final energy
        final = tick.stats if tick.stats is not None else tick.weights
        return tick.state, torch.stack(energies), final, tick.t, tick.converged, tick.n_steps

    def _step_rows(self, cur: torch.Tensor, use_fast: bool):
        """One update of states cur (b, K): (T(cur) (b, K), E(cur) (b,), weights (b, N) or None on the fast path)."""
        if use_fast:
            new, lse = self._fast_step.step(cur)
            return new, energy_from_lse(self.sim, cur, lse, self.beta).to(accurate(cur).dtype), None
        p, e = self._evaluate(cur)
        return p @ self.patterns, e, p

    def _weights_rows(self, cur: torch.Tensor, use_fast: bool):
        """Weights (b, N) and energies (b,) at states cur (b, K), without an update."""
        if use_fast:
            w, lse = self._fast_step.weights(cur)  # one pass over the logits gives both
            return w.to(self.dtype), energy_from_lse(self.sim, cur, lse, self.beta).to(accurate(cur).dtype)
        return self._evaluate(cur)

    def _dynamics(self, q: torch.Tensor, steps: int, tol: float, mask, use_fast: bool,
                  weights_every: int = 1, stats_k: int | None = None) -> Iterator[_Tick]:
        """THE retrieval loop shared by retrieve and stream (HEN eq. 2 / 6, U-Hop eq. 1.2).

        Yields one :class:`_Tick` per step t = 0..T (t = 0 is the query): the states s_t (b, K), their
        energies, converged flags and update counts, all on the working device and updated in place.
        A query stops once its update moved less than ``tol`` (``moved_less``) and leaves the active set;
        clamped dims are reset to the query after every update. ``weights_every`` = k > 0: the weights
        (b, N) at s_t are filled on every k-th tick and on the last; 0: on the last tick only. Asking for
        weights never changes the updates (they always come from the same kernel), so every k gives the
        same trajectory. ``stats_k`` = k (fast path only): the last tick carries ``stats`` (top-k, n_eff,
        winner, ... from ``FastAttentionStep.final_stats``) instead of the (b, N) weights.
        """
        b = q.shape[0]
        s = q.clone()  # (b, K) current states of all queries
        energy = torch.full((b,), float("nan"), dtype=accurate(q).dtype, device=self.device)  # (b,)
        n_steps = torch.zeros(b, dtype=torch.long, device=self.device)
        converged = torch.zeros(b, dtype=torch.bool, device=self.device)
        evaluate = torch.arange(b, device=self.device)  # rows whose state changed since their last evaluation
        for t in range(steps + 1):
            moving = evaluate[~converged[evaluate]]  # rows that will be updated after this tick
            last = t == steps or moving.numel() == 0
            weights = stats = None
            if not last:
                new, e, p = self._step_rows(s if moving.numel() == b else s[moving], use_fast)  # (m, K), (m,)
                energy[moving] = e
                done_rows = evaluate[converged[evaluate]]  # just converged: only their energy is new
                if done_rows.numel():
                    energy[done_rows] = self._weights_rows(s[done_rows], use_fast)[1]
                if weights_every > 0 and t % weights_every == 0:
                    weights = p if p is not None and moving.numel() == b else self._weights_rows(s, use_fast)[0]
            elif stats_k is not None:  # retrieve sets it on the fast path only
                stats = self._fast_step.final_stats(s, stats_k)  # no (b, N) weights kept
                energy[evaluate] = energy_from_lse(self.sim, s, stats["lse"], self.beta).to(energy.dtype)[evaluate]
            else:
                weights, e = self._weights_rows(s, use_fast)  # (b, N), (b,)
                energy[evaluate] = e[evaluate]
            yield _Tick(t, s, energy, weights, converged, n_steps, last, stats)
            if last:
                return
            if mask is not None:
                new[:, mask] = q[moving][:, mask]
            every_row = moving.numel() == b  # no gather / scatter while every query still moves
            done = moved_less(new, s if every_row else s[moving], tol)
            if every_row:
                s.copy_(new)
            else:
                s[moving] = new
            n_steps[moving] = t + 1
            converged[moving[done]] = True
            evaluate = moving

    def stream(self, query, steps: int = 100, tol: float = 1e-6, clamp=None, topk: int = 5,
               every: int = 1, fast: bool | None = False) -> Iterator[RetrievalStep]:
        """Yield steps of the dynamics for the UI: every ``every``-th step and the last (same loop as retrieve).

        Step t = 0 is the query itself. Converged queries keep their state; the stream ends when all
        queries converged or ``steps`` updates were made. Per frame only small tensors reach the CPU:
        states (B, K), energies, top-k, 1 / sum p^2 and the count of weights above 5 %, all computed on the
        device; ``weights`` (B, N) stays on the device. ``fast`` = False (default) runs the reference
        path, whose last frame equals ``retrieve(..., fast=False)``.
        """
        q = self._queries(query)
        steps, tol, mask, k = self._options(steps, tol, clamp, topk)
        if isinstance(every, bool) or not isinstance(every, (int, np.integer)) or every < 1:
            raise ValueError(f"every (stream every k-th step) must be a whole number >= 1; got {every!r}.")
        for tick in self._dynamics(q, steps, tol, mask, self._use_fast(fast), weights_every=int(every)):
            if tick.weights is not None:
                yield self._frame(tick.t, tick.state, tick.energy, tick.weights, tick.converged, k)

    def _frame(self, t, s, e, p, converged, k) -> RetrievalStep:
        idx, vals = topk_cpu(p, k)
        n_eff, top_i, top_w, n_above, tied = weight_stats(p)  # (B,) each, computed on the device
        return RetrievalStep(t=t, state=s.float().cpu().clone(), energy=e.float().cpu().clone(),
                             weights=p.clone(), topk_indices=idx, topk_weights=vals,
                             converged=converged.cpu().clone(), n_eff=n_eff, top_index=top_i,
                             top_weight=top_w, n_above=n_above, tied=tied)
