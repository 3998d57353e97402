"""A 2-D map of a memory bank: principal component analysis of its codes (for Explore's retrieval map).

The memories Xi (N, K) are centred on their mean and projected on their two leading principal directions; any
state s (a query, a streamed state s_hat(t) of HEN eq. 6, the final state) is projected with the SAME mean and
directions, so a retrieval's path lands on the same map as the memories it moves between. PCA is the
exact SVD of the centred codes while that is affordable, else ``torch.pca_lowrank``'s randomised SVD (Halko et al.
2011) under a fixed seed, so one bank always gets the same map; each direction's sign is fixed (its largest
coordinate positive) for the same reason.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

PCA_NITER = 6  # subspace iterations of pca_lowrank: the two leading directions to ~1e-6 on our banks
PCA_OVERSAMPLE = 6  # extra directions in the randomised subspace (accuracy of the leading two)
EXACT_SVD_WORK = 4e9  # N K min(N, K) up to which the exact SVD runs (N = 1,000 x K = 2,352 pixels: ~1 s, once)


@dataclass
class PCAProjection:
    """x -> (x - mean) @ components.T: states (B, K) -> (B, 2)."""

    mean: torch.Tensor  # (K,) float32 mean memory
    components: torch.Tensor  # (2, K) float32 orthonormal principal directions
    explained: torch.Tensor  # (2,) fraction of the bank's variance along each direction

    def project(self, states) -> torch.Tensor:
        """(B, K) or (K,) states -> (B, 2) map coordinates (ValueError when K does not match the bank)."""
        x = torch.as_tensor(states, dtype=torch.float32).cpu()
        if x.ndim == 1:
            x = x[None]
        if x.ndim != 2 or x.shape[1] != self.mean.shape[0]:
            raise ValueError(f"States must have {self.mean.shape[0]} dimensions to be drawn on this bank's map; "
                             f"got shape {tuple(x.shape)}.")
        return (x - self.mean) @ self.components.T


def fit_pca(patterns, dims: int = 2) -> PCAProjection:
    """The bank's first ``dims`` principal directions: patterns (N, K) -> PCAProjection (deterministic)."""
    xi = torch.as_tensor(patterns, dtype=torch.float32).cpu()
    if xi.ndim != 2 or xi.shape[0] < 2:
        raise ValueError(f"A map needs at least two memories as an (N, K) array; got shape {tuple(xi.shape)}.")
    if not torch.isfinite(xi).all():
        raise ValueError("The memories contain NaN or infinite values; they cannot be drawn on a map.")
    mean = xi.mean(0)
    centred = xi - mean  # (N, K)
    n, k = centred.shape
    if n * k * min(n, k) <= EXACT_SVD_WORK:
        _, s, vh = torch.linalg.svd(centred, full_matrices=False)  # exact: vh (min(N, K), K)
        comps = vh[:dims].contiguous()  # (dims, K)
    else:
        q = min(dims + PCA_OVERSAMPLE, n, k)
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(0)
            _, s, v = torch.pca_lowrank(centred, q=q, center=False, niter=PCA_NITER)  # v (K, q)
        comps = v[:, :dims].T.contiguous()  # (dims, K)
    if comps.shape[0] < dims:  # K or N smaller than dims: pad with zero directions (a flat map)
        comps = torch.cat([comps, comps.new_zeros(dims - comps.shape[0], comps.shape[1])])
        s = torch.cat([s, s.new_zeros(dims)])
    flip = torch.sign(comps.gather(1, comps.abs().argmax(1, keepdim=True)))  # (dims, 1) largest coordinate > 0
    comps = comps * torch.where(flip == 0, torch.ones_like(flip), flip)
    total = float((centred * centred).sum())
    explained = (s[:dims] ** 2) / total if total > 0 else torch.zeros(dims)
    return PCAProjection(mean=mean, components=comps, explained=explained.float())
