"""CLIP ViT-B/32 text encoder (Radford et al. 2021), as HEN §3.2 uses for cross-modal memories (512-d).

transformers' ``CLIPTokenizer`` + ``CLIPTextModelWithProjection`` from ``openai/clip-vit-base-patch32``,
found in a folder the user names (``weights_dir=`` or ``$HEN_WEIGHTS_DIR/clip``), the local Hugging Face
cache, or the hub when online. The code is ``text_embeds`` L2-normalised. CLIP reads at most 77 tokens:
longer captions are truncated by the tokenizer (HEN concatenates an image's COCO captions; the tail beyond
77 tokens is dropped). open_clip is not used (it needs torchvision, which does not load with this torch).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from hen_demo.encoders.base import EncoderUnavailable, TextEncoder
from hen_demo.encoders.weights import hub_reason, in_hf_cache, local_folder, weights_digest

REPO = "openai/clip-vit-base-patch32"
MAX_TOKENS = 77


def probe(name: str, weights_dir=None, cache_dir=None) -> str:
    if local_folder(name, weights_dir) is not None or in_hf_cache(REPO, "config.json", cache_dir):
        return ""
    reason = hub_reason()
    if reason:
        return f"{REPO} is not in the local cache and {reason}; or put it in $HEN_WEIGHTS_DIR/clip"
    return ""


class ClipText(TextEncoder):
    def __init__(self, tokenizer, model, source: str) -> None:
        super().__init__()
        self.tokenizer, self.model = tokenizer, model.eval()
        self.name, self.label = "clip", "CLIP ViT-B/32 text"
        self.code_dim = int(model.config.projection_dim)
        self.fingerprint = f"clip:{weights_digest([model])}"  # the weights, not where they came from
        self.source = source

    def _modules(self):
        return [self.model]

    @torch.no_grad()
    def _encode(self, captions: list[str]) -> torch.Tensor:
        max_len = min(MAX_TOKENS, int(getattr(self.model.config, "max_position_embeddings", MAX_TOKENS)))
        batch = self.tokenizer(captions, padding=True, truncation=True, max_length=max_len, return_tensors="pt")
        batch = {k: v.to(self.device) for k, v in batch.items() if k in ("input_ids", "attention_mask")}
        return F.normalize(self.model(**batch).text_embeds, dim=-1)  # (B, 512)


def load(name: str, weights_dir=None, cache_dir=None, **kwargs) -> ClipText:
    try:  # here, not at the top: transformers takes ~2-4 s to import (-X importtime); probing must not pay it
        from transformers import CLIPTextModelWithProjection, CLIPTokenizer
    except ImportError as exc:
        raise EncoderUnavailable(f"clip is unavailable: transformers cannot be imported ({exc})") from exc
    errors = []
    folder = local_folder(name, weights_dir)
    attempts = []
    if folder is not None:
        attempts.append((str(folder), {"local_files_only": True}, f"folder:{folder}"))
    if in_hf_cache(REPO, "config.json", cache_dir):
        attempts.append((REPO, {"local_files_only": True, "cache_dir": cache_dir}, f"hub:{REPO}"))
    reason = hub_reason()
    if not reason:
        attempts.append((REPO, {"cache_dir": cache_dir}, f"hub:{REPO}"))
    else:
        errors.append(f"hub: {reason}")
    for src, kw, label in attempts:
        try:
            tok = CLIPTokenizer.from_pretrained(src, **kw)
            model = CLIPTextModelWithProjection.from_pretrained(src, **kw)
            return ClipText(tok, model, label)
        except Exception as exc:
            errors.append(f"{label}: {type(exc).__name__}: {exc}")
    raise EncoderUnavailable("clip is unavailable: " + "; ".join(errors))
