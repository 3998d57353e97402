"""LDM checkpoint -> diffusers conversion, checked against a tiny model renamed to LDM keys by hand."""

import re

import pytest
import torch

diffusers = pytest.importorskip("diffusers")
yaml = pytest.importorskip("yaml")

from hen_demo.encoders import get_image_encoder  # noqa: E402
from hen_demo.encoders.convert import convert_ldm  # noqa: E402


def to_ldm_key(k: str, n_levels: int) -> str:
    """diffusers VAE key -> latent-diffusion key (written independently of the converter)."""
    attn = {"group_norm": "norm", "to_q": "q", "to_k": "k", "to_v": "v", "to_out.0": "proj_out"}
    m = re.match(r"(encoder|decoder)\.(down|up)_blocks\.(\d+)\.(resnets|attentions|downsamplers|upsamplers)\.(\d+)\.(.*)", k)
    if m:
        part, d, i, kind, j, rest = m.groups()
        level = int(i) if d == "down" else n_levels - 1 - int(i)
        if kind == "resnets":
            return f"{part}.{d}.{level}.block.{j}.{rest.replace('conv_shortcut', 'nin_shortcut')}"
        if kind == "attentions":
            name, wb = rest.rsplit(".", 1)
            return f"{part}.{d}.{level}.attn.{j}.{attn[name]}.{wb}"
        return f"{part}.{d}.{level}.{'downsample' if d == 'down' else 'upsample'}.{rest}"
    m = re.match(r"(encoder|decoder)\.mid_block\.(resnets|attentions)\.(\d+)\.(.*)", k)
    if m:
        part, kind, j, rest = m.groups()
        if kind == "resnets":
            return f"{part}.mid.block_{int(j) + 1}.{rest}"
        name, wb = rest.rsplit(".", 1)
        return f"{part}.mid.attn_1.{attn[name]}.{wb}"
    return k.replace("encoder.conv_norm_out", "encoder.norm_out").replace("decoder.conv_norm_out", "decoder.norm_out")


@pytest.mark.parametrize("kind", ["vq", "kl"])
def test_ldm_checkpoint_converts_to_an_identical_diffusers_model(tmp_path, kind, monkeypatch):
    torch.manual_seed(0)
    common = dict(block_out_channels=(32, 64), layers_per_block=1,
                  down_block_types=("DownEncoderBlock2D", "AttnDownEncoderBlock2D"),
                  up_block_types=("AttnUpDecoderBlock2D", "UpDecoderBlock2D"), sample_size=16)
    if kind == "vq":
        model = diffusers.VQModel(latent_channels=4, num_vq_embeddings=32, vq_embed_dim=3, **common).eval()
        target, extra = "ldm.models.autoencoder.VQModel", {"embed_dim": 3, "n_embed": 32}
    else:
        model = diffusers.AutoencoderKL(latent_channels=4, **common).eval()
        target, extra = "ldm.models.autoencoder.AutoencoderKL", {"embed_dim": 4}
    sd = {}
    for k, v in model.state_dict().items():
        lk = to_ldm_key(k, 2)
        if ".attn." in lk or ".attn_1." in lk:
            if v.ndim == 2:
                v = v[:, :, None, None]  # LDM attention projections are 1×1 convolutions
        sd[lk] = v.clone()
    sd["loss.discriminator.weight"] = torch.zeros(3)  # present in real checkpoints, dropped
    torch.save({"state_dict": sd, "global_step": 7}, tmp_path / "model.ckpt")
    cfg = {"model": {"target": target, "params": {**extra, "ddconfig": {
        "double_z": kind == "kl", "z_channels": 4, "resolution": 16, "in_channels": 3, "out_ch": 3, "ch": 32,
        "ch_mult": [1, 2], "num_res_blocks": 1, "attn_resolutions": [8], "dropout": 0.0}}}}
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(cfg))
    name = "vq-f16" if kind == "vq" else "kl-f16"
    out = convert_ldm(tmp_path / "model.ckpt", tmp_path / "config.yaml", tmp_path / "w" / name)
    assert (out / "config.json").is_file()
    monkeypatch.setenv("HEN_WEIGHTS_DIR", str(tmp_path / "w"))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    enc = get_image_encoder(name, image_size=16)
    x = torch.rand(2, 3, 16, 16)
    with torch.no_grad():
        if kind == "vq":
            lat = model.encode(x * 2 - 1).latents
        else:
            lat = model.encode(x * 2 - 1).latent_dist.mean
        ref = ((model.decode(lat).sample + 1) / 2).clamp(0, 1)
    assert torch.allclose(enc.encode(x), lat.reshape(2, -1), atol=1e-5)
    assert torch.allclose(enc.decode(enc.encode(x)), ref, atol=1e-4)
