"""Separation functions Sep: scores -> weights on the simplex, and their convex conjugates.

The retrieval update is s <- Xi^T Sep(beta * z) (HEN eq. 2 / 6; U-Hop eq. 1.2, 2.4).

    softmax        alpha = 1 entmax (Ramsauer et al. 2020; HEN eq. 2)
    sparsemax      alpha = 2 entmax, Sparsemax(z) = [z - tau(z)]_+ (U-Hop App. D.1 eq. D.3)
    entmax:<a>     alpha-EntMax, 1 < a <= 2, variational form U-Hop eq. D.1 with the Tsallis
                   entropy of eq. D.2 (Hu et al. 2023, Wu et al. 2024)
    poly:<n>       dense associative memory with F_n(x) = x^n / n (Krotov & Hopfield 2016; the
                   U-Hop baseline uses n = 10), see ``poly_weights`` for the continuous form.

The sparse maps come from the ``entmax`` package (exact sort-based sparsemax and 1.5-entmax,
bisection for other alpha); tests compare them with an independent sort-based implementation.
"""

from __future__ import annotations

from dataclasses import dataclass

import entmax
import torch


@dataclass(frozen=True)
class Separation:
    """A parsed separation name.

    Args:
        kind: "softmax", "entmax" (sparsemax is entmax with alpha = 2) or "poly".
        alpha: Tsallis alpha in [1, 2] (1 for softmax); unused for poly.
        n: the polynomial order for poly (>= 2); 0 otherwise.
    """

    kind: str
    alpha: float = 1.0
    n: int = 0

    @property
    def name(self) -> str:
        if self.kind == "softmax":
            return "softmax"
        if self.kind == "poly":
            return f"poly:{self.n}"
        return "sparsemax" if self.alpha == 2.0 else f"entmax:{self.alpha:g}"

    @property
    def is_sparse(self) -> bool:
        return self.kind == "entmax"


def _argument(name: str, text: str, cast, default, what: str, example: str):
    """The number after ':' in ``text`` (``default`` when there is none), read with ``cast``."""
    _, _, arg = text.partition(":")
    try:
        return cast(arg) if arg else default
    except ValueError:
        raise ValueError(f"Could not read the {what} in {name!r}; write e.g. '{example}'.") from None


def parse_separation(name) -> Separation:
    """Parse "softmax" | "sparsemax" | "entmax:<alpha>" (1 < alpha <= 2) | "poly:<n>" (integer n >= 2)."""
    if isinstance(name, Separation):
        return name
    if not isinstance(name, str):
        raise ValueError(f"separation must be a string such as 'softmax', got {name!r}.")
    text = name.strip().lower()
    if text == "softmax":
        return Separation("softmax", 1.0)
    if text == "sparsemax":
        return Separation("entmax", 2.0)
    if text.startswith("entmax"):
        alpha = _argument(name, text, float, 1.5, "alpha", "entmax:1.5")
        if not (1.0 < alpha <= 2.0):
            raise ValueError(f"entmax alpha must be in (1, 2] (1 would be softmax); got {alpha:g}.")
        return Separation("entmax", alpha)
    if text.startswith("poly"):
        n = _argument(name, text, int, 10, "order", "poly:10")
        if n < 2:
            raise ValueError(f"The polynomial order n must be an integer >= 2; got {n}.")
        return Separation("poly", 1.0, n)
    raise ValueError(
        f"Unknown separation {name!r}; choose 'softmax', 'sparsemax', 'entmax:<alpha>' or 'poly:<n>'."
    )


def poly_weights(z: torch.Tensor, n: int) -> torch.Tensor:
    """Normalized dense-associative-memory weights p_mu ∝ F_n'(z_mu) = relu(z_mu)^(n-1).

    Continuous-state form of Krotov & Hopfield (2016): the DAM update s <- Xi^T F_n'(Xi s) grows
    without bound for n > 2 on real-valued states, so we normalize the weights onto the simplex
    (like softmax), which keeps the state in the convex hull of the memories. beta does not change
    these weights (they are scale invariant). If no score is positive the weights are uniform.
    z: (B, N) -> (B, N).
    """
    r = torch.relu(z)
    m = r.amax(dim=-1, keepdim=True)  # (B, 1) divide first so r^(n-1) cannot overflow
    q = (r / m.clamp_min(torch.finfo(z.dtype).tiny)) ** (n - 1)
    q = torch.where(m > 0, q, torch.ones_like(q))
    return q / q.sum(dim=-1, keepdim=True)


def separate(sep: Separation, z: torch.Tensor, beta: float) -> torch.Tensor:
    """Weights p = Sep(beta * z) on the simplex: z (B, N) -> (B, N)."""
    if sep.kind == "softmax":
        return torch.softmax(beta * z, dim=-1)
    if sep.kind == "poly":
        return poly_weights(z, sep.n)
    theta = beta * z
    if sep.alpha == 2.0:
        return entmax.sparsemax(theta, dim=-1)
    if sep.alpha == 1.5:
        return entmax.entmax15(theta, dim=-1)
    # general alpha: bisection on the threshold (entmax package); float64 keeps it accurate
    p = entmax.entmax_bisect(theta.double(), alpha=sep.alpha, dim=-1, n_iter=60)
    return p.to(z.dtype)


def tsallis_entropy(p: torch.Tensor, alpha: float) -> torch.Tensor:
    """H_alpha(p) = sum(p - p^alpha) / (alpha (alpha - 1)); Shannon -sum p log p at alpha = 1 (U-Hop eq. D.2).

    (U-Hop writes Psi_alpha for this quantity; as an entropy it enters alpha-EntMax with a plus sign:
    EntMax(theta) = argmax_p <p, theta> + H_alpha(p).)  p (B, N) -> (B,).
    """
    if alpha == 1.0:
        return -torch.special.xlogy(p, p).sum(-1)
    return (p - p.clamp_min(0) ** alpha).sum(-1) / (alpha * (alpha - 1.0))


def conjugate(sep: Separation, z: torch.Tensor, beta: float, p: torch.Tensor | None = None) -> torch.Tensor:
    """(1/beta) Psi*_alpha(beta z), the concave part of the energy (U-Hop eq. 2.3), z (B, N) -> (B,).

    Psi*(theta) = max_p <p, theta> + H_alpha(p) = <p*, theta> + H_alpha(p*), p* = EntMax(theta), so
    (1/beta) Psi*(beta z) = <p*, z> + H_alpha(p*) / beta. For softmax this is lse(beta, z) =
    (1/beta) log sum exp(beta z) (U-Hop eq. 1.1, HEN eq. 1); for alpha = 2 it equals U-Hop's
    1/2||beta z||^2 - 1/2||p* - beta z||^2 + 1/2, divided by beta. Its gradient in z is p*, which is why
    the update is a concave-convex (CCCP) step. For poly:n we use ||relu(z)||_n (see energy.py).
    """
    if sep.kind == "softmax":
        return torch.logsumexp(beta * z, dim=-1) / beta
    if sep.kind == "poly":
        r = torch.relu(z)
        m = r.amax(dim=-1)
        scaled = (r / m.clamp_min(torch.finfo(z.dtype).tiny).unsqueeze(-1)) ** sep.n
        return torch.where(m > 0, m * scaled.sum(-1) ** (1.0 / sep.n), torch.zeros_like(m))
    if p is None:
        p = separate(sep, z, beta)
    return (p * z).sum(-1) + tsallis_entropy(p, sep.alpha) / beta
