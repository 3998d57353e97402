"""Energies of the retrieval models, evaluated at every step of the dynamics.

All models share one form (HEN eq. 1; U-Hop eq. 1.1 and 2.2):

    E(s) = R(s) - (1/beta) Psi*_alpha(beta z(s)),      z(s) = sim(Xi, s)  (B, N)

with R the convex confinement term (``PreparedSimilarity.self_term``) and Psi* the convex conjugate
of the Tsallis entropy (``separation.conjugate``; lse for softmax). The update
s <- Xi^T Sep(beta z(s)) is a concave-convex procedure (CCCP) step on E, so E never increases, when
-(1/beta) Psi*(beta z(s)) is concave in s and its gradient is -(R's Hessian) Xi^T p:

- dot (HEN eq. 1, U-Hop eq. 1.1):  E = 1/2 s^T s - lse(beta, Xi s)    [softmax]
                                   E = 1/2 s^T s - (1/beta) Psi*(beta Xi s)    [sparsemax, entmax]
  monotone (Ramsauer et al. 2020; Hu et al. 2023).
- kernel K(u,v) = <Wu, Wv> (U-Hop eq. 2.2): E = 1/2 K(s, s) - (1/beta) Psi*(beta K(Xi, s)); monotone
  (U-Hop Thm 2.1): the CCCP step solves W^T W s = W^T W Xi^T p, whose solution is Xi^T p.
- l2, z_n = -||xi_n - s||^2: E = -(1/beta) Psi*(beta z(s)), e.g. E = -(1/beta) log sum_n exp(-beta ||xi_n - s||^2)
  for softmax. Because Psi*(theta + c 1) = Psi*(theta) + c (weights sum to one),
  E = ||s||^2 - (1/beta) Psi*(beta (2 Xi s - ||xi||^2)): convex ||s||^2 plus a concave part, and the CCCP
  step 2 s' = 2 Xi^T p is exactly the update. Monotone, for softmax, sparsemax and entmax. R = 0 here.
- manhattan, z_n = -||xi_n - s||_1: we report E = -(1/beta) Psi*(beta z(s)) by analogy with l2, but the
  update is NOT a CCCP step of it, so nothing guarantees descent (on random Gaussian data with softmax
  we saw it decrease, but we have no proof).
- cosine: E = 1/2 s^T s - (1/beta) Psi*(beta cos(Xi, s)); reported for comparison only; it DOES rise
  along the dynamics in our checks (cosine is not linear in s).
- poly:n (dense associative memory, Krotov & Hopfield 2016): E = 1/2 R(s) - ||relu(z)||_n, the
  degree-1 homogeneous ("n-norm") form of -sum_mu F_n(z_mu), F_n(x) = x^n / n, which is bounded below
  for continuous states. Its exact CCCP step is s' = Xi^T w with w = relu(z)^(n-1) / ||relu(z)||_n^(n-1);
  we use the normalized weights p = w / sum(w) (``separation.poly_weights``) so the state stays in the
  memories' convex hull. The two agree when one memory dominates; in general this energy is NOT
  guaranteed to decrease under the normalized update: on random Gaussian data it rose for n = 2, 3
  and did not for n = 10 with dot similarity; with cosine similarity it rose for every n.
"""

from __future__ import annotations

import torch

from .separation import Separation, conjugate
from .similarity import PreparedSimilarity, accurate

# energy along the dynamics is monotone for these (similarity name, separation kind) pairs
MONOTONE = {("dot", "softmax"), ("dot", "entmax"), ("kernel", "softmax"), ("kernel", "entmax"),
            ("l2", "softmax"), ("l2", "entmax")}


def is_monotone(similarity: PreparedSimilarity, sep: Separation) -> bool:
    """True when the update is a CCCP step of the reported energy (so E(s_t) cannot increase)."""
    return (similarity.name, sep.kind) in MONOTONE


def hopfield_energy(
    similarity: PreparedSimilarity,
    sep: Separation,
    beta: float,
    states: torch.Tensor,
    scores: torch.Tensor | None = None,
    weights: torch.Tensor | None = None,
) -> torch.Tensor:
    """E(s) for states (B, K) -> (B,). ``scores`` (B, N) and ``weights`` (B, N) may be passed to avoid
    recomputing z(s) and Sep(beta z(s))."""
    z = accurate(similarity.scores(states) if scores is None else scores)
    return similarity.self_term(states) - conjugate(sep, z, beta, None if weights is None else accurate(weights))


def energy_from_lse(similarity: PreparedSimilarity, states: torch.Tensor, lse: torch.Tensor,
                    beta: float) -> torch.Tensor:
    """Softmax energy from the natural-log log-sum-exp of the fast path's logits (fastpath.py).

    ``lse`` (B,) = log sum_n exp(logit_n): for dot / cosine / kernel the logits are beta z; for l2 they are
    beta (2 xi.s - ||xi||^2) = beta z + beta ||s||^2, so E = ||s||^2 - lse / beta. Returns E (B,).
    """
    name = similarity.name
    if name in ("dot", "kernel", "cosine"):
        return similarity.self_term(states) - lse / beta
    if name == "l2":
        return (accurate(states) ** 2).sum(-1) - lse / beta
    raise ValueError(f"The fast path does not support the {name} similarity.")
