"""The shipped small encoders (vq-small, kl-small, dvae-small) and their trainer."""

import json

import numpy as np
import pytest
import torch

from hen_demo.data import load_dataset, to_float_tensor
from hen_demo.encoders import get_image_encoder, list_image_encoders

SMALL = ("vq-small", "kl-small", "dvae-small")


def _available():
    infos = {i.name: i for i in list_image_encoders()}
    return [n for n in SMALL if infos[n].available]


@pytest.mark.parametrize("name", SMALL)
def test_shipped_encoder_round_trip(name):
    if name not in _available():
        pytest.skip(f"{name} weights not present")
    enc = get_image_encoder(name)
    assert enc.image_size == 32 and enc.code_dim == 2048 and enc.latent_shape == (32, 8, 8)
    ds = load_dataset("photos", n=10, seed=0)
    x = to_float_tensor(ds.images)
    z = enc.encode(x)
    assert z.shape == (10, 2048) and torch.isfinite(z).all()
    rec = enc.decode(z)
    assert rec.shape == (10, 3, 32, 32) and float(rec.min()) >= 0 and float(rec.max()) <= 1
    small = torch.nn.functional.interpolate(x, size=32, mode="bilinear", antialias=True)
    mse = float(((rec - small) ** 2).mean())
    assert mse < 0.03, f"{name} reconstructs too poorly (MSE {mse:.4f})"
    assert torch.equal(enc.decode(z), rec)  # deterministic
    if name != "kl-small":  # discrete codes: a nearby state decodes to the same picture
        assert torch.allclose(enc.decode(z + 1e-4 * torch.randn_like(z)), rec, atol=1e-6)


@pytest.mark.parametrize("name", SMALL)
def test_model_card_and_size(name):
    from hen_demo.data.offline import assets_dir
    d = assets_dir() / "encoders"
    if not (d / f"{name}.safetensors").is_file():
        pytest.skip("weights not present")
    assert (d / f"{name}.safetensors").stat().st_size <= 10 * 2 ** 20
    meta = json.loads((d / f"{name}.json").read_text())
    assert {"tiles", "digits", "faces"} <= set(meta["metrics"])
    card = (d / f"{name}.md").read_text()
    assert "MSE" in card and "SSIM" in card and "Held-out" in card


@pytest.mark.slow
def test_trainer_runs_and_its_output_loads(tmp_path):
    from hen_demo.encoders.shipped import load
    from hen_demo.encoders.train import train
    rec = train("dvae", minutes=1, max_steps=2, batch=4, out_dir=tmp_path, max_tiles=32, log=lambda s: None,
                channels=16, latent_channels=8, codebook_size=16)
    assert rec["training"]["steps"] == 2
    enc = load("dvae-small", folder=tmp_path)
    assert enc.code_dim == 8 * 8 * 8
    z = enc.encode(torch.rand(2, 3, 40, 40))
    assert z.shape == (2, 512)
    assert np.isfinite(rec["metrics"]["tiles"]["mse"])
