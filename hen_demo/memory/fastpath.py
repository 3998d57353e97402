"""Fast softmax retrieval step through ``torch.nn.functional.scaled_dot_product_attention``.

One modern Hopfield step with softmax separation is attention (HEN eq. 4-6; Ramsauer et al. 2020):
s' = softmax(beta * Xi s) Xi = SDPA(q = s, k = Xi, v = Xi, scale = beta). Inputs are 4-D
(1, 1, B, D): on CPU that takes the flash kernel, which never builds the (B, N) score matrix.

Similarities on the fast path (softmax only):
    dot     q = s,            k = xi,                    v = xi,     scale = beta
    l2      q = [s, 1],       k = [xi, -||xi||^2 / 2],   v = [xi, 0], scale = 2 beta
            so the logits are 2 beta (xi.s - ||xi||^2/2) = -beta ||xi - s||^2 + beta ||s||^2; the last
            term is constant per query and cancels in the softmax. Folding the key bias into an
            extra dimension keeps the flash kernel (an additive attn_mask measured slower on CPU;
            see bench.py). The zero column of v keeps q, k, v at one head size (flash requires it).
    kernel  q = W s, k = W xi, v = xi (zero-padded to a common width), scale = beta (U-Hop eq. 2.4)

The energy needs log sum exp of the logits at every step. On CPU the flash op
``aten._scaled_dot_product_flash_attention_for_cpu`` returns it with the output at no extra cost
(this is the op the public function dispatches to). Where that op is missing (other devices,
other torch builds) we call the public function and compute the log-sum-exp with one extra
chunked matmul; the result is the same.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from .separation import Separation
from .similarity import PreparedSimilarity

FAST_SIMILARITIES = ("dot", "l2", "kernel")
_CHUNK_ELEMENTS = 1 << 24
# "auto" uses the fused matmul while the (B, N) logits stay below this many elements, sdpa above
MATMUL_MAX_SCORES = 1 << 22


def fast_supported(similarity: PreparedSimilarity, sep: Separation) -> bool:
    """The fast path covers softmax separation with dot, l2 and kernel similarity."""
    return sep.kind == "softmax" and similarity.name in FAST_SIMILARITIES


def _pad(x: torch.Tensor, width: int) -> torch.Tensor:
    return x if x.shape[-1] == width else F.pad(x, (0, width - x.shape[-1]))


class FastAttentionStep:
    """Precomputed keys/values for one bank; ``step(states)`` -> (new states (B, K), lse (B,)).

    Args:
        similarity: a PreparedSimilarity with name in FAST_SIMILARITIES.
        beta: inverse temperature (> 0).
    """

    def __init__(self, similarity: PreparedSimilarity, beta: float, method: str = "auto"):
        if method not in ("auto", "sdpa", "matmul"):
            raise ValueError(f"Unknown fast-path method {method!r}; use 'auto', 'sdpa' or 'matmul'.")
        self.method = method
        self.n = similarity.patterns.shape[0]
        if similarity.name not in FAST_SIMILARITIES:
            raise ValueError(f"The fast path does not support the {similarity.name} similarity.")
        self.similarity = similarity
        xi = similarity.patterns  # (N, K)
        self.dim = xi.shape[1]
        if similarity.name == "dot":
            keys, values, self.scale = xi, xi, beta
        elif similarity.name == "l2":
            keys = torch.cat([xi, -0.5 * similarity.sq_norms[:, None]], dim=1)  # (N, K+1)
            values = _pad(xi, self.dim + 1)  # (N, K+1)
            self.scale = 2.0 * beta
        else:
            keys, values, self.scale = similarity.keys, xi, beta  # (N, D_phi), (N, K)
        width = max(keys.shape[1], values.shape[1])
        self.width = width
        self.k = _pad(keys, width)[None, None].contiguous()  # (1, 1, N, D)
        self.v = _pad(values, width)[None, None].contiguous()  # (1, 1, N, D)
        self._flash = getattr(torch.ops.aten, "_scaled_dot_product_flash_attention_for_cpu", None)

    def queries(self, states: torch.Tensor) -> torch.Tensor:
        """states (B, K) -> q (1, 1, B, D)."""
        name = self.similarity.name
        if name == "l2":
            q = torch.cat([states, states.new_ones(states.shape[0], 1)], dim=1)
        elif name == "kernel":
            q = states @ self.similarity.W.T
        else:
            q = states
        return _pad(q, self.width)[None, None].contiguous()

    def step(self, states: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """One softmax update of all rows of ``states`` (B, K); also returns lse (B,) of the logits."""
        if self.method == "matmul" or (self.method == "auto" and states.shape[0] * self.n <= MATMUL_MAX_SCORES):
            return self.step_matmul(states)
        return self.step_sdpa(states)

    def step_matmul(self, states: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The same update as one fused matmul -> in-place exp -> matmul: builds the (B, N) logits
        once and gets the weights and the log-sum-exp from one pass over them."""
        q = self.queries(states)[0, 0]  # (B, D)
        k = self.k[0, 0]  # (N, D)
        logits = torch.mm(q, k.T).mul_(self.scale)  # (B, N)
        lse = torch.logsumexp(logits, dim=-1, keepdim=True)  # (B, 1)
        weights = logits.sub_(lse).exp_()  # (B, N) softmax, in place
        return torch.mm(weights, self.v[0, 0])[:, : self.dim], lse[:, 0]

    def step_sdpa(self, states: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The update through scaled_dot_product_attention (4-D inputs; flash kernel on CPU)."""
        q = self.queries(states)
        if states.device.type == "cpu" and self._flash is not None:
            try:
                out, lse = self._flash(q, self.k, self.v, 0.0, False, attn_mask=None, scale=self.scale)
                return out[0, 0, :, : self.dim], lse.reshape(-1)
            except (RuntimeError, TypeError):  # op present but refuses these inputs: public path below
                self._flash = None
        out = F.scaled_dot_product_attention(q, self.k, self.v, scale=self.scale)[0, 0, :, : self.dim]
        return out, self.logsumexp(q[0, 0])

    def logsumexp(self, q: torch.Tensor) -> torch.Tensor:
        """log sum_n exp(scale * q.k_n) for q (B, D), in row chunks: (B,)."""
        k = self.k[0, 0]
        rows = max(1, _CHUNK_ELEMENTS // max(1, k.shape[0]))
        parts = [torch.logsumexp(self.scale * (q[i : i + rows] @ k.T), dim=-1) for i in range(0, q.shape[0], rows)]
        return torch.cat(parts)
