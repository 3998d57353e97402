"""The papers' pretrained autoencoders through diffusers (HEN §3: KL-f8, VQ-f8, VQ-f16, KL-f16 of
Rombach et al. 2022).

* ``kl-f8``: ``AutoencoderKL`` from ``CompVis/ldm-text2im-large-256`` (subfolder ``vqvae``; despite its name
  a KL autoencoder, 4 latent channels, f8), else the ``vae`` of ``CompVis/stable-diffusion-v1-4``.
  Code = ``encode(x).latent_dist.mean``.
* ``vq-f8``: ``VQModel`` from ``xvjiarui/ldm-vq-f8`` (a port of the LDM vq-f8). Code = ``encode(x).latents``,
  the pre-quantisation latent; ``decode`` quantises to the nearest codebook entry first.
* ``vq-f16``: the LDM vq-f16 converted with ``python -m hen_demo convert ldm`` into ``$HEN_WEIGHTS_DIR/vq-f16``;
  without it, the labelled substitute ``xvjiarui/taming-vq-f16-n1024`` (taming-transformers VQGAN, 1024
  codes of 256 dims: a much longer code).
* ``kl-f16``: only from a converted LDM checkpoint in ``$HEN_WEIGHTS_DIR/kl-f16`` (no diffusers copy on a hub).
* ``taesd``: ``AutoencoderTiny`` from ``madebyollin/taesd``, a small approximation of KL-f8 (see ``taesd.py``).

Inputs are mapped from [0, 1] to [-1, 1] and outputs back. Default input sides make K close to the paper's
2,352 (f8, 4 channels at 192 px: 24·24·4 = 2,304); change with ``get_image_encoder(name, image_size=...)``.
diffusers prefers ``.safetensors`` and loads ``.bin`` files with ``torch.load(weights_only=True)``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from hen_demo.encoders.base import EncoderUnavailable, ImageEncoder
from hen_demo.encoders.weights import hub_reason, in_hf_cache, local_folder, weights_digest


@dataclass(frozen=True)
class PretrainedSpec:
    cls: str  # diffusers class: "AutoencoderKL" | "VQModel" | "AutoencoderTiny"
    sources: tuple  # ((repo id, subfolder or None), ...) tried in order
    image_size: int  # default square input side
    note: str = ""  # shown to users (e.g. "substitute")
    code_scale: float = 1.0  # code = model latent / code_scale (taesd: back to KL-f8's unscaled latents)


SPECS: dict[str, PretrainedSpec] = {
    "kl-f8": PretrainedSpec("AutoencoderKL", (("CompVis/ldm-text2im-large-256", "vqvae"),
                                              ("CompVis/stable-diffusion-v1-4", "vae")), 192),
    "vq-f8": PretrainedSpec("VQModel", (("xvjiarui/ldm-vq-f8", None),), 192),
    "vq-f16": PretrainedSpec("VQModel", (("xvjiarui/taming-vq-f16-n1024", None),), 256,
                             "from the hub this is the substitute taming VQGAN f16 n1024, not the LDM vq-f16"),
    "kl-f16": PretrainedSpec("AutoencoderKL", (), 256,
                             "convert the LDM kl-f16 checkpoint with: python -m hen_demo convert ldm"),
    # TAESD outputs SD-VAE latents already multiplied by SD's scaling factor 0.18215; dividing puts the codes on
    # KL-f8's own (unscaled posterior-mean) scale
    "taesd": PretrainedSpec("AutoencoderTiny", (("madebyollin/taesd", None),), 192,
                            "a fast approximation of KL-f8", code_scale=0.18215),
}


def _cls(name: str):
    import diffusers  # here, not at the top: ~9 s to import (-X importtime); probing and listing must not pay it
    return getattr(diffusers, SPECS[name].cls)


def _cfg_file(sub) -> str:
    return f"{sub}/config.json" if sub else "config.json"


def probe(name: str, weights_dir=None, cache_dir=None) -> str:
    spec = SPECS[name]
    if local_folder(name, weights_dir) is not None:
        return ""
    if any(in_hf_cache(repo, _cfg_file(sub), cache_dir) for repo, sub in spec.sources):
        return ""
    if not spec.sources:
        return f"no local weights (set HEN_WEIGHTS_DIR and {spec.note})"
    reason = hub_reason()
    if reason:
        return f"not in the local cache and {reason}; or put a diffusers folder in $HEN_WEIGHTS_DIR/{name}"
    return ""


class DiffusersAutoencoder(ImageEncoder):
    """ImageEncoder over a diffusers ``AutoencoderKL``, ``VQModel`` or ``AutoencoderTiny``.

    Args:
        model: the diffusers model. name: registry name. image_size: square input side (multiple of f).
        source: where the weights came from (shown in the UI). label: display name.
        code_scale: codes are the model's latents divided by it (and multiplied back before decoding).
    The fingerprint (bank cache keys, precomputed banks) is the name, class, input size and a digest of the
    weights, not their path: the same weights give the same fingerprint on every machine.
    """

    def __init__(self, model, name: str, image_size: int, source: str, label: str = "",
                 code_scale: float = 1.0) -> None:
        super().__init__()
        self.model = model.eval()
        kind = type(model).__name__
        self.is_vq, self.is_tiny = kind == "VQModel", kind == "AutoencoderTiny"
        cfg = model.config
        levels = cfg.encoder_block_out_channels if self.is_tiny else cfg.block_out_channels
        f = 2 ** (len(levels) - 1)
        if image_size % f:
            raise ValueError(f"{name} needs an image size divisible by {f}; got {image_size}")
        ch = (cfg.vq_embed_dim or cfg.latent_channels) if self.is_vq else cfg.latent_channels
        self.name, self.image_size, self.source = name, int(image_size), source
        self.label = label or name
        self.code_scale = float(code_scale)
        self.latent_shape = (int(ch), image_size // f, image_size // f)
        self.code_dim = int(ch * (image_size // f) ** 2)
        self.fingerprint = f"{name}:{kind}:{image_size}:{weights_digest([model])}"
        # peak activations of one image: ~8 live float maps of the widest level (encoder and decoder mirror it);
        # bank builds size their batches from it (data.bank_build.choose_batch_size)
        widest = max(int(c) * (image_size // 2 ** i) ** 2 for i, c in enumerate(levels))
        self.activation_bytes_per_image = 8 * 4 * widest

    def _modules(self):
        return [self.model]

    def _encode(self, x):
        x = x.to(self.model.dtype) * 2.0 - 1.0  # [0, 1] -> [-1, 1] (AutoencoderTiny maps back internally)
        if self.is_vq:
            z = self.model.encode(x).latents  # pre-quantisation latents
        elif self.is_tiny:
            z = self.model.encode(x).latents
        else:
            z = self.model.encode(x).latent_dist.mean
        return z.float() / self.code_scale

    def _decode(self, z):
        z = (z * self.code_scale).to(self.model.dtype)
        out = self.model.decode(z).sample  # VQModel.decode quantises first
        return (out.float() + 1.0) / 2.0


def _check_class(folder, name: str, expected: str) -> None:
    """A folder whose config.json names another model class is refused (it would load with random weights)."""
    try:
        with open(Path(folder) / "config.json", encoding="utf-8") as f:
            found = json.load(f).get("_class_name")
    except (OSError, ValueError) as exc:
        raise ValueError(f"{folder}/config.json cannot be read ({exc})") from exc
    if found and found != expected:
        raise ValueError(f"{folder} holds a {found} model, but {name} needs a {expected} model; "
                         f"these look like the weights of another model")


def load(name: str, weights_dir=None, image_size: int | None = None, cache_dir=None, allow_download: bool = True,
         dtype=None, **kwargs) -> DiffusersAutoencoder:
    """Load ``name`` from the first place that has it (see ``hen_demo.encoders.weights``).

    ``dtype`` (e.g. ``torch.float16`` on a GPU) is the weights' dtype; codes are float32 either way.
    """
    spec = SPECS[name]
    extra = {"torch_dtype": dtype} if dtype is not None else {}

    def wrap(model, source, lab):
        return DiffusersAutoencoder(model, name, size, source, label=lab, code_scale=spec.code_scale)

    try:
        cls = _cls(name)
    except (ImportError, AttributeError) as exc:
        raise EncoderUnavailable(f"{name} is unavailable: diffusers cannot be imported ({exc})") from exc
    size = int(image_size or spec.image_size)
    label = f"{name} ({spec.note})" if spec.note else name
    errors = []
    folder = local_folder(name, weights_dir)
    if folder is not None:
        try:
            _check_class(folder, name, spec.cls)
            return wrap(cls.from_pretrained(folder, local_files_only=True, **extra), f"folder:{folder}",
                        f"{name} ({spec.note})" if name == "taesd" else name)
        except Exception as exc:
            errors.append(f"{folder}: {type(exc).__name__}: {exc}")
    elif weights_dir:
        errors.append(f"{weights_dir} has no config.json")
    for repo, sub in spec.sources:  # the local cache first, never the network
        if not in_hf_cache(repo, _cfg_file(sub), cache_dir):
            continue
        try:
            m = cls.from_pretrained(repo, subfolder=sub, cache_dir=cache_dir, local_files_only=True, **extra)
            return wrap(m, f"hub:{repo}/{sub or ''}", label)
        except Exception as exc:
            errors.append(f"cache {repo}: {type(exc).__name__}: {exc}")
    reason = hub_reason()
    if allow_download and spec.sources and not reason:
        for repo, sub in spec.sources:
            try:
                m = cls.from_pretrained(repo, subfolder=sub, cache_dir=cache_dir, **extra)
                return wrap(m, f"hub:{repo}/{sub or ''}", label)
            except Exception as exc:
                errors.append(f"hub {repo}: {type(exc).__name__}: {exc}")
    elif spec.sources:
        errors.append(f"hub: {reason}")
    else:
        errors.append(spec.note)
    raise EncoderUnavailable(f"{name} is unavailable: its weights are not on this machine and could not be "
                             f"downloaded. Pick a shipped encoder (kl-small, vq-small), or put the weights in "
                             f"$HEN_WEIGHTS_DIR/{name}. Details: " + "; ".join(errors))


def needs_download(name: str, weights_dir=None, cache_dir=None) -> bool:
    """True when loading ``name`` (one of the papers' diffusers models) will download its weights from the hub:
    they are neither in a local folder nor in the Hugging Face cache. Never touches the network."""
    spec = SPECS.get(name)
    if spec is None or not spec.sources or local_folder(name, weights_dir) is not None:
        return False
    return not any(in_hf_cache(repo, _cfg_file(sub), cache_dir) for repo, sub in spec.sources)


def loading_note(name: str) -> str:
    """The progress text while encoder ``name`` loads: a first-use download says so (it can take minutes)."""
    if needs_download(name):
        return f"downloading the {name} weights from the Hugging Face hub (first use only; this can take minutes)"
    return f"loading the {name} encoder"

