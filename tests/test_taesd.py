"""taesd: diffusers AutoencoderTiny with madebyollin/taesd's configuration (random weights), through the loader
rules every pretrained encoder follows: a local folder, the Hugging Face cache, a reason when unavailable."""

import pytest
import torch

from hen_demo.encoders import EncoderUnavailable, get_image_encoder, list_image_encoders
from hen_demo.encoders.published import random_diffusers_model, save_random_weights

diffusers = pytest.importorskip("diffusers")
SNAPSHOT = "0123456789abcdef0123456789abcdef01234567"


@pytest.fixture
def offline(monkeypatch, tmp_path):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "empty-hub"))
    monkeypatch.delenv("HEN_WEIGHTS_DIR", raising=False)
    return tmp_path


def test_taesd_is_listed_as_an_approximation_of_kl_f8_and_says_why_it_is_unavailable(offline):
    info = {i.name: i for i in list_image_encoders()}["taesd"]
    assert "approximation of KL-f8" in info.label and info.code_dim == 2304 and info.image_size == 192
    assert not info.available and "HF_HUB_OFFLINE" in info.reason and "$HEN_WEIGHTS_DIR/taesd" in info.reason
    with pytest.raises(EncoderUnavailable, match="taesd is unavailable"):
        get_image_encoder("taesd", cache_dir=offline / "empty-hub")


def test_taesd_from_hen_weights_dir_matches_the_model_on_kl_f8_scale(offline, monkeypatch):
    model = save_random_weights("taesd", offline / "taesd")
    assert sum(p.numel() for p in model.parameters()) == pytest.approx(2.445e6, rel=0.01)
    monkeypatch.setenv("HEN_WEIGHTS_DIR", str(offline))
    assert {i.name: i for i in list_image_encoders()}["taesd"].available
    enc = get_image_encoder("taesd")
    assert enc.latent_shape == (4, 24, 24) and enc.code_dim == 2304 and "approximation" in enc.label
    x = torch.rand(2, 3, 192, 192, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        latents = model.encode(x * 2 - 1).latents  # SD-VAE latents times 0.18215
        ref_img = ((model.decode(latents).sample + 1) / 2).clamp(0, 1)
    z = enc.encode(x)
    assert torch.allclose(z, latents.reshape(2, -1) / 0.18215, atol=1e-4)  # back on KL-f8's unscaled scale
    assert torch.allclose(enc.decode(z), ref_img, atol=1e-4)


def test_taesd_from_the_hf_cache_layout(offline):
    cache = offline / "hub"
    snap = cache / "models--madebyollin--taesd" / "snapshots" / SNAPSHOT
    save_random_weights("taesd", snap)
    (cache / "models--madebyollin--taesd" / "refs").mkdir(parents=True)
    (cache / "models--madebyollin--taesd" / "refs" / "main").write_text(SNAPSHOT)
    enc = get_image_encoder("taesd", cache_dir=cache)
    assert enc.source == "hub:madebyollin/taesd/" and enc.code_dim == 2304


def test_a_folder_holding_another_model_is_refused(offline, monkeypatch):
    torch.manual_seed(0)
    kl = diffusers.AutoencoderKL(block_out_channels=(8, 16), down_block_types=("DownEncoderBlock2D",) * 2,
                                 up_block_types=("UpDecoderBlock2D",) * 2, latent_channels=4, norm_num_groups=8,
                                 layers_per_block=1)
    kl.save_pretrained(offline / "taesd")
    monkeypatch.setenv("HEN_WEIGHTS_DIR", str(offline))
    with pytest.raises(EncoderUnavailable, match="holds a AutoencoderKL model, but taesd needs a AutoencoderTiny model"):
        get_image_encoder("taesd")


def test_taesd_bank_and_fingerprint_follow_the_weights(offline, monkeypatch):
    from hen_demo.data import build_bank
    save_random_weights("taesd", offline / "a" / "taesd", seed=0)
    random_diffusers_model("taesd", seed=1).save_pretrained(offline / "b" / "taesd")
    a = get_image_encoder("taesd", weights_dir=offline / "a" / "taesd")
    b = get_image_encoder("taesd", weights_dir=offline / "b" / "taesd")
    assert a.fingerprint != b.fingerprint
    bank_a = build_bank("photos", a, n=3, cache_dir=offline / "cache")
    bank_b = build_bank("photos", b, n=3, cache_dir=offline / "cache")
    assert bank_a.key != bank_b.key and not bank_b.meta["from_cache"]
    assert bank_a.codes.shape == (3, 2304) and bank_a.recon.shape == (3, 192, 192, 3)


def test_encoder_benchmark_runs_on_taesd(tmp_path, monkeypatch):
    """Smoke test of `python -m hen_demo bench --encoders` (a benchmark, not a timed test)."""
    from hen_demo.encoders.bench_encoders import bench_encoder
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    row = bench_encoder("taesd", images=1, weights_dir=tmp_path)
    assert row["code_dim"] == 2304 and row["params_M"] == pytest.approx(2.4, abs=0.1)
    assert row["encode_s_per_item"] > 0 and row["decode_s_per_item"] > 0
