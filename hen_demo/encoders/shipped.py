"""The project's own small encoders (vq-small, kl-small, dvae-small, robust-small), loaded from assets/encoders.

Each ships as ``<name>.safetensors`` (weights), ``<name>.json`` (SmallConfig + training record) and
``<name>.md`` (model card). Train them again with ``python -m hen_demo train-encoder --kind vq|kl|dvae|robust``.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import torch
from safetensors.torch import load_file

from hen_demo.assets import assets_dir
from hen_demo.encoders.base import EncoderUnavailable, ImageEncoder
from hen_demo.encoders.dvae_small import SmallDVAE
from hen_demo.encoders.kl_small import SmallKLVAE
from hen_demo.encoders.robust_small import SmallRobustAE
from hen_demo.encoders.small_blocks import SmallConfig
from hen_demo.encoders.vq_small import SmallVQVAE

KINDS = ("vq", "kl", "dvae", "robust")
LABELS = {"vq": "VQ-VAE small (f4, trained here)", "kl": "KL-VAE small (f4, trained here)",
          "dvae": "Discrete VAE small (Gumbel-softmax, f4, trained here)",
          "robust": "Robust small (occlusion-trained, f4 + attention, trained here; our extension)"}


def weights_paths(name: str, folder=None) -> tuple[Path, Path]:
    d = Path(folder) if folder else assets_dir() / "encoders"
    return d / f"{name}.safetensors", d / f"{name}.json"


class SmallAutoencoder(ImageEncoder):
    """ImageEncoder wrapper around a SmallVQVAE / SmallKLVAE / SmallDVAE.

    Args:
        model: the network (with ``encode_latent`` and ``decode_latent``).
        name: registry name. fingerprint: changes with the weights (bank cache key).
    """

    def __init__(self, model: torch.nn.Module, name: str, fingerprint: str, meta: dict | None = None) -> None:
        super().__init__()
        cfg: SmallConfig = model.cfg
        self.model = model.eval()
        self.name = name
        self.label = LABELS.get(cfg.kind, name)
        self.image_size = cfg.image_size
        self.latent_shape = (cfg.latent_channels, cfg.grid, cfg.grid)
        self.code_dim = cfg.code_dim
        self.fingerprint = fingerprint
        self.meta = meta or {}

    def _modules(self):
        return [self.model]

    def _encode(self, x):
        return self.model.encode_latent(x)

    def _decode(self, z):
        return self.model.decode_latent(z)


def build_model(cfg: SmallConfig) -> torch.nn.Module:
    """The untrained network for ``cfg.kind`` (its weights are loaded by :func:`load`; trained by
    ``hen_demo.training``)."""
    if cfg.kind == "vq":
        return SmallVQVAE(cfg)
    if cfg.kind == "kl":
        return SmallKLVAE(cfg)
    if cfg.kind == "dvae":
        return SmallDVAE(cfg)
    if cfg.kind == "robust":
        return SmallRobustAE(cfg)
    raise ValueError(f"unknown encoder kind {cfg.kind!r}; choose one of: {', '.join(KINDS)}")


def probe(name: str) -> str:
    st, js = weights_paths(name)
    if not (st.is_file() and js.is_file()):
        kind = name.split("-")[0]
        return f"weights not found at {st} (train them with: python -m hen_demo train-encoder --kind {kind})"
    return ""


def load(name: str, folder=None, **kwargs) -> SmallAutoencoder:
    st, js = weights_paths(name, folder)
    if not (st.is_file() and js.is_file()):
        raise EncoderUnavailable(f"{name} is unavailable: {probe(name) if folder is None else f'no weights in {folder}'}")
    with open(js, encoding="utf-8") as f:
        meta = json.load(f)
    cfg = SmallConfig(**meta["config"])
    model = build_model(cfg)
    try:
        model.load_state_dict(load_file(str(st)))
    except Exception as exc:
        raise EncoderUnavailable(f"{name} is unavailable: its weights at {st} do not load ({exc})") from exc
    digest = hashlib.sha256(st.read_bytes()).hexdigest()[:16]
    return SmallAutoencoder(model, name, f"{name}:{digest}", meta)
