"""Datasets that need a download or a local folder: MS-COCO 2017 val, CIFAR-10, MNIST, any image folder.

Real users reach them online; here (no hub) they are listed as unavailable with the reason.

* ``coco`` — a local COCO folder (argument ``root=`` or env ``HEN_COCO_DIR``) holding
  ``annotations/captions_val2017.json`` (or ``captions_val2017.json``) and the images (``val2017/`` or the
  folder itself); otherwise the hub dataset ``lmms-lab/COCO-Caption2017`` (parquet shards, downloaded one
  at a time until n images are read, so only the first shards download). An image's captions are joined
  into one long sentence, as HEN §3.2 does before encoding them with CLIP.
* ``cifar10`` (``uoft-cs/cifar10``, test split) and ``mnist`` (``ylecun/mnist``, test split), parquet.
* ``folder:<path>`` — every readable image in a folder (sorted by file name), captions from an optional
  ``captions.json`` ({file name: caption or list of captions}) or ``captions.txt`` (lines
  ``file name<TAB>caption``); a file without one is captioned "An image named <stem>.". Unreadable
  files are skipped and listed in ``dataset.notes``.

Online datasets take the *first* n items (only those download); ``seed`` does not change the selection.
All images are centre-cropped to a square and resized to ``side`` pixels (default 128; CIFAR/MNIST 64).
Reading parquet needs pyarrow (``pip install pyarrow``).
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np

from hen_demo.hub import hub_unavailable_reason  # noqa: F401  (re-exported; the hub check is a leaf module)
from hen_demo.images import load_image_file, resize_square

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp", ".tif", ".tiff")
HUB_DATASETS = {  # name -> (repo id, substring a parquet file of the split contains, image column, text column)
    "coco": ("lmms-lab/COCO-Caption2017", "val", "image", "answer"),
    "cifar10": ("uoft-cs/cifar10", "test", "img", "label"),
    "mnist": ("ylecun/mnist", "test", "image", "label"),
}
CIFAR10_CLASSES = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")


# ---- availability ------------------------------------------------------------------------------------
def parquet_unavailable_reason() -> str:
    try:
        import pyarrow  # noqa: F401
        return ""
    except ImportError:
        return "reading parquet needs pyarrow, which is not installed (pip install pyarrow)"


def coco_root(root=None) -> Path | None:
    root = root or os.environ.get("HEN_COCO_DIR")
    return Path(root) if root else None


def _coco_annotation_file(root: Path) -> Path | None:
    for cand in (root / "annotations" / "captions_val2017.json", root / "captions_val2017.json"):
        if cand.is_file():
            return cand
    return None


def probe(name: str) -> str:
    """Reason ``name`` cannot be loaded now, or ""."""
    if name == "coco":
        root = coco_root()
        if root is not None and _coco_annotation_file(root) is not None:
            return ""
    reason = parquet_unavailable_reason() or hub_unavailable_reason()
    if name == "coco" and reason:
        reason += "; or set HEN_COCO_DIR to a folder with captions_val2017.json and the val2017 images"
    return reason


# ---- local COCO ----------------------------------------------------------------------------------------
def load_coco_folder(root, n: int, side: int = 128):
    """First n images (by image id) of a local COCO val2017 folder with their joined captions."""
    root = Path(root)
    ann = _coco_annotation_file(root)
    if ann is None:
        raise ValueError(f"{root} has no captions_val2017.json (looked in the folder and its annotations/)")
    with open(ann, encoding="utf-8") as f:
        data = json.load(f)
    caps: dict[int, list[str]] = {}
    for a in data.get("annotations", []):
        caps.setdefault(int(a["image_id"]), []).append(str(a["caption"]).strip())
    images = sorted(data.get("images", []), key=lambda im: int(im["id"]))
    if n > len(images):
        raise ValueError(f"coco at {root} has {len(images)} images; asked for {n}")
    img_dir = root / "val2017" if (root / "val2017").is_dir() else root
    out, captions, ids = [], [], []
    for im in images[:n]:
        arr = load_image_file(img_dir / im["file_name"])
        out.append(resize_square(arr, side))
        captions.append(" ".join(caps.get(int(im["id"]), [])) or f"COCO image {im['id']}.")
        ids.append(f"coco/{int(im['id'])}")
    return np.stack(out), captions, ids, None


# ---- hub parquet -----------------------------------------------------------------------------------------
def _image_from_cell(cell) -> np.ndarray:
    """A parquet image cell ({'bytes': ..., 'path': ...} or raw bytes) -> uint8 (H, W, 3)."""
    if isinstance(cell, dict):
        data = cell.get("bytes")
        if data is None and cell.get("path"):
            return load_image_file(cell["path"])
    else:
        data = cell
    if data is None:
        raise ValueError("a parquet row has no image bytes")
    return load_image_file(bytes(data))


def rows_to_items(frame, name: str, side: int, start: int = 0):
    """Convert a pandas DataFrame of one hub dataset's rows -> (images, captions, ids, labels)."""
    _, _, img_col, text_col = HUB_DATASETS[name]
    imgs, caps, ids, labels = [], [], [], []
    for i, row in enumerate(frame.to_dict("records")):
        imgs.append(resize_square(_image_from_cell(row[img_col]), side))
        text = row[text_col]
        if name == "coco":
            if isinstance(text, str):
                text = [text]
            caps.append(" ".join(str(t).strip() for t in list(text)) or "A COCO image.")
            ident = row.get("id", row.get("question_id", start + i))
            ids.append(f"coco/{ident}")
            labels.append(None)
        else:
            lab = int(text)
            word = CIFAR10_CLASSES[lab] if name == "cifar10" else f"digit {lab}"
            caps.append(f"A {word} ({name} test image {start + i}).")
            ids.append(f"{name}/{start + i:05d}")
            labels.append(lab)
    return imgs, caps, ids, (None if name == "coco" else labels)


def load_hub_parquet(name: str, n: int, side: int, cache_dir=None):
    """Download the split's parquet shards one by one until n rows are read."""
    reason = parquet_unavailable_reason() or hub_unavailable_reason()
    if reason:
        raise ValueError(f"{name} is unavailable: {reason}")
    import pyarrow.parquet as pq
    from huggingface_hub import hf_hub_download, list_repo_files

    repo, split, _, _ = HUB_DATASETS[name]
    files = sorted(f for f in list_repo_files(repo, repo_type="dataset")
                   if f.endswith(".parquet") and split in Path(f).name.lower() or
                   f.endswith(".parquet") and f"/{split}" in f.lower())
    if not files:
        raise ValueError(f"no parquet file of the {split} split found in {repo}")
    imgs, caps, ids, labels = [], [], [], []
    for fname in files:
        path = hf_hub_download(repo, fname, repo_type="dataset", cache_dir=cache_dir)
        # read row batches and stop at n: a COCO shard holds ~2,500 full-size JPEGs (400 MB), not all needed
        for batch in pq.ParquetFile(path).iter_batches(batch_size=64):
            frame = batch.to_pandas().iloc[: n - len(imgs)]
            a, b, c, d = rows_to_items(frame, name, side, start=len(imgs))
            imgs += a
            caps += b
            ids += c
            labels = None if d is None else (labels or []) + d
            if len(imgs) >= n:
                break
        if len(imgs) >= n:
            break
    if len(imgs) < n:
        raise ValueError(f"{name} has only {len(imgs)} items in its {split} split; asked for {n}")
    return np.stack(imgs), caps, ids, labels


# ---- any folder ----------------------------------------------------------------------------------------
def parse_captions(text: str, kind: str, source: str = "captions") -> dict[str, str]:
    """Captions from the text of a ``captions.json`` (kind "json": {file name: caption or list of captions}) or a
    ``captions.txt`` (kind "txt": lines ``file name<TAB>caption``) -> {file name: caption}."""
    caps: dict[str, str] = {}
    if kind == "json":
        try:
            data = json.loads(text)
        except ValueError as exc:
            raise ValueError(f"{source} is not valid JSON ({exc})") from None
        if not isinstance(data, dict):
            raise ValueError(f"{source} must map file names to captions")
        for k, v in data.items():
            caps[str(k)] = " ".join(map(str, v)) if isinstance(v, list) else str(v)
    else:
        for line in text.splitlines():
            if "\t" in line:
                k, v = line.split("\t", 1)
                caps[k.strip()] = v.strip()
    return caps


def _folder_captions(folder: Path) -> dict[str, str]:
    js, txt = folder / "captions.json", folder / "captions.txt"
    if js.is_file():
        return parse_captions(js.read_text(encoding="utf-8"), "json", str(js))
    if txt.is_file():
        return parse_captions(txt.read_text(encoding="utf-8"), "txt", str(txt))
    return {}


def folder_caption(caps: dict[str, str], file_name: str) -> str:
    """The caption of ``file_name`` from ``caps`` (by name, then by stem), else "An image named <stem>."."""
    stem = Path(file_name).stem
    cap = caps.get(file_name, caps.get(stem, "")).strip()
    return cap or f"An image named {stem}."


def folder_files(folder) -> list[Path]:
    folder = Path(folder)
    if not folder.is_dir():
        raise ValueError(f"folder not found: {folder}")
    return sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)


def load_folder(folder, n: int | None, side: int = 128):
    """Readable images of a folder (sorted) -> (images, captions, ids, labels=None, notes)."""
    folder = Path(folder)
    files = folder_files(folder)
    caps = _folder_captions(folder)
    imgs, captions, ids, notes = [], [], [], []
    for p in files:
        if n is not None and len(imgs) >= n:
            break
        try:
            arr = load_image_file(p)
        except ValueError as exc:
            notes.append(f"skipped {p.name}: {exc}")
            continue
        imgs.append(resize_square(arr, side))
        captions.append(folder_caption(caps, p.name))
        ids.append(f"folder/{p.name}")
    if not imgs:
        raise ValueError(f"no readable images in {folder}" + (f" ({notes[0]})" if notes else ""))
    if n is not None and len(imgs) < n:
        raise ValueError(f"{folder} has {len(imgs)} readable images; asked for {n}")
    return np.stack(imgs), captions, ids, None, notes
