"""CLIP ViT-B/32 text encoder through open_clip (optional backend; HEN §3.2 cross-modal memories).

open_clip (``pip install open_clip_torch``) depends on torchvision, which does not load with every torch build
(it does not with the CPU torch these machines pin). So this backend is listed only where ``import open_clip``
succeeds; otherwise the registry shows it as unavailable with the reason, and the transformers backend
(``clip``) covers the same model. Weights: ``pretrained="openai"`` (downloaded by open_clip when online) or a
local checkpoint file named by ``weights=`` / ``$HEN_WEIGHTS_DIR/clip-openclip/open_clip_model.safetensors``.
Codes are L2-normalised ``encode_text`` outputs (512-d); the tokenizer truncates captions to 77 tokens.
"""

from __future__ import annotations

import importlib
import os
from pathlib import Path

import torch
import torch.nn.functional as F

from hen_demo.encoders.base import EncoderUnavailable, TextEncoder

ARCH = "ViT-B-32"


def _import_open_clip():
    """The open_clip module, or EncoderUnavailable with the import error as the reason."""
    try:
        return importlib.import_module("open_clip")
    except Exception as exc:  # ImportError, or torchvision's operator errors raised while importing
        raise EncoderUnavailable(
            f"open_clip cannot be imported here ({type(exc).__name__}: {exc}); it needs open_clip_torch and a "
            "working torchvision — use the 'clip' encoder (transformers) instead") from exc


def _local_weights(weights=None) -> str | None:
    if weights is not None:
        return str(weights)
    root = os.environ.get("HEN_WEIGHTS_DIR")
    if root:
        path = Path(root) / "clip-openclip" / "open_clip_model.safetensors"
        if path.is_file():
            return str(path)
    return None


def probe(name: str, weights=None, **_) -> str:
    try:
        _import_open_clip()
    except EncoderUnavailable as exc:
        return str(exc)
    return ""


class OpenClipText(TextEncoder):
    def __init__(self, model, tokenizer, source: str) -> None:
        super().__init__()
        self.model, self.tokenizer = model.eval(), tokenizer
        self.name, self.label = "clip-openclip", "CLIP ViT-B/32 text (open_clip)"
        with torch.no_grad():
            self.code_dim = int(self.model.encode_text(self.tokenizer(["a"])).shape[-1])
        self.fingerprint = f"clip-openclip:{source}"

    def _modules(self):
        return [self.model]

    @torch.no_grad()
    def _encode(self, captions: list[str]) -> torch.Tensor:
        tokens = self.tokenizer(captions).to(self.device)  # (B, 77), truncated by the tokenizer
        return F.normalize(self.model.encode_text(tokens).float(), dim=-1)  # (B, 512)


def load(name: str, weights=None, arch: str = ARCH, **_) -> OpenClipText:
    open_clip = _import_open_clip()
    local = _local_weights(weights)
    pretrained = local if local is not None else "openai"
    try:
        model, _, _ = open_clip.create_model_and_transforms(arch, pretrained=pretrained)
    except Exception as exc:  # no network, missing file, unknown arch
        raise EncoderUnavailable(f"open_clip could not load {arch} ({pretrained}): {exc}") from exc
    return OpenClipText(model, open_clip.get_tokenizer(arch), source=f"{arch}:{pretrained}")
