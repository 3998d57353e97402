"""Dataset registry: ``list_datasets()`` and ``load_dataset(name, n, seed)`` (contract §3).

Offline (always available): "photos", "tiles", "digits", "faces" (see ``hen_demo.data.offline``) and "emoji"
(the shipped atlas of Noto Color Emoji glyphs, see ``hen_demo.data.emoji``).
Online / local (see ``hen_demo.data.online``): "coco", "cifar10", "mnist", and "folder:<path>".

Selection rule: offline datasets return a seeded random subset of n items (``numpy.random.default_rng(seed)
.permutation(size)[:n]``; n=None means all, in permuted order); online ones return the first n items.
n larger than the dataset, or n < 1, raises ValueError.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from hen_demo.data import emoji, offline, online


@dataclass
class ImageDataset:
    """Images with captions, ready to encode into a memory bank."""

    images: np.ndarray  # uint8 (N, H, W, 3)
    captions: list[str]  # one caption per image (COCO: the image's captions joined)
    ids: list[str]  # stable identifiers, e.g. "tiles/chelsea/z2/x64y0"
    name: str  # dataset name as passed to load_dataset
    labels: list[int] | None = None  # class / source-photo index where one exists (digits, faces, tiles, ...)
    notes: list[str] = field(default_factory=list)  # e.g. files skipped in a folder dataset

    def __len__(self) -> int:
        return int(self.images.shape[0])


@dataclass
class DatasetInfo:
    name: str
    label: str
    available: bool
    reason: str  # why unavailable ("" when available)
    size: int | None  # number of items, when known without downloading


_SIZES = {"photos": None, "tiles": None, "digits": 1797, "faces": 200, "coco": 5000, "cifar10": 10000,
          "mnist": 10000}
_LABELS = {
    "photos": "Photos (27 pictures from scikit-image and scikit-learn, with captions)",
    "tiles": "Tiles (about 20,900 crops of those photos, 64×64)",
    "digits": "Digits (scikit-learn's 1,797 handwritten digits)",
    "faces": "Faces (scikit-image lfw_subset: 100 faces, 100 non-faces)",
    "emoji": "Emoji (Noto Color Emoji glyphs with their Unicode names, 64×64)",
    "coco": "MS-COCO 2017 val with captions (online or local folder)",
    "cifar10": "CIFAR-10 test (online)",
    "mnist": "MNIST test (online)",
}
OFFLINE = ("photos", "tiles", "digits", "faces", "emoji")
ONLINE = ("coco", "cifar10", "mnist")


def dataset_size(name: str) -> int | None:
    if name == "photos":
        return len(offline.photo_captions())
    if name == "tiles":
        return len(offline.tile_specs())
    if name == "emoji":
        return emoji.emoji_count()  # ValueError naming the file when the atlas is missing or damaged
    return _SIZES.get(name)


def list_datasets() -> list[DatasetInfo]:
    """All named datasets with availability; "folder:<path>" is accepted by load_dataset but not listed."""
    out = []
    for name in OFFLINE:
        try:
            out.append(DatasetInfo(name, _LABELS[name], True, "", dataset_size(name)))
        except Exception as exc:  # a package's data file missing: list it, never crash
            out.append(DatasetInfo(name, _LABELS[name], False, f"{type(exc).__name__}: {exc}", None))
    for name in ONLINE:
        reason = online.probe(name)
        out.append(DatasetInfo(name, _LABELS[name], reason == "", reason, _SIZES[name]))
    return out


def _check_n(n, size: int | None, name: str) -> int | None:
    if n is None:
        return None
    if isinstance(n, bool) or int(n) != n:
        raise ValueError(f"n must be a whole number; got {n!r}")
    n = int(n)
    if n < 1:
        raise ValueError(f"n must be at least 1; got {n}")
    if size is not None and n > size:
        raise ValueError(f"dataset {name!r} has {size} items; asked for n={n}. Choose n <= {size}.")
    return n


def load_dataset(name: str, n: int | None = None, seed: int = 0, side: int | None = None,
                 root=None) -> ImageDataset:
    """Load n items of dataset ``name`` (see module docstring for the selection rule).

    Args:
        side: output image side for online/folder datasets (default 128; CIFAR-10 and MNIST 64).
            Offline datasets are always 64×64.
        root: local folder for "coco" (else env HEN_COCO_DIR, else the hub).
    """
    if not isinstance(name, str):
        raise ValueError(f"dataset name must be a string; got {type(name).__name__}")
    if name.startswith("folder:"):
        path = name[len("folder:"):].strip()
        if not path:
            raise ValueError("folder dataset needs a path: 'folder:/path/to/images'")
        n = _check_n(n, None, name)
        imgs, caps, ids, labels, notes = online.load_folder(path, n, side or 128)
        return ImageDataset(imgs, caps, ids, name, labels, notes)
    if name in OFFLINE:
        size = dataset_size(name)
        n = _check_n(n, size, name)
        order = np.random.default_rng(seed).permutation(size)[: (size if n is None else n)]
        if name == "tiles":
            imgs, caps, ids, labels = offline.load_tiles(order.tolist())
        else:
            loader = {"photos": offline.load_photos, "digits": offline.load_digits, "faces": offline.load_faces,
                      "emoji": emoji.load_emoji}[name]
            all_imgs, all_caps, all_ids, all_labels = loader()
            imgs = all_imgs[order]
            caps = [all_caps[i] for i in order]
            ids = [all_ids[i] for i in order]
            labels = [all_labels[i] for i in order]
        return ImageDataset(np.ascontiguousarray(imgs), caps, ids, name, labels)
    if name in ONLINE:
        n = _check_n(n, _SIZES[name], name)
        if n is None:
            n = _SIZES[name]
        if name == "coco":
            r = online.coco_root(root)
            if r is not None:
                imgs, caps, ids, labels = online.load_coco_folder(r, n, side or 128)
                return ImageDataset(imgs, caps, ids, name, labels)
        imgs, caps, ids, labels = online.load_hub_parquet(name, n, side or (128 if name == "coco" else 64))
        return ImageDataset(imgs, caps, ids, name, labels)
    known = ", ".join(list(OFFLINE) + list(ONLINE) + ["folder:<path>"])
    raise ValueError(f"unknown dataset {name!r}; choose one of: {known}")
