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
    if name == "dvae-small":  # the code sits on a token embedding: a nearby state decodes to the same picture
        assert torch.allclose(enc.decode(z + 1e-4 * torch.randn_like(z)), rec, atol=1e-6)
    if name == "vq-small":  # decoding quantises first: the quantised code decodes to the same picture
        m = enc.model
        zq = m._merge(m.quantizer.lookup(m.quantizer.indices(m._split(z.reshape(10, 32, 8, 8)))))
        assert torch.allclose(enc.decode(zq.reshape(10, -1)), rec, atol=1e-6)
        assert not torch.allclose(zq.reshape(10, -1), z)  # the stored code is the pre-quantisation latent


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
    from hen_demo.training.small import train
    rec = train("dvae", minutes=1, max_steps=2, batch=4, out_dir=tmp_path, max_tiles=32, log=lambda s: None,
                channels=16, latent_channels=8, codebook_size=16)
    assert rec["training"]["steps"] == 2
    enc = load("dvae-small", folder=tmp_path)
    assert enc.code_dim == 8 * 8 * 8
    z = enc.encode(torch.rand(2, 3, 40, 40))
    assert z.shape == (2, 512)
    assert np.isfinite(rec["metrics"]["tiles"]["mse"])


def test_warm_start_dvae_tokens_are_nearest_kmeans_centres(tmp_path):
    """After warm_start_from_kl, the dVAE's argmax token = the nearest embedding to the KL posterior mean."""
    from safetensors.torch import save_file

    from hen_demo.encoders.small_blocks import SmallConfig
    from hen_demo.training.small import build_model, warm_start_from_kl

    torch.manual_seed(0)
    small = dict(channels=16, latent_channels=8, codebook_size=16, groups=2)
    kl = build_model(SmallConfig(kind="kl", **small)).eval()
    save_file({k: v.contiguous() for k, v in kl.state_dict().items()}, str(tmp_path / "kl.safetensors"))
    dvae = build_model(SmallConfig(kind="dvae", **small)).eval()
    imgs = np.random.default_rng(0).integers(0, 256, (40, 32, 32, 3), dtype=np.uint8)
    warm_start_from_kl(dvae, tmp_path / "kl.json", imgs)
    x = torch.rand(3, 3, 32, 32)
    with torch.no_grad():
        m = kl.encode_latent(x)  # (3, 8, 8, 8)
        groups = m.reshape(3, 2, 4, 8, 8).permute(0, 1, 3, 4, 2)  # (3, G, g, g, dg)
        table = dvae.table  # (V, dg)
        d2 = ((groups[..., None, :] - table) ** 2).sum(-1)  # (3, G, g, g, V)
        nearest = d2.argmin(-1).reshape(6, 8, 8)
        assert torch.equal(dvae.tokens(x), nearest)
        assert torch.allclose(dvae.decoder.net[0].weight, kl.decoder.net[0].weight)
