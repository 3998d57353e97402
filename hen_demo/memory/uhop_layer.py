"""U-Hop Hopfield layer for deep learning (U-Hop §3, Def. 3.1, Alg. 2).

The layer (U-Hop §3)

    U-Hop(Xi, X) = Sep(beta (W_K Phi(Xi))^T W_Q Phi(X)) W_V W_K Xi

is a kernelised Hopfield / attention layer: queries X and memories Xi pass through a learnable
feature map Phi(u) = W u (the kernel of U-Hop eq. 2.1) before the query/key projections. Here
(rows = tokens):

    q = W_Q(Phi(x))  (B, L, d_k)     k = W_K(Phi(xi))  (B, M, d_k)     v = W_V(xi)  (B, M, d_out)
    out = Sep(beta q k^T) v          (B, L, d_out)

``W_V W_K Xi`` of the paper is a product of two linear maps applied to the raw memories; we keep it
as one value projection W_V (the same function class, fewer parameters). Sep is softmax,
sparsemax or alpha-entmax (``separation="entmax:1.5"``), from hen_demo.memory.separation.

Alg. 2 alternates N_i SGD steps on Phi's weights (theta) with the DL separation loss
(Def. 3.1) and one step of the task loss on all parameters (theta_F). :meth:`UHopLayer.separation_loss`
computes the loss and :meth:`UHopLayer.separation_step` runs the inner loop.

Def. 3.1 uses K_bar(u, v) = <Phi_bar(u), Phi_bar(v)> with *normalised* features (as in U-Hop App.
D.2; otherwise Phi = 0 would trivially minimise it):

    L_bar(Xi; t) = log E_{u,v ~ Xi} exp(2t [K_bar(u, v)^2 - 1])

minimised by mutually orthogonal features of distinct tokens (Thm 3.1, needs M <= D_Phi). Xi is the
set of memory tokens of one sequence; the loss is averaged over the batch. The u = v pairs of the
i.i.d. expectation (each exp(0) = 1) are kept by default, as in hen_demo.memory.uhop.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from hen_demo.memory.hopfield import check_beta
from hen_demo.memory.separation import parse_separation, separate
from hen_demo.memory.similarity import safe_normalize


class UHopLayer(nn.Module):
    """Kernelised Hopfield layer usable in place of attention (U-Hop §3).

    Args:
        d_model: token dimension d of queries and memories.
        d_phi: feature dimension D_Phi of Phi (default d_model; must be >= d_model, Assumption 2.1).
        d_k: query/key dimension (default d_model).
        d_out: output dimension (default d_model).
        separation: "softmax" | "sparsemax" | "entmax:<alpha>" (1 < alpha <= 2).
        beta: inverse temperature (default 1 / sqrt(d_k), as in attention).
        bias: biases on W_Q, W_K, W_V.
    """

    def __init__(self, d_model: int, d_phi: int | None = None, d_k: int | None = None, d_out: int | None = None,
                 separation: str = "softmax", beta: float | None = None, bias: bool = False):
        super().__init__()
        for name, val in (("d_model", d_model), ("d_phi", d_phi), ("d_k", d_k), ("d_out", d_out)):
            if val is not None and (isinstance(val, bool) or not isinstance(val, int) or val < 1):
                raise ValueError(f"{name} must be a positive int, got {val!r}.")
        d_phi = d_model if d_phi is None else d_phi
        if d_phi < d_model:
            raise ValueError(f"d_phi = {d_phi} must be >= d_model = {d_model} so Phi is full rank (U-Hop Assumption 2.1).")
        d_k = d_model if d_k is None else d_k
        d_out = d_model if d_out is None else d_out
        sep = parse_separation(separation)
        if sep.kind == "poly":
            raise ValueError("UHopLayer supports softmax, sparsemax and entmax:<alpha> separations, not poly.")
        self.separation = sep
        self.beta = 1.0 / math.sqrt(d_k) if beta is None else check_beta(beta)
        self.d_model, self.d_phi, self.d_k, self.d_out = d_model, d_phi, d_k, d_out
        self.phi = nn.Linear(d_model, d_phi, bias=False)  # Phi(u) = W u, U-Hop eq. 2.1
        self.q_proj = nn.Linear(d_phi, d_k, bias=bias)  # W_Q
        self.k_proj = nn.Linear(d_phi, d_k, bias=bias)  # W_K
        self.v_proj = nn.Linear(d_model, d_out, bias=bias)  # W_V (W_V W_K of the paper, merged)
        with torch.no_grad():  # start from W^T W = I: Phi preserves inner products (full rank)
            nn.init.orthogonal_(self.phi.weight)

    def kernel_parameters(self) -> list[nn.Parameter]:
        """theta of Alg. 2: the feature map's weights, trained by the separation loss."""
        return list(self.phi.parameters())

    @staticmethod
    def _check(x: torch.Tensor, name: str, d: int) -> None:
        if not isinstance(x, torch.Tensor) or x.ndim != 3 or x.shape[-1] != d:
            shape = tuple(x.shape) if isinstance(x, torch.Tensor) else type(x).__name__
            raise ValueError(f"{name} must be a (B, length, {d}) tensor, got {shape}.")

    def forward(self, x: torch.Tensor, memories: torch.Tensor | None = None,
                return_weights: bool = False):
        """x (B, L, d) queries; memories (B, M, d) or None (self-attention style: memories = x).

        Returns out (B, L, d_out), and the separation weights (B, L, M) if return_weights.
        """
        self._check(x, "x", self.d_model)
        mem = x if memories is None else memories
        self._check(mem, "memories", self.d_model)
        if mem.shape[0] != x.shape[0]:
            raise ValueError(f"x has batch size {x.shape[0]} but memories have {mem.shape[0]}.")
        q = self.q_proj(self.phi(x))  # (B, L, d_k)
        k = self.k_proj(self.phi(mem))  # (B, M, d_k)
        v = self.v_proj(mem)  # (B, M, d_out)
        z = q @ k.transpose(1, 2)  # (B, L, M) scores before beta
        p = separate(self.separation, z, self.beta)  # (B, L, M) on the simplex
        out = p @ v  # (B, L, d_out)
        return (out, p) if return_weights else out

    def separation_loss(self, memories: torch.Tensor, t: float = 2.0, include_self: bool = True) -> torch.Tensor:
        """DL separation loss L_bar_Phi (U-Hop Def. 3.1) of each sequence's tokens, batch mean.

        memories (B, M, d) -> scalar. K_bar = cosine of the features Phi(u), Phi(v).
        """
        self._check(memories, "memories", self.d_model)
        if not t > 0:
            raise ValueError(f"t must be > 0, got {t}.")
        b, m, _ = memories.shape
        if not include_self and m < 2:
            raise ValueError("include_self=False needs at least 2 memory tokens per sequence.")
        f = safe_normalize(self.phi(memories))  # (B, M, D_Phi) Phi_bar: unit-norm features
        kbar = f @ f.transpose(1, 2)  # (B, M, M) K_bar(u, v)
        logits = 2.0 * t * (kbar * kbar - 1.0)  # (B, M, M)
        eye = torch.eye(m, dtype=torch.bool, device=memories.device)
        if include_self:
            logits = logits.masked_fill(eye, 0.0)  # K_bar(u, u) = 1 exactly
            count = m * m
        else:
            logits = logits.masked_fill(eye, float("-inf"))
            count = m * (m - 1)
        per_seq = torch.logsumexp(logits.reshape(b, -1), dim=1) - math.log(count)  # (B,)
        return per_seq.mean()

    def separation_step(self, memories: torch.Tensor, lr: float = 0.1, steps: int = 1, t: float = 2.0) -> float:
        """Alg. 2 lines 2-5: `steps` plain SGD steps theta <- theta - lr grad L_bar on the kernel only.

        Returns the loss before the last step. The other parameters' .grad are left untouched.
        """
        if not (lr > 0 and math.isfinite(lr)):
            raise ValueError(f"lr must be a positive number, got {lr!r}.")
        params = self.kernel_parameters()
        value = float("nan")
        for _ in range(int(steps)):
            loss = self.separation_loss(memories.detach(), t=t)
            grads = torch.autograd.grad(loss, params)
            with torch.no_grad():
                for p, g in zip(params, grads):
                    p -= lr * g
            value = float(loss.detach())
        return value

    def extra_repr(self) -> str:
        return (f"d_model={self.d_model}, d_phi={self.d_phi}, d_k={self.d_k}, d_out={self.d_out}, "
                f"separation={self.separation.name}, beta={self.beta:.4g}")
