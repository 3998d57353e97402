"""Pretrained diffusers loaders, exercised on tiny random models of the same classes saved to tmp_path."""

import pytest
import torch

from hen_demo.encoders import EncoderUnavailable, get_image_encoder, list_image_encoders

diffusers = pytest.importorskip("diffusers")


def _tiny_kl():
    torch.manual_seed(0)
    return diffusers.AutoencoderKL(block_out_channels=(8, 16), down_block_types=("DownEncoderBlock2D",) * 2,
                                   up_block_types=("UpDecoderBlock2D",) * 2, latent_channels=4,
                                   norm_num_groups=8, layers_per_block=1)


def _tiny_vq():
    torch.manual_seed(0)
    return diffusers.VQModel(block_out_channels=(8, 16), down_block_types=("DownEncoderBlock2D",) * 2,
                             up_block_types=("UpDecoderBlock2D",) * 2, latent_channels=3, num_vq_embeddings=16,
                             norm_num_groups=8, layers_per_block=1)


@pytest.fixture
def offline(monkeypatch, tmp_path):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.delenv("HEN_WEIGHTS_DIR", raising=False)
    return tmp_path


def test_kl_loader_from_a_folder_matches_the_model(offline):
    model = _tiny_kl().eval()
    model.save_pretrained(offline / "kl")
    enc = get_image_encoder("kl-f8", weights_dir=offline / "kl", image_size=16)
    assert enc.latent_shape == (4, 8, 8) and enc.code_dim == 256
    x = torch.rand(2, 3, 16, 16)
    with torch.no_grad():
        ref = model.encode(x * 2 - 1).latent_dist.mean.reshape(2, -1)
        ref_dec = (model.decode(ref.reshape(2, 4, 8, 8)).sample + 1) / 2
    z = enc.encode(x)
    assert torch.allclose(z, ref, atol=1e-5)
    assert torch.allclose(enc.decode(z), ref_dec.clamp(0, 1), atol=1e-5)


def test_vq_loader_via_hen_weights_dir_quantises_on_decode(offline, monkeypatch):
    model = _tiny_vq().eval()
    model.save_pretrained(offline / "vq-f8")
    monkeypatch.setenv("HEN_WEIGHTS_DIR", str(offline))
    assert {i.name: i for i in list_image_encoders()}["vq-f8"].available
    enc = get_image_encoder("vq-f8", image_size=16)
    x = torch.rand(1, 3, 16, 16)
    with torch.no_grad():
        pre = model.encode(x * 2 - 1).latents
        ref = (model.decode(pre).sample + 1) / 2  # decode quantises
    z = enc.encode(x)
    assert torch.allclose(z, pre.reshape(1, -1), atol=1e-5)
    assert torch.allclose(enc.decode(z), ref.clamp(0, 1), atol=1e-5)
    # two latents in the same codebook cell decode to the same picture
    z2 = z + 1e-4 * torch.randn_like(z)
    assert torch.allclose(enc.decode(z2), enc.decode(z), atol=1e-4)


def test_loader_from_the_hf_cache_layout(offline):
    """A model stored in the hub cache layout is found with local_files_only=True (no network)."""
    cache = offline / "hub"
    snap = cache / "models--CompVis--ldm-text2im-large-256" / "snapshots" / "0123456789abcdef0123456789abcdef01234567"
    _tiny_kl().save_pretrained(snap / "vqvae")
    (cache / "models--CompVis--ldm-text2im-large-256" / "refs").mkdir(parents=True)
    (cache / "models--CompVis--ldm-text2im-large-256" / "refs" / "main").write_text("0123456789abcdef0123456789abcdef01234567")
    enc = get_image_encoder("kl-f8", cache_dir=cache, image_size=16)
    assert enc.source.startswith("hub:CompVis/ldm-text2im-large-256") and enc.code_dim == 256


def test_unreachable_weights_are_listed_and_raise(offline, monkeypatch):
    monkeypatch.setenv("HF_HOME", str(offline / "empty"))
    monkeypatch.setenv("HF_HUB_CACHE", str(offline / "empty" / "hub"))
    for name in ("kl-f8", "vq-f8", "vq-f16", "kl-f16"):
        with pytest.raises(EncoderUnavailable, match=name):
            get_image_encoder(name, cache_dir=offline / "empty")
    with pytest.raises(EncoderUnavailable):
        get_image_encoder("kl-f8", weights_dir=offline / "nothing-here", cache_dir=offline / "empty")
