"""Query corruptions: how a stored memory is damaged before we ask the network to complete it.

HEN §3 queries with half of each image occluded (Fig. 1: "the query image with half of it occluded");
the other kinds (random pixel masks, additive noise, a user-drawn mask) are the usual associative-memory
probes. All take and return float tensors ``(B, 3, H, W)`` in [0, 1].

Hidden pixels (occlusions and masks) are filled with one of ``FILLS``: "black" (0, the papers' occlusion),
"grey" (the dataset's mean grey level), "mean-image" (the bank's mean image) or "noise" (uniform noise in
[0, 1]). The fill matters: L2 against a black half favours memories whose hidden half is dark (see the
attractor census). The dataset statistics a fill needs are passed in as a :class:`FillStats`, never read
from global state.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

CORRUPTIONS: tuple[str, ...] = ("none", "occlude-top", "occlude-bottom", "occlude-left", "occlude-right",
                                "mask-random", "noise", "mask")
FILLS: tuple[str, ...] = ("black", "grey", "mean-image", "noise")
STAT_FILLS: tuple[str, ...] = ("grey", "mean-image")  # the fills that write the dataset's FillStats
HIDING: tuple[str, ...] = ("occlude-top", "occlude-bottom", "occlude-left", "occlude-right", "mask-random", "mask")


@dataclass
class FillStats:
    """What the "grey" and "mean-image" fills write.

    grey: the dataset's mean grey level in [0, 1] (mean over images, pixels and channels).
    mean_image: (3, H, W) float tensor in [0, 1], the bank's mean image.
    """

    grey: float
    mean_image: torch.Tensor


def fill_stats(images) -> FillStats:
    """FillStats of a bank's images: uint8 ``(N, H, W, 3)`` or float ``(N, 3, H, W)`` in [0, 1]."""
    if isinstance(images, torch.Tensor) and images.ndim == 4 and images.shape[1] == 3:
        x = images.detach().float().cpu()
    else:
        a = np.asarray(images)
        if a.ndim != 4 or a.shape[-1] != 3 or len(a) == 0:
            raise ValueError(f"fill statistics need images (N, H, W, 3) or (N, 3, H, W); got {a.shape}")
        x = torch.from_numpy(a.astype(np.float32) / (255.0 if a.dtype == np.uint8 else 1.0)).permute(0, 3, 1, 2)
    mean_image = x.mean(0)  # (3, H, W)
    return FillStats(grey=float(mean_image.mean()), mean_image=mean_image)


def check_fill(fill: str, stats: FillStats | None = None) -> str:
    """``fill`` if it is one of ``FILLS`` (and its statistics are given), else a ValueError with a sentence."""
    if fill not in FILLS:
        raise ValueError(f"unknown fill {fill!r} for hidden pixels; choose one of: {', '.join(FILLS)}.")
    if fill in STAT_FILLS and stats is None:
        raise ValueError(f"the {fill!r} fill needs the dataset's statistics: pass stats=fill_stats(bank.images).")
    return fill


def _check(images, kind: str, amount) -> float:
    if kind not in CORRUPTIONS:
        raise ValueError(f"unknown corruption {kind!r}; choose one of: {', '.join(CORRUPTIONS)}")
    if not isinstance(images, torch.Tensor) or images.ndim != 4 or images.shape[1] != 3:
        shape = tuple(images.shape) if hasattr(images, "shape") else type(images).__name__
        raise ValueError(f"images must be a float tensor (B, 3, H, W) in [0, 1]; got {shape}")
    amount = float(amount)
    if not np.isfinite(amount):
        raise ValueError("amount must be a finite number")
    if kind in HIDING[:-1] and not 0.0 <= amount <= 1.0:
        raise ValueError(f"amount for {kind} is the fraction hidden and must be in [0, 1]; got {amount}")
    if kind == "noise" and amount < 0:
        raise ValueError(f"noise amount is a standard deviation and must be >= 0; got {amount}")
    return amount


def _hidden(kind: str, amount: float, B: int, H: int, W: int, gen: torch.Generator, mask) -> torch.Tensor:
    """(B, H, W) bool, True where ``kind`` hides a pixel (all False for "none" and "noise")."""
    hidden = torch.zeros(B, H, W, dtype=torch.bool)
    if kind.startswith("occlude-"):
        side = kind.split("-", 1)[1]
        rows, cols = int(round(amount * H)), int(round(amount * W))
        if side == "top" and rows:
            hidden[:, :rows, :] = True
        elif side == "bottom" and rows:
            hidden[:, H - rows:, :] = True
        elif side == "left" and cols:
            hidden[:, :, :cols] = True
        elif side == "right" and cols:
            hidden[:, :, W - cols:] = True
    elif kind == "mask-random":
        hidden = (torch.rand(B, 1, H, W, generator=gen) < amount)[:, 0]  # (B, H, W)
    elif kind == "mask":
        if mask is None:
            raise ValueError("corruption 'mask' needs a mask: a bool array (H, W), True where hidden")
        m = torch.as_tensor(np.asarray(mask)).bool()
        if m.ndim == 2:
            m = m.unsqueeze(0).expand(B, H, W) if m.shape == (H, W) else m
        if m.ndim == 3 and m.shape[1:] != (H, W) or m.ndim == 2:
            raise ValueError(f"mask must have shape ({H}, {W}) to match the images; got {tuple(m.shape)}")
        if m.ndim != 3 or m.shape[0] not in (1, B):
            raise ValueError(f"mask must have shape ({H}, {W}) or ({B}, {H}, {W}); got {tuple(m.shape)}")
        hidden = m.expand(B, H, W).clone()
    return hidden


def corruption_mask(images: torch.Tensor, kind: str = "occlude-bottom", amount: float = 0.5, seed: int = 0,
                    mask=None) -> torch.Tensor:
    """(B, H, W) bool, True where ``corrupt(images, kind, amount, seed, mask)`` hides a pixel (same seed, same
    mask). "none" and "noise" hide nothing (all False)."""
    amount = _check(images, kind, amount)
    B, _, H, W = images.shape
    return _hidden(kind, amount, B, H, W, torch.Generator().manual_seed(int(seed)), mask)


def corrupt(images: torch.Tensor, kind: str = "occlude-bottom", amount: float = 0.5, seed: int = 0,
            mask=None, fill: str = "black", stats: FillStats | None = None, return_mask: bool = False):
    """Return a corrupted copy of ``images (B, 3, H, W)`` in [0, 1] (same shape; the input is untouched).

    Args:
        kind: one of ``CORRUPTIONS``. "occlude-<side>": the ``amount`` fraction of rows/columns nearest that
            side is hidden. "mask-random": each pixel (all 3 channels) hidden with probability ``amount``.
            "noise": add Gaussian noise of standard deviation ``amount``, then clip to [0, 1].
            "mask": hide where the user's bool ``mask (H, W)`` (or ``(B, H, W)``) is True.
        amount: fraction in [0, 1] for occlusions and random masks; sigma >= 0 for noise.
        seed: seeds the random kinds and the "noise" fill (same seed, same corruption).
        fill: what hidden pixels become, one of ``FILLS`` (default "black" = 0).
        stats: the dataset's :class:`FillStats` (needed by "grey" and "mean-image"; see ``fill_stats``).
        return_mask: also return the (B, H, W) bool mask of hidden pixels.
    Returns:
        the corrupted images, or (images, hidden mask) with ``return_mask``.
    """
    amount = _check(images, kind, amount)
    check_fill(fill, stats if kind in HIDING else FillStats(0.0, torch.zeros(0)))
    x = images.detach().clone().float()
    B, _, H, W = x.shape
    gen = torch.Generator().manual_seed(int(seed))
    hidden = _hidden(kind, amount, B, H, W, gen, mask)  # (B, H, W)
    if kind == "noise":
        noise = torch.randn(x.shape, generator=gen) * amount
        x = (x + noise.to(x.device)).clamp(0.0, 1.0)
    elif kind in HIDING and bool(hidden.any()):
        m = hidden.unsqueeze(1).expand_as(x).to(x.device)  # (B, 3, H, W)
        if fill == "black":
            value = torch.zeros_like(x)
        elif fill == "grey":
            value = torch.full_like(x, float(stats.grey))
        elif fill == "mean-image":
            mean = torch.as_tensor(stats.mean_image).float()
            if tuple(mean.shape) != (3, H, W):
                raise ValueError(f"the mean image has shape {tuple(mean.shape)}; the images need (3, {H}, {W}).")
            value = mean.to(x.device).unsqueeze(0).expand_as(x)
        else:  # noise fill: uniform in [0, 1]
            value = torch.rand(x.shape, generator=gen).to(x.device)
        x = torch.where(m, value, x)
    return (x, hidden) if return_mask else x


def encode_corrupted(encoder, images: np.ndarray, kind: str = "occlude-bottom", amount: float = 0.5, seed: int = 0,
                     batch: int = 512, progress=None, fill: str = "black",
                     stats: FillStats | None = None) -> torch.Tensor:
    """Encoded corrupted cues Phi_enc(corrupt(images)) (HEN eq. 5), in batches: query i belongs to memory i.

    Args:
        encoder: an image encoder (``encode``: (b, 3, H, W) in [0, 1] -> (b, K)).
        images: uint8 (N, H, W, 3), e.g. a bank's stored images.
        kind, amount: one of ``CORRUPTIONS`` and its strength; batch ``j`` (starting at image i) uses seed ``seed + i``.
        progress: optional callable(fraction) after each batch.
        fill, stats: what hidden pixels become (see ``corrupt``); "grey"/"mean-image" need ``stats``.
    Returns:
        (N, K) float32 codes.
    """
    from hen_demo.data.images import to_float_tensor

    if kind in HIDING:
        check_fill(fill, stats)
    out = []
    for i in range(0, len(images), batch):
        x = to_float_tensor(np.asarray(images[i:i + batch]))  # (b, 3, H, W)
        out.append(encoder.encode(corrupt(x, kind=kind, amount=amount, seed=seed + i, fill=fill, stats=stats)))
        if progress is not None:
            progress(min(1.0, (i + batch) / len(images)))
    return torch.cat(out)
