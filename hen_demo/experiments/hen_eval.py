"""Batched HEN evaluation: encode corrupted queries, retrieve all of them in one engine call, decode, score.

HEN eq. 7-8: memories xi_n = Phi_enc(x_n), queries s^(0) = Phi_enc(corrupted x_n), T_f steps of the modern
Hopfield update (HEN eq. 2) in latent space, then Phi_dec(s^(T_f)). Following HEN §3.1, the decoded retrieval is
compared with the encoder's own reconstruction of the stored memory (``bank.recon``), so a perfect identity
recall scores MSE = 1 - SSIM = 0 whatever the encoder's reconstruction quality.

One definition of identity, the pipeline's (``hen_demo.pipeline``): a query is recalled when the memory with the
largest final weight (the winner) is its target. Beside it stands ``nn_ceiling``: the one-shot nearest-neighbour
identity of the query codes (argmin L2 to the memories), the ceiling the representation sets. Images are scored
batched on the memory's device (``metrics.image_scores``).
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np
import torch

from hen_demo import metrics


@dataclass
class RetrievalScores:
    """Mean scores of one batched retrieval run."""

    mse: float
    one_minus_ssim: float
    identity_accuracy: float
    metastable_fraction: float
    effective_memories: float
    rank_collapse: float
    nn_ceiling: float  # one-shot nearest-neighbour identity of the queries (nan when not measured)
    converged_fraction: float
    steps: int
    seconds: float

    def row(self) -> dict:
        """The scalar scores as a dict (one CSV row's worth)."""
        return dict(mse=self.mse, one_minus_ssim=self.one_minus_ssim, identity_accuracy=self.identity_accuracy,
                    metastable_fraction=self.metastable_fraction, effective_memories=self.effective_memories,
                    rank_collapse=self.rank_collapse, nn_ceiling=self.nn_ceiling,
                    converged_fraction=self.converged_fraction,
                    steps=self.steps, seconds=round(self.seconds, 3))


def retrieve_batched(memory, queries: torch.Tensor, steps: int, clamp=None, tol: float = 1e-6):
    """Run ``memory.retrieve`` on all queries in one call (HopfieldMemory splits the batch itself to bound its
    (B, N) matrices). Returns (states (B, K), weights (B, N), steps, converged)."""
    kw = {} if clamp is None else {"clamp": clamp}  # KMN has no clamp
    out = memory.retrieve(queries, steps=steps, tol=tol, topk=1, **kw)
    return out.states, out.weights, int(out.steps), out.converged


def winners(weights: torch.Tensor) -> np.ndarray:
    """The memory each query chose: argmax_n |p_n| of its final weights (B, N) -> (B,) int64."""
    return torch.as_tensor(weights).abs().argmax(1).cpu().numpy().astype(np.int64)


def nn_ceiling(queries: torch.Tensor, patterns: torch.Tensor, targets: np.ndarray) -> float:
    """One-shot nearest-neighbour identity: fraction of queries whose L2-nearest memory is the target."""
    nn = metrics.nearest_index(torch.as_tensor(queries).to(patterns.device, patterns.dtype), patterns).cpu().numpy()
    return float((nn == np.asarray(targets)).mean()) if len(nn) else float("nan")


def score_retrieval(states: torch.Tensor, weights: torch.Tensor, patterns: torch.Tensor, targets: np.ndarray,
                    decode, reference_images: np.ndarray, image_slice: slice | None = None,
                    rank_size: int = 512, queries: torch.Tensor | None = None, device=None) -> dict:
    """Scores of retrieved ``states (B, K)`` against the targets' stored memories.

    decode: codes (B, K_img) -> images (B, 3, s, s) in [0,1]; reference_images: uint8 (B, s, s, 3), the
    encoder's reconstruction of each target memory. image_slice: which part of the state is the image code
    (hetero-association). rank_size: rank collapse is computed on the first min(B, rank_size) queries (SVD cost).
    queries: the query codes (B, K), for the nearest-neighbour ceiling (nan without). device: where the images
    are scored (default: the patterns' device).
    """
    img_states = states if image_slice is None else states[:, image_slice]
    decoded = decode(img_states)  # (B, 3, s, s)
    per_mse, per_ssim = metrics.image_scores(decoded, reference_images,
                                             device=device if device is not None else torch.as_tensor(patterns).device)
    m = min(len(targets), rank_size)
    targets = np.asarray(targets)
    return dict(
        mse=float(per_mse.mean()),
        one_minus_ssim=float(per_ssim.mean()),
        identity_accuracy=float((winners(weights) == targets).mean()) if len(targets) else float("nan"),
        metastable_fraction=metrics.metastable_fraction(weights),
        effective_memories=float(metrics.effective_memories(weights).mean()),
        rank_collapse=metrics.rank_collapse(states[:m], reference=patterns[torch.as_tensor(targets[:m])]),
        nn_ceiling=float("nan") if queries is None else nn_ceiling(queries, torch.as_tensor(patterns), targets),
    )


def evaluate_memory(memory, patterns: torch.Tensor, queries: torch.Tensor, targets: np.ndarray, decode,
                    reference_images: np.ndarray, steps: int = 100, clamp=None,
                    image_slice: slice | None = None, rank_size: int = 512) -> RetrievalScores:
    """Retrieve ``queries (B, K)`` from ``memory`` (one batched call) and score them (see score_retrieval)."""
    t0 = time.perf_counter()
    states, weights, n_steps, conv = retrieve_batched(memory, queries, steps, clamp=clamp)
    s = score_retrieval(states, weights, patterns, targets, decode, reference_images, image_slice, rank_size,
                        queries=queries)
    return RetrievalScores(**s, converged_fraction=float(conv.float().mean()), steps=n_steps,
                           seconds=time.perf_counter() - t0)
