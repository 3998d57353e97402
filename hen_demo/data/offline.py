"""Offline datasets built from pictures that ship inside scikit-image and scikit-learn (contract §3).

* ``photos`` — 27 pictures (25 from scikit-image's data folder, china and flower from scikit-learn),
  centre-cropped to a square and resized to 64×64, each with a one-sentence caption written for this
  project (assets/captions/photos.json).
* ``tiles`` — distinct square crops of those photographs at several zooms and positions, 64×64, with a
  caption naming the photograph, the part of it, the zoom and the crop's corner (so captions are unique).
  ``tile_specs()`` enumerates them in a fixed order; a (n, seed) subset is a seeded permutation's prefix.
* ``digits`` — scikit-learn's 1,797 8×8 handwritten digits (0..16 ink), upscaled bilinearly to 64×64 RGB.
* ``faces`` — scikit-image's ``lfw_subset``: 100 faces then 100 non-face patches, 25×25, upscaled to 64×64.
"""

from __future__ import annotations

import functools
import importlib.util
import json
import os
from dataclasses import dataclass

import numpy as np
from PIL import Image

from hen_demo.assets import assets_dir  # noqa: F401  (re-exported for older callers)
from hen_demo.images import load_image_file, resize_square

SIDE = 64  # every offline dataset is 64×64 RGB uint8
SOURCE_MAX = 512  # photographs are first shrunk so their shorter side is at most this (tiles are cut from that)


@functools.lru_cache(maxsize=1)
def photo_captions() -> dict[str, str]:
    with open(assets_dir() / "captions" / "photos.json", encoding="utf-8") as f:
        return json.load(f)


def _package_dir(package: str) -> str:
    """Folder of an installed package, found without importing it (importing scikit-learn takes a second or
    more, and the photographs only need its data files)."""
    spec = importlib.util.find_spec(package)
    if spec is None or spec.origin is None:
        raise ModuleNotFoundError(f"No module named {package!r}")
    return os.path.dirname(spec.origin)


def _photo_path(name: str) -> str:
    if name in ("china", "flower"):
        return os.path.join(_package_dir("sklearn"), "datasets", "images", f"{name}.jpg")
    base = os.path.join(_package_dir("skimage"), "data")
    fname = {"chessboard": "chessboard_RGB.png", "hubble_deep_field": "hubble_deep_field.jpg",
             "retina": "retina.jpg", "rocket": "rocket.jpg"}.get(name, f"{name}.png")
    return os.path.join(base, fname)


@functools.lru_cache(maxsize=1)
def source_photos() -> tuple[tuple[str, np.ndarray], ...]:
    """(name, uint8 (H, W, 3)) for each photograph, shorter side shrunk to at most SOURCE_MAX."""
    out = []
    for name in photo_captions():
        img = load_image_file(_photo_path(name))
        h, w = img.shape[:2]
        if min(h, w) > SOURCE_MAX:
            f = SOURCE_MAX / min(h, w)
            img = np.asarray(Image.fromarray(img).resize((round(w * f), round(h * f)), Image.LANCZOS))
        out.append((name, img))
    return tuple(out)


def load_photos():
    names, imgs, caps = [], [], []
    captions = photo_captions()
    for name, img in source_photos():
        names.append(name)
        imgs.append(resize_square(img, SIDE))
        caps.append(captions[name])
    return np.stack(imgs), caps, [f"photos/{n}" for n in names], list(range(len(names)))


# ---- tiles ---------------------------------------------------------------------------------------------
ZOOMS = (1.0, 1.4, 2.0, 2.8, 4.0, 5.6)  # crop side = shorter photo side / zoom
FLAT_STD = 3.0  # tiles whose thumbnail's grey-level std is below this are dropped as blank
STRIDE_FRACTION = 0.25  # positions step by this fraction of the crop side (neighbours overlap by 3/4 at most)


@dataclass(frozen=True)
class TileSpec:
    photo: int  # index into source_photos()
    zoom: float
    x: int  # left, in source pixels
    y: int  # top
    side: int  # crop side in source pixels


@functools.lru_cache(maxsize=1)
def tile_specs() -> tuple[TileSpec, ...]:
    """All tiles, in a fixed order (photo, zoom, y, x). About 20,900 of them."""
    specs, seen = [], set()
    for p, (_, img) in enumerate(source_photos()):
        h, w = img.shape[:2]
        for zoom in ZOOMS:
            side = int(round(min(h, w) / zoom))
            if side < 24:
                continue
            stride = max(4, int(round(side * STRIDE_FRACTION)))
            ys = list(range(0, h - side + 1, stride)) or [0]
            xs = list(range(0, w - side + 1, stride)) or [0]
            step = max(1, side // 16)
            # a cheap 16×16 thumbnail per crop: drop flat crops (black sky, white backgrounds) and repeats
            # (the chessboard's periodic crops), so every tile is a distinct picture
            corners = [(y, x) for y in ys for x in xs]
            thumbs = np.stack([img[y:y + side:step, x:x + side:step] for y, x in corners])  # (n, t, t, 3)
            stds = thumbs.reshape(len(corners), -1).std(axis=1)  # one call per zoom: per crop it dominated
            for (y, x), thumb, sd in zip(corners, thumbs, stds):
                if sd < FLAT_STD:
                    continue
                h_ = (thumb // 8).tobytes()
                if h_ in seen:
                    continue
                seen.add(h_)
                specs.append(TileSpec(p, zoom, x, y, side))
    return tuple(specs)


def _place(spec: TileSpec, h: int, w: int) -> str:
    cy = (spec.y + spec.side / 2) / h
    cx = (spec.x + spec.side / 2) / w
    v = "upper" if cy < 0.4 else ("lower" if cy > 0.6 else "middle")
    hz = "left" if cx < 0.4 else ("right" if cx > 0.6 else "centre")
    if v == "middle" and hz == "centre":
        return "centre"
    if v == "middle":
        return f"middle-{hz}"
    return f"{v}-{hz}" if hz != "centre" else f"{v}-centre"


def render_tile(spec: TileSpec) -> np.ndarray:
    """uint8 (64, 64, 3) crop for one spec."""
    img = source_photos()[spec.photo][1]
    crop = img[spec.y:spec.y + spec.side, spec.x:spec.x + spec.side]
    return np.asarray(Image.fromarray(crop).resize((SIDE, SIDE), Image.BILINEAR, reducing_gap=2.0), dtype=np.uint8)


def tile_caption(spec: TileSpec) -> str:
    name, img = source_photos()[spec.photo]
    h, w = img.shape[:2]
    what = photo_captions()[name].split(",")[0].split(":")[0].rstrip(".")
    where = "the whole picture" if spec.zoom == 1.0 and spec.side >= min(h, w) and h == w else \
        f"the {_place(spec, h, w)} part"
    return f"{where.capitalize()} of '{what}', zoom {spec.zoom:g}x, corner at ({spec.x}, {spec.y})."


def tile_id(spec: TileSpec) -> str:
    return f"tiles/{source_photos()[spec.photo][0]}/z{spec.zoom:g}/x{spec.x}y{spec.y}"


def load_tiles(indices) -> tuple[np.ndarray, list[str], list[str], list[int]]:
    specs = tile_specs()
    chosen = [specs[i] for i in indices]
    imgs = np.stack([render_tile(s) for s in chosen]) if chosen else np.zeros((0, SIDE, SIDE, 3), np.uint8)
    return imgs, [tile_caption(s) for s in chosen], [tile_id(s) for s in chosen], [s.photo for s in chosen]


# ---- digits and faces ----------------------------------------------------------------------------------
def _upscale_gray(gray01: np.ndarray) -> np.ndarray:
    """float (N, h, w) in [0, 1] -> uint8 (N, 64, 64, 3), bilinear."""
    out = np.empty((gray01.shape[0], SIDE, SIDE, 3), np.uint8)
    for i, g in enumerate(gray01):
        im = Image.fromarray(np.clip(g * 255.0, 0, 255).round().astype(np.uint8)).resize((SIDE, SIDE), Image.BILINEAR)
        out[i] = np.asarray(im)[..., None]
    return out


def load_digits():
    from sklearn.datasets import load_digits as sk_digits
    d = sk_digits()
    imgs = _upscale_gray(d.images / 16.0)
    labels = [int(t) for t in d.target]
    caps = [f"A handwritten digit {t} (sample {i})." for i, t in enumerate(labels)]
    return imgs, caps, [f"digits/{i:04d}" for i in range(len(labels))], labels


def load_faces():
    from skimage.data import lfw_subset
    x = lfw_subset()  # (200, 25, 25) float in [0, 1]: 100 faces, then 100 non-faces
    imgs = _upscale_gray(np.asarray(x, dtype=np.float64))
    labels = [1] * 100 + [0] * (len(x) - 100)
    caps = [f"A face from Labeled Faces in the Wild (face {i})." if lab else
            f"A patch with no face in it (patch {i - 100})." for i, lab in enumerate(labels)]
    return imgs, caps, [f"faces/{i:03d}" for i in range(len(labels))], labels
