"""Registry hooks for the raw-pixel baseline (always available)."""

from __future__ import annotations

from hen_demo.encoders.pixels import PixelEncoder


def probe(name: str) -> str:
    return ""


def load(name: str, size: int = 28) -> PixelEncoder:
    return PixelEncoder(size)
