"""Query images for the pipeline: resize to the bank's size, apply a brush mask and a corruption (HEN eq. 5's s(0)).

Pure NumPy / PIL on uint8 images; the corruption itself is ``hen_demo.data.corrupt``.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from PIL import Image

from hen_demo.data import corrupt
from hen_demo.data.images import to_float_tensor, to_uint8

__all__ = ["resize_image", "resize_mask", "corrupt_query", "memory_thumbnails"]


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
    fill: str = "black",
    stats=None,
    return_mask: bool = False,
):
    """Make the partial / noisy cue s(0) from a clean image.

    Args:
        image: (H, W, 3) uint8; resized to (size, size) first (the bank's image size).
        kind, amount: one of ``hen_demo.data.CORRUPTIONS`` and its strength.
        brush_mask: optional (h, w) bool, True = hidden (a region painted with the brush); applied before ``kind``.
        fill, stats: what hidden pixels become (``hen_demo.data.FILLS``; "grey" / "mean-image" need
            ``stats = fill_stats(bank.images)``).
        return_mask: also return the (size, size) bool mask of hidden pixels (brush and ``kind`` together).
    Returns:
        (size, size, 3) uint8 corrupted query (and its hidden mask with ``return_mask``).
    """
    x = to_float_tensor(resize_image(image, size)[None])  # (1, 3, s, s)
    hidden = torch.zeros(1, size, size, dtype=torch.bool)
    if brush_mask is not None and np.asarray(brush_mask).any():
        x, h = corrupt(x, kind="mask", mask=torch.from_numpy(resize_mask(brush_mask, size)), seed=seed, fill=fill,
                       stats=stats, return_mask=True)
        hidden |= h
    if kind != "none":
        x, h = corrupt(x, kind=kind, amount=amount, seed=seed, fill=fill, stats=stats, return_mask=True)
        hidden |= h
    out = to_uint8(x)[0]
    return (out, hidden[0].numpy()) if return_mask else out


def memory_thumbnails(bank, indices: Sequence[int], size: int = 64) -> list[np.ndarray]:
    """The stored originals of ``indices`` as (size, size, 3) uint8 thumbnails."""
    return [resize_image(np.asarray(bank.images[int(i)]), size) for i in indices]
