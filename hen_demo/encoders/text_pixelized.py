"""Pixelized captions (HEN §3.2, Fig. 6): the caption is rendered as a picture and encoded with the *image*
encoder, so text and images share one encoder (Φ_enc^T = Φ_enc^I, HEN Fig. 4 caption).

Rendering (``render_caption``): black text on a white ``RENDER_SIZE``² canvas with the font Pillow bundles
(``ImageFont.load_default(size=...)``), word-wrapped; text that does not fit is cut (at most ``MAX_CHARS``
characters are drawn). With ``hash_pattern=True`` (default) a 16×4 block pattern of the caption's SHA-256
bits fills the bottom band, so two captions that render alike (or differ only after the cut) still give
distinct pictures — HEN's uniqueness-of-association requirement. The picture is then resized to the image
encoder's input by the encoder itself.
"""

from __future__ import annotations

import hashlib
import textwrap

import numpy as np
import torch
from PIL import Image, ImageDraw, ImageFont

from hen_demo.encoders.base import ImageEncoder, TextEncoder
from hen_demo.images import to_float_tensor

RENDER_SIZE = 128  # canvas side in pixels
MAX_CHARS = 200  # characters drawn at most; the hash pattern still covers the whole caption
FONT_SIZE = 13


def render_caption(caption: str, size: int = RENDER_SIZE, hash_pattern: bool = True) -> np.ndarray:
    """Caption -> uint8 (size, size, 3) picture (see module docstring)."""
    if not caption.strip():
        raise ValueError("caption is empty; type a few words")
    img = Image.new("RGB", (size, size), "white")
    draw = ImageDraw.Draw(img)
    font = ImageFont.load_default(size=max(6, round(FONT_SIZE * size / RENDER_SIZE)))
    band = size // 4 if hash_pattern else 0
    text = " ".join(caption.split())[:MAX_CHARS]
    char_w = max(1.0, draw.textlength("abcdefghij", font=font) / 10)
    lines = textwrap.wrap(text, width=max(4, int((size - 4) / char_w)))
    line_h = font.size + 2
    y = 2
    for line in lines:
        if y + line_h > size - band:
            break
        draw.text((2, y), line, fill="black", font=font)
        y += line_h
    if hash_pattern:
        bits = np.unpackbits(np.frombuffer(hashlib.sha256(caption.encode("utf-8")).digest(), np.uint8))[:64]
        cols, rows = 16, 4
        bw, bh = size / cols, band / rows
        for k, bit in enumerate(bits):
            if bit:
                r, c = divmod(k, cols)
                x0, y0 = int(c * bw), int(size - band + r * bh)
                draw.rectangle([x0, y0, int((c + 1) * bw) - 1, int(size - band + (r + 1) * bh) - 1], fill="black")
    return np.asarray(img, dtype=np.uint8)


class PixelizedText(TextEncoder):
    """Captions -> image codes (B, K) of ``image_encoder``.

    Args:
        image_encoder: the ImageEncoder that encodes the rendered captions.
        hash_pattern: draw the caption's hash bits (makes every distinct caption a distinct picture).
    """

    def __init__(self, image_encoder: ImageEncoder, hash_pattern: bool = True) -> None:
        super().__init__()
        self.image_encoder = image_encoder
        self.hash_pattern = hash_pattern
        self.name = "pixelized"
        self.label = f"Pixelized caption via {image_encoder.name}"
        self.code_dim = image_encoder.code_dim
        self.fingerprint = f"pixelized:v1:{int(hash_pattern)}:{image_encoder.fingerprint or image_encoder.name}"

    def render(self, captions: list[str]) -> torch.Tensor:  # (B, 3, RENDER_SIZE, RENDER_SIZE) in [0, 1]
        return to_float_tensor(np.stack([render_caption(c, hash_pattern=self.hash_pattern) for c in captions]))

    def _encode(self, captions: list[str]) -> torch.Tensor:
        return self.image_encoder.encode(self.render(captions))


def probe(name: str) -> str:
    return ""


def load(name: str, image_encoder: ImageEncoder = None, hash_pattern: bool = True, **kwargs) -> PixelizedText:
    if image_encoder is None:
        raise ValueError("the pixelized text encoder needs an image encoder")
    return PixelizedText(image_encoder, hash_pattern=hash_pattern)
