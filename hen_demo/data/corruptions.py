"""Query corruptions: how a stored memory is damaged before we ask the network to complete it.

HEN §3 queries with half of each image occluded (Fig. 1: "the query image with half of it occluded");
the other kinds (random pixel masks, additive noise, a user-drawn mask) are the usual associative-memory
probes. All take and return float tensors ``(B, 3, H, W)`` in [0, 1]; hidden pixels are set to 0.
"""

from __future__ import annotations

import numpy as np
import torch

CORRUPTIONS: tuple[str, ...] = ("none", "occlude-top", "occlude-bottom", "occlude-left", "occlude-right",
                                "mask-random", "noise", "mask")


def corrupt(images: torch.Tensor, kind: str = "occlude-bottom", amount: float = 0.5, seed: int = 0,
            mask=None) -> torch.Tensor:
    """Return a corrupted copy of ``images (B, 3, H, W)`` in [0, 1] (same shape; the input is untouched).

    Args:
        kind: one of ``CORRUPTIONS``. "occlude-<side>": the ``amount`` fraction of rows/columns nearest that
            side is hidden. "mask-random": each pixel (all 3 channels) hidden with probability ``amount``.
            "noise": add Gaussian noise of standard deviation ``amount``, then clip to [0, 1].
            "mask": hide where the user's bool ``mask (H, W)`` (or ``(B, H, W)``) is True.
        amount: fraction in [0, 1] for occlusions and random masks; sigma >= 0 for noise.
        seed: seeds the random kinds (same seed, same corruption).
    """
    if kind not in CORRUPTIONS:
        raise ValueError(f"unknown corruption {kind!r}; choose one of: {', '.join(CORRUPTIONS)}")
    if not isinstance(images, torch.Tensor) or images.ndim != 4 or images.shape[1] != 3:
        shape = tuple(images.shape) if hasattr(images, "shape") else type(images).__name__
        raise ValueError(f"images must be a float tensor (B, 3, H, W) in [0, 1]; got {shape}")
    amount = float(amount)
    if not np.isfinite(amount):
        raise ValueError("amount must be a finite number")
    if kind in ("occlude-top", "occlude-bottom", "occlude-left", "occlude-right", "mask-random") \
            and not 0.0 <= amount <= 1.0:
        raise ValueError(f"amount for {kind} is the fraction hidden and must be in [0, 1]; got {amount}")
    if kind == "noise" and amount < 0:
        raise ValueError(f"noise amount is a standard deviation and must be >= 0; got {amount}")
    x = images.detach().clone().float()
    B, _, H, W = x.shape
    if kind == "none":
        return x
    if kind.startswith("occlude-"):
        side = kind.split("-", 1)[1]
        rows = int(round(amount * H))
        cols = int(round(amount * W))
        if side == "top" and rows:
            x[:, :, :rows, :] = 0.0
        elif side == "bottom" and rows:
            x[:, :, H - rows:, :] = 0.0
        elif side == "left" and cols:
            x[:, :, :, :cols] = 0.0
        elif side == "right" and cols:
            x[:, :, :, W - cols:] = 0.0
        return x
    gen = torch.Generator().manual_seed(int(seed))
    if kind == "mask-random":
        hidden = torch.rand(B, 1, H, W, generator=gen) < amount  # (B, 1, H, W)
        return x.masked_fill(hidden.to(x.device), 0.0)
    if kind == "noise":
        noise = torch.randn(x.shape, generator=gen) * amount
        return (x + noise.to(x.device)).clamp(0.0, 1.0)
    # kind == "mask"
    if mask is None:
        raise ValueError("corruption 'mask' needs a mask: a bool array (H, W), True where hidden")
    m = torch.as_tensor(np.asarray(mask)).bool()
    if m.ndim == 2:
        m = m.unsqueeze(0).expand(B, H, W) if m.shape == (H, W) else m
    if m.ndim == 3 and m.shape[1:] != (H, W) or m.ndim == 2:
        raise ValueError(f"mask must have shape ({H}, {W}) to match the images; got {tuple(m.shape)}")
    if m.ndim != 3 or m.shape[0] not in (1, B):
        raise ValueError(f"mask must have shape ({H}, {W}) or ({B}, {H}, {W}); got {tuple(m.shape)}")
    return x.masked_fill(m.unsqueeze(1).to(x.device), 0.0)


def encode_corrupted(encoder, images: np.ndarray, kind: str = "occlude-bottom", amount: float = 0.5, seed: int = 0,
                     batch: int = 512, progress=None) -> torch.Tensor:
    """Encoded corrupted cues Phi_enc(corrupt(images)) (HEN eq. 5), in batches: query i belongs to memory i.

    Args:
        encoder: an image encoder (``encode``: (b, 3, H, W) in [0, 1] -> (b, K)).
        images: uint8 (N, H, W, 3), e.g. a bank's stored images.
        kind, amount: one of ``CORRUPTIONS`` and its strength; batch ``j`` (starting at image i) uses seed ``seed + i``.
        progress: optional callable(fraction) after each batch.
    Returns:
        (N, K) float32 codes.
    """
    from hen_demo.data.images import to_float_tensor

    out = []
    for i in range(0, len(images), batch):
        x = to_float_tensor(np.asarray(images[i:i + batch]))  # (b, 3, H, W)
        out.append(encoder.encode(corrupt(x, kind=kind, amount=amount, seed=seed + i)))  # (b, K)
        if progress is not None:
            progress(min(1.0, (i + batch) / len(images)))
    return torch.cat(out)
