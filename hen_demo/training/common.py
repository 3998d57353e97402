"""What the trainers of the small encoders share (``training.small`` and ``training.robust`` both use it, and
neither imports the other's internals): the held-out photographs, reconstruction and its held-out metrics, the
learning-rate schedule and optimiser step, and saving weights + JSON + model card atomically."""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path

import numpy as np
import torch
from safetensors.torch import save_file

from hen_demo import metrics
from hen_demo.atomic import atomic_write
from hen_demo.encoders.base import resize_images
from hen_demo.encoders.small_blocks import SmallConfig
from hen_demo.images import to_float_tensor, to_uint8

# photographs whose tiles are never trained on (the trainers' held-out images; faces and digits are test sets)
HELD_OUT_PHOTOS = ("chelsea", "coins", "rocket")


@torch.no_grad()
def reconstruct(model, images_u8: np.ndarray, batch: int = 64) -> np.ndarray:
    model.eval()
    out = []
    for i in range(0, len(images_u8), batch):
        x = to_float_tensor(images_u8[i:i + batch])
        out.append(to_uint8(model.decode_latent(model.encode_latent(x))))
    return np.concatenate(out)


def evaluate(model, held: dict) -> dict:
    """{set name: {"n", "mse", "ssim"}} of the model's reconstructions of each held-out uint8 set."""
    res = {}
    for name, imgs in held.items():
        imgs = resize_u8(imgs, model.cfg.image_size)
        rec = reconstruct(model, imgs)
        mse = float(metrics.mse(imgs, rec).mean())  # at the encoder's resolution (originals resized to it)
        ssim = float(1.0 - metrics.one_minus_ssim(imgs, rec).mean())
        res[name] = {"n": int(len(imgs)), "mse": round(mse, 6), "ssim": round(ssim, 4)}
    return res


def resize_u8(images_u8: np.ndarray, size: int) -> np.ndarray:
    """uint8 (N, H, W, 3) -> (N, size, size, 3), antialiased (the encoder's own input resize)."""
    if images_u8.shape[1] == size:
        return images_u8
    return np.concatenate([to_uint8(resize_images(to_float_tensor(images_u8[i:i + 512]), size))
                           for i in range(0, len(images_u8), 512)])


def save_model(model, cfg: SmallConfig, out_dir, name: str, record: dict,
               card: Callable[[str, SmallConfig, dict], str]) -> None:
    """Write ``<out_dir>/<name>.safetensors`` (weights), ``.json`` (config + ``record``) and ``.md`` (the model
    card ``card(name, cfg, meta)`` writes), each atomically."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    state = {k: v.detach().contiguous() for k, v in model.state_dict().items()}
    atomic_write(out / f"{name}.safetensors", lambda tmp: save_file(state, tmp))
    meta = {"name": name, "config": asdict(cfg), "code_dim": cfg.code_dim,
            "latent_shape": [cfg.latent_channels, cfg.grid, cfg.grid], **record}

    def wj(tmp):
        with open(tmp, "w", encoding="utf-8") as f:
            json.dump(meta, f, indent=1)
    atomic_write(out / f"{name}.json", wj)

    def wm(tmp):
        with open(tmp, "w", encoding="utf-8") as f:
            f.write(card(name, cfg, meta))
    atomic_write(out / f"{name}.md", wm)


def warmup_cosine_lr(opt, lr: float, step: int, progress: float, warm: int = 50) -> float:
    """Set and return the learning rate at ``step``: linear warm-up over ``warm`` steps, then a cosine from lr
    down to 5 % of it as ``progress`` (the larger of the step and time fractions of the budget) goes 0 -> 1."""
    cur = lr * min(1.0, (step + 1) / warm) * (0.05 + 0.95 * 0.5 * (1 + math.cos(math.pi * progress)))
    for g in opt.param_groups:
        g["lr"] = cur
    return cur


def optimizer_step(opt, loss, logs: dict, ema: dict) -> None:
    """One Adam step on ``loss`` and the running (EMA 0.95) averages of the logged terms, updated in place."""
    opt.zero_grad(set_to_none=True)
    loss.backward()
    opt.step()
    for k, v in logs.items():
        ema[k] = v if k not in ema else 0.95 * ema[k] + 0.05 * v
