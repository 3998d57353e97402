"""The memory bank as a value: encoded memories with what is needed to show and score retrievals.

Its own module so that building (``banks``), chunked building (``bank_build``) and export (``bank_export``)
all import it one way, without an import circle.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch


@dataclass
class MemoryBank:
    """Encoded memories with everything needed to show and score retrievals."""

    codes: torch.Tensor  # (N, K) float32: the memories Ξ
    recon: np.ndarray  # uint8 (N, s, s, 3): the encoder's reconstruction of each memory
    images: np.ndarray  # uint8 (N, H, W, 3): the originals
    captions: list[str]
    ids: list[str]
    text_codes: torch.Tensor | None  # (N, K_text) float32, or None
    dataset: str
    encoder: str
    text_encoder: str | None
    n: int
    seed: int
    labels: list | None = None
    key: str = ""  # cache key
    meta: dict = field(default_factory=dict)  # timings, cache path, ...
    # the prefix bank this one is the first n rows of (bank_prefix.prefix_view: shares its buffers), else None
    base: MemoryBank | None = field(default=None, repr=False, compare=False)

    def __len__(self) -> int:
        return self.n


def default_cache_dir() -> Path:
    env = os.environ.get("HEN_CACHE_DIR")
    return Path(env) if env else Path.home() / ".cache" / "hen_demo"
