"""The one interface every image and text encoder implements (contract §2).

An image encoder maps images ``(B, 3, H, W)`` floats in [0, 1] to codes ``(B, K)`` — the memories
ξ_n ∈ R^{1×K} that HEN stores (HEN eq. 5: Ξ̂ = Φ_enc(Ξ)) — and back with its decoder
(HEN eq. 7: s^(T_f) = Φ_dec(ŝ^(T_f))). A text encoder maps captions to ``(B, K_text)``.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F


class EncoderUnavailable(ValueError):
    """An encoder (or dataset) exists but cannot be used here; the message says why."""


@dataclass
class EncoderInfo:
    """What the registry knows about an encoder without loading it."""

    name: str  # registry key, e.g. "vq-small"
    label: str  # human-readable name for the UI
    available: bool  # weights (or libraries) reachable right now
    reason: str  # why not, when unavailable ("" when available)
    code_dim: int | None  # K, the length of one code (None when unknown until loaded)
    image_size: int | None  # square input side (image encoders); None for text encoders
    shipped: bool  # weights ship with the project (offline default)
    pretrained: bool  # one of the papers' pretrained models


def resize_images(images: torch.Tensor, size: int) -> torch.Tensor:
    """Resize ``images (B, 3, H, W)`` to ``(B, 3, size, size)``.

    Non-square inputs are stretched (no crop), so that every pixel of the query reaches the encoder.
    Downscaling uses antialiased bilinear filtering; upscaling (e.g. a 28-px digit into a 64-px
    encoder) uses plain bilinear interpolation — the documented conversion for small inputs.
    """
    if images.shape[-2:] == (size, size):
        return images
    down = images.shape[-1] > size or images.shape[-2] > size
    out = F.interpolate(images, size=(size, size), mode="bilinear", align_corners=False, antialias=down)
    return out.clamp(0.0, 1.0)


def check_images(images) -> torch.Tensor:
    """Validate an image batch: float tensor ``(B, 3, H, W)`` in [0, 1] (a single ``(3, H, W)`` image is
    promoted to B=1). Raises ValueError with a readable sentence otherwise."""
    if not isinstance(images, torch.Tensor):
        raise ValueError("images must be a torch tensor of shape (B, 3, H, W) with values in [0, 1]; "
                         "use hen_demo.images.to_float_tensor for uint8 arrays")
    if images.ndim == 3:
        images = images.unsqueeze(0)
    if images.ndim != 4 or images.shape[1] != 3:
        raise ValueError(f"images must have shape (B, 3, H, W); got {tuple(images.shape)}")
    if not images.is_floating_point():
        raise ValueError("images must be floats in [0, 1]; got dtype "
                         f"{images.dtype} (convert uint8 with hen_demo.images.to_float_tensor)")
    if not torch.isfinite(images).all():
        raise ValueError("images contain NaN or infinite values")
    return images


def squared_distances(x: torch.Tensor, table: torch.Tensor) -> torch.Tensor:
    """Squared Euclidean distances between rows ``x (M, d)`` and ``table (V, d)`` -> ``(M, V)``, through
    ‖x‖² − 2 x·e + ‖e‖² (faster than ``torch.cdist``). The quantisers snap codes to ``.argmin(1)`` of it."""
    return x.pow(2).sum(1, keepdim=True) - 2 * x @ table.T + table.pow(2).sum(1)[None]


class _OnDevice:
    """Device handling shared by image and text encoders: ``device`` and ``to(device)`` over ``_modules()``."""

    def __init__(self) -> None:
        self.device = torch.device("cpu")

    def to(self, device):
        """Move the encoder's weights to ``device`` (returns self)."""
        self.device = torch.device(device)
        for m in self._modules():
            m.to(self.device)
        return self

    def _modules(self) -> list[torch.nn.Module]:
        """The torch modules holding the encoder's weights (moved by ``to``)."""
        return []


class ImageEncoder(_OnDevice):
    """Base class: subclasses implement ``_encode`` and ``_decode`` on ``image_size`` inputs.

    Attributes:
        name: registry name. label: display name. image_size: square side the model works at.
        code_dim: K. latent_shape: the shape one code has before flattening, e.g. ``(8, 16, 16)``.
    """

    name: str = ""
    label: str = ""
    image_size: int = 0
    code_dim: int = 0
    latent_shape: tuple = ()
    # a string that changes whenever the encoder's output changes (weights, config); used in bank cache keys
    fingerprint: str = ""

    # -- public API --------------------------------------------------------------------------------
    @torch.no_grad()
    def encode(self, images: torch.Tensor, batch_size: int = 256) -> torch.Tensor:
        """images (B, 3, H, W) float in [0, 1], any H, W -> codes (B, K) float32 on CPU."""
        images = check_images(images)
        outs = []
        for i in range(0, images.shape[0], batch_size):
            x = resize_images(images[i:i + batch_size].float(), self.image_size).to(self.device)
            z = self._encode(x)  # (b, *latent_shape)
            outs.append(z.reshape(z.shape[0], -1).float().cpu())
        if not outs:
            return torch.zeros(0, self.code_dim)
        return torch.cat(outs)  # (B, K)

    @torch.no_grad()
    def decode(self, codes: torch.Tensor, batch_size: int = 256) -> torch.Tensor:
        """codes (B, K) -> images (B, 3, image_size, image_size) float in [0, 1] on CPU."""
        if not isinstance(codes, torch.Tensor):
            codes = torch.as_tensor(codes)
        if codes.ndim == 1:
            codes = codes.unsqueeze(0)
        if codes.ndim != 2 or codes.shape[1] != self.code_dim:
            raise ValueError(f"{self.name} decodes codes of shape (B, {self.code_dim}); got {tuple(codes.shape)}")
        outs = []
        for i in range(0, codes.shape[0], batch_size):
            z = codes[i:i + batch_size].float().to(self.device).reshape(-1, *self.latent_shape)
            outs.append(self._decode(z).float().clamp(0.0, 1.0).cpu())
        if not outs:
            return torch.zeros(0, 3, self.image_size, self.image_size)
        return torch.cat(outs)

    # -- for subclasses ----------------------------------------------------------------------------

    def _encode(self, x: torch.Tensor) -> torch.Tensor:  # (B, 3, s, s) in [0,1] -> (B, *latent_shape)
        raise NotImplementedError

    def _decode(self, z: torch.Tensor) -> torch.Tensor:  # (B, *latent_shape) -> (B, 3, s, s) in [0,1]
        raise NotImplementedError

    def __repr__(self) -> str:
        return f"{type(self).__name__}(name={self.name!r}, image_size={self.image_size}, code_dim={self.code_dim})"


def check_captions(captions) -> list[str]:
    """Validate captions: a non-empty list of strings, none empty or whitespace-only."""
    if isinstance(captions, str):
        captions = [captions]
    captions = list(captions)
    for i, c in enumerate(captions):
        if not isinstance(c, str):
            raise ValueError(f"caption {i} is not a string ({type(c).__name__})")
        if not c.strip():
            raise ValueError(f"caption {i} is empty; type a few words describing the image")
    return captions


class TextEncoder(_OnDevice):
    """Base class for caption encoders: ``encode(captions: list[str]) -> (B, K_text)`` float32 on CPU.

    Long captions are truncated by the model's tokenizer (``max_length`` tokens, documented per encoder);
    empty or whitespace-only captions raise ValueError.
    """

    name: str = ""
    label: str = ""
    code_dim: int = 0
    fingerprint: str = ""

    def encode(self, captions: list[str], batch_size: int = 64) -> torch.Tensor:
        captions = check_captions(captions)
        outs = [self._encode(captions[i:i + batch_size]).float().cpu() for i in range(0, len(captions), batch_size)]
        if not outs:
            return torch.zeros(0, self.code_dim)
        return torch.cat(outs)

    def _encode(self, captions: list[str]) -> torch.Tensor:
        raise NotImplementedError

