"""Where pretrained weights come from, in order: a folder the user names, the local Hugging Face cache,
then the hub (only when online).

1. ``weights_dir=`` passed to ``get_image_encoder`` / ``get_text_encoder``;
2. ``$HEN_WEIGHTS_DIR/<encoder name>`` (e.g. ``~/hen-weights/kl-f8`` holding a diffusers folder);
3. the Hugging Face cache (``local_files_only=True``; honours ``HF_HOME`` / ``HF_HUB_CACHE`` or ``cache_dir=``);
4. the hub, unless ``HF_HUB_OFFLINE`` is set or huggingface.co cannot be reached.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import torch
from huggingface_hub import try_to_load_from_cache

from hen_demo.hub import hub_unavailable_reason


def local_folder(name: str, weights_dir=None, marker: str = "config.json") -> Path | None:
    """The user's folder for encoder ``name`` if it exists and holds ``marker``."""
    cands = []
    if weights_dir:
        cands.append(Path(weights_dir))
    env = os.environ.get("HEN_WEIGHTS_DIR")
    if env:
        cands.append(Path(env) / name)
    for c in cands:
        if (c / marker).is_file():
            return c
    return None


def in_hf_cache(repo: str, filename: str, cache_dir=None) -> bool:
    """True when ``repo``'s ``filename`` is in the local Hugging Face cache (never touches the network)."""
    try:
        hit = try_to_load_from_cache(repo, filename, cache_dir=cache_dir)
        return isinstance(hit, str)
    except Exception:
        return False


def hub_reason() -> str:
    return hub_unavailable_reason()


def weights_digest(modules, samples: int = 4096) -> str:
    """A short digest of the modules' weights (16 hex digits): every tensor's name, shape and dtype, and up to
    ``samples`` evenly spaced values of each (exact bytes, so no float reduction-order noise). Cheap for
    100M-parameter models, and the same for the same weights wherever they were loaded from; it goes into
    encoder fingerprints, which key bank caches and are checked against precomputed banks."""
    h = hashlib.sha256()
    for m in modules:
        for key, t in m.state_dict().items():
            flat = t.detach().reshape(-1)
            step = max(1, flat.numel() // samples)
            sample = flat[::step][:samples].to("cpu", torch.float32).contiguous()
            h.update(f"{key}:{tuple(t.shape)}:{t.dtype}".encode())
            h.update(sample.numpy().tobytes())
    return h.hexdigest()[:16]
