"""Similarity measures sim(xi_n, s) between stored patterns and states.

HEN eq. 1 writes the modern Hopfield energy through a similarity f_sim({xi_n}, s); U-Hop compares
the dot product (eq. 1.1-1.2) with the negative squared L2 and negative Manhattan distances
(Millidge et al. 2022, the U-Hop baselines) and a learned linear kernel K(u, v) = <Wu, Wv>
(U-Hop eq. 2.1). Cosine similarity is the separability statistic of HEN Fig. 3.

Conventions (used consistently by the energies in ``energy.py`` and the fast path):
    dot:        z_n = <xi_n, s>
    l2:         z_n = -||xi_n - s||^2            (squared, no factor 1/2)
    manhattan:  z_n = -||xi_n - s||_1
    cosine:     z_n = <xi_n, s> / (||xi_n|| ||s||)   (0 for a zero vector)
    kernel:     z_n = <W xi_n, W s>              (U-Hop eq. 2.1)
    masked-l2:  z_n = -sum_{i visible} (xi_ni - s_i)^2   (VisibleL2: our mask-aware baseline, memory/masked.py)
Scores are "before beta": the separation sees beta * z.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

SIMILARITY_NAMES = ("dot", "l2", "manhattan", "cosine")

# bound on rows x N of any (rows, N) score / weight matrix built at once (distance scores here, the
# fast path's log-sum-exp, HopfieldMemory.retrieve's blocks of queries), to bound memory
_CHUNK_ELEMENTS = 1 << 24


@dataclass
class LinearKernel:
    """Learned linear feature map Phi(u) = W u and its kernel K(u, v) = <Wu, Wv> (U-Hop eq. 2.1).

    Args:
        W: (D_phi, K) float tensor (or array). D_phi >= K keeps the kernel non-singular (U-Hop §2).
    """

    W: torch.Tensor  # (D_phi, K) feature map weights

    def __post_init__(self):
        W = torch.as_tensor(self.W)
        if W.ndim != 2 or W.shape[0] < 1 or W.shape[1] < 1:
            raise ValueError(f"The kernel matrix W must be 2-D (D_phi, K); got shape {tuple(W.shape)}.")
        if not W.is_floating_point():
            W = W.float()
        if not torch.isfinite(W).all():
            raise ValueError("The kernel matrix W contains NaN or infinite values.")
        self.W = W

    @property
    def dim(self) -> int:
        """K, the pattern dimension the kernel accepts."""
        return int(self.W.shape[1])

    @property
    def feature_dim(self) -> int:
        """D_phi, the feature dimension."""
        return int(self.W.shape[0])

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """Phi(x) = x W^T: (B, K) -> (B, D_phi)."""
        return x @ self.W.to(device=x.device, dtype=x.dtype).T

    def __call__(self, u: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
        """K(u, v) for rows: u (B, K), v (N, K) -> (B, N)."""
        return self.features(u) @ self.features(v).T


@dataclass(eq=False)
class VisibleL2:
    """The mask-aware L2 similarity: squared distance over the visible dims only (our baseline, not the papers').

    sim_M(xi, s) = -sum_{i: visible_i} (xi_i - s_i)^2 = -(M s^2) + 2 (M s) xi^T - M xi^2  (three products);
    the hidden dims of a state take no part in its scores. Used with those dims clamped to the query
    (``HopfieldMemory(..., similarity=VisibleL2(v)).retrieve(q, clamp=v)``), see ``hen_demo.memory.masked``.

    Args:
        visible: (K,) bool, True = compared (a query's visible pixel values).
    """

    visible: torch.Tensor  # (K,) bool

    def __post_init__(self):
        v = torch.as_tensor(self.visible)
        if v.dtype != torch.bool or v.ndim != 1:
            raise ValueError(f"The visible dims must be a boolean mask of shape (K,); got {v.dtype} {tuple(v.shape)}.")
        if not bool(v.any()):
            raise ValueError("Every dim is hidden: the mask-aware similarity needs some visible pixels.")
        self.visible = v

    @property
    def dim(self) -> int:
        return int(self.visible.shape[0])


def check_similarity(similarity) -> str | LinearKernel | VisibleL2:
    """Validate a similarity argument; returns the name, the LinearKernel or the VisibleL2."""
    if isinstance(similarity, (LinearKernel, VisibleL2)):
        return similarity
    if isinstance(similarity, str) and similarity.strip().lower() in SIMILARITY_NAMES:
        return similarity.strip().lower()
    raise ValueError(
        f"Unknown similarity {similarity!r}; choose one of {', '.join(SIMILARITY_NAMES)} or pass a LinearKernel."
    )


def accurate(x: torch.Tensor) -> torch.Tensor:
    """x in float32 when it is bfloat16/float16 (sums of squares and energies overflow half precision)."""
    return x.float() if x.dtype in (torch.float16, torch.bfloat16) else x


def safe_normalize(x: torch.Tensor) -> torch.Tensor:
    """Rows divided by their L2 norm; zero rows stay zero (cosine of a zero vector := 0)."""
    norm = x.norm(dim=-1, keepdim=True)
    return torch.where(norm > 0, x / norm.clamp_min(torch.finfo(x.dtype).tiny), torch.zeros_like(x))


class PreparedSimilarity:
    """A similarity bound to one pattern bank, with per-bank quantities computed once.

    Args:
        similarity: a name from SIMILARITY_NAMES or a LinearKernel.
        patterns: (N, K) tensor already on the working device / dtype.
    """

    def __init__(self, similarity, patterns: torch.Tensor):
        self.kind = check_similarity(similarity)
        self.patterns = patterns  # (N, K)
        if isinstance(self.kind, LinearKernel):
            if self.kind.dim != patterns.shape[1]:
                raise ValueError(
                    f"The kernel's W has {self.kind.dim} columns but the patterns have dimension {patterns.shape[1]}."
                )
            self.W = self.kind.W.to(device=patterns.device, dtype=patterns.dtype)  # (D_phi, K)
            self.keys = patterns @ self.W.T  # (N, D_phi) Phi(xi_n)
        elif isinstance(self.kind, VisibleL2):
            if self.kind.dim != patterns.shape[1]:
                raise ValueError(f"The visible mask covers {self.kind.dim} dims but the patterns have "
                                 f"{patterns.shape[1]}.")
            self.visible = self.kind.visible.to(device=patterns.device, dtype=patterns.dtype)  # (K,) in {0, 1}
            self.keys = patterns
            self.visible_sq = (patterns * patterns) @ self.visible  # (N,) sum_{i visible} xi_ni^2
        elif self.kind == "cosine":
            self.keys = safe_normalize(patterns)  # (N, K)
        else:
            self.keys = patterns
        self.sq_norms = (accurate(patterns) ** 2).sum(-1)  # (N,) ||xi_n||^2 (>= float32), for the L2 fast path

    @property
    def name(self) -> str:
        if isinstance(self.kind, VisibleL2):
            return "masked-l2"
        return "kernel" if isinstance(self.kind, LinearKernel) else self.kind

    def scores(self, states: torch.Tensor) -> torch.Tensor:
        """z = sim(Xi, s): states (B, K) -> (B, N), before beta."""
        kind = self.kind
        if isinstance(kind, LinearKernel):
            return (states @ self.W.T) @ self.keys.T
        if kind == "dot":
            return states @ self.patterns.T
        if kind == "cosine":
            return safe_normalize(states) @ self.keys.T
        if isinstance(kind, VisibleL2):
            ms = states * self.visible  # (B, K) the visible part of each state
            z = 2.0 * ms @ self.patterns.T - self.visible_sq  # (B, N)
            return (z - (ms * states).sum(-1, keepdim=True)).clamp_max(0.0)  # round-off can push a 0 above 0
        p = 2.0 if kind == "l2" else 1.0
        rows = max(1, _CHUNK_ELEMENTS // max(1, self.patterns.shape[0]))
        out = []
        for i in range(0, states.shape[0], rows):
            d = torch.cdist(states[i : i + rows], self.patterns, p=p)  # (b, N)
            out.append(-(d * d) if kind == "l2" else -d)
        return torch.cat(out, dim=0)

    def self_term(self, states: torch.Tensor) -> torch.Tensor:
        """The convex confinement term R(s) of the energy (see energy.py): (B, K) -> (B,).

        1/2 <s, s> for dot and cosine (HEN eq. 1 E_2), 1/2 K(s, s) for the kernel (U-Hop eq. 2.2),
        0 for the distances, whose scores already contain -||s||^2. At least float32.
        """
        if isinstance(self.kind, LinearKernel):
            f = accurate(states.to(self.W.dtype) @ self.W.T)
            return 0.5 * (f * f).sum(-1)
        if self.kind in ("dot", "cosine"):
            return 0.5 * (accurate(states) ** 2).sum(-1)
        return accurate(states).new_zeros(states.shape[0])
