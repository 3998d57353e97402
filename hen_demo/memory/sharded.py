"""Exact softmax retrieval over a bank split into shards: ranks of ``torch.distributed`` and/or chunks streamed from disk.

The modern Hopfield step with softmax separation (HEN eq. 2 / 6), s' = sum_n p_n xi_n with p = softmax(logits), and
its energy (HEN eq. 1) E(s) = R(s) - lse(logits) / beta need, per query, only three sums over the memories:

    m = max_n l_n,    S = sum_n exp(l_n - m),    V = sum_n exp(l_n - m) xi_n      (K,)

(l = beta xi.s for dot; l = 2 beta xi.s - beta ||xi||^2 = beta z + beta ||s||^2 for L2, the fast path's
logits, fastpath.py). Partial sums over disjoint parts of the bank merge exactly, the online softmax of
flash attention: with M = max_r m_r, S = sum_r S_r exp(m_r - M) and V likewise. So each part of the bank is
one chunked local pass (a matmul, an exp, a matmul per chunk: the bank is never held whole when it is
streamed from disk) and the ranks merge with two all-reduces per query batch: a MAX of m (B floats) and a
SUM of the rescaled (S, sum exp(2 (l - m)), V) packed as one (B, K + 2) tensor. Then s' = V / S and
lse = M + log S, the same numbers as ``HopfieldMemory`` on the whole bank up to float rounding.

The verdict's statistics merge the same way: n_eff = 1 / sum p^2 = S^2 / sum exp(2 (l - M)); the top-k,
the winner (top_index, top_weight) and n_above (count of p > 0.05, at most 19 of them since p sums to 1)
come from each part's max(k, 20) largest logits with their global indices, gathered once at the end
(``all_gather``) and reduced again; the winner and ``tied`` follow memory.ties (``winner_of_logits``) on those
candidates, which is the whole-bank rule unless more than 20 memories tie with the top. Early stopping needs nothing more: every rank receives the same merged
sums, so every rank takes the same update and the same convergence decision for each query.

Separations: only softmax merges exactly from these sums. sparsemax / entmax (U-Hop eq. D.1-D.3) need the
global threshold tau(beta z) solving sum_n [beta z_n - tau]_+^(1/(alpha-1)) = 1 over ALL N scores; a shard
cannot know it from its own scores, and merging top-k candidates is exact only when the support is known to
fit in k, which the dynamics cannot promise. poly:n needs the global maximum of relu(z) only and could merge,
but it has no lse energy here. Both are refused with a ValueError. Similarities: dot and l2 (the HEN runs).

Cost model per step (measured in README "Scale beyond one machine"): 4 B N K flop in total (2 B N K for the
logits, 2 B N K for V), split evenly over the ranks; collective payload 4 B (K + 3) bytes (float32); reading
N K bytes x 2 (float16) or x 4 (float32) when the bank is streamed from disk.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterator, Protocol

import numpy as np
import torch
import torch.distributed as dist

from .devices import resolve_device_dtype
from .fastpath import exp_floor
from .hopfield import RetrievalResult, as_patterns, as_queries, check_beta, check_run_options, moved_less
from .separation import parse_separation
from .ties import winner_of_logits

SHARDED_SIMILARITIES = ("dot", "l2")
CHUNK_ELEMENTS = 1 << 22  # bound on the (B, rows) logits of one chunk (16 MB of float32)
MIN_CHUNK_ROWS = 1024
N_ABOVE_CANDIDATES = 20  # at most 19 weights exceed 0.05, so the 20 largest logits hold them all


class BankSource(Protocol):
    """A part of a memory bank that can be read in row chunks (an in-memory tensor, or shards on disk)."""

    n_memories: int
    dim: int

    def iter_chunks(self, rows: int) -> Iterator[tuple[int, torch.Tensor]]:
        """Yield (first row, chunk (r, K)) in order, covering rows 0..n_memories."""


class TensorBank:
    """An in-memory (n, K) tensor as a BankSource."""

    def __init__(self, patterns: torch.Tensor):
        self.patterns = patterns
        self.n_memories, self.dim = int(patterns.shape[0]), int(patterns.shape[1])

    def iter_chunks(self, rows: int) -> Iterator[tuple[int, torch.Tensor]]:
        for i in range(0, self.n_memories, rows):
            yield i, self.patterns[i : i + rows]


@dataclass
class SoftmaxSums:
    """The mergeable sums of one pass over (a part of) the bank, for b queries (see module docstring)."""

    top: torch.Tensor  # (b,) m = max logit
    total: torch.Tensor  # (b,) S = sum exp(l - m)
    square: torch.Tensor  # (b,) sum exp(2 (l - m))
    value: torch.Tensor  # (b, K) V = sum exp(l - m) xi
    cand_logits: torch.Tensor | None = None  # (b, c) largest logits, descending
    cand_index: torch.Tensor | None = None  # (b, c) their global memory indices
    first: torch.Tensor | None = None  # (b,) global index of the largest logit (nearest memory at step 0)


def _merge_candidates(logits_a, index_a, logits_b, index_b, c: int):
    logits, index = torch.cat([logits_a, logits_b], 1), torch.cat([index_a, index_b], 1)
    vals, pos = torch.topk(logits, min(c, logits.shape[1]), dim=-1)
    return vals, torch.gather(index, 1, pos)


def rank_slice(n: int, rank: int, world: int) -> tuple[int, int]:
    """[start, stop) of rank's contiguous share of n memories (sizes differ by at most one)."""
    base, extra = divmod(n, world)
    start = rank * base + min(rank, extra)
    return start, start + base + (1 if rank < extra else 0)


class ShardedMemory:
    """Softmax modern Hopfield retrieval (HEN eq. 2 / 6) over this rank's part of a bank, merged exactly.

    Args:
        shard: this rank's memories: an (n, K) tensor / array, or a BankSource (e.g. ``data.bank_shards.DiskBank``,
            streamed from disk chunk by chunk, float16 shards widened to ``dtype`` per chunk).
        offset: global index of the shard's first memory (its rows are memories offset .. offset + n - 1).
        similarity: "dot" or "l2" (see module docstring).
        separation: "softmax" only; others raise a ValueError saying why.
        beta: inverse temperature (> 0).
        group: a torch.distributed process group, or None for the default group when one is initialised (else
            this process holds the whole bank).
        device / dtype: where and in which precision the math runs (chunks are moved there one at a time).
        chunk_rows: memories per local chunk (default: (B, rows) logits of about CHUNK_ELEMENTS).
    """

    def __init__(self, shard, offset: int = 0, similarity: str = "dot", separation: str = "softmax",
                 beta: float = 8.0, group=None, device=None, dtype=None, chunk_rows: int | None = None):
        self.device, self.dtype = resolve_device_dtype(device, dtype)
        if similarity not in SHARDED_SIMILARITIES:
            raise ValueError(f"ShardedMemory supports the similarities {', '.join(SHARDED_SIMILARITIES)}; "
                             f"got {similarity!r}.")
        sep = parse_separation(separation)
        if sep.kind != "softmax":
            raise ValueError(f"ShardedMemory merges softmax exactly; {sep.name} needs a threshold over all N scores "
                             "at once (sparsemax / entmax) and cannot be merged from per-shard sums. Use "
                             "HopfieldMemory on one process for it.")
        self.similarity, self.separation = similarity, sep
        self.beta = beta
        self.bank = shard if hasattr(shard, "iter_chunks") else TensorBank(as_patterns(shard, self.device, self.dtype))
        if isinstance(offset, bool) or not isinstance(offset, (int, np.integer)) or offset < 0:
            raise ValueError(f"offset must be a whole number >= 0; got {offset!r}.")
        self.offset = int(offset)
        if chunk_rows is not None and (not isinstance(chunk_rows, (int, np.integer)) or chunk_rows < 1):
            raise ValueError(f"chunk_rows must be a whole number >= 1; got {chunk_rows!r}.")
        self.chunk_rows = chunk_rows
        self._sq_norms = {}  # (first row, rows) of a chunk -> its ||xi||^2 (r,), for L2
        self.group = group
        self.bytes_per_step = 0  # collective payload of the current step, per rank (README cost model)
        self.world = dist.get_world_size(group) if dist.is_available() and dist.is_initialized() else 1
        counts = self._all_gather(torch.tensor([[float(self.bank.n_memories), float(self.bank.dim)]],
                                                dtype=torch.float64))
        if (counts[:, :, 1] != self.bank.dim).any():
            raise ValueError("Every rank's shard must have the same dimension K.")
        self.n_memories = int(counts[:, 0, 0].sum())

    @property
    def dim(self) -> int:
        return self.bank.dim

    @property
    def beta(self) -> float:
        return self._beta

    @beta.setter
    def beta(self, value) -> None:
        self._beta = check_beta(value)

    def __repr__(self) -> str:
        return (f"ShardedMemory(N={self.n_memories}, local={self.bank.n_memories}, world={self.world}, K={self.dim}, "
                f"similarity={self.similarity!r}, beta={self.beta:g})")

    # ---- collectives (no-ops on one process) -----------------------------------------------------
    def _comm(self, t: torch.Tensor) -> torch.Tensor:
        """t on the device the collectives use (NCCL: the GPU; gloo: the CPU)."""
        backend = dist.get_backend(self.group) if self.world > 1 else "gloo"
        return t.to("cuda" if backend == "nccl" else "cpu")

    def _all_reduce(self, t: torch.Tensor, op) -> torch.Tensor:
        if self.world == 1:
            return t
        c = self._comm(t).contiguous()
        dist.all_reduce(c, op=op, group=self.group)
        self.bytes_per_step += c.numel() * c.element_size()
        return c.to(t.device)

    def _all_gather(self, t: torch.Tensor) -> torch.Tensor:
        """(world, *t.shape) of every rank's t, in rank order."""
        if self.world == 1:
            return t[None]
        c = self._comm(t).contiguous()
        parts = [torch.empty_like(c) for _ in range(self.world)]
        dist.all_gather(parts, c, group=self.group)
        self.bytes_per_step += c.numel() * c.element_size()
        return torch.stack(parts).to(t.device)

    # ---- one pass over this rank's memories --------------------------------------------------------
    def _rows(self, b: int) -> int:
        return int(self.chunk_rows or max(MIN_CHUNK_ROWS, CHUNK_ELEMENTS // max(1, b)))

    def local_sums(self, states: torch.Tensor, candidates: int = 0, nearest: bool = False) -> SoftmaxSums:
        """One streamed pass over this rank's bank for states (b, K): the online-softmax sums (module docstring);
        with ``candidates`` > 0 also the largest logits with their global indices and sum exp(2 (l - m)) (for n_eff;
        0 otherwise), with ``nearest`` the index of the largest logit (a max with indices: 4x an amax here)."""
        b, K = states.shape
        qs = states * (2.0 * self.beta if self.similarity == "l2" else self.beta)  # (b, K) beta on the small side
        top = torch.full((b,), -torch.inf, dtype=self.dtype, device=self.device)
        total = torch.zeros(b, dtype=self.dtype, device=self.device)
        square = torch.zeros_like(total)
        value = torch.zeros(b, K, dtype=self.dtype, device=self.device)
        first = torch.zeros(b, dtype=torch.long, device=self.device)
        c_logits = torch.empty(b, 0, dtype=self.dtype, device=self.device)
        c_index = torch.empty(b, 0, dtype=torch.long, device=self.device)
        floor = exp_floor(self.dtype)
        for start, chunk in self.bank.iter_chunks(self._rows(b)):
            x = chunk.to(device=self.device, dtype=self.dtype)  # (r, K), float16 on disk -> dtype here
            # logits as (r, b): x @ qs^T with the bank as the long side ran 2-7x faster on this CPU than the (b, r)
            # product qs @ x^T (and addmm's broadcast bias), for b = 64 queries and r = 65,536 memories
            if self.similarity == "l2":
                key = (start, x.shape[0])
                if key not in self._sq_norms:  # ||xi||^2 once per chunk (4 bytes per memory), not once per pass
                    self._sq_norms[key] = torch.linalg.vector_norm(x, dim=-1).square_()  # (r,)
                logits = torch.addmm(self._sq_norms[key][:, None], x, qs.T, beta=-self.beta)  # (r, b)
            else:
                logits = x @ qs.T  # (r, b)
            if nearest:
                m, arg = logits.max(dim=0)  # (b,)
                first = torch.where(m > top, arg + (self.offset + start), first)
            else:
                m = logits.amax(dim=0)  # (b,)
            new_top = torch.maximum(top, m)
            if candidates:
                v, i = torch.topk(logits, min(candidates, logits.shape[0]), dim=0)  # (c, b)
                c_logits, c_index = _merge_candidates(c_logits, c_index, v.T, i.T + (self.offset + start), candidates)
            old, here = torch.exp(top - new_top), torch.exp(m - new_top)  # (b,) rescalings, <= 1
            e = logits.sub_(m).clamp_(min=floor).exp_()  # (r, b) in place, max 1 (exp_floor: fast exp)
            total = total * old + e.sum(0) * here
            if candidates:
                square = square * old * old + (e * e).sum(0) * (here * here)
            value = value * old[:, None] + (e.T @ x) * here[:, None]
            top = new_top
        return SoftmaxSums(top, total, square, value, c_logits if candidates else None,
                           c_index if candidates else None, first)

    def merged_sums(self, states: torch.Tensor, candidates: int = 0, nearest: bool = False) -> SoftmaxSums:
        """``local_sums`` merged over the ranks: the sums of the whole bank (identical on every rank); ``nearest``:
        also the global index of each row's largest logit (one more small all-gather)."""
        loc = self.local_sums(states, candidates, nearest)
        if self.world == 1:
            return loc
        top = self._all_reduce(loc.top.clone(), dist.ReduceOp.MAX)  # (b,)
        scale = torch.exp(loc.top - top)  # (b,) empty shards: exp(-inf) = 0
        pack = torch.cat([(loc.total * scale)[:, None], (loc.square * scale * scale)[:, None],
                          loc.value * scale[:, None]], dim=1)  # (b, K + 2)
        pack = self._all_reduce(pack, dist.ReduceOp.SUM)
        out = SoftmaxSums(top, pack[:, 0], pack[:, 1], pack[:, 2:])
        if nearest:  # the rank holding the max logit; ties -> the lowest index
            out.first = self._all_gather(torch.where(loc.top == top, loc.first, self.n_memories)).amin(0)  # (b,)
        if candidates:
            g_logits = self._all_gather(loc.cand_logits)  # (world, b, c)
            g_index = self._all_gather(loc.cand_index)
            vals, pos = torch.topk(g_logits.permute(1, 0, 2).reshape(states.shape[0], -1),
                                   min(candidates, g_logits.shape[0] * g_logits.shape[2]), dim=-1)
            out.cand_logits = vals
            out.cand_index = torch.gather(g_index.permute(1, 0, 2).reshape(states.shape[0], -1), 1, pos)
        return out

    def energy(self, states: torch.Tensor, sums: SoftmaxSums) -> torch.Tensor:
        """E(s) (HEN eq. 1, energy.py) from the merged sums: lse = m + log S; dot: 1/2 ||s||^2 - lse / beta;
        l2: ||s||^2 - lse / beta (the L2 logits carry + beta ||s||^2). (b,)"""
        lse = sums.top + sums.total.log()
        sq = (states * states).sum(-1)
        return (0.5 * sq if self.similarity == "dot" else sq) - lse / self.beta

    # ---- the dynamics (same loop and early stopping as HopfieldMemory._dynamics) ----------------------
    def retrieve(self, queries, steps: int = 100, tol: float = 1e-6, topk: int = 5) -> RetrievalResult:
        """Run the dynamics from each query until it converges or ``steps`` updates are done (every rank calls
        this with the same queries). Returns a RetrievalResult with ``weights`` None (the (B, N) weights never
        exist in one place); top-k, n_eff, top_index, top_weight and n_above are merged exactly. ``nearest``
        (the step-0 winner, the nearest memory of each query) is stored in ``self.nearest`` (B,).
        """
        q = as_queries(queries, self.dim, self.device, self.dtype)
        steps, tol, k = check_run_options(steps, tol, topk, self.n_memories)
        b = q.shape[0]
        s = q.clone()  # (b, K)
        energy = torch.full((b,), float("nan"), dtype=self.dtype, device=self.device)
        n_steps = torch.zeros(b, dtype=torch.long, device=self.device)
        converged = torch.zeros(b, dtype=torch.bool, device=self.device)
        evaluate = torch.arange(b, device=self.device)  # rows whose state changed since their last evaluation
        energies, self.nearest = [], None
        self.step_bytes = []
        cand = max(k, N_ABOVE_CANDIDATES)
        for t in range(steps + 1):
            moving = evaluate[~converged[evaluate]]
            last = t == steps or moving.numel() == 0
            self.bytes_per_step = 0
            if last:
                sums = self.merged_sums(s, min(cand, self.n_memories), nearest=t == 0)  # final statistics: one pass
                energy[evaluate] = self.energy(s, sums)[evaluate]
            else:
                rows = evaluate if evaluate.numel() < b else slice(None)
                sums = self.merged_sums(s[rows], nearest=t == 0)  # one pass: the update of moving rows, the energy of all
                energy[evaluate] = self.energy(s[rows], sums)
                new_all = sums.value / sums.total[:, None]  # (e, K)
            if t == 0:
                self.nearest = sums.first.cpu()
            self.step_bytes.append(self.bytes_per_step)
            energies.append(energy.clone())
            if last:
                break
            keep = ~converged[evaluate]  # moving rows within evaluate
            new = new_all[keep]
            done = moved_less(new, s[moving], tol)
            s[moving] = new
            n_steps[moving] = t + 1
            converged[moving[done]] = True
            evaluate = moving
        return self._result(s, torch.stack(energies), sums, t, converged, n_steps, k)

    def _result(self, s, energies, sums: SoftmaxSums, T, converged, n_steps, k) -> RetrievalResult:
        w = torch.exp(sums.cand_logits - sums.top[:, None]) / sums.total[:, None]  # (b, c) largest weights
        n_eff = sums.total**2 / sums.square.clamp_min(1e-300)
        winner, tied = winner_of_logits(sums.cand_logits, sums.cand_index)  # memory.ties, from the candidates
        return RetrievalResult(
            states=s.float().cpu(), energies=energies.float().cpu(), weights=None, steps=int(T),
            converged=converged.cpu(), topk_indices=sums.cand_index[:, :k].cpu(),
            topk_weights=w[:, :k].float().cpu(), n_steps=n_steps.cpu(), n_eff=n_eff.float().cpu(),
            top_index=winner.cpu(), top_weight=w[:, 0].float().cpu(), n_above=(w > 0.05).sum(-1).cpu(),
            tied=tied.cpu())
