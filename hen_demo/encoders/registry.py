"""Registry of image and text encoders by name (contract §2).

Each entry knows how to *probe* availability cheaply (files on disk, a local cache, the hub) and how to
*load* the encoder. Probing never raises: an encoder that cannot be used is listed with the reason.
Loader modules are imported lazily, so listing is fast and a missing optional library only disables
the encoders that need it.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass

from hen_demo.encoders.base import EncoderInfo, EncoderUnavailable, ImageEncoder, TextEncoder


@dataclass(frozen=True)
class _Entry:
    name: str
    label: str
    module: str  # module implementing it
    probe: str  # function name in module: (name) -> reason ("" when available)
    load: str  # function name in module: (name, **kwargs) -> encoder
    code_dim: int | None
    image_size: int | None
    shipped: bool
    pretrained: bool


_M = "hen_demo.encoders."
IMAGE_ENCODERS: dict[str, _Entry] = {e.name: e for e in [
    _Entry("pixels", "Raw pixels 28×28×3 (paper's MHN baseline)", _M + "pixels", "probe", "load",
           2352, 28, True, False),
    _Entry("vq-small", "VQ-VAE small (trained here, offline)", _M + "shipped", "probe", "load",
           2048, 32, True, False),
    _Entry("kl-small", "KL-VAE small (trained here, offline)", _M + "shipped", "probe", "load",
           2048, 32, True, False),
    _Entry("dvae-small", "Discrete VAE small, Gumbel-softmax (trained here, offline)", _M + "shipped", "probe",
           "load", 2048, 32, True, False),
    _Entry("robust-small", "Robust small: occlusion-trained, damaged→clean codes (our extension, offline)",
           _M + "shipped", "probe", "load", 2048, 32, True, False),
    _Entry("kl-f8", "KL-f8 (latent diffusion AutoencoderKL)", _M + "pretrained", "probe", "load",
           2304, 192, False, True),
    _Entry("vq-f8", "VQ-f8 (latent diffusion VQModel)", _M + "pretrained", "probe", "load",
           2304, 192, False, True),
    _Entry("vq-f16", "VQ-f16 (converted LDM checkpoint, or taming vq-f16-n1024 substitute)", _M + "pretrained",
           "probe", "load", None, 256, False, True),
    _Entry("kl-f16", "KL-f16 (converted LDM checkpoint)", _M + "pretrained", "probe", "load",
           None, 256, False, True),
    _Entry("taesd", "TAESD (tiny AutoencoderTiny; an approximation of KL-f8, fast on a CPU)", _M + "taesd", "probe",
           "load", 2304, 192, False, True),
    _Entry("dvae", "D-VAE (OpenAI DALL-E dVAE, 8192 codes, f8)", _M + "dalle", "probe", "load",
           2352, 224, False, True),
]}

TEXT_ENCODERS: dict[str, _Entry] = {e.name: e for e in [
    _Entry("minilm", "all-MiniLM-L6-v2 sentence encoder (offline, 384-d)", _M + "text_minilm", "probe", "load",
           384, None, True, True),
    _Entry("clip", "CLIP ViT-B/32 text encoder (512-d, needs the hub or a local copy)", _M + "text_clip", "probe",
           "load", 512, None, False, True),
    _Entry("clip-openclip", "CLIP ViT-B/32 text encoder via open_clip (optional backend, needs torchvision)",
           _M + "text_openclip", "probe", "load", 512, None, False, True),
    _Entry("pixelized", "Pixelized caption (text rendered as an image, HEN §3.2)", _M + "text_pixelized", "probe",
           "load", None, None, True, False),
]}


def _probe(entry: _Entry) -> str:
    """Reason the encoder is unavailable, or "" when it can be loaded. Never raises."""
    try:
        mod = importlib.import_module(entry.module)
        return getattr(mod, entry.probe)(entry.name)
    except ImportError as exc:  # an optional library is missing
        return f"a library it needs is missing: {exc}"
    except Exception as exc:  # probing must never crash the UI
        return f"could not check availability: {type(exc).__name__}: {exc}"


def _info(entry: _Entry) -> EncoderInfo:
    reason = _probe(entry)
    return EncoderInfo(entry.name, entry.label, reason == "", reason, entry.code_dim, entry.image_size,
                       entry.shipped, entry.pretrained)


def list_image_encoders() -> list[EncoderInfo]:
    """All image encoders with availability and, for unavailable ones, the reason."""
    return [_info(e) for e in IMAGE_ENCODERS.values()]


def list_text_encoders() -> list[EncoderInfo]:
    """All text encoders with availability and, for unavailable ones, the reason."""
    return [_info(e) for e in TEXT_ENCODERS.values()]


def _unknown(kind: str, name, known) -> ValueError:
    return ValueError(f"unknown {kind} encoder {name!r}; choose one of: {', '.join(known)}")


def _load(entry: _Entry, device, kwargs: dict):
    """Import ``entry``'s module (a missing library -> EncoderUnavailable), load it, move it to ``device``."""
    try:
        mod = importlib.import_module(entry.module)
    except ImportError as exc:
        raise EncoderUnavailable(f"{entry.name} is unavailable: a library it needs is missing ({exc})") from exc
    enc = getattr(mod, entry.load)(entry.name, **kwargs)
    if device is not None:
        enc.to(device)
    return enc


def get_image_encoder(name: str, device=None, **kwargs) -> ImageEncoder:
    """Load image encoder ``name`` (see ``list_image_encoders``), optionally on ``device``.

    Raises ValueError for an unknown name and EncoderUnavailable (a ValueError) with the reason when
    its weights cannot be reached. ``kwargs`` go to the loader (e.g. ``weights_dir=`` for pretrained ones).
    """
    if name not in IMAGE_ENCODERS:
        if isinstance(name, str) and name.startswith("pixels-") and name[7:].isdigit():
            return _load(IMAGE_ENCODERS["pixels"], device, {"size": int(name[7:])})
        raise _unknown("image", name, IMAGE_ENCODERS)
    return _load(IMAGE_ENCODERS[name], device, kwargs)


def get_text_encoder(name: str, image_encoder: ImageEncoder | None = None, device=None, **kwargs) -> TextEncoder:
    """Load text encoder ``name``. "pixelized" needs ``image_encoder`` (an ImageEncoder or a registry name)."""
    if name not in TEXT_ENCODERS:
        raise _unknown("text", name, TEXT_ENCODERS)
    if name == "pixelized":
        if image_encoder is None:
            raise ValueError("the pixelized text encoder needs an image encoder (e.g. image_encoder='pixels')")
        if isinstance(image_encoder, str):
            image_encoder = get_image_encoder(image_encoder, device=device)
        kwargs["image_encoder"] = image_encoder
    return _load(TEXT_ENCODERS[name], device, kwargs)
