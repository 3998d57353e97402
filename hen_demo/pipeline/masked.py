"""The mask-aware raw-pixel baseline behind the pipeline's interface (our baseline, not the papers').

A thin adapter: the math (sim_M over visible pixels, the clamped HEN eq. 2 update, its calibrated beta)
lives in ``hen_demo.memory.masked``; here a :class:`HENPipeline` built on raw pixels lends its bank, its
decoder and its scoring, so the UI and the experiments get the same ``HENFrame`` / ``HENBatch`` results as
for every other memory. Refuses encoders (``check_mask_aware``): code dims must be pixels.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import torch

from hen_demo import metrics
from hen_demo.memory.masked import (
    MaskAwareMemory,
    check_mask_aware,
    masked_calibrated_beta,
    pixel_mask_to_code,
)
from hen_demo.memory.separation import separate

from .config import RunOptions
from .hen import HIST_EDGES, HENBatch, HENFrame, HENPipeline, HENResult, SimilarityHistogram
from .queries import resize_mask

MASK_AWARE = "mask-aware"  # the similarity's name in the UI and the experiments

__all__ = ["MASK_AWARE", "mask_aware_memory", "mask_aware_run", "mask_aware_stream"]


def _encoder_name(pipe: HENPipeline) -> str:
    return str(getattr(pipe.encoder, "name", type(pipe.encoder).__name__))


def mask_aware_memory(pipe: HENPipeline, hidden, relative: float | None = 1.0,
                      beta: float | None = None) -> tuple[MaskAwareMemory, torch.Tensor]:
    """(MaskAwareMemory over the pipeline's raw-pixel codes, visible (B, K) bool) for pixel masks hidden (B, H, W).

    beta: absolute, or ``relative`` to ``masked_calibrated_beta`` (the calibration of the visible dims).
    """
    check_mask_aware(_encoder_name(pipe))
    h = torch.as_tensor(np.asarray(hidden)).bool()
    h = h[None] if h.ndim == 2 else h  # (B, H, W)
    side = int(round((pipe.image_dims / 3) ** 0.5))  # the raw-pixel encoder's side (e.g. 28 for 64 px tiles)
    if h.ndim == 3 and h.shape[1:] != (side, side):  # a pixel is hidden when at least half its area was
        h = torch.from_numpy(np.stack([resize_mask(m, side) for m in h.numpy()]))
    visible = pixel_mask_to_code(~h)  # (B, 3 H W)
    if visible.shape[1] != pipe.image_dims:
        raise ValueError(f"The visibility mask covers {visible.shape[1]} pixel values but the raw-pixel codes have "
                         f"{pipe.image_dims}; make the mask at the bank's image size.")
    if not bool(visible.any(1).all()):
        raise ValueError("Every pixel of the query is hidden: the mask-aware similarity needs some visible pixels.")
    if beta is None:
        beta = masked_calibrated_beta(pipe.bank.codes, visible, 1.0 if relative is None else relative)
    return MaskAwareMemory(pipe.bank.codes, beta=beta, device=pipe.memory.device), visible


def mask_aware_run(pipe: HENPipeline, queries: torch.Tensor, hidden, options: RunOptions | None = None,
                   targets=None, relative: float | None = 1.0, beta: float | None = None) -> HENBatch:
    """Batched mask-aware retrieval of raw-pixel queries (B, K) with hidden pixels (B, H, W): a ``HENBatch``."""
    mem, visible = mask_aware_memory(pipe, hidden, relative, beta)
    return _run(pipe, mem, visible, torch.as_tensor(queries).float(), options or RunOptions(), targets)


def _run(pipe: HENPipeline, mem: MaskAwareMemory, visible: torch.Tensor, q: torch.Tensor, opts: RunOptions,
         targets) -> HENBatch:
    """``mask_aware_run`` on a memory already built (queries q (B, K), visible (B, K) bool)."""
    t = pipe._check_targets(targets, q.shape[0])
    out = mem.retrieve(q, visible, steps=opts.steps, tol=opts.tol, topk=1)
    winner, top_w, tied = out.top_index.numpy(), out.top_weight.numpy(), out.tied.numpy()
    images = pipe.decode_batch(out.states)
    refs = np.stack([pipe._reference(int(i)) for i in (winner if t is None else t)])
    mse, oms = metrics.image_scores(images, refs)
    verdicts = [metrics.verdict_from(int(winner[i]), float(top_w[i]), int(out.n_above[i]), float(out.n_eff[i]),
                                     None if t is None else int(t[i]), tied=bool(tied[i])) for i in range(len(winner))]
    # the one-shot ceiling of this similarity: the masked nearest neighbour = argmax sim_M at the query
    nn = mem.scores(q, visible).argmax(1).cpu().numpy()
    return HENBatch(states=out.states, images=images, mse=mse, one_minus_ssim=oms, winner=winner, top_weight=top_w,
                    n_eff=out.n_eff.numpy(), nn_index=nn, targets=t,
                    correct=None if t is None else (winner == t) & ~tied,
                    nn_correct=None if t is None else nn == t, verdicts=verdicts, converged=out.converged.numpy(),
                    steps=int(out.steps), tied=tied)


def mask_aware_stream(pipe: HENPipeline, query: torch.Tensor, hidden, options: RunOptions | None = None,
                      target: int | None = None, relative: float | None = 1.0,
                      beta: float | None = None) -> Iterator[HENFrame]:
    """One query (1, K) through the mask-aware memory, as ``HENPipeline.stream`` frames: the query (t = 0) and the
    final state (the weights are fixed by the visible pixels, so the update converges after one step)."""
    opts = options or RunOptions()
    q = torch.as_tensor(query).float().reshape(1, -1)
    mem, visible = mask_aware_memory(pipe, hidden, relative, beta)  # built once, for the run and the frames
    batch = _run(pipe, mem, visible, q, opts, None if target is None else [target])
    k = min(opts.topk, pipe.n)
    frames, energies = [], []
    for t, s in ((0, q), (max(1, batch.steps), batch.states)):
        p = separate(mem.separation, mem.scores(s, visible), mem.beta)[0]  # (N,) weights at s (any separation)
        w, i = p.topk(k)
        energies.append(float(mem.energy(s, visible)[0]))
        frames.append(HENFrame(t=t, image=pipe.decode(s), energies=list(energies), topk_indices=i.tolist(),
                               topk_weights=w.tolist(), n_eff=float(1.0 / (p * p).sum()),
                               converged=t > 0 and bool(batch.converged[0]),
                               similarity_histogram=SimilarityHistogram(pipe.cosine_histogram(s)[0], HIST_EDGES),
                               state=s[0].float().cpu()))
    last = frames[-1]
    winner = int(batch.winner[0])
    ref = winner if target is None else int(target)
    last.result = HENResult(
        retrieved=last.image, original=np.asarray(pipe.bank.images[ref]) if target is not None else None,
        reconstruction=pipe._reference(ref), mse=float(batch.mse[0]), one_minus_ssim=float(batch.one_minus_ssim[0]),
        nearest=int(metrics.nearest_index(batch.states, mem.patterns.cpu())[0]), target=target,
        correct=None if target is None else bool(batch.correct[0]), verdict=batch.verdicts[0], steps=last.t,
        converged=last.converged, n_eff=last.n_eff, winner=winner, nn_index=int(batch.nn_index[0]),
        nn_correct=None if target is None else int(batch.nn_index[0]) == target, beta=float(mem.beta),
        tied=bool(batch.tied[0]), beta_relative=relative if beta is None else None)
    yield from frames
