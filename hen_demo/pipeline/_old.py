"""HEN end to end for one query: corrupt -> encode -> retrieve in latent space -> decode -> judge.

Hopfield Encoding Networks (HEN, sec. 3):

* memories and query are encoded first, ``Xi_hat = Phi_enc(Xi)``, ``s_hat(0) = Phi_enc(s(0))``  (HEN eq. 5);
* the modern Hopfield update runs in latent space,
  ``s_hat(t+1) = Xi_hat softmax(beta sim(Xi_hat, s_hat(t)))``, descending the energy of HEN eq. 1  (eq. 2, 6);
* the final state is decoded, ``s(T_f) = Phi_dec(s_hat(T_f))``  (eq. 7).

For hetero-association (HEN sec. 3.2, Fig. 4) the memories are ``[image code; text code]`` and the query is
``[0; text code]``; the text half is clamped (held at the query) while the image half fills in.

This module is pure of Gradio: the UI, the benchmark and the tests drive it the same way. It streams one
:class:`HENFrame` per iteration (the decoded current state, the energy so far, the top-k memories, the
effective number of memories 1 / sum p^2) and attaches a :class:`HENResult` to the last frame.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import numpy as np
import torch
from PIL import Image

from hen_demo import metrics
from hen_demo.data import corrupt
from hen_demo.data.images import to_float_tensor, to_uint8
from hen_demo.memory import HopfieldMemory
from hen_demo.memory.hetero import caption_queries, hetero_patterns

BETA_MAX = 1e5  # the largest beta the engine is asked to handle; the UI slider spans 0.001..1000


@dataclass
class RetrievalConfig:
    """How the Hopfield network retrieves (HEN eq. 1-2)."""

    similarity: str = "l2"  # f_sim: "dot" | "l2" | "manhattan" | "cosine"
    separation: str = "softmax"  # "softmax" | "sparsemax" | "entmax:<alpha>" | "poly:<n>"
    beta: float = 1.0  # inverse temperature; larger = sharper selection of one memory
    steps: int = 50  # T, the most iterations run
    tol: float = 1e-6  # stop when the state moves less than this
    topk: int = 5  # how many memories to report per frame

    def validate(self) -> None:
        """Raise ValueError with a sentence a user understands when a field is out of range."""
        if not isinstance(self.beta, (int, float)) or not math.isfinite(self.beta) or self.beta <= 0:
            raise ValueError(f"beta must be a positive number (got {self.beta}); try a value between 0.01 and 1000.")
        if self.beta > BETA_MAX:
            raise ValueError(f"beta = {self.beta:g} is too large; use at most {BETA_MAX:g}.")
        if int(self.steps) < 1:
            raise ValueError(f"The number of steps T must be at least 1 (got {self.steps}).")
        if not math.isfinite(self.tol) or self.tol < 0:
            raise ValueError(f"The tolerance must be zero or positive (got {self.tol}).")
        if int(self.topk) < 1:
            raise ValueError(f"top-k must be at least 1 (got {self.topk}).")


@dataclass
class HENResult:
    """What a finished retrieval delivered, judged against the memory it should have found."""

    retrieved: np.ndarray  # (s, s, 3) uint8, the decoded final state Phi_dec(s_hat(T_f))
    original: np.ndarray | None  # (H, W, 3) uint8, the stored original image of the target (None if unknown)
    reconstruction: np.ndarray | None  # (s, s, 3) uint8, the encoder's own reconstruction of the target
    mse: float  # MSE(retrieved, reconstruction of target or of nearest memory), the paper's comparison
    one_minus_ssim: float  # 1 - SSIM of the same pair
    nearest: int  # the memory nearest (L2, latent space) to the final state
    target: int | None  # the memory the query came from, when known
    correct: bool | None  # nearest == target (None when the target is unknown)
    verdict: metrics.RetrievalVerdict  # retrieved / metastable mixture of k memories / wrong memory
    steps: int  # iterations run
    converged: bool
    n_eff: float  # effective number of memories 1 / sum p^2 at the end


@dataclass
class HENFrame:
    """One streamed iteration."""

    t: int  # iteration (0 = the query itself)
    image: np.ndarray  # (s, s, 3) uint8, the decoded current state
    energies: list[float]  # energy at steps 0..t
    topk_indices: list[int]
    topk_weights: list[float]
    n_eff: float  # 1 / sum_n p_n^2 over the current weights
    converged: bool
    result: HENResult | None = None  # set on the last frame only


def resize_image(image: np.ndarray, size: int) -> np.ndarray:
    """Resize a uint8 (H, W, 3) image to (size, size, 3) with a bilinear filter (identity if already there)."""
    if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
        raise ValueError("A query image must be an RGB uint8 array of shape (H, W, 3).")
    if image.shape[0] == size and image.shape[1] == size:
        return image
    return np.asarray(Image.fromarray(image).resize((size, size), Image.BILINEAR))


def resize_mask(mask: np.ndarray, size: int) -> np.ndarray:
    """Resize a bool (H, W) mask to (size, size); a pixel is hidden when at least half its area was painted."""
    m = Image.fromarray((np.asarray(mask, dtype=bool) * 255).astype(np.uint8))
    return np.asarray(m.resize((size, size), Image.BILINEAR)) >= 128


def corrupt_query(
    image: np.ndarray,
    size: int,
    kind: str = "occlude-bottom",
    amount: float = 0.5,
    seed: int = 0,
    brush_mask: np.ndarray | None = None,
) -> np.ndarray:
    """Make the partial / noisy cue s(0) from a clean image.

    Args:
        image: (H, W, 3) uint8; resized to (size, size) first (the bank's image size).
        kind, amount: one of ``hen_demo.data.CORRUPTIONS`` and its strength.
        brush_mask: optional (h, w) bool, True = hidden (a region painted with the brush); applied before ``kind``.
    Returns:
        (size, size, 3) uint8 corrupted query.
    """
    x = to_float_tensor(resize_image(image, size)[None])  # (1, 3, s, s)
    if brush_mask is not None and np.asarray(brush_mask).any():
        x = corrupt(x, kind="mask", mask=torch.from_numpy(resize_mask(brush_mask, size)))
    if kind != "none":
        x = corrupt(x, kind=kind, amount=amount, seed=seed)
    return to_uint8(x)[0]



class HENPipeline:
    """One memory bank + its encoder + a Hopfield memory over the bank's codes.

    Args:
        bank: a ``hen_demo.data.MemoryBank`` (codes, recon, images, captions, text_codes).
        encoder: the image encoder the bank was built with (``encode`` / ``decode``).
        memory: a ``HopfieldMemory`` over ``bank.codes`` or, for hetero-association, over
            ``[codes; text codes]`` (see :func:`hen_demo.memory.hetero.hetero_patterns`).
        image_dims: how many leading dims of a memory are the image code (= encoder.code_dim).
        text_scale: the factor text codes were multiplied with in the memory (1 for image-only memories).
    Heavy objects are only referenced, never copied: one pipeline can serve many sessions.
    """

    def __init__(self, bank, encoder, memory: HopfieldMemory, image_dims: int | None = None, text_scale: float = 1.0):
        self.bank = bank
        self.encoder = encoder
        self.memory = memory
        self.image_dims = int(image_dims if image_dims is not None else bank.codes.shape[1])
        self.text_scale = float(text_scale)

    @classmethod
    def build(cls, bank, encoder, config: RetrievalConfig, cross_modal: bool = False,
              bind: tuple[int, int] | None = None, text_weight: float = 1.0, device=None) -> HENPipeline:
        """Build the Hopfield memory for ``bank`` (image-only, or [image; text] when ``cross_modal``)."""
        config.validate()
        if cross_modal:
            if bank.text_codes is None:
                raise ValueError("This memory bank has no text codes; build it with a text encoder.")
            patterns, _, scale = hetero_patterns(bank.codes, bank.text_codes, bind=bind,
                                                 text_weight=text_weight)
        else:
            patterns, scale = bank.codes, 1.0
        memory = HopfieldMemory(patterns, similarity=config.similarity, separation=config.separation,
                                beta=float(config.beta), device=device)
        return cls(bank, encoder, memory, image_dims=bank.codes.shape[1], text_scale=scale)

    # ---- queries -------------------------------------------------------------------------------
    @property
    def n(self) -> int:
        return int(self.bank.codes.shape[0])

    @property
    def image_size(self) -> int:
        """Side of the images the queries are corrupted at (the bank's stored originals)."""
        return int(self.bank.images.shape[1])

    def encode_image(self, image: np.ndarray) -> torch.Tensor:
        """Phi_enc of one (H, W, 3) uint8 image -> (1, K) code (HEN eq. 5); zero-padded when the memory is cross-modal."""
        code = self.encoder.encode(to_float_tensor(image[None]))  # (1, K_i) float32 on CPU (ImageEncoder.encode)
        k_total = self.memory_dim
        if k_total > code.shape[1]:  # image query against [image; text] memories: the text half starts at 0
            code = torch.cat([code, torch.zeros(1, k_total - code.shape[1])], dim=1)
        return code

    @property
    def memory_dim(self) -> int:
        return int(self.memory.patterns.shape[1])

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

    def decode(self, state: torch.Tensor) -> np.ndarray:
        """Phi_dec of the image half of a (1, K) state -> (s, s, 3) uint8 (HEN eq. 7)."""
        x = self.encoder.decode(state[:, : self.image_dims])  # (1, 3, s, s) in [0, 1] on CPU (ImageEncoder.decode)
        return to_uint8(x)[0]

    # ---- retrieval -----------------------------------------------------------------------------
    def stream(self, query: torch.Tensor, config: RetrievalConfig, target: int | None = None,
               clamp: torch.Tensor | None = None) -> Iterator[HENFrame]:
        """Run HEN eq. 6 from ``query`` (1, K), yielding one decoded frame per iteration.

        The last frame carries ``result`` (metrics and verdict against ``target``).
        """
        config.validate()
        if target is not None and not 0 <= int(target) < self.n:
            raise ValueError(f"The query's memory #{target} is not in this bank of {self.n} memories.")
        energies: list[float] = []
        last = None
        prev_frame = None
        for step in self.memory.stream(query, steps=int(config.steps), tol=float(config.tol), clamp=clamp,
                                       topk=min(int(config.topk), self.n)):
            energies.append(float(step.energy[0]))
            w = step.weights[0:1]
            frame = HENFrame(
                t=int(step.t),
                image=self.decode(step.state[0:1]),
                energies=list(energies),
                topk_indices=[int(i) for i in step.topk_indices[0].tolist()],
                topk_weights=[float(x) for x in step.topk_weights[0].tolist()],
                n_eff=float(metrics.effective_memories(w)[0]),
                converged=bool(step.converged[0]),
            )
            if prev_frame is not None:
                yield prev_frame
            prev_frame, last = frame, step
        if prev_frame is None:  # the engine yields at least t=0; guard anyway
            raise RuntimeError("The Hopfield memory produced no steps.")
        prev_frame.result = self._judge(last, prev_frame, target)
        yield prev_frame

    def _judge(self, step, frame: HENFrame, target: int | None) -> HENResult:
        state = step.state[0:1, : self.image_dims].float().cpu()  # (1, K_i)
        nearest = int(metrics.nearest_memory(state, self.bank.codes)[0])
        ref = nearest if target is None else int(target)
        recon = np.asarray(self.bank.recon[ref])  # (s, s, 3)
        retrieved = frame.image
        if recon.shape != retrieved.shape:  # encoders whose recon is stored at another size
            recon = resize_image(recon, retrieved.shape[0])
        v = metrics.verdict(step.weights[0], target)
        return HENResult(
            retrieved=retrieved,
            original=np.asarray(self.bank.images[ref]) if target is not None else None,
            reconstruction=recon,
            mse=float(metrics.mse(retrieved[None], recon[None])[0]),
            one_minus_ssim=float(metrics.one_minus_ssim(retrieved[None], recon[None])[0]),
            nearest=nearest,
            target=target,
            correct=None if target is None else nearest == int(target),
            verdict=v,
            steps=int(frame.t),
            converged=bool(frame.converged),
            n_eff=frame.n_eff,
        )

    def retrieve(self, query: torch.Tensor, config: RetrievalConfig, target: int | None = None,
                 clamp: torch.Tensor | None = None) -> HENFrame:
        """Run to the end without streaming; returns the last frame (with ``result``)."""
        frame = None
        for frame in self.stream(query, config, target=target, clamp=clamp):
            pass
        return frame


def memory_thumbnails(bank, indices: Sequence[int], size: int = 64) -> list[np.ndarray]:
    """The stored originals of ``indices`` as (size, size, 3) uint8 thumbnails."""
    return [resize_image(np.asarray(bank.images[int(i)]), size) for i in indices]
