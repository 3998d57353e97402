"""HEN end to end, batched: encode -> retrieve in latent space -> decode -> score on the device.

Hopfield Encoding Networks (HEN, sec. 3):

* memories and queries are encoded first, ``Xi_hat = Phi_enc(Xi)``, ``s_hat(0) = Phi_enc(s(0))``  (HEN eq. 5);
* the modern Hopfield update runs in latent space,
  ``s_hat(t+1) = Xi_hat softmax(beta sim(Xi_hat, s_hat(t)))``, descending the energy of HEN eq. 1  (eq. 2, 6);
* the final state is decoded, ``s(T_f) = Phi_dec(s_hat(T_f))``  (eq. 7), and scored against the encoder's own
  reconstruction of the target memory (HEN sec. 3.1: MSE and 1 - SSIM).

For hetero-association (HEN sec. 3.2, Fig. 4) the memories are ``[image code; text code]`` and the query is
``[0; text code]``; the text half is clamped (held at the query) while the image half fills in.

One definition of success, used everywhere: the memory the dynamics chose is the one with the largest final
weight (``winner``); ``correct = winner == target and not tied``, and the verdict (retrieved / metastable /
wrong) is read from the same weights. Ties follow ``hen_demo.memory.ties``: memories within 0.1 % of the top
weight tie, the lowest index is reported, and a tie is a mixture, never a retrieval of either memory.
Beside every result stands the query's one-shot nearest-neighbour identity (``nn_index``: argmin L2 between
the query's code and the memories, ties by the same rule), the ceiling a representation sets.
A single query is a batch of one. Pure of Gradio: the UI, the experiments, the benchmark and the tests call it.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, replace

import numpy as np
import torch

from hen_demo import metrics
from hen_demo.data.images import to_float_tensor, to_uint8
from hen_demo.memory import HopfieldMemory
from hen_demo.memory.calibration import calibrated_beta
from hen_demo.memory.devices import resolve_device_dtype
from hen_demo.memory.hetero import caption_queries, hetero_patterns
from hen_demo.memory.hopfield import as_patterns
from hen_demo.memory.masked import (
    mask_aware_memory,
    masked_calibrated_beta,
    pixel_mask_to_code,
    visible_groups,
)
from hen_demo.memory.ties import correct_mask

from .config import MemoryConfig, RunOptions
from .queries import resize_image, resize_mask

HIST_BINS = 40  # cosine histogram: fixed bins over [-1, 1]
HIST_EDGES = np.linspace(-1.0, 1.0, HIST_BINS + 1)


@dataclass
class HENResult:
    """What a finished retrieval of one query delivered, judged against the memory it should have found."""

    retrieved: np.ndarray  # (s, s, 3) uint8, the decoded final state Phi_dec(s_hat(T_f))
    original: np.ndarray | None  # (H, W, 3) uint8, the stored original image of the target (None if unknown)
    reconstruction: np.ndarray | None  # (s, s, 3) uint8, the encoder's reconstruction of the reference memory
    mse: float  # MSE(retrieved, reconstruction of target, or of the winner without a target)
    one_minus_ssim: float  # 1 - SSIM of the same pair
    nearest: int  # the memory nearest (L2, image code) to the final state
    target: int | None  # the memory the query came from, when known
    correct: bool | None  # winner == target (None when the target is unknown)
    verdict: metrics.RetrievalVerdict  # retrieved / metastable mixture of k memories / wrong memory
    steps: int  # iterations run
    converged: bool
    n_eff: float  # effective number of memories 1 / sum p^2 at the end
    winner: int = -1  # argmax of the final weights: the memory the dynamics chose
    nn_index: int = -1  # one-shot nearest neighbour (L2) of the query's code: the ceiling
    nn_correct: bool | None = None  # nn_index == target and no other memory is as near
    tied: bool = False  # another memory ties with the winner (memory.ties): a mixture, not correct
    beta: float = float("nan")  # absolute beta used
    beta_relative: float | None = None  # the same beta relative to the bank's calibration


@dataclass
class SimilarityHistogram:
    """Counts of cos(state, memory_n) over fixed bins on [-1, 1] (computed on the device); counts sum to N."""

    counts: np.ndarray  # (HIST_BINS,) int64
    edges: np.ndarray  # (HIST_BINS + 1,) = HIST_EDGES


@dataclass
class HENFrame:
    """One streamed iteration (only every ``RunOptions.every``-th and the last are streamed)."""

    t: int  # iteration (0 = the query itself)
    image: np.ndarray  # (s, s, 3) uint8, the decoded current state
    energies: list[float]  # energy at the streamed steps up to t
    topk_indices: list[int]
    topk_weights: list[float]
    n_eff: float  # 1 / sum_n p_n^2 over the current weights
    converged: bool
    similarity_histogram: SimilarityHistogram | None = None  # cos(state, every memory), for the UI's plot
    result: HENResult | None = None  # set on the last frame only
    state: torch.Tensor | None = None  # (K,) CPU float32 latent state s_hat(t) (the retrieval map projects it)

    @property
    def cos_hist(self) -> np.ndarray | None:
        """(HIST_BINS,) counts of the similarity histogram."""
        return None if self.similarity_histogram is None else self.similarity_histogram.counts


@dataclass
class HENBatch:
    """A batched run: per-query arrays (B,), decoded images, and their means."""

    states: torch.Tensor  # (B, K) final states, CPU float32
    images: np.ndarray  # (B, s, s, 3) uint8 decoded final states
    mse: np.ndarray  # (B,)
    one_minus_ssim: np.ndarray  # (B,)
    winner: np.ndarray  # (B,) int64 argmax of the final weights (ties: memory.ties)
    top_weight: np.ndarray  # (B,) the winner's weight
    n_eff: np.ndarray  # (B,) 1 / sum p^2
    nn_index: np.ndarray  # (B,) one-shot nearest neighbour of each query code (L2)
    targets: np.ndarray | None  # (B,) int64
    correct: np.ndarray | None  # (B,) bool winner == target and not tied
    nn_correct: np.ndarray | None  # (B,) bool nn_index == target and not nn-tied
    verdicts: list  # B RetrievalVerdicts
    converged: np.ndarray  # (B,) bool
    steps: int  # the most updates any query ran
    beta: float = float("nan")  # absolute beta used (mask-aware: calibrated on this batch's visible dims)
    tied: np.ndarray | None = None  # (B,) bool another memory ties with the winner (memory.ties)

    @property
    def identity(self) -> float:
        """Identity accuracy: fraction of queries whose winner is their target."""
        return float(self.correct.mean()) if self.correct is not None and len(self.correct) else float("nan")

    @property
    def nn_ceiling(self) -> float:
        """One-shot nearest-neighbour identity of the queries (the representation's ceiling)."""
        return float(self.nn_correct.mean()) if self.nn_correct is not None and len(self.nn_correct) else float("nan")

    def metastable_fraction(self, threshold: float = 0.9) -> float:
        return float((self.top_weight < threshold).mean()) if len(self.top_weight) else float("nan")


class HENPipeline:
    """A memory bank + its encoder + a Hopfield memory over the bank's codes, built from a :class:`MemoryConfig`.

    Args:
        config: bank, encoder, similarity, separation, beta (absolute or relative), device, dtype,
            and the cross-modal settings (``MemoryConfig``).
    Attributes:
        beta: the absolute beta in the memory; beta_relative: the same relative to ``calibrated_beta``
            (None where the similarity has no calibration).
    Heavy objects are only referenced, never copied: one pipeline can serve many sessions.
    """

    def __init__(self, config: MemoryConfig):
        if not isinstance(config, MemoryConfig):
            raise ValueError("HENPipeline is built from a MemoryConfig (bank, encoder, similarity, ...).")
        self.config = config
        self.bank, self.encoder = config.bank, config.encoder
        self.image_dims = int(self.bank.codes.shape[1])
        if config.cross_modal:
            if self.bank.text_codes is None:
                raise ValueError("This memory bank has no text codes; build it with a text encoder.")
            patterns, _, self.text_scale = hetero_patterns(self.bank.codes, self.bank.text_codes, bind=config.bind,
                                                           text_weight=config.text_weight)
        else:
            patterns, self.text_scale = self.bank.codes, 1.0
        self._unit = None  # calibrated_beta(patterns, 1), computed when first needed
        self._fill_stats = None  # data.corruptions.fill_stats(bank.images), computed when first needed
        self.device, self.dtype = resolve_device_dtype(config.device, config.dtype)
        if config.mask_aware:  # a memory per run: its similarity and its calibration depend on the visible dims
            self.memory = None
            self.patterns = as_patterns(patterns, self.device, self.dtype)  # (N, K)
        else:
            beta = config.beta
            if config.beta_relative is not None:
                beta = calibrated_beta(patterns, config.beta_relative, config.similarity)
                self._unit = beta / config.beta_relative
            self.memory = HopfieldMemory(patterns, similarity=config.similarity, separation=config.separation,
                                         beta=beta, device=self.device, dtype=self.dtype)
            self.patterns = self.memory.patterns  # (N, K) on the working device
        self._norms = self.patterns.float().norm(dim=1).clamp_min(1e-12)  # (N,) for the cosine histogram

    # ---- beta -----------------------------------------------------------------------------------
    @property
    def beta(self) -> float:
        """Absolute beta of the memory (HEN eq. 2); NaN for a mask-aware memory at a relative beta (set per run)."""
        if self.memory is None:
            return float("nan") if self.config.beta is None else float(self.config.beta)
        return float(self.memory.beta)

    @property
    def beta_relative(self) -> float | None:
        """beta / calibrated_beta(patterns, 1): 1 = calibrated sharpness (None if not defined)."""
        if self.memory is None:
            return self.config.beta_relative
        if self._unit is None:
            try:
                self._unit = calibrated_beta(self.memory.patterns, 1.0, self.config.similarity)
            except ValueError:
                return None
        return self.beta / self._unit

    # ---- sizes and queries ----------------------------------------------------------------------
    @property
    def n(self) -> int:
        return int(self.bank.codes.shape[0])

    @property
    def image_size(self) -> int:
        """Side of the images the queries are corrupted at (the bank's stored originals)."""
        return int(self.bank.images.shape[1])

    @property
    def memory_dim(self) -> int:
        return int(self.patterns.shape[1])

    def encode_images(self, images: np.ndarray) -> torch.Tensor:
        """Phi_enc of uint8 images (B, H, W, 3) -> (B, K) codes (HEN eq. 5); zero text half when cross-modal."""
        return self._with_text_half(self.encoder.encode(to_float_tensor(np.asarray(images))))  # (B, K_i) -> (B, K)

    def _with_text_half(self, codes: torch.Tensor) -> torch.Tensor:
        """Image codes (B, K_i) as memory queries (B, K): against [image; text] memories the text half starts at 0."""
        if self.memory_dim > codes.shape[1]:
            codes = torch.cat([codes, torch.zeros(codes.shape[0], self.memory_dim - codes.shape[1])], dim=1)
        return codes

    def encode_corrupted(self, images: np.ndarray, kind: str, amount: float = 0.5, seed: int = 0,
                         fill: str = "black", batch: int = 256, progress=None, stats=None) -> torch.Tensor:
        """Phi_enc(corrupt(images)) for uint8 images (B, H, W, 3) -> (B, K) query codes (HEN eq. 5), in batches.

        Query i is the cue of image i (``hen_demo.data.corruptions.encode_corrupted``: seed + batch start);
        zero text half when cross-modal. progress: optional callable(fraction) after each batch. The "grey" and
        "mean-image" fills use ``stats`` (default: ``fill_stats`` of this bank's images, computed once).
        """
        from hen_demo.data.corruptions import HIDING, STAT_FILLS, encode_corrupted, fill_stats

        if stats is None and kind in HIDING and fill in STAT_FILLS:
            if self._fill_stats is None:
                self._fill_stats = fill_stats(self.bank.images)
            stats = self._fill_stats
        return self._with_text_half(encode_corrupted(self.encoder, np.asarray(images), kind, float(amount), int(seed),
                                                     int(batch), progress, fill=fill, stats=stats))  # (B, K)

    def separability(self, queries: torch.Tensor, targets=None, max_cross: int = 100_000):
        """Self vs cross cosine of query codes (B, K) against the bank's image codes (HEN Fig. 3).

        targets (B,): the memory each query belongs to (default: query i -> memory i). Returns
        ``metrics.SeparabilityStats`` (overlap, d', margin fraction, the two cosine samples).
        """
        q = torch.as_tensor(queries).float()[:, : self.image_dims]
        t = self._check_targets(np.arange(q.shape[0]) if targets is None else targets, q.shape[0])
        return metrics.separability(q, self.bank.codes, t, max_cross=max_cross)

    def encode_image(self, image: np.ndarray) -> torch.Tensor:
        """One (H, W, 3) uint8 image -> (1, K) code."""
        return self.encode_images(np.asarray(image)[None])

    def caption_query(self, text_code: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Query ``[0; text code]`` and its clamp mask (text dims held fixed), HEN sec. 3.2."""
        t = torch.as_tensor(text_code, dtype=torch.float32).reshape(1, -1)  # (1, K_t)
        if self.image_dims + t.shape[1] != self.memory_dim:
            raise ValueError("The caption's text code does not match the memory bank's text encoder.")
        return caption_queries(t, self.image_dims, self.text_scale)  # (1, K_i + K_t), clamp

    def find_caption(self, caption: str) -> int | None:
        """Index of the first memory whose caption equals ``caption`` (case/space-insensitive), else None."""
        key = " ".join(caption.lower().split())
        for i, c in enumerate(self.bank.captions or []):
            if " ".join(str(c).lower().split()) == key:
                return i
        return None

    def closest_captions(self, text_code: torch.Tensor, k: int = 3) -> list[int]:
        """The k memories whose stored caption code is nearest (cosine) to ``text_code`` (1, K_t), nearest first."""
        if self.bank.text_codes is None:
            raise ValueError("This memory bank has no text codes; build it with a text encoder.")
        t = torch.as_tensor(text_code, dtype=torch.float32).reshape(1, -1)
        cos = torch.nn.functional.cosine_similarity(self.bank.text_codes.float(), t, dim=1)  # (N,)
        return cos.topk(min(int(k), cos.shape[0])).indices.tolist()

    def decode_batch(self, states: torch.Tensor) -> np.ndarray:
        """Phi_dec of the image half of states (B, K) -> (B, s, s, 3) uint8 (HEN eq. 7)."""
        return to_uint8(self.encoder.decode(states[:, : self.image_dims].float().cpu()))

    def decode(self, state: torch.Tensor) -> np.ndarray:
        """One (1, K) state -> (s, s, 3) uint8."""
        return self.decode_batch(state)[0]

    def nearest_neighbour(self, queries: torch.Tensor, with_ties: bool = False):
        """One-shot nearest neighbour (L2, in the memory's space) of each query (B, K): (B,) int64, the ceiling.

        with_ties: also (B,) bool, True where another memory is as near (``memory.ties``: the query finds neither).
        """
        idx, tied = metrics.nearest_index(queries.to(self.device, self.patterns.dtype), self.patterns,
                                          with_ties=True)
        return (idx.cpu().numpy(), tied.cpu().numpy()) if with_ties else idx.cpu().numpy()

    def visible_dims(self, hidden) -> torch.Tensor | None:
        """Pixel masks hidden (H, W) or (B, H, W) bool (True = hidden), at any size -> (B, K) bool visible code dims,
        for ``RunOptions.visible`` (raw-pixel codes: a pixel of the code's grid is hidden when at least half its
        area was). None for a memory that compares every dim (only a mask-aware memory reads them)."""
        if not self.config.mask_aware:
            return None
        h = torch.as_tensor(np.asarray(hidden)).bool()
        h = h[None] if h.ndim == 2 else h  # (B, H, W)
        side = int(round((self.image_dims / 3) ** 0.5))  # the raw-pixel encoder's side (e.g. 28 for 64 px tiles)
        if h.ndim == 3 and h.shape[1:] != (side, side):
            h = torch.from_numpy(np.stack([resize_mask(m, side) for m in h.numpy()]))
        visible = pixel_mask_to_code(~h)  # (B, 3 H W)
        if visible.shape[1] != self.image_dims:
            raise ValueError(f"The visibility mask covers {visible.shape[1]} pixel values but the raw-pixel codes "
                             f"have {self.image_dims}; make the mask at the bank's image size.")
        return visible

    def cosine_histogram(self, states: torch.Tensor) -> np.ndarray:
        """Counts of cos(state, memory_n) in HIST_BINS fixed bins over [-1, 1], computed on the device: (B, bins)."""
        s = states.to(self.device, torch.float32)  # (B, K)
        cos = (s @ self.patterns.float().T) / (self._norms * s.norm(dim=1, keepdim=True).clamp_min(1e-12))
        cos = cos.clamp_(-1.0, 1.0)  # (B, N)
        return torch.stack([torch.histc(c, HIST_BINS, -1.0, 1.0) for c in cos]).long().cpu().numpy()

    # ---- options ----------------------------------------------------------------------------------
    def _options(self, options, clamp) -> RunOptions:
        if options is None:
            options = RunOptions()
        if not isinstance(options, RunOptions):
            raise ValueError("Run options must be a RunOptions (steps, tol, topk, clamp, every).")
        if clamp is not None:
            options = replace(options, clamp=clamp)
        return options

    def _memories(self, b: int, opts: RunOptions) -> list[tuple[torch.Tensor | None, HopfieldMemory, object]]:
        """[(rows (b,) or None = every query, the HopfieldMemory that retrieves them, its clamp)] for b queries.

        This pipeline's memory; for a mask-aware one, one memory per visibility mask in ``opts.visible``: its
        similarity sees only the visible dims (``VisibleL2``), which it holds at the query, at a beta calibrated
        on the visible dims of the whole batch (``masked_calibrated_beta``) or the config's absolute beta.
        """
        if self.memory is not None:
            return [(None, self.memory, opts.clamp)]
        if opts.visible is None:
            raise ValueError("A mask-aware memory needs the query's visible pixels (RunOptions.visible; "
                             "HENPipeline.visible_dims makes them from a pixel mask).")
        v = opts.visible.reshape(-1, opts.visible.shape[-1])
        v = v.expand(b, -1) if v.shape[0] == 1 else v
        if tuple(v.shape) != (b, self.memory_dim):
            raise ValueError(f"The visible mask must have shape ({b}, {self.memory_dim}), one row per query; "
                             f"got {tuple(opts.visible.shape)}.")
        c = self.config
        beta = c.beta if c.beta is not None else masked_calibrated_beta(self.patterns, v, c.beta_relative)
        return [(rows, mask_aware_memory(self.patterns, mask, beta, c.separation, self.device, self.dtype), mask)
                for mask, rows in visible_groups(v)]

    def _ceiling(self, q: torch.Tensor, visible) -> tuple[np.ndarray, np.ndarray]:
        """One-shot nearest neighbour of queries q (b, K) and whether it ties (``memory.ties``): L2 in the memory's
        space, or for a mask-aware memory L2 on the ``visible`` (K,) dims (the argmax of its scores)."""
        if self.memory is not None:
            return self.nearest_neighbour(q, with_ties=True)
        idx, tied = metrics.nearest_index(q[:, visible].to(self.device, self.patterns.dtype),
                                          self.patterns[:, visible.to(self.device)], with_ties=True)
        return idx.cpu().numpy(), tied.cpu().numpy()

    def _check_targets(self, targets, b: int) -> np.ndarray | None:
        if targets is None:
            return None
        t = np.asarray(targets, dtype=np.int64).reshape(-1)
        if len(t) != b:
            raise ValueError(f"Got {b} queries but {len(t)} targets.")
        if len(t) and (t.min() < 0 or t.max() >= self.n):
            raise ValueError(f"A query's memory #{int(t.max() if t.max() >= self.n else t.min())} is not in "
                             f"this bank of {self.n} memories.")
        return t

    def _reference(self, index: int) -> np.ndarray:
        recon = np.asarray(self.bank.recon[index])  # (s, s, 3)
        side = self.encoder.image_size or recon.shape[0]
        return recon if recon.shape[0] == side else resize_image(recon, side)

    # ---- retrieval ----------------------------------------------------------------------------
    def run(self, queries: torch.Tensor, options: RunOptions | None = None, targets=None,
            clamp=None) -> HENBatch:
        """Retrieve queries (B, K) in one engine call, decode the final states and score them on the device."""
        opts = self._options(options, clamp)
        q = torch.as_tensor(queries).float()
        q = q[None] if q.ndim == 1 else q
        t = self._check_targets(targets, q.shape[0])
        b = q.shape[0]
        states, nn, nn_tied = torch.zeros(b, self.memory_dim), np.zeros(b, np.int64), np.zeros(b, bool)
        winner, top_w, n_eff = np.zeros(b, np.int64), np.zeros(b, np.float32), np.zeros(b, np.float32)
        n_above, tied, converged = np.zeros(b, np.int64), np.zeros(b, bool), np.zeros(b, bool)
        steps, beta = 0, self.beta
        for rows, memory, clamp in self._memories(b, opts):
            r = slice(None) if rows is None else rows.numpy()
            qr = q if rows is None else q[rows]
            nn[r], nn_tied[r] = self._ceiling(qr, clamp)  # (b,) the query's code, reused
            out = memory.retrieve(qr, steps=opts.steps, tol=opts.tol, clamp=clamp, topk=1, keep_weights=False)
            states[r], winner[r], top_w[r], n_eff[r] = out.states, out.top_index, out.top_weight, out.n_eff
            n_above[r], tied[r], converged[r] = out.n_above, out.tied, out.converged
            steps, beta = max(steps, int(out.steps)), float(memory.beta)
        images = self.decode_batch(states)  # (B, s, s, 3)
        ref_idx = winner if t is None else t
        refs = np.stack([self._reference(int(i)) for i in ref_idx]) if len(ref_idx) else images
        mse, oms = metrics.image_scores(images, refs, device=self.device)
        verdicts = [metrics.verdict_from(int(winner[i]), float(top_w[i]), int(n_above[i]), float(n_eff[i]),
                                         None if t is None else int(t[i]), tied=bool(tied[i]))
                    for i in range(len(winner))]
        return HENBatch(states=states, images=images, mse=mse, one_minus_ssim=oms, winner=winner,
                        top_weight=top_w, n_eff=n_eff, nn_index=nn, targets=t,
                        correct=None if t is None else correct_mask(winner, tied, t),
                        nn_correct=None if t is None else correct_mask(nn, nn_tied, t),
                        verdicts=verdicts, converged=converged, steps=steps, beta=beta, tied=tied)

    def stream(self, query: torch.Tensor, options: RunOptions | None = None,
               target: int | None = None, clamp: torch.Tensor | None = None) -> Iterator[HENFrame]:
        """Run HEN eq. 6 from one query (1, K), yielding a decoded frame every ``options.every`` steps and the last.

        Frames are decoded only when streamed and only when the state moved; the last frame carries ``result``.
        """
        opts = self._options(options, clamp)
        q = torch.as_tensor(query).float().reshape(1, -1)
        t = self._check_targets(None if target is None else [target], 1)
        (_, memory, clamp), = self._memories(1, opts)
        nn, nn_tied = (v[0] for v in self._ceiling(q, clamp))
        energies: list[float] = []
        prev, prev_state, image = None, None, None
        for step in memory.stream(q, steps=opts.steps, tol=opts.tol, clamp=clamp,
                                       topk=min(opts.topk, self.n), every=opts.every, fast=None):
            energies.append(float(step.energy[0]))
            if prev_state is None or not torch.equal(step.state, prev_state):
                image = self.decode(step.state)
            prev_state = step.state
            frame = HENFrame(t=int(step.t), image=image, energies=list(energies),
                             topk_indices=step.topk_indices[0].tolist(), topk_weights=step.topk_weights[0].tolist(),
                             n_eff=float(step.n_eff[0]), converged=bool(step.converged[0]),
                             similarity_histogram=SimilarityHistogram(self.cosine_histogram(step.state)[0],
                                                                      HIST_EDGES), state=step.state[0])
            if prev is not None:
                yield prev[0]
            prev = (frame, step)
        frame, step = prev
        frame.result = self._judge(step, frame, None if t is None else int(t[0]), int(nn), bool(nn_tied),
                                   memory.beta)
        yield frame

    def _judge(self, step, frame: HENFrame, target: int | None, nn: int, nn_tied: bool, beta: float) -> HENResult:
        nearest = int(metrics.nearest_index(step.state[:, : self.image_dims].to(self.device, torch.float32),
                                            self.patterns[:, : self.image_dims].float())[0])
        winner, tied = int(step.top_index[0]), step.tied is not None and bool(step.tied[0])
        ref = winner if target is None else target
        recon = self._reference(ref)
        retrieved = frame.image
        if recon.shape != retrieved.shape:  # encoders whose recon is stored at another size
            recon = resize_image(recon, retrieved.shape[0])
        mse, oms = metrics.image_scores(retrieved[None], recon[None], device=self.device)
        v = metrics.verdict_from(winner, float(step.top_weight[0]), int(step.n_above[0]), float(step.n_eff[0]), target,
                                 tied=tied)
        return HENResult(
            retrieved=retrieved, original=np.asarray(self.bank.images[ref]) if target is not None else None,
            reconstruction=recon, mse=float(mse[0]), one_minus_ssim=float(oms[0]), nearest=nearest, target=target,
            correct=None if target is None else (winner == target and not tied), verdict=v, steps=int(frame.t),
            converged=bool(frame.converged), n_eff=frame.n_eff, winner=winner, nn_index=nn,
            nn_correct=None if target is None else (nn == target and not nn_tied), tied=tied, beta=float(beta),
            beta_relative=self.beta_relative)

    def retrieve(self, query: torch.Tensor, options: RunOptions | None = None,
                 target: int | None = None, clamp: torch.Tensor | None = None) -> HENFrame:
        """Run one query to the end; returns the last frame (with ``result``). Streams only the last frame."""
        opts = self._options(options, clamp)
        opts = replace(opts, every=opts.steps + 1)
        frame = None
        for frame in self.stream(query, opts, target=target):
            pass
        return frame
