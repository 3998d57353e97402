"""The papers' pretrained encoders at their published size (random weights: nothing can be downloaded here),
through the app's own paths: saved in the layout the loader reads, loaded by the registry, encode/decode at the
app's image sizes, K, dtype, device, a bank build, one retrieval, a precomputed bank round trip, and the DALL-E
converter's output loaded back. Slow (the models have 2-98 M parameters), so each uses one or two images.
Encode times per image are in ``python -m hen_demo.encoders.bench_encoders`` (not timed here).
"""

import numpy as np
import pytest
import torch

from hen_demo.data import build_bank, load_dataset
from hen_demo.data.images import to_float_tensor
from hen_demo.encoders import get_image_encoder, get_text_encoder, list_image_encoders
from hen_demo.encoders.published import save_random_clip, save_random_weights
from hen_demo.encoders.registry import IMAGE_ENCODERS
from hen_demo.memory import HopfieldMemory, calibrated_beta

pytest.importorskip("diffusers")
pytestmark = pytest.mark.slow

# name -> (latent shape at the default input side, parameters in millions, roughly)
PUBLISHED = {"kl-f8": ((4, 24, 24), 83.7), "vq-f8": ((4, 24, 24), 67.6), "vq-f16": ((8, 16, 16), 69.6),
             "taesd": ((4, 24, 24), 2.4)}


@pytest.fixture
def weights(monkeypatch, tmp_path):
    import shutil
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HEN_WEIGHTS_DIR", str(tmp_path / "weights"))
    monkeypatch.delenv("HEN_BANKS_DIR", raising=False)
    monkeypatch.delenv("HEN_BANKS_REPO", raising=False)
    yield tmp_path / "weights"
    shutil.rmtree(tmp_path, ignore_errors=True)  # hundreds of MB per model: not kept in pytest's tmp folders


def _app_path(enc, tmp_path, name):
    """Bank build on two real photographs, one retrieval from a perturbed memory, decode of the result."""
    bank = build_bank("photos", enc, n=2, seed=0, cache_dir=tmp_path / "cache", batch_size=2)
    ds = load_dataset("photos", n=2, seed=0)
    assert bank.codes.shape == (2, enc.code_dim) and bank.codes.dtype == torch.float32
    assert bank.recon.shape == (2, enc.image_size, enc.image_size, 3) and bank.recon.dtype == np.uint8
    assert bank.ids == ds.ids
    assert torch.isfinite(bank.codes).all() and bank.codes.std() > 0
    assert not torch.allclose(bank.codes[0], bank.codes[1])
    beta = calibrated_beta(bank.codes, 4.0, "l2")
    mem = HopfieldMemory(bank.codes, similarity="l2", beta=beta)
    query = bank.codes[1:2] + 0.05 * bank.codes.std() * torch.randn(1, enc.code_dim, generator=torch.Generator().manual_seed(0))
    res = mem.retrieve(query, steps=5)
    assert int(res.topk_indices[0, 0]) == 1
    out = enc.decode(res.states)
    assert out.shape == (1, 3, enc.image_size, enc.image_size) and 0 <= out.min() and out.max() <= 1
    again = build_bank("photos", enc, n=2, seed=0, cache_dir=tmp_path / "cache")
    assert again.meta["from_cache"] and torch.equal(again.codes, bank.codes)
    return bank


@pytest.mark.parametrize("name", list(PUBLISHED))
def test_published_diffusers_autoencoder_through_the_app(name, weights, tmp_path):
    shape, params_m = PUBLISHED[name]
    model = save_random_weights(name, weights / name)
    assert sum(p.numel() for p in model.parameters()) / 1e6 == pytest.approx(params_m, rel=0.02)
    info = {i.name: i for i in list_image_encoders()}[name]
    assert info.available, info.reason
    enc = get_image_encoder(name, device="cpu")
    assert enc.latent_shape == shape and enc.code_dim == int(np.prod(shape))
    if IMAGE_ENCODERS[name].code_dim is not None:
        assert enc.code_dim == IMAGE_ENCODERS[name].code_dim  # what the registry promises the UI
    assert enc.image_size == IMAGE_ENCODERS[name].image_size
    loaded = enc.model.state_dict()
    assert all(torch.equal(v, loaded[k]) for k, v in model.state_dict().items())  # the weights that were saved
    if name == "taesd":
        assert "approximation of KL-f8" in enc.label
    bank = _app_path(enc, tmp_path, name)
    # the fingerprint follows the weights, not the folder: a copy elsewhere matches, other weights do not
    same = get_image_encoder(name, weights_dir=weights / name)
    assert same.fingerprint == enc.fingerprint
    from hen_demo.encoders.pretrained import DiffusersAutoencoder
    from hen_demo.encoders.published import random_diffusers_model
    other = DiffusersAutoencoder(random_diffusers_model(name, seed=1), name, enc.image_size, "test")
    assert other.fingerprint != enc.fingerprint
    # encoder as the bank saw it: codes of the dataset's 128-px images resized to the model's side
    x = to_float_tensor(bank.images[:1])
    assert torch.allclose(enc.encode(x), bank.codes[:1], atol=1e-4, rtol=1e-3)  # batch of 1 vs 2: rounding


def test_taesd_reduced_precision_weights_still_give_float32_codes(weights):
    save_random_weights("taesd", weights / "taesd")
    full = get_image_encoder("taesd")
    half = get_image_encoder("taesd", dtype=torch.bfloat16)
    assert half.model.dtype == torch.bfloat16
    x = torch.rand(1, 3, 128, 128, generator=torch.Generator().manual_seed(0))
    z, zh = full.encode(x), half.encode(x)
    assert zh.dtype == torch.float32 and zh.device.type == "cpu"
    assert torch.nn.functional.cosine_similarity(z, zh).item() > 0.98
    assert half.decode(zh).dtype == torch.float32


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a GPU")
def test_published_models_move_to_the_gpu(weights, tmp_path):
    for name in ("kl-f8", "vq-f8", "taesd"):
        save_random_weights(name, weights / name)
        enc = get_image_encoder(name)
        x = torch.rand(2, 3, 128, 128, generator=torch.Generator().manual_seed(0))
        z_cpu = enc.encode(x)
        enc.to("cuda")
        z_gpu = enc.encode(x)
        assert z_gpu.device.type == "cpu" and torch.allclose(z_gpu, z_cpu, atol=1e-3, rtol=1e-3)
        bank = build_bank("photos", enc, n=2, cache_dir=tmp_path / "gpu-cache")
        assert bank.meta["batch_size"] >= 2 and bank.codes.device.type == "cpu"


def test_full_size_dalle_dvae_converted_and_through_the_app(weights, tmp_path):
    """The published dVAE (n_hid 256, 8,192 tokens) saved as OpenAI-style pickles, converted, loaded, used."""
    from hen_demo.encoders.convert import convert_dalle
    from hen_demo.encoders.dalle import DalleDecoder, DalleEncoder

    torch.manual_seed(0)
    enc_m, dec_m = DalleEncoder().eval(), DalleDecoder().eval()
    n_params = sum(p.numel() for m in (enc_m, dec_m) for p in m.parameters())
    assert n_params / 1e6 == pytest.approx(97.6, rel=0.02)
    torch.save(enc_m.state_dict(), tmp_path / "encoder.pkl")
    torch.save(dec_m.state_dict(), tmp_path / "decoder.pkl")
    convert_dalle(tmp_path / "encoder.pkl", tmp_path / "decoder.pkl", weights / "dvae")
    (tmp_path / "encoder.pkl").unlink()
    (tmp_path / "decoder.pkl").unlink()
    enc = get_image_encoder("dvae")
    assert enc.code_dim == 2352 == IMAGE_ENCODERS["dvae"].code_dim and enc.latent_shape == (3, 28, 28)
    # the converter wrote exactly the weights it was given
    for mine, ref in ((enc.enc, enc_m), (enc.dec, dec_m)):
        sd = mine.state_dict()
        assert all(torch.equal(v, sd[k]) for k, v in ref.state_dict().items())
    _app_path(enc, tmp_path, "dvae")


def test_full_size_clip_text_tower_through_the_app(weights, tmp_path):
    tok, model = save_random_clip(weights / "clip")
    assert sum(p.numel() for p in model.parameters()) / 1e6 == pytest.approx(63.4, rel=0.02)
    clip = get_text_encoder("clip")
    caps = ["a dog on the beach", "a red car in the city " * 30]  # the second is longer than 77 tokens
    codes = clip.encode(caps)
    assert codes.shape == (2, 512) and codes.dtype == torch.float32
    assert torch.allclose(codes.norm(dim=1), torch.ones(2), atol=1e-5)
    with torch.no_grad():
        ids = tok(caps[:1], return_tensors="pt")
        ref = model(**ids).text_embeds
    assert torch.allclose(codes[0], ref[0] / ref[0].norm(), atol=1e-5)
    bank = build_bank("photos", "pixels", n=2, text_encoder=clip, cache_dir=tmp_path / "cache")
    assert bank.text_codes.shape == (2, 512)


def test_full_size_ldm_vq_f16_checkpoint_converted_and_loaded_back(weights, tmp_path):
    """The LDM vq-f16 architecture as a Lightning checkpoint with LDM key names -> convert ldm -> the registry loads
    exactly those weights; the same folder put where a KL model is expected is refused (wrong model)."""
    yaml = pytest.importorskip("yaml")
    from test_encoders_convert import to_ldm_key

    from hen_demo.encoders import EncoderUnavailable
    from hen_demo.encoders.convert import convert_ldm
    from hen_demo.encoders.published import LDM_VQ_F16_YAML, random_diffusers_model

    model = random_diffusers_model("vq-f16")
    n_levels = len(model.config.block_out_channels)
    sd = {}
    for k, v in model.state_dict().items():
        lk = to_ldm_key(k, n_levels)
        if (".attn." in lk or ".attn_1." in lk) and v.ndim == 2:
            v = v[:, :, None, None]  # LDM attention projections are 1×1 convolutions
        sd[lk] = v
    torch.save({"state_dict": sd}, tmp_path / "model.ckpt")
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(LDM_VQ_F16_YAML))
    del sd
    convert_ldm(tmp_path / "model.ckpt", tmp_path / "config.yaml", weights / "vq-f16")
    (tmp_path / "model.ckpt").unlink()
    enc = get_image_encoder("vq-f16")
    loaded = enc.model.state_dict()
    assert all(torch.equal(v, loaded[k]) for k, v in model.state_dict().items())
    assert enc.code_dim == 2048 and enc.latent_shape == (8, 16, 16)
    (weights / "vq-f16").rename(weights / "kl-f16")
    with pytest.raises(EncoderUnavailable, match="holds a VQModel model, but kl-f16 needs a AutoencoderKL model"):
        get_image_encoder("kl-f16")
