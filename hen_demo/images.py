"""Converting images between the forms the package uses, and reading image files safely.

* ``uint8 numpy (N, H, W, 3)`` — how datasets and banks store pictures;
* ``float tensor (N, 3, H, W) in [0, 1]`` — what encoders and corruptions take.

``load_image_file`` is the single entry point for user uploads and folder datasets. Its documented
conversions: grayscale (L, I;16, I, F), palette (P), CMYK, LA and RGBA images become RGB uint8;
transparency is composited onto white; 16-bit and float images are rescaled to 0..255 by their
full type range (16-bit: value / 257); a JPEG's EXIF orientation is applied (``ImageOps.exif_transpose``); an
animated GIF / PNG / WebP gives its first frame. Images whose longer side exceeds ``MAX_SIDE`` (4096 px) are
rejected with ValueError rather than silently shrunk (decoding an 8,000-px image costs memory and
the encoders work at 28-256 px anyway: scale it down first). Images smaller than an encoder's
input are upscaled by the encoder (bilinear, see ``hen_demo.encoders.base.resize_images``).
"""

from __future__ import annotations

import io
import os

import numpy as np
import torch
from PIL import Image, ImageOps, UnidentifiedImageError

MAX_SIDE = 4096  # longest accepted image side, in pixels


def to_float_tensor(images: np.ndarray) -> torch.Tensor:
    """uint8 ``(N, H, W, 3)`` (or one ``(H, W, 3)`` image) -> float32 tensor ``(N, 3, H, W)`` in [0, 1]."""
    arr = np.asarray(images)
    if arr.ndim == 3:
        arr = arr[None]
    if arr.ndim != 4 or arr.shape[-1] != 3:
        raise ValueError(f"expected uint8 images of shape (N, H, W, 3); got {arr.shape}")
    if arr.dtype != np.uint8:
        raise ValueError(f"expected uint8 images; got dtype {arr.dtype}")
    # torch.as_tensor copies a read-only array (a memory-mapped or cached bank) instead of warning about it;
    # .float() makes a new tensor either way, so nothing ever writes into the caller's array
    return torch.as_tensor(arr if arr.flags.writeable else arr.copy()).permute(0, 3, 1, 2).float().div_(255.0)


def to_uint8(images: torch.Tensor) -> np.ndarray:
    """float tensor ``(N, 3, H, W)`` (or ``(3, H, W)``) in [0, 1] -> uint8 numpy ``(N, H, W, 3)`` (rounded, clipped)."""
    if not isinstance(images, torch.Tensor):
        images = torch.as_tensor(np.asarray(images))
    if images.ndim == 3:
        images = images.unsqueeze(0)
    if images.ndim != 4 or images.shape[1] != 3:
        raise ValueError(f"expected images of shape (N, 3, H, W); got {tuple(images.shape)}")
    x = images.detach().float().cpu().nan_to_num(0.0).clamp(0.0, 1.0).mul(255.0).round()
    return x.to(torch.uint8).permute(0, 2, 3, 1).contiguous().numpy()


def pil_to_rgb_uint8(img: Image.Image) -> np.ndarray:
    """Any PIL image -> uint8 ``(H, W, 3)`` following the module's documented conversions."""
    mode = img.mode
    if mode in ("I;16", "I;16B", "I;16L", "I;16N"):
        arr = np.asarray(img, dtype=np.uint16).astype(np.float64) / 257.0  # 0..65535 -> 0..255
        gray = np.clip(np.round(arr), 0, 255).astype(np.uint8)
        return np.repeat(gray[..., None], 3, axis=2)
    if mode in ("I", "F"):
        arr = np.asarray(img, dtype=np.float64)
        if mode == "I" and arr.max(initial=0) > 255:  # 32-bit ints used as 16-bit storage (common for PNG)
            arr = arr / 257.0
        elif mode == "F" and arr.max(initial=0) <= 1.0:
            arr = arr * 255.0
        gray = np.clip(np.round(arr), 0, 255).astype(np.uint8)
        return np.repeat(gray[..., None], 3, axis=2)
    if mode == "P":
        img = img.convert("RGBA") if "transparency" in img.info else img.convert("RGB")
        mode = img.mode
    if mode in ("RGBA", "LA", "PA", "RGBa", "La"):
        rgba = img.convert("RGBA")
        white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        img = Image.alpha_composite(white, rgba)
    arr = np.asarray(img.convert("RGB"), dtype=np.uint8)
    return np.ascontiguousarray(arr)


def check_size(width: int, height: int, source: str = "image") -> None:
    if width < 1 or height < 1:
        raise ValueError(f"{source} is empty ({width}×{height} px)")
    if max(width, height) > MAX_SIDE:
        raise ValueError(f"{source} is {width}×{height} px; the largest side accepted is {MAX_SIDE} px. "
                         "Scale it down first (the encoders work at 28-256 px).")


def load_image_file(path_or_pil) -> np.ndarray:
    """Read an image file (path, bytes, file object) or PIL image -> uint8 ``(H, W, 3)``.

    Raises ValueError for files that are missing, not images, truncated/corrupt, or larger than
    ``MAX_SIDE`` on either side. Grayscale, palette, RGBA and 16-bit images are converted (module doc).
    """
    if isinstance(path_or_pil, Image.Image):
        check_size(*path_or_pil.size)
        return pil_to_rgb_uint8(path_or_pil)
    if isinstance(path_or_pil, np.ndarray):
        return array_to_rgb_uint8(path_or_pil)
    source = "image"
    if isinstance(path_or_pil, (bytes, bytearray)):
        fp = io.BytesIO(path_or_pil)
    elif isinstance(path_or_pil, (str, os.PathLike)):
        source = os.fspath(path_or_pil)
        if not os.path.isfile(source):
            raise ValueError(f"image file not found: {source}")
        fp = source
    else:
        fp = path_or_pil
    try:
        with Image.open(fp) as img:
            check_size(*img.size, source=os.path.basename(source) if source != "image" else "image")
            img.load()  # decode now, so a truncated file fails here and not later
            # a camera's EXIF orientation tag: show the picture the way up the camera meant (a no-op without one)
            return pil_to_rgb_uint8(ImageOps.exif_transpose(img))
    except UnidentifiedImageError as exc:
        raise ValueError(f"{source} is not an image file Pillow can read") from exc
    except Image.DecompressionBombError as exc:
        raise ValueError(f"{source} is too large to decode safely") from exc
    except (OSError, SyntaxError) as exc:  # truncated or corrupt data
        raise ValueError(f"{source} is corrupt or truncated and cannot be read ({exc})") from exc


def array_to_rgb_uint8(arr: np.ndarray) -> np.ndarray:
    """A numpy image (H, W), (H, W, 1|3|4), uint8/uint16/bool/float in [0, 1] -> uint8 (H, W, 3)."""
    a = np.asarray(arr)
    if a.ndim == 2:
        a = a[..., None]
    if a.ndim != 3 or a.shape[2] not in (1, 3, 4):
        raise ValueError(f"expected an image array of shape (H, W), (H, W, 3) or (H, W, 4); got {a.shape}")
    check_size(a.shape[1], a.shape[0])
    if a.dtype == np.uint8:
        pass
    elif a.dtype == np.uint16:
        a = np.round(a.astype(np.float64) / 257.0).astype(np.uint8)
    elif a.dtype == bool:
        a = a.astype(np.uint8) * 255
    elif np.issubdtype(a.dtype, np.floating):
        if not np.isfinite(a).all():
            raise ValueError("image array contains NaN or infinite values")
        scale = 255.0 if a.max(initial=0) <= 1.0 else 1.0
        a = np.clip(np.round(a * scale), 0, 255).astype(np.uint8)
    else:
        a = np.clip(a, 0, 255).astype(np.uint8)
    if a.shape[2] == 1:
        a = np.repeat(a, 3, axis=2)
    elif a.shape[2] == 4:  # composite onto white
        alpha = a[..., 3:4].astype(np.float64) / 255.0
        a = np.round(a[..., :3] * alpha + 255.0 * (1 - alpha)).astype(np.uint8)
    return np.ascontiguousarray(a)


def resize_square(img: np.ndarray, size: int, crop: bool = True) -> np.ndarray:
    """uint8 (H, W, 3) -> uint8 (size, size, 3): centre square crop (if ``crop``) then a Lanczos resize."""
    h, w = img.shape[:2]
    if crop and h != w:
        s = min(h, w)
        top, left = (h - s) // 2, (w - s) // 2
        img = img[top:top + s, left:left + s]
    return np.asarray(Image.fromarray(img).resize((size, size), Image.LANCZOS), dtype=np.uint8)
