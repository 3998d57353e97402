"""Raw pixels as the code: the paper's image-based modern Hopfield baseline.

HEN §3 downsamples every image to 28×28×3 = 2352 values "to match the number of features that the
encoded representations produced"; the memory then stores the pixels themselves (Φ_enc = Φ_dec = I_K,
HEN Fig. 4 caption).
"""

from __future__ import annotations

import torch

from hen_demo.encoders.base import ImageEncoder


class PixelEncoder(ImageEncoder):
    """Identity "encoder" on images resized to ``size × size``: code = the flattened RGB values in [0, 1].

    Args:
        size: square side (default 28, so K = 28·28·3 = 2352 as in the paper).
    """

    def __init__(self, size: int = 28) -> None:
        super().__init__()
        if size < 2 or size > 512:
            raise ValueError(f"pixel size must be between 2 and 512; got {size}")
        self.name = "pixels" if size == 28 else f"pixels-{size}"
        self.label = f"Raw pixels ({size}×{size}×3 = {3 * size * size})"
        self.image_size = size
        self.latent_shape = (3, size, size)
        self.code_dim = 3 * size * size
        self.fingerprint = f"pixels:{size}:v1"

    def _encode(self, x: torch.Tensor) -> torch.Tensor:  # (B, 3, s, s) -> (B, 3, s, s)
        return x

    def _decode(self, z: torch.Tensor) -> torch.Tensor:
        return z


# ---- registry hooks (always available) ----------------------------------------------------------------
def probe(name: str) -> str:
    return ""


def load(name: str, size: int = 28) -> PixelEncoder:
    return PixelEncoder(size)
