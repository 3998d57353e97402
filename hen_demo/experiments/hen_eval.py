"""Batched HEN evaluation for the experiments: a thin wrapper over ``HENPipeline.run`` (the one scoring path).

``evaluate`` builds a :class:`hen_demo.pipeline.HENPipeline` (beta absolute, or relative to the bank's
calibration, ``hen_demo.memory.calibrated_beta``), runs every query in one batched call and returns one CSV
row: identity, the one-shot nearest-neighbour ceiling, MSE / 1 - SSIM (scored on the device by the pipeline),
metastability and rank collapse. ``evaluate_memory`` / ``retrieve_batched`` remain only for memories the
pipeline does not hold (the kernel memory network baseline of rank-collapse), and use the same metrics; every
HopfieldMemory experiment (the uniqueness probe included) runs through the pipeline.

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

import dataclasses
import time
from dataclasses import dataclass

import numpy as np
import torch

from hen_demo import metrics
from hen_demo.data.corruptions import CORRUPTIONS, FILLS, HIDING
from hen_demo.memory.ties import correct_mask, winner_of_weights
from hen_demo.pipeline import HENPipeline, MemoryConfig, RunOptions

CONDITION_HELP = "kind[:amount[:fill]], e.g. occlude-bottom:0.5:black, mask-random:0.3, noise:0.3"


def parse_condition(text: str) -> tuple[str, float, str]:
    """``"kind[:amount[:fill]]"`` -> (kind, amount, fill); amount defaults to 0.5, fill to black."""
    parts = [p.strip() for p in str(text).split(":")]
    kind = parts[0]
    if kind not in CORRUPTIONS:
        raise ValueError(f"unknown corruption {kind!r} in condition {text!r}; choose one of: {', '.join(CORRUPTIONS)}.")
    try:
        amount = float(parts[1]) if len(parts) > 1 and parts[1] else 0.5
    except ValueError:
        raise ValueError(f"the amount in condition {text!r} must be a number ({CONDITION_HELP}).") from None
    fill = parts[2] if len(parts) > 2 else "black"
    if fill not in FILLS:
        raise ValueError(f"unknown fill {fill!r} in condition {text!r}; choose one of: {', '.join(FILLS)}.")
    return kind, amount, fill


def fill_label(kind: str, fill: str) -> str:
    """The fill as a table shows it: the fill name where pixels are hidden, "-" for noise / no corruption."""
    return fill if kind in HIDING else "-"


def bank_head(bank, n: int):
    """The first ``n`` memories of a bank (nested banks for scale-out and cross-modal), sharing storage."""
    if n >= len(bank.codes):
        return bank
    tc = None if bank.text_codes is None else bank.text_codes[:n]
    return dataclasses.replace(bank, codes=bank.codes[:n], recon=bank.recon[:n], images=bank.images[:n],
                               captions=list(bank.captions or [])[:n], ids=list(bank.ids or [])[:n], text_codes=tc,
                               labels=None if bank.labels is None else list(bank.labels)[:n], n=n)


def evaluate(bank, encoder, queries: torch.Tensor, targets, similarity: str = "l2", beta: float | None = None,
             beta_relative: float | None = None, steps: int = 100, tol: float = 1e-6, clamp=None,
             cross_modal: bool = False, text_weight: float = 1.0, device=None, rank_size: int = 512) -> dict:
    """Retrieve ``queries (B, K)`` from ``bank`` through ``HENPipeline.run`` and return one CSV row (a dict).

    Give ``beta`` (absolute, HEN eq. 2) or ``beta_relative`` (times ``calibrated_beta``); the row records both
    (``beta`` = the absolute value used, ``beta_relative`` = the same relative to the calibration, and
    ``beta_mode``). ``nn_ceiling``: the queries' one-shot nearest-neighbour identity (the representation's
    ceiling); ``rank_collapse`` on the first min(B, rank_size) states (SVD cost).
    """
    t0 = time.perf_counter()
    pipe = HENPipeline(MemoryConfig(bank, encoder, similarity=similarity, beta=beta, beta_relative=beta_relative,
                                    device=device, cross_modal=cross_modal, text_weight=text_weight))
    out = pipe.run(queries, RunOptions(steps=steps, tol=tol, topk=1), targets=targets, clamp=clamp)
    t = np.asarray(targets)
    m = min(len(t), rank_size)
    patterns = pipe.memory.patterns.float().cpu()
    rel = pipe.beta_relative
    return dict(
        device=str(pipe.memory.device), beta_mode="absolute" if beta is not None else "relative", beta=pipe.beta,
        beta_relative=float("nan") if rel is None else float(rel),
        mse=float(out.mse.mean()), one_minus_ssim=float(out.one_minus_ssim.mean()),
        identity_accuracy=out.identity, nn_ceiling=out.nn_ceiling,
        metastable_fraction=out.metastable_fraction(), effective_memories=float(out.n_eff.mean()),
        rank_collapse=metrics.rank_collapse(out.states[:m], reference=patterns[torch.as_tensor(t[:m])]),
        converged_fraction=float(out.converged.mean()), steps=out.steps,
        seconds=round(time.perf_counter() - t0, 3))


def beta_settings(beta, beta_relative) -> list[tuple[float | None, float | None]]:
    """[(beta, None), ..., (None, r), ...]: the absolute beta(s) beside each calibrated relative beta. Each
    argument is one number, a list of them, or None."""
    def as_list(v):
        return [] if v is None else (list(v) if isinstance(v, (list, tuple)) else [v])

    return [(float(b), None) for b in as_list(beta)] + [(None, float(r)) for r in as_list(beta_relative)]


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


def retrieve_batched(memory, queries: torch.Tensor, steps: int, clamp=None, tol: float = 1e-6):
    """Run ``memory.retrieve`` on all queries in one call (HopfieldMemory splits the batch itself to bound its
    (B, N) matrices). Returns (states (B, K), weights (B, N), steps, converged)."""
    kw = {} if clamp is None else {"clamp": clamp}  # KMN has no clamp
    out = memory.retrieve(queries, steps=steps, tol=tol, topk=1, **kw)
    return out.states, out.weights, int(out.steps), out.converged


def winners(weights: torch.Tensor) -> tuple[np.ndarray, np.ndarray]:
    """The memory each query chose from its final weights (B, N): (argmax_n |p_n| (B,) int64, tied (B,) bool),
    ties as in ``hen_demo.memory.ties`` (a tied state is a mixture and counts as no retrieval)."""
    w, tied = winner_of_weights(torch.as_tensor(weights).abs())
    return w.cpu().numpy().astype(np.int64), tied.cpu().numpy()


def nn_ceiling(queries: torch.Tensor, patterns: torch.Tensor, targets: np.ndarray) -> float:
    """One-shot nearest-neighbour identity: fraction of queries whose L2-nearest memory is the target
    (a query as near to two memories, ``memory.ties``, finds neither)."""
    nn, tied = metrics.nearest_index(torch.as_tensor(queries).to(patterns.device, patterns.dtype), patterns,
                                     with_ties=True)
    ok = correct_mask(nn.cpu().numpy(), tied.cpu().numpy(), np.asarray(targets))
    return float(ok.mean()) if len(ok) else float("nan")


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
        identity_accuracy=float(correct_mask(*winners(weights), targets).mean()) if len(targets) else float("nan"),
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
