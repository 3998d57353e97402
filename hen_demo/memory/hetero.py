"""Hetero-associative memories: ``[image code; text code]`` patterns and caption queries (HEN §3.2, Fig. 4-6).

A memory concatenates an image code and a scaled text code, ``ξ̂_n = [Φ_enc^I(I_n); c·Φ_enc^T(T_n)]``; a caption
query is ``ŝ^(0) = [0; c·Φ_enc^T(T)]`` with the text half clamped while the dynamics fill in the image half.
``c = text_weight · mean‖image code‖ / mean‖text code‖``: with ``text_weight = 1`` both halves have the same mean
norm (HEN: disjoint text and image spaces work "provided the Hopfield energy landscapes are appropriately
normalized"); larger weights let the caption dominate the similarity.

Used by the app (``hen_demo.pipeline``) and the cross-modal / uniqueness experiments alike.
"""

from __future__ import annotations

import torch


def hetero_patterns(
    image_codes: torch.Tensor,
    text_codes: torch.Tensor,
    bind: tuple[int, int] | None = None,
    text_weight: float = 1.0,
) -> tuple[torch.Tensor, torch.Tensor, float]:
    """Memories ``[image code; c * text code]`` (HEN §3.2, Fig. 4).

    Args:
        image_codes: (N, K_i); text_codes: (N, K_t).
        bind: optional pair (i, j): memory j gets memory i's text code, so one caption names two images
            (HEN Fig. 6: associations no longer unique -> a metastable mixture).
        text_weight: > 0, the caption's weight relative to the image.
    Returns:
        patterns (N, K_i + K_t), clamp mask (K_i + K_t,) bool with the text dims True, the text scale c.
    """
    img = torch.as_tensor(image_codes, dtype=torch.float32)
    txt = torch.as_tensor(text_codes, dtype=torch.float32)
    if img.ndim != 2 or txt.ndim != 2 or img.shape[0] != txt.shape[0]:
        raise ValueError("Image and text codes must be (N, K) matrices describing the same number of memories.")
    if not text_weight > 0:
        raise ValueError(f"The caption weight must be positive (got {text_weight}).")
    scale = float(text_weight * img.norm(dim=1).mean() / txt.norm(dim=1).mean().clamp_min(1e-12))
    if bind is not None:
        txt = txt.clone()
        txt[int(bind[1])] = txt[int(bind[0])]
    patterns = torch.cat([img, txt * scale], dim=1)  # (N, K_i + K_t)
    return patterns, text_clamp(img.shape[1], txt.shape[1]), scale


def text_clamp(image_dims: int, text_dims: int) -> torch.Tensor:
    """Clamp mask (K_i + K_t,): True on the text block, which caption queries hold fixed."""
    clamp = torch.zeros(image_dims + text_dims, dtype=torch.bool)
    clamp[image_dims:] = True
    return clamp


def caption_queries(text_codes: torch.Tensor, image_dims: int, scale: float) -> tuple[torch.Tensor, torch.Tensor]:
    """Queries ``[0; c * text code]`` (B, K_i + K_t) with a blank image half (HEN §3.2), and their clamp mask."""
    txt = torch.as_tensor(text_codes, dtype=torch.float32)
    if txt.ndim == 1:
        txt = txt[None]
    queries = torch.cat([torch.zeros(txt.shape[0], image_dims), scale * txt], dim=1)  # (B, K_i + K_t)
    return queries, text_clamp(image_dims, txt.shape[1])
