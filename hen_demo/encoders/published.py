"""The papers' pretrained encoders' published architectures, buildable with random weights.

No hub is reachable here, so the real code paths (loaders, converters, bank builds) are exercised on models of
the *published* size and configuration with random weights: the same classes, shapes, memory and encode cost,
only the numbers differ. Used by ``tests/test_published_configs.py`` and by
``python -m hen_demo.encoders.bench_encoders`` (encode time per image on this machine).

Configurations (from the projects' released config files):

* ``kl-f8``: the latent-diffusion KL-f8 autoencoder as diffusers stores it (``CompVis/ldm-text2im-large-256``,
  subfolder ``vqvae``; the same architecture as Stable Diffusion v1's ``vae``): 4 levels of 128/256/512/512
  channels, 2 ResNet layers each, 4 latent channels.
* ``vq-f8`` / ``vq-f16``: the latent-diffusion ``first_stage_models/vq-f8`` and ``vq-f16`` ``config.yaml``
  (``ddconfig`` + ``embed_dim`` + ``n_embed``), turned into a diffusers ``VQModel`` config by our own converter
  (``convert.ldm_to_diffusers_config``), so the converter's config path is exercised at full size too.
* ``taesd``: ``madebyollin/taesd`` (diffusers ``AutoencoderTiny`` defaults: 64 channels, 1/3/3/3 encoder blocks).
* ``dvae``: OpenAI's DALL-E dVAE (n_hid 256, 2 blocks per group, 8,192 tokens, decoder n_init 128).
* ``clip``: ``openai/clip-vit-base-patch32``'s text tower (12 layers, width 512, 8 heads, 77 positions, 49,408
  tokens, projection 512, quick-GELU).
"""

from __future__ import annotations

import json
import string
import tempfile
from pathlib import Path

import torch
from safetensors.torch import save_file

from hen_demo.encoders.convert import ldm_to_diffusers_config
from hen_demo.encoders.dalle import DalleDecoder, DalleEncoder

KL_F8_DIFFUSERS = {
    "in_channels": 3, "out_channels": 3, "latent_channels": 4, "layers_per_block": 2, "norm_num_groups": 32,
    "act_fn": "silu", "sample_size": 256, "block_out_channels": [128, 256, 512, 512],
    "down_block_types": ["DownEncoderBlock2D"] * 4, "up_block_types": ["UpDecoderBlock2D"] * 4,
}

LDM_VQ_F8_YAML = {"model": {"target": "ldm.models.autoencoder.VQModel", "params": {
    "embed_dim": 4, "n_embed": 16384,
    "ddconfig": {"double_z": False, "z_channels": 4, "resolution": 256, "in_channels": 3, "out_ch": 3, "ch": 128,
                 "ch_mult": [1, 2, 2, 4], "num_res_blocks": 2, "attn_resolutions": [32], "dropout": 0.0}}}}

LDM_VQ_F16_YAML = {"model": {"target": "ldm.models.autoencoder.VQModel", "params": {
    "embed_dim": 8, "n_embed": 16384,
    "ddconfig": {"double_z": False, "z_channels": 8, "resolution": 256, "in_channels": 3, "out_ch": 3, "ch": 128,
                 "ch_mult": [1, 1, 2, 2, 4], "num_res_blocks": 2, "attn_resolutions": [16], "dropout": 0.0}}}}

TAESD = {}  # madebyollin/taesd's config.json equals AutoencoderTiny's defaults

DALLE = {"n_hid": 256, "n_blk": 2, "vocab": 8192, "n_init": 128}

CLIP_TEXT = {"vocab_size": 49408, "hidden_size": 512, "intermediate_size": 2048, "num_hidden_layers": 12,
             "num_attention_heads": 8, "max_position_embeddings": 77, "projection_dim": 512,
             "hidden_act": "quick_gelu", "bos_token_id": 49406, "eos_token_id": 49407, "pad_token_id": 1}

# registry name -> (diffusers class, config kwargs) for the diffusers-backed encoders
IMAGE_NAMES = ("kl-f8", "vq-f8", "vq-f16", "taesd", "dvae")


def diffusers_config(name: str) -> tuple[str, dict]:
    """(diffusers class name, config kwargs) of the published ``name`` (kl-f8, vq-f8, vq-f16, taesd)."""
    if name == "kl-f8":
        return "AutoencoderKL", dict(KL_F8_DIFFUSERS)
    if name == "vq-f8":
        return ldm_to_diffusers_config(LDM_VQ_F8_YAML)
    if name == "vq-f16":
        return ldm_to_diffusers_config(LDM_VQ_F16_YAML)
    if name == "taesd":
        return "AutoencoderTiny", dict(TAESD)
    raise ValueError(f"no published diffusers configuration for {name!r}; choose kl-f8, vq-f8, vq-f16 or taesd")


def random_diffusers_model(name: str, seed: int = 0):
    """A diffusers model of ``name``'s published configuration with random weights (eval mode, float32)."""
    import diffusers  # here, not at the top: ~9 s to import (-X importtime); the dvae path never needs it

    cls_name, cfg = diffusers_config(name)
    torch.manual_seed(seed)
    return getattr(diffusers, cls_name)(**cfg).eval()


def save_random_weights(name: str, folder, seed: int = 0):
    """Write a random-weight model of ``name``'s published architecture in the layout its loader reads from
    ``$HEN_WEIGHTS_DIR/<name>``: a diffusers folder (kl-f8, vq-f8, vq-f16, taesd) or the two safetensors of
    ``convert dalle`` (dvae). Returns the model(s) written."""
    folder = Path(folder)
    if name == "dvae":
        torch.manual_seed(seed)
        enc = DalleEncoder(n_hid=DALLE["n_hid"], n_blk=DALLE["n_blk"], vocab=DALLE["vocab"]).eval()
        dec = DalleDecoder(n_init=DALLE["n_init"], n_hid=DALLE["n_hid"], n_blk=DALLE["n_blk"],
                           vocab=DALLE["vocab"]).eval()
        folder.mkdir(parents=True, exist_ok=True)
        save_file({k: v.contiguous() for k, v in enc.state_dict().items()}, str(folder / "encoder.safetensors"))
        save_file({k: v.contiguous() for k, v in dec.state_dict().items()}, str(folder / "decoder.safetensors"))
        return enc, dec
    model = random_diffusers_model(name, seed)
    model.save_pretrained(folder, safe_serialization=True)
    return model


def random_clip_text(seed: int = 0):
    """transformers ``CLIPTextModelWithProjection`` with ViT-B/32's published text configuration, random weights."""
    from transformers import (  # here: ~2-4 s to import (-X importtime)
        CLIPTextConfig,
        CLIPTextModelWithProjection,
    )

    torch.manual_seed(seed)
    return CLIPTextModelWithProjection(CLIPTextConfig(**CLIP_TEXT)).eval()


def n_parameters(modules) -> int:
    return sum(p.numel() for m in modules for p in m.parameters())


def save_random_clip(folder, seed: int = 0):
    """Write a random-weight CLIP ViT-B/32 text tower + a small character-level tokenizer (the real BPE vocabulary
    cannot be downloaded here; its special tokens keep their real ids 49406 / 49407, which the pooling reads) in the
    layout ``$HEN_WEIGHTS_DIR/clip`` holds. Returns (tokenizer, model)."""
    from transformers import CLIPTokenizer  # here, not at the top: transformers takes ~2-4 s to import

    chars = string.ascii_lowercase + string.digits + ".,!?'-"
    vocab = {}
    for c in chars:
        vocab[c] = len(vocab)
        vocab[c + "</w>"] = len(vocab)
    vocab["<|startoftext|>"], vocab["<|endoftext|>"] = 49406, 49407
    with tempfile.TemporaryDirectory() as tmp:
        (Path(tmp) / "vocab.json").write_text(json.dumps(vocab), encoding="utf-8")
        (Path(tmp) / "merges.txt").write_text("#version: 0.2\n", encoding="utf-8")
        tok = CLIPTokenizer(str(Path(tmp) / "vocab.json"), str(Path(tmp) / "merges.txt"))
    model = random_clip_text(seed)
    tok.save_pretrained(folder)
    model.save_pretrained(folder, safe_serialization=True)
    return tok, model
