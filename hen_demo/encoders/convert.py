"""Convert the papers' checkpoints into safe formats: ``python -m hen_demo convert {ldm,dalle} ...``.

* ``convert ldm --ckpt model.ckpt --config config.yaml --out DIR``: a latent-diffusion first-stage model
  (the ``vq-f16`` / ``kl-f16`` / ``vq-f8`` ... zips of CompVis/latent-diffusion, a Lightning ``.ckpt`` next to
  its ``config.yaml``) -> a diffusers ``VQModel`` / ``AutoencoderKL`` folder (``config.json`` +
  ``diffusion_pytorch_model.safetensors``). Put it at ``$HEN_WEIGHTS_DIR/vq-f16`` (or ``kl-f16``) and the
  registry finds it. Key renaming reuses diffusers' own LDM→diffusers VAE mapping and adds what it lacks
  (attention inside down/up levels, the VQ codebook).
* ``convert dalle --encoder encoder.pkl --decoder decoder.pkl --out DIR`` (or ``--download`` to fetch them
  from cdn.openai.com first): OpenAI's pickled DALL-E dVAE modules -> ``encoder.safetensors`` +
  ``decoder.safetensors`` for ``hen_demo.encoders.dalle``.

Safety: checkpoints are read with ``torch.load(weights_only=True)`` when they allow it, otherwise with
``safe_unpickle.load_restricted``, which never calls code from the file (unknown classes become inert
placeholders; see that module). Outputs are written to temporary names and renamed into place.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import urllib.request
from pathlib import Path

import torch
import yaml
from safetensors.torch import save_file

from hen_demo.atomic import atomic_write
from hen_demo.encoders.dalle import modules_from_state_dicts
from hen_demo.encoders.safe_unpickle import load_restricted, load_tensors, module_state_dict

DALLE_URLS = {"encoder": "https://cdn.openai.com/dall-e/encoder.pkl",
              "decoder": "https://cdn.openai.com/dall-e/decoder.pkl"}


# ---- latent diffusion ---------------------------------------------------------------------------------
def ldm_to_diffusers_config(cfg: dict) -> tuple[str, dict]:
    """LDM first-stage ``config.yaml`` (parsed) -> (diffusers class name, its config kwargs)."""
    model = cfg.get("model", cfg)
    target = str(model.get("target", ""))
    params = model.get("params", {})
    if "first_stage_config" in params:  # a full LDM config: take its autoencoder
        model = params["first_stage_config"]
        target, params = str(model.get("target", "")), model.get("params", {})
    dd = params.get("ddconfig")
    if dd is None:
        raise ValueError("config.yaml has no model.params.ddconfig: is this a latent-diffusion autoencoder config?")
    is_vq = "VQ" in target.rsplit(".", 1)[-1]
    mults = list(dd["ch_mult"])
    res = int(dd["resolution"])
    attn = set(int(a) for a in dd.get("attn_resolutions", []) or [])
    down, up = [], []
    for i in range(len(mults)):
        r = res // 2 ** i
        down.append("AttnDownEncoderBlock2D" if r in attn else "DownEncoderBlock2D")
    for i in reversed(range(len(mults))):
        r = res // 2 ** i
        up.append("AttnUpDecoderBlock2D" if r in attn else "UpDecoderBlock2D")
    common = {"in_channels": int(dd["in_channels"]), "out_channels": int(dd["out_ch"]),
              "down_block_types": down, "up_block_types": up,
              "block_out_channels": [int(dd["ch"]) * m for m in mults],
              "layers_per_block": int(dd["num_res_blocks"]), "latent_channels": int(dd["z_channels"]),
              "sample_size": res}
    if is_vq:
        common.update(num_vq_embeddings=int(params["n_embed"]), vq_embed_dim=int(params["embed_dim"]))
        return "VQModel", common
    if int(params.get("embed_dim", dd["z_channels"])) != int(dd["z_channels"]):
        raise ValueError("KL autoencoders with embed_dim != z_channels are not supported by diffusers' AutoencoderKL")
    return "AutoencoderKL", common


def ldm_to_diffusers_state(sd: dict, config: dict) -> dict:
    """Rename an LDM autoencoder state dict to diffusers names (diffusers' mapping + level attentions)."""
    # here, not at the top: diffusers costs ~7-9 s to import (-X importtime) and `convert dalle` never needs it
    from diffusers.loaders.single_file_utils import convert_ldm_vae_checkpoint

    sd = {k: v for k, v in sd.items() if not k.startswith("loss.")}  # discriminator / LPIPS weights
    new = convert_ldm_vae_checkpoint(sd, config)
    n = len(config["down_block_types"])
    for k, v in sd.items():
        parts = k.split(".")
        if len(parts) >= 6 and parts[1] in ("down", "up") and parts[3] == "attn":
            level, j, rest = int(parts[2]), parts[4], ".".join(parts[5:])
            rest = {"norm.weight": "group_norm.weight", "norm.bias": "group_norm.bias",
                    "proj_out.weight": "to_out.0.weight", "proj_out.bias": "to_out.0.bias"}.get(
                rest, rest.replace("q.", "to_q.").replace("k.", "to_k.").replace("v.", "to_v.") if rest[0] in "qkv" else rest)
            block = level if parts[1] == "down" else n - 1 - level
            dk = f"{parts[0]}.{parts[1]}_blocks.{block}.attentions.{j}.{rest}"
            new[dk] = v[:, :, 0, 0] if v.ndim == 4 else v
    if "quantize.embedding.weight" in sd:
        new["quantize.embedding.weight"] = sd["quantize.embedding.weight"]
    return new


def convert_ldm(ckpt, config_yaml, out_dir) -> Path:
    import diffusers  # here, not at the top: ~9 s to import (-X importtime); `convert dalle` never needs it

    with open(config_yaml, encoding="utf-8") as f:
        cfg = yaml.safe_load(f)
    cls_name, kwargs = ldm_to_diffusers_config(cfg)
    raw = load_tensors(ckpt)
    sd = raw.get("state_dict", raw) if isinstance(raw, dict) else module_state_dict(raw)
    sd = {k: v for k, v in sd.items() if isinstance(v, torch.Tensor)}
    model = getattr(diffusers, cls_name)(**kwargs)
    new = ldm_to_diffusers_state(sd, kwargs)
    expected = set(model.state_dict())
    missing = sorted(expected - set(new))
    if missing:
        raise ValueError(f"the checkpoint lacks {len(missing)} weights the {cls_name} needs, e.g. {missing[:3]}")
    model.load_state_dict({k: v.float() for k, v in new.items() if k in expected}, strict=True)
    return _save_pretrained_atomic(model, out_dir)


def _save_pretrained_atomic(model, out_dir) -> Path:
    out = Path(out_dir)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=out.parent))
    try:
        model.save_pretrained(tmp, safe_serialization=True)
        if out.exists():
            shutil.rmtree(out)
        os.replace(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return out


# ---- DALL-E --------------------------------------------------------------------------------------------
def dalle_state_dict(path) -> dict[str, torch.Tensor]:
    """State dict of a pickled DALL-E Encoder/Decoder module (or of a plain state-dict file), as float32."""
    obj = load_restricted(path)
    sd = obj if isinstance(obj, dict) else module_state_dict(obj)
    sd = {k: v.float().contiguous() for k, v in sd.items() if isinstance(v, torch.Tensor)}
    if "blocks.input.w" not in sd:
        raise ValueError(f"{path} does not look like a DALL-E dVAE encoder or decoder (no blocks.input.w)")
    return sd


def convert_dalle(encoder_pkl, decoder_pkl, out_dir) -> Path:
    enc_sd, dec_sd = dalle_state_dict(encoder_pkl), dalle_state_dict(decoder_pkl)
    modules_from_state_dicts(enc_sd, dec_sd)  # strict load: raises ValueError if foreign
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    for name, sd in (("encoder", enc_sd), ("decoder", dec_sd)):
        atomic_write(out / f"{name}.safetensors", lambda tmp, sd=sd: save_file(sd, tmp))
    return out


def _download(url: str, folder: Path) -> Path:
    dest = folder / url.rsplit("/", 1)[-1]
    with urllib.request.urlopen(url, timeout=60) as r, open(dest, "wb") as f:  # noqa: S310 (fixed https URL)
        shutil.copyfileobj(r, f)
    return dest


# ---- command line ---------------------------------------------------------------------------------------
def add_arguments(parser) -> None:
    sub = parser.add_subparsers(dest="what", metavar="WHAT", required=True)
    p = sub.add_parser("ldm", help="latent-diffusion .ckpt + config.yaml -> diffusers folder")
    p.add_argument("--ckpt", required=True)
    p.add_argument("--config", required=True)
    p.add_argument("--out", required=True, help="output folder, e.g. $HEN_WEIGHTS_DIR/vq-f16")
    p = sub.add_parser("dalle", help="DALL-E dVAE pickles -> safetensors")
    p.add_argument("--encoder", default=None, help="encoder.pkl")
    p.add_argument("--decoder", default=None, help="decoder.pkl")
    p.add_argument("--download", action="store_true", help="download the pickles from cdn.openai.com first")
    p.add_argument("--out", default=None, help="output folder (default $HEN_WEIGHTS_DIR/dvae)")


def run(args) -> int:
    try:
        if args.what == "ldm":
            out = convert_ldm(args.ckpt, args.config, args.out)
        else:
            out_dir = args.out or (Path(os.environ["HEN_WEIGHTS_DIR"]) / "dvae" if os.environ.get("HEN_WEIGHTS_DIR")
                                   else None)
            if out_dir is None:
                raise ValueError("give --out or set HEN_WEIGHTS_DIR")
            if args.download:
                tmp = Path(tempfile.mkdtemp(prefix="dalle-"))
                try:  # the pickles are only needed until their safetensors are written
                    enc, dec = _download(DALLE_URLS["encoder"], tmp), _download(DALLE_URLS["decoder"], tmp)
                    out = convert_dalle(enc, dec, out_dir)
                finally:
                    shutil.rmtree(tmp, ignore_errors=True)
            else:
                if not (args.encoder and args.decoder):
                    raise ValueError("give --encoder and --decoder, or --download")
                out = convert_dalle(args.encoder, args.decoder, out_dir)
    except (ValueError, OSError) as exc:
        print(f"error: {exc}")
        return 2
    print(f"wrote {out}")
    return 0
