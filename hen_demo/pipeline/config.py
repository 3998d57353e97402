"""Plain dataclass configs of a HEN pipeline: what the memory is (``MemoryConfig``) and how one call runs (``RunOptions``).

Each value is validated once, where it enters, with the engine's own rules (``hen_demo.memory.hopfield``:
``check_beta``, ``check_run_options``; ``hen_demo.memory.calibration.check_relative``).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch

from hen_demo.memory.calibration import check_relative
from hen_demo.memory.hopfield import BETA_MAX, check_beta, check_run_options
from hen_demo.memory.masked import check_mask_aware
from hen_demo.memory.separation import parse_separation

__all__ = ["MemoryConfig", "RunOptions", "BETA_MAX", "MASK_AWARE"]

# the similarity that compares a query's visible dims only (our raw-pixel baseline, hen_demo.memory.masked): its
# runs need RunOptions.visible, and a relative beta is calibrated on the visible dims of each run
MASK_AWARE = "mask-aware"


@dataclass
class MemoryConfig:
    """The memory a :class:`HENPipeline` is built from (HEN eq. 1-2, 5-7).

    Give beta absolute OR relative, not both; with neither, ``beta_relative = 1`` (calibrated: as sharp for
    every representation, see ``hen_demo.memory.calibrated_beta``).
    """

    bank: object  # a hen_demo.data.MemoryBank: codes (N, K), recon, images, captions, text_codes
    encoder: object  # the ImageEncoder the bank was built with (encode / decode)
    similarity: object = "l2"  # f_sim: "dot" | "l2" | "manhattan" | "cosine" | MASK_AWARE, or a LinearKernel (U-Hop eq. 2.1)
    separation: str = "softmax"  # "softmax" | "sparsemax" | "entmax:<alpha>" | "poly:<n>"
    beta: float | None = None  # absolute inverse temperature (HEN eq. 2)
    beta_relative: float | None = None  # beta relative to the bank's calibration (1 = nearest-neighbour sharp)
    device: str | torch.device | None = None  # None / "auto" = GPU when present
    dtype: torch.dtype | None = None  # float32 by default; bfloat16 / float16 on a GPU only
    cross_modal: bool = False  # memories are [image code; text code] (HEN sec. 3.2)
    bind: tuple[int, int] | None = None  # (i, j): memory j carries memory i's caption (HEN Fig. 6)
    text_weight: float = 1.0  # scale of the text half in cross-modal memories

    def __post_init__(self):
        if self.beta is not None and self.beta_relative is not None:
            raise ValueError("Give beta either as an absolute value or as a relative value, not both.")
        if self.beta is not None:
            self.beta = check_beta(self.beta)
        else:
            self.beta_relative = check_relative(1.0 if self.beta_relative is None else self.beta_relative)
        if self.bank is None or getattr(self.bank, "codes", None) is None:
            raise ValueError("A memory bank with codes is needed to build the memory.")
        if self.mask_aware:
            check_mask_aware(getattr(self.encoder, "name", type(self.encoder).__name__))  # code dims = pixels
            if parse_separation(self.separation).kind not in ("softmax", "entmax"):
                raise ValueError(f"The mask-aware similarity supports softmax, sparsemax and entmax separations; "
                                 f"got {self.separation!r}.")
            if self.cross_modal:
                raise ValueError("The mask-aware similarity compares visible pixels of an image query; a caption "
                                 "query has none. Choose l2 for caption queries.")

    @property
    def mask_aware(self) -> bool:
        """Whether the similarity compares only the visible dims of each query (``RunOptions.visible``)."""
        return isinstance(self.similarity, str) and self.similarity == MASK_AWARE

    def cache_key(self) -> tuple:
        """A hashable key of the whole configuration: the bank's cache key, the encoder and ``memory_key``."""
        sim = self.similarity if isinstance(self.similarity, str) else id(self.similarity)
        return ((getattr(self.bank, "key", "") or id(self.bank)), str(getattr(self.encoder, "name", id(self.encoder))),
                sim) + self.memory_key()[1:]

    def memory_key(self) -> tuple:
        """The hashable settings that define the Hopfield memory (for caches; bank and encoder excluded)."""
        return (self.similarity, self.separation, self.beta, self.beta_relative, str(self.device),
                str(self.dtype), self.cross_modal, self.bind, float(self.text_weight))


@dataclass
class RunOptions:
    """How one retrieval call runs (validated here, with the engine's rules)."""

    steps: int = 50  # T, the most updates run
    tol: float = 1e-6  # a query stops when its update moves less than tol * max(1, ||s||)
    topk: int = 5  # memories reported per frame
    clamp: torch.Tensor | None = field(default=None, repr=False)  # (K,) bool, True = held at the query
    every: int = 1  # stream every k-th frame (and always the last)
    # (K,) or (B, K) bool over the code dims, True = visible: a mask-aware memory compares these dims only and
    # holds them at the query (see HENPipeline.visible_dims for pixel masks)
    visible: torch.Tensor | None = field(default=None, repr=False)

    def __post_init__(self):
        self.steps, self.tol, self.topk = check_run_options(
            int(self.steps) if isinstance(self.steps, (float, np.floating)) and float(self.steps).is_integer()
            else self.steps, self.tol, self.topk, n_memories=2**62)
        if isinstance(self.every, bool) or not isinstance(self.every, (int, np.integer)) or self.every < 1:
            raise ValueError(f"Stream every k-th frame needs a whole number k >= 1; got {self.every!r}.")
        self.every = int(self.every)
        if self.visible is not None:
            v = torch.as_tensor(np.asarray(self.visible) if not isinstance(self.visible, torch.Tensor) else self.visible)
            if v.dtype != torch.bool or v.ndim not in (1, 2):
                raise ValueError("The visible dims must be a boolean mask (K,) or (B, K), True = visible.")
            if not bool(v.reshape(-1, v.shape[-1]).any(-1).all()):
                raise ValueError("Every pixel of the query is hidden: the mask-aware similarity needs some visible "
                                 "pixels.")
            self.visible = v
