"""Encode (and decode) cost per image of the papers' encoders at their published size, on this machine.

``python -m hen_demo.encoders.bench_encoders [--names kl-f8,vq-f8,vq-f16,taesd,dvae,clip] [--images 2]
[--device cpu|cuda] [--threads N] [--json]``

No weights can be downloaded here, so each model is built with its published configuration and random weights
(``encoders.published``), saved in the layout its loader reads, and loaded through the registry — the app's own
path. The cost of a forward pass does not depend on the values of the weights, so the times are those of the real
models. Each time is the best of ``--repeats`` after one warm-up, divided by the number of images. These are the
numbers bank builds are estimated from (``data.bank_build`` measures them again on the user's machine).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import tempfile
import time
from pathlib import Path

import torch

from hen_demo.encoders import get_image_encoder, get_text_encoder
from hen_demo.encoders.published import n_parameters, save_random_clip, save_random_weights

DEFAULT = "taesd,kl-f8,vq-f8,vq-f16,dvae,clip"


def _best(fn, repeats: int, sync) -> float:
    fn()
    sync()
    best = float("inf")
    for _ in range(max(1, repeats)):
        t = time.perf_counter()
        fn()
        sync()
        best = min(best, time.perf_counter() - t)
    return best


def bench_encoder(name: str, images: int = 2, device: str = "cpu", repeats: int = 1, weights_dir=None) -> dict:
    """Time one published-size encoder (random weights, loaded from ``weights_dir``/name through the registry)."""
    root = Path(weights_dir or tempfile.mkdtemp(prefix="hen-bench-enc-"))  # removed below unless given
    folder = root / name
    old = os.environ.get("HEN_WEIGHTS_DIR")
    os.environ["HEN_WEIGHTS_DIR"] = str(root)
    sync = (lambda: torch.cuda.synchronize()) if device.startswith("cuda") else (lambda: None)
    try:
        if name == "clip":
            if not (folder / "config.json").is_file():
                save_random_clip(folder)
            enc = get_text_encoder("clip", device=device)
            caps = ["a photograph of a dog running on the beach with a red ball"] * images
            enc_s = _best(lambda: enc.encode(caps), repeats, sync)
            return {"name": name, "params_M": round(n_parameters([enc.model]) / 1e6, 1), "code_dim": enc.code_dim,
                    "device": device, "encode_s_per_item": round(enc_s / images, 4), "decode_s_per_item": None}
        marker = folder / ("encoder.safetensors" if name == "dvae" else "config.json")
        if not marker.is_file():
            save_random_weights(name, folder)
        enc = get_image_encoder(name, device=device)
        x = torch.rand(images, 3, enc.image_size, enc.image_size, generator=torch.Generator().manual_seed(0))
        enc_s = _best(lambda: enc.encode(x), repeats, sync)
        z = enc.encode(x)
        dec_s = _best(lambda: enc.decode(z), repeats, sync)
        return {"name": name, "params_M": round(n_parameters(enc._modules()) / 1e6, 1), "code_dim": enc.code_dim,
                "image_size": enc.image_size, "device": device, "encode_s_per_item": round(enc_s / images, 4),
                "decode_s_per_item": round(dec_s / images, 4)}
    finally:
        if weights_dir is None:
            shutil.rmtree(root, ignore_errors=True)
        if old is None:
            os.environ.pop("HEN_WEIGHTS_DIR", None)
        else:
            os.environ["HEN_WEIGHTS_DIR"] = old


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--names", default=DEFAULT)
    p.add_argument("--images", type=int, default=2)
    p.add_argument("--repeats", type=int, default=1)
    p.add_argument("--device", default="cpu")
    p.add_argument("--threads", type=int, default=None)
    p.add_argument("--weights-dir", default=None, help="reuse random weights written here before (default: a tmp dir)")
    p.add_argument("--json", action="store_true")
    a = p.parse_args(argv)
    if a.threads:
        torch.set_num_threads(a.threads)
    rows = []
    for name in [s.strip() for s in a.names.split(",") if s.strip()]:
        row = bench_encoder(name, a.images, a.device, a.repeats, a.weights_dir)
        row["threads"] = torch.get_num_threads()
        rows.append(row)
        print(json.dumps(row) if a.json else "  ".join(f"{k}={v}" for k, v in row.items()), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
