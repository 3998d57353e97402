"""Ties: what the winner, the identity and the top-k mean when two memories hold equal weight.

The one rule of the project (the engine, the pipeline, the experiments and the tests' references use it):

* **Weights.** Memories whose weight is within a factor ``exp(-TIE_LOG_GAP)`` of the largest weight
  (their scores ``beta * sim`` within ``TIE_LOG_GAP`` = 1e-3 of the top score: weights within 0.1 %) are
  *tied*. The reported ``winner`` is the lowest index among them (a fixed, documented choice, never a side
  effect of sort order), and ``tied`` says that there were two or more.
* **An exact tie is a mixture, not a retrieval.** A tied final state is not counted as retrieving the target,
  even when the target is among the tied memories: ``correct = (winner == target) and not tied``. (Two tied
  memories each hold at most half of the weight, so the verdict is a metastable mixture anyway; the rule only
  stops the identity accuracy from crediting a coin flip decided by rounding.)
* **Distances.** The same for nearest-neighbour identity (the one-shot ceiling and the nearest memory of a
  final state): memories whose squared L2 distance is within ``DIST_TIE_RTOL`` (1e-4) of the smallest, relative
  to the scale ``||s||^2 + ||xi||^2`` of that distance, are tied.

Why these tolerances: float32 scores carry a relative error of about ``sqrt(K) * 6e-8`` (at most ~1e-5 for the
K <= 4096 used here), so ``beta * sim`` of two exactly symmetric memories differ by far less than 1e-3 in any
summation order or SIMD width; a gap of 1e-3 in the logits is already a weight ratio of only 1.001, which no
verdict should call a decision.
"""

from __future__ import annotations

import math

import torch

__all__ = ["TIE_LOG_GAP", "DIST_TIE_RTOL", "winner_of_weights", "winner_of_logits", "nearest_of",
           "correct_mask"]

TIE_LOG_GAP = 1e-3  # log p_max - log p_n below this: memory n ties with the top (weights within 0.1 %)
DIST_TIE_RTOL = 1e-4  # squared distances within this fraction of ||s||^2 + ||xi||^2 of the smallest tie


def winner_of_weights(p: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(winner (B,) int64, tied (B,) bool) of non-negative weights p (B, N), on p's device.

    winner = the lowest index whose weight is >= max * exp(-TIE_LOG_GAP); tied = two or more such memories.
    """
    top = p.amax(dim=-1, keepdim=True)  # (B, 1)
    near = p >= top * math.exp(-TIE_LOG_GAP)  # (B, N) the top and every memory tied with it
    return near.to(torch.uint8).argmax(dim=-1), near.sum(dim=-1) >= 2  # argmax returns the first maximum


def winner_of_logits(vals: torch.Tensor, idx: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """The same rule from the largest logits ``vals`` (B, k), sorted descending, and their memory indices ``idx``.

    Only the k candidates are seen: with more than k tied memories the winner is the lowest index among them.
    """
    near = vals >= vals[:, :1] - TIE_LOG_GAP  # (B, k)
    big = torch.iinfo(idx.dtype).max
    return torch.where(near, idx, torch.full_like(idx, big)).amin(dim=-1), near.sum(dim=-1) >= 2


def nearest_of(states: torch.Tensor, patterns: torch.Tensor, p_sq: torch.Tensor | None = None
               ) -> tuple[torch.Tensor, torch.Tensor]:
    """(nearest (B,) int64, tied (B,) bool): the L2-nearest memory of each state (B, K) among patterns (N, K).

    Squared distances via ||s||^2 - 2 s.xi + ||xi||^2; memories within DIST_TIE_RTOL * (||s||^2 + ||xi||^2)
    of the smallest distance tie, and the lowest index among them is reported.
    """
    if p_sq is None:
        p_sq = (patterns * patterns).sum(1)  # (N,)
    s_sq = (states * states).sum(1, keepdim=True)  # (B, 1)
    d = (p_sq[None] - 2.0 * states @ patterns.T).add_(s_sq)  # (B, N) squared distances
    best = d.argmin(dim=-1, keepdim=True)  # (B, 1)
    low = d.gather(1, best)  # (B, 1)
    slack = DIST_TIE_RTOL * (s_sq + p_sq[best[:, 0]][:, None])  # (B, 1)
    near = d <= low + slack  # (B, N)
    return near.to(torch.uint8).argmax(dim=-1), near.sum(dim=-1) >= 2


def correct_mask(winner, tied, targets):
    """``winner == target and not tied`` elementwise (numpy or torch, any matching shapes)."""
    return (winner == targets) & ~tied
