"""Fast softmax retrieval step through ``torch.nn.functional.scaled_dot_product_attention``.

One modern Hopfield step with softmax separation is attention (HEN eq. 4-6; Ramsauer et al. 2020):
s' = softmax(beta * Xi s) Xi = SDPA(q = s, k = Xi, v = Xi, scale = beta). Inputs are 4-D
(1, 1, B, D): on CPU that takes the flash kernel, which never builds the (B, N) score matrix.

Similarities on the fast path (softmax only), with logits = scale * q.k + key bias:
    dot     q = s,    k = v = xi,  scale = beta,    no bias
    l2      q = s,    k = v = xi,  scale = 2 beta,  key bias -beta ||xi||^2 (an additive attn_mask,
            a stride-0 view expanded over the queries), so the logits are
            2 beta xi.s - beta ||xi||^2 = -beta ||xi - s||^2 + beta ||s||^2; the last term is constant
            per query and cancels in the softmax (our L2 convention z = -||xi - s||^2, similarity.py).
    cosine  q = s / ||s||, k = xi / ||xi||, v = xi, scale = beta (zero vectors stay zero)
    kernel  q = W s, k = W xi, v = xi, zero-padded to a common width rounded up to a multiple of 16,
            scale = beta (U-Hop eq. 2.4)

The energy needs log sum exp of the logits at every step. On CPU the flash op
``aten._scaled_dot_product_flash_attention_for_cpu`` returns it with the output at no extra cost
(it is the op the public function dispatches to). Where that op is missing (other devices, other
torch builds) the public function would need one extra matmul for the log-sum-exp, so
``method="auto"`` then takes the fused matmul step instead (matmul -> in-place exp -> matmul, one
pass over the (B, N) logits for both the weights and the log-sum-exp).

Measured on the shared 2-core CPU (torch 2.13, float32, B = 256, K = 2,352, N = 6,000 / 15,000;
CPU-seconds because other jobs were running, so ratios only): flash sdpa 0.98-1.12 of torch.mm's
throughput, the fused matmul step 0.90-0.93. For L2, the key bias as an expanded attn_mask ran at
1.00-1.12, the same as folding it into an extra key column padded to a multiple of 16 (1.01-1.05),
while the unpadded fold (K + 1 = 2,353 wide) fell to 0.89-0.93; the mask needs no copy of the bank,
so we use it.

Kernel per shape (``method="auto"``), measured again in issue 12 on the shared 2-core CPU (CPU-time ratios to
one square 4096 torch.mm): with B x N small (B = 256 queries, K = 2,352, N = 6,000) the fused matmul step reached
0.84-0.90 and flash sdpa 0.75-0.77; with B x N large (N = B = 6,000, K = 192) flash sdpa reached 0.83-0.89 and
the matmul step 0.47 (its (B, N) logits no longer fit the caches). So "auto" takes flash sdpa on the CPU when
B x N >= ``SDPA_MIN_SCORES`` and the fused matmul step otherwise (and on other devices). The matmul step
pre-scales the queries (beta folded into the (B, K) side, never a pass over the (B, N) logits), divides the
(B, K) output rather than the (B, N) weights by the softmax sum, and reuses its logits buffer between steps.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from .separation import Separation
from .similarity import _CHUNK_ELEMENTS, PreparedSimilarity, accurate, safe_normalize
from .ties import winner_of_weights

FAST_SIMILARITIES = ("dot", "l2", "cosine", "kernel")


def fast_supported(similarity: PreparedSimilarity, sep: Separation) -> bool:
    """The fast path covers softmax separation with dot, l2, cosine and kernel similarity."""
    return sep.kind == "softmax" and similarity.name in FAST_SIMILARITIES


def _pad(x: torch.Tensor, width: int) -> torch.Tensor:
    return x if x.shape[-1] == width else F.pad(x, (0, width - x.shape[-1]))


FAST_METHODS = ("auto", "sdpa", "matmul")
SDPA_MIN_SCORES = 8_000_000  # B x N from which "auto" takes flash sdpa on the CPU (module docstring)
# final_stats' chunk, ~8 MB of float32 logits: measured on this CPU (issue 12), 0.5 / 2 / 8 / 32 MB took
# 60 / 35 / 28 / 28 ms at (N 6000, K 2352, B 256) and 200 / 116 / 105 / 104 ms at (N 6000, K 192, B 6000)
STATS_CHUNK_ELEMENTS = 1 << 21
# Shifted logits are clamped from below before exp (``exp_floor``): on this CPU (torch 2.13, AVX2) exp of arguments
# below about -88 (results denormal or 0) leaves the vectorised kernel and ran 100-500x slower (1 thread, 2M floats:
# 0.5 ms in [-10, 0], 278 ms in [-103, -88], 109 ms in [-2000, -110]), and products of denormals (the squares of
# n_eff, the weights times the values) take a slow microcode path too; at beta = 150 most logits of a (B, N)
# matrix are there, so one exp pass cost more than the step's two matmuls.


def exp_floor(dtype: torch.dtype) -> float:
    """The clamp for shifted logits l - max: exp of it and its square stay normal numbers (-40.7 for float32,
    -351 for float64). Each clamped weight is at most exp(floor) (4e-18 in float32) where it was smaller, so a
    sum (>= 1) changes by at most N exp(floor): below float32 rounding up to N = 10^9."""
    return 0.5 * math.log(torch.finfo(dtype).tiny) + 3.0


def check_fast_method(method: str) -> None:
    """ValueError unless ``method`` names a fast-path kernel choice."""
    if method not in FAST_METHODS:
        raise ValueError(f"Unknown fast-path method {method!r}; use 'auto', 'sdpa' or 'matmul'.")


class FastAttentionStep:
    """Keys, values and key bias for one bank; ``step(states)`` -> (new states (B, K), lse (B,)).

    Args:
        similarity: a PreparedSimilarity with name in FAST_SIMILARITIES.
        beta: inverse temperature (> 0).
        method: "auto" (sdpa where its flash kernel returns the log-sum-exp, i.e. CPU; fused matmul
            elsewhere), "sdpa" or "matmul".
    """

    def __init__(self, similarity: PreparedSimilarity, beta: float, method: str = "auto"):
        check_fast_method(method)
        if similarity.name not in FAST_SIMILARITIES:
            raise ValueError(f"The fast path does not support the {similarity.name} similarity.")
        self.method = method
        self.similarity = similarity
        xi = similarity.patterns  # (N, K)
        self.dim = xi.shape[1]
        self.bias = None  # (N,) additive key bias of the logits
        if similarity.name == "kernel":
            width = -(-max(similarity.keys.shape[1], self.dim) // 16) * 16
            keys, values, self.scale = _pad(similarity.keys, width), _pad(xi, width), beta  # (N, D)
        elif similarity.name == "cosine":
            keys, values, self.scale = similarity.keys, xi, beta  # (N, K) unit rows, (N, K)
        else:
            keys = values = xi  # (N, K), no copy of the bank
            self.scale = beta
            if similarity.name == "l2":
                self.scale = 2.0 * beta
                self.bias = -beta * similarity.sq_norms  # (N,)
        self.width = keys.shape[1]
        self.k = keys[None, None]  # (1, 1, N, D)
        self.v = values[None, None]  # (1, 1, N, D)
        self._flash = getattr(torch.ops.aten, "_scaled_dot_product_flash_attention_for_cpu", None)
        self._buffer = None  # (B, N) logits buffer of the matmul step, reused while the shape stays

    def queries(self, states: torch.Tensor) -> torch.Tensor:
        """states (B, K) -> q (B, D)."""
        if self.similarity.name == "kernel":
            return _pad(states @ self.similarity.W.T, self.width)
        if self.similarity.name == "cosine":
            return safe_normalize(states)
        return states

    def flash_available(self, device: torch.device) -> bool:
        """True where sdpa's flash kernel also hands back the log-sum-exp (CPU builds of torch >= 2.2)."""
        return device.type == "cpu" and self._flash is not None

    def kernel(self, batch: int, device: torch.device) -> str:
        """The kernel a step of ``batch`` queries takes: "sdpa" or "matmul" (module docstring)."""
        if self.method != "auto":
            return self.method
        large = batch * self.k.shape[2] >= SDPA_MIN_SCORES
        return "sdpa" if large and self.flash_available(device) else "matmul"

    def step(self, states: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """One softmax update of all rows of ``states`` (B, K); also returns lse (B,) of the logits."""
        if self.kernel(states.shape[0], states.device) == "matmul":
            return self.step_matmul(states)
        return self.step_sdpa(states)

    def _scaled_logits(self, q: torch.Tensor, out: torch.Tensor | None = None) -> torch.Tensor:
        """scale * q k^T + bias into ``out`` (b, N) (default: the reused step buffer), scale folded into q (b, D):
        (b, N) float32 or wider (half-precision q: a new float32 matrix, ``out`` unused)."""
        k = self.k[0, 0]
        if q.dtype in (torch.float16, torch.bfloat16):
            return self._logits(q)
        buf = out
        if buf is None:
            shape = (q.shape[0], k.shape[0])
            buf = self._buffer
            if buf is None or buf.shape != shape or buf.dtype != q.dtype or buf.device != q.device:
                buf = self._buffer = torch.empty(shape, dtype=q.dtype, device=q.device)
        qs = q * self.scale  # (b, D): beta on the small side
        if self.bias is None:
            return torch.mm(qs, k.T, out=buf)
        return torch.addmm(self.bias.to(q.dtype), qs, k.T, out=buf)

    def _logits(self, q: torch.Tensor) -> torch.Tensor:
        """scale * q k^T + bias for q (b, D): (b, N), at least float32 (beta * z overflows half precision)."""
        k = self.k[0, 0]
        if q.dtype in (torch.float16, torch.bfloat16):
            logits = torch.mm(q, k.T).float().mul_(self.scale)
            return logits if self.bias is None else logits.add_(self.bias)
        if self.bias is None:
            return torch.mm(q, k.T).mul_(self.scale)
        return torch.addmm(self.bias.to(q.dtype), q, k.T, alpha=self.scale)

    def weights(self, states: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Softmax weights (B, N) (at least float32) and lse (B,) of the logits, from one pass over them."""
        logits = self._logits(self.queries(states))  # (B, N)
        top = logits.amax(dim=-1, keepdim=True)  # (B, 1); subtracting the max keeps exp exact at large beta
        weights = logits.sub_(top).clamp_(min=exp_floor(logits.dtype)).exp_()  # (B, N) in place
        total = weights.sum(dim=-1, keepdim=True)  # (B, 1) >= 1
        return weights.div_(total), (top + total.log())[:, 0]

    def final_stats(self, states: torch.Tensor, k: int) -> dict[str, torch.Tensor]:
        """The final state's softmax statistics without keeping the (B, N) weights: lse (B,), n_eff = 1 / sum p^2,
        the winner (argmax; ties as in memory.ties) and its weight, the tie flag, the count of weights > 0.05, and
        the top-k (indices, weights).

        Computed in row chunks small enough for the CPU's caches (each chunk's logits are built, reduced and
        dropped), so on large B x N it costs about one matmul instead of the several full-size passes that
        materialising, copying and reducing the weights take. Same numbers as ``weights`` + ``weight_stats``.
        """
        n = self.k.shape[2]
        rows = max(1, STATS_CHUNK_ELEMENTS // max(1, n))
        # the top-k from a top-k pass of k logits; the winner, the tie flag (memory.ties) and n_above from compares
        # over the chunk's weights (a top-20 pass, which holds every weight > 0.05, took 2x a top-5's time)
        kk = min(n, int(k))
        out = {name: [] for name in ("lse", "n_eff", "top_i", "top_w", "n_above", "tied", "idx", "vals")}
        buf = None  # one cache-sized (rows, N) logits buffer for every chunk
        for i in range(0, states.shape[0], rows):
            q = self.queries(states[i : i + rows])  # (r, D)
            if buf is None and q.dtype not in (torch.float16, torch.bfloat16):
                buf = torch.empty(min(rows, states.shape[0]), n, dtype=q.dtype, device=q.device)
            logits = self._scaled_logits(q, None if buf is None else buf[: q.shape[0]])  # (r, N)
            top = logits.amax(dim=-1, keepdim=True)  # (r, 1) the largest logit
            vals, idx = torch.topk(logits, kk, dim=-1)  # (r, kk) largest logits = largest weights, sorted
            e = logits.sub_(top).clamp_(min=exp_floor(logits.dtype)).exp_()  # (r, N) unnormalised weights, max 1
            total = e.sum(dim=-1, keepdim=True)  # (r, 1) >= 1
            w = (vals - top).exp_().div_(total)  # (r, kk) the largest weights
            out["lse"].append((top + total.log())[:, 0])
            out["n_eff"].append(total[:, 0] ** 2 / torch.linalg.vector_norm(e, dim=-1).square().clamp_min(1e-30))
            top_i, tied = winner_of_weights(e)  # ties (memory.ties): the lowest index within TIE_LOG_GAP, the flag
            out["top_i"].append(top_i)
            out["tied"].append(tied)
            out["top_w"].append(1.0 / total[:, 0])  # the largest weight exp(0) / total
            out["n_above"].append((e > 0.05 * total).sum(dim=-1))
            out["idx"].append(idx[:, :k])  # (r, k), (r, 0) for k = 0
            out["vals"].append(w[:, :k])
        return {name: torch.cat(parts) for name, parts in out.items()}

    def step_matmul(self, states: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The update as one fused matmul -> in-place exp -> matmul: the (B, N) logits are built once (in a
        reused buffer) and one pass over them gives the unnormalised weights and the log-sum-exp; the
        softmax sum divides the (B, K) output."""
        logits = self._scaled_logits(self.queries(states))  # (B, N)
        low, top = torch.aminmax(logits, dim=-1, keepdim=True)  # (B, 1) each, one pass
        logits.sub_(top)
        floor = exp_floor(logits.dtype)
        if bool(((low - top) < floor).any()):  # the clamp pass only where exp would leave its fast path
            logits.clamp_(min=floor)
        e = logits.exp_()  # (B, N) in place, max 1
        total = e.sum(dim=-1, keepdim=True)  # (B, 1) >= 1
        out = torch.mm(e.to(self.v.dtype), self.v[0, 0])[:, : self.dim].div_(total.to(self.v.dtype))
        return out, (top + total.log())[:, 0]

    def step_sdpa(self, states: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The update through scaled_dot_product_attention (4-D inputs; flash kernel on CPU)."""
        q = self.queries(states)[None, None]  # (1, 1, B, D)
        mask = None
        if self.bias is not None:
            mask = self.bias.to(q.dtype).view(1, 1, 1, -1).expand(1, 1, q.shape[2], -1)  # (1, 1, B, N) view
        if self.flash_available(states.device):
            try:
                out, lse = self._flash(q, self.k, self.v, 0.0, False, attn_mask=mask, scale=self.scale)
                return out[0, 0, :, : self.dim], lse.reshape(-1)
            except (RuntimeError, TypeError):  # op present but refuses these inputs: public path below
                self._flash = None
        out = F.scaled_dot_product_attention(q, self.k, self.v, attn_mask=mask, scale=self.scale)
        return out[0, 0, :, : self.dim], accurate(self.logsumexp(q[0, 0]))

    def logsumexp(self, q: torch.Tensor) -> torch.Tensor:
        """log sum_n exp(logits) for q (B, D), in row chunks: (B,)."""
        rows = max(1, _CHUNK_ELEMENTS // max(1, self.k.shape[2]))
        return torch.cat([torch.logsumexp(self._logits(q[i : i + rows]), dim=-1) for i in range(0, q.shape[0], rows)])
