"""A visitor's own pictures -> validated images with captions, ready for a private memory bank.

``read_uploads(files, caps, ...)`` takes what a browser or a script sends (file paths, ``(name, bytes)`` pairs, PIL
images or numpy arrays: a webcam shot, a paste, a sketchpad drawing) and returns an :class:`UploadResult`: the
readable images, each converted exactly as the ``folder:<path>`` dataset converts a file
(``hen_demo.images.load_image_file`` then a centre square crop resized to ``SIDE`` px, ``online.load_folder``), so a
bank of uploads equals the bank of the same files in a folder; the caption from ``captions.json`` /
``captions.txt`` when one came along, else "An image named <stem>." as for a folder; and one sentence per file
that was skipped or changed. One bad file never stops the others.

What is refused, each with its sentence: files that are not images (whatever their name says), truncated or
corrupt files, images smaller than ``MIN_SIDE`` or larger than ``MAX_SIDE`` a side (read from the header, before
decoding; PIL's decompression-bomb guard is the backstop), files over the per-image byte cap, duplicates (same
pixels as an image already stored or earlier in the same upload), anything beyond the count or per-session byte cap.
A ``.zip`` is opened only when its members' declared total size and each member's compression ratio are within the
caps (a zip bomb is refused whole); members with absolute paths or ``..`` are skipped, folders and hidden files
(``__MACOSX``) ignored, nested zips not opened. An animated image keeps its first frame, and says so.
"""

from __future__ import annotations

import hashlib
import io
import os
import zipfile
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

import numpy as np
from PIL import Image

from hen_demo.data.online import IMAGE_SUFFIXES, folder_caption, parse_captions
from hen_demo.images import MAX_SIDE, array_to_rgb_uint8, load_image_file, resize_square

SIDE = 128  # stored side: the folder dataset's default (load_dataset("folder:...") resizes to 128 px)
MIN_SIDE = 8  # smaller pictures (a 1×1 pixel) carry nothing an encoder can store
CAPTION_FILES = ("captions.json", "captions.txt")


@dataclass(frozen=True)
class UploadCaps:
    """Limits on one session's own images (the public demo's are stricter: :func:`upload_caps`)."""

    max_images: int = 1000  # images one session stores
    max_image_bytes: int = 20 * 1024 ** 2  # bytes of one file (or zip member)
    max_session_bytes: int = 500 * 1024 ** 2  # bytes of all files a session sent (originals, before resizing)
    max_side: int = MAX_SIDE  # longest image side in pixels (hen_demo.images.MAX_SIDE)
    min_side: int = MIN_SIDE  # shortest image side in pixels
    max_zip_bytes: int = 1024 ** 3  # declared uncompressed total of one zip's members
    max_zip_ratio: float = 200.0  # uncompressed / compressed size of one member (a zip bomb is far above)
    max_zip_members: int = 5000  # entries in one zip

    def sentence(self) -> str:
        """The caps in one sentence, for the UI."""
        return (f"Up to {self.max_images:,} images, {_mb(self.max_image_bytes)} per file and "
                f"{_mb(self.max_session_bytes)} in all, {self.min_side}–{self.max_side:,} px a side "
                f"(stored at {SIDE}×{SIDE} px).")


LOCAL_UPLOAD_CAPS = UploadCaps()
PUBLIC_UPLOAD_CAPS = UploadCaps(max_images=200, max_image_bytes=5 * 1024 ** 2, max_session_bytes=50 * 1024 ** 2,
                                max_zip_bytes=100 * 1024 ** 2, max_zip_ratio=100.0, max_zip_members=1000)


def upload_caps(public: bool) -> UploadCaps:
    return PUBLIC_UPLOAD_CAPS if public else LOCAL_UPLOAD_CAPS


def _mb(n: int) -> str:
    return f"{n / 1024 ** 2:g} MB"


@dataclass
class UploadedImage:
    image: np.ndarray  # uint8 (SIDE, SIDE, 3), as the folder dataset stores it
    name: str  # the file name it came from ("webcam.png", "drawing.png", ...)
    caption: str
    digest: str  # sha256 of the decoded full-size pixels: duplicates are found by content, not by name
    nbytes: int  # bytes of the file it came from


@dataclass
class UploadResult:
    images: list[UploadedImage] = field(default_factory=list)
    skipped: list[tuple[str, str]] = field(default_factory=list)  # (file, why it was not stored)
    notes: list[tuple[str, str]] = field(default_factory=list)  # (file, what was changed, e.g. first frame only)

    def report(self) -> str:
        """Markdown lines: how many were stored, then each skipped file and each note."""
        lines = [f"Stored {len(self.images)} image{'s' if len(self.images) != 1 else ''}."]
        lines += [f"- skipped **{name}**: {why}" for name, why in self.skipped]
        lines += [f"- {name}: {what}" for name, what in self.notes]
        return "\n".join(lines)


@dataclass
class _Budget:
    caps: UploadCaps
    count: int  # images the session holds (and this upload added)
    nbytes: int  # bytes the session's files took
    digests: set  # pixel hashes held


def _digest(img: np.ndarray) -> str:
    h = hashlib.sha256(str(img.shape).encode())
    h.update(np.ascontiguousarray(img).tobytes())
    return h.hexdigest()


def _decode(data: bytes, name: str, caps: UploadCaps, notes: list) -> np.ndarray:
    """File bytes -> uint8 (H, W, 3), after checking the header's size (ValueError with a sentence)."""
    try:
        with Image.open(io.BytesIO(data)) as im:
            w, h = im.size
            frames = int(getattr(im, "n_frames", 1) or 1)
    except Image.DecompressionBombError:
        raise ValueError(f"it has far more pixels than the largest accepted ({caps.max_side:,} px a side).") from None
    except Exception:
        raise ValueError("it is not an image file (PNG, JPEG, GIF, WebP, BMP, TIFF), whatever its name says; "
                         "save it again as PNG or JPEG.") from None
    _check_side(w, h, caps)
    try:
        img = load_image_file(data)
    except ValueError:
        raise ValueError("it is truncated or damaged and cannot be decoded; save it again and retry.") from None
    if frames > 1:
        notes.append((name, f"animated ({frames} frames): the first frame is stored."))
    return img


def _check_side(w: int, h: int, caps: UploadCaps) -> None:
    if max(w, h) > caps.max_side:
        raise ValueError(f"it is {w:,} × {h:,} px; the largest side accepted is {caps.max_side:,} px. "
                         "Scale it down first (the encoders work at 28-256 px).")
    if min(w, h) < caps.min_side:
        raise ValueError(f"it is {w} × {h} px; images need at least {caps.min_side} px a side to be stored.")


def _add(img: np.ndarray, name: str, nbytes: int, captions: dict, budget: _Budget, out: UploadResult) -> None:
    c = budget.caps
    if budget.count >= c.max_images:
        out.skipped.append((name, f"the bank is full ({c.max_images:,} images at most); remove some first."))
        return
    if budget.nbytes + nbytes > c.max_session_bytes:
        out.skipped.append((name, f"this session has used its {_mb(c.max_session_bytes)} of uploads; "
                                  "remove some images or send smaller files."))
        return
    digest = _digest(img)
    if digest in budget.digests:
        out.skipped.append((name, "it is a duplicate of an image already stored (same pixels)."))
        return
    budget.count += 1
    budget.nbytes += nbytes
    budget.digests.add(digest)
    out.images.append(UploadedImage(resize_square(img, SIDE), name, folder_caption(captions, name), digest, nbytes))


def _read_file(data: bytes, name: str, captions: dict, budget: _Budget, out: UploadResult) -> None:
    if len(data) > budget.caps.max_image_bytes:
        out.skipped.append((name, f"the file is {_mb(len(data))}; the largest accepted is "
                                  f"{_mb(budget.caps.max_image_bytes)}."))
        return
    try:
        img = _decode(data, name, budget.caps, out.notes)
    except ValueError as exc:
        out.skipped.append((name, str(exc)))
        return
    _add(img, name, len(data), captions, budget, out)


def _unsafe_member(name: str) -> bool:
    p = PurePosixPath(name.replace("\\", "/"))
    return name.startswith(("/", "\\")) or (len(name) > 1 and name[1] == ":") or ".." in p.parts


def _read_zip(data: bytes, name: str, captions: dict, budget: _Budget, out: UploadResult) -> None:
    c = budget.caps
    try:
        zf = zipfile.ZipFile(io.BytesIO(data))
        infos = zf.infolist()
    except (zipfile.BadZipFile, OSError, ValueError):
        out.skipped.append((name, "it is not a readable .zip archive."))
        return
    files = [i for i in infos if not i.is_dir()]
    if len(files) > c.max_zip_members:
        out.skipped.append((name, f"it holds {len(files):,} files; at most {c.max_zip_members:,} are opened."))
        return
    total = sum(i.file_size for i in files)
    if total > c.max_zip_bytes:
        out.skipped.append((name, f"it would unpack to {_mb(total)}; at most {_mb(c.max_zip_bytes)} is unpacked "
                                  "(a zip bomb is refused whole)."))
        return
    for i in files:
        if i.file_size > 1024 and i.file_size > c.max_zip_ratio * max(1, i.compress_size):
            out.skipped.append((name, f"its member {i.filename} is compressed {i.file_size / max(1, i.compress_size):,.0f}"
                                      f" to 1 (at most {c.max_zip_ratio:g} to 1 is unpacked): a zip bomb is refused "
                                      "whole."))
            return
    zcaps = dict(captions)
    members = []
    for i in files:
        base = PurePosixPath(i.filename.replace("\\", "/")).name
        label = f"{name}/{i.filename}"
        if _unsafe_member(i.filename):
            out.skipped.append((label, "its path leaves the archive (absolute or with '..'); it is not unpacked."))
        elif base.startswith(".") or "__MACOSX" in i.filename:
            continue  # hidden files and macOS resource forks: not pictures anyone chose
        elif base.lower() in CAPTION_FILES:
            try:
                zcaps.update(parse_captions(_member_bytes(zf, i).decode("utf-8"),
                                            "json" if base.lower().endswith(".json") else "txt", label))
            except (ValueError, UnicodeDecodeError) as exc:
                out.skipped.append((label, f"the captions file could not be read ({exc})."))
        elif base.lower().endswith(".zip"):
            out.skipped.append((label, "a zip inside a zip is not opened; unpack it first."))
        elif Path(base).suffix.lower() not in IMAGE_SUFFIXES:
            out.skipped.append((label, f"'{Path(base).suffix or base}' is not an image type "
                                       f"({', '.join(IMAGE_SUFFIXES)})."))
        else:
            members.append((i, base, label))
    for i, base, label in sorted(members, key=lambda m: m[1]):  # a folder's order: by file name
        try:
            raw = _member_bytes(zf, i)
        except ValueError as exc:
            out.skipped.append((label, str(exc)))
            continue
        before = len(out.images)
        _read_file(raw, base, zcaps, budget, out)
        if len(out.images) == before and out.skipped and out.skipped[-1][0] == base:
            out.skipped[-1] = (label, out.skipped[-1][1])  # name the member with its archive


def _member_bytes(zf: zipfile.ZipFile, info: zipfile.ZipInfo) -> bytes:
    """A member's bytes, reading at most its declared size + 1 (a lying header cannot unpack more)."""
    try:
        with zf.open(info) as f:
            raw = f.read(info.file_size + 1)
    except (zipfile.BadZipFile, OSError, RuntimeError, NotImplementedError, EOFError) as exc:
        raise ValueError(f"it could not be unpacked ({exc}).") from None
    if len(raw) > info.file_size:
        raise ValueError("it unpacks to more than its header declares; it is not unpacked.")
    return raw


def _as_item(f) -> tuple[str, object]:
    """(display name, payload) for one input: a path, (name, bytes), a PIL image, a numpy array, a FileData-like."""
    if isinstance(f, tuple) and len(f) == 2:
        return str(f[0]), f[1]
    if isinstance(f, (str, os.PathLike)):
        return Path(f).name, Path(f)
    path = getattr(f, "path", None) or getattr(f, "name", None)
    if isinstance(path, str) and not isinstance(f, Image.Image):
        return (getattr(f, "orig_name", None) or Path(path).name), Path(path)
    if isinstance(f, Image.Image):
        return "image.png", f
    if isinstance(f, np.ndarray):
        return "image.png", f
    raise ValueError(f"cannot read a {type(f).__name__} as an image")


def read_uploads(files, caps: UploadCaps = LOCAL_UPLOAD_CAPS, held: int = 0, held_bytes: int = 0,
                 held_digests=()) -> UploadResult:
    """Turn uploads into stored-ready images (module docstring); never raises for one bad file.

    Args:
        files: a list of file paths, ``(name, bytes)`` pairs, PIL images or numpy arrays (webcam, paste, drawing;
            name them with a pair ``("webcam.png", array)``). ``.zip`` files are unpacked.
        caps: the limits (``upload_caps(public)``).
        held, held_bytes, held_digests: what the session already stores (count, bytes, pixel hashes), so the
            caps and the duplicate check cover the whole session.
    """
    out = UploadResult()
    budget = _Budget(caps, int(held), int(held_bytes), set(held_digests))
    items = []
    for f in files or []:
        try:
            items.append(_as_item(f))
        except ValueError as exc:
            out.skipped.append((type(f).__name__, str(exc)))
    captions: dict[str, str] = {}
    for name, payload in items:  # captions files sent beside the images name them
        if isinstance(payload, Path) and name.lower() in CAPTION_FILES:
            try:
                captions.update(parse_captions(payload.read_text(encoding="utf-8"),
                                               "json" if name.lower().endswith(".json") else "txt", name))
            except (OSError, ValueError, UnicodeDecodeError) as exc:
                out.skipped.append((name, f"the captions file could not be read ({exc})."))
    for name, payload in items:
        if isinstance(payload, (Image.Image, np.ndarray)):
            try:
                img = load_image_file(payload) if isinstance(payload, Image.Image) else array_to_rgb_uint8(payload)
                _check_side(img.shape[1], img.shape[0], caps)
            except ValueError as exc:
                out.skipped.append((name, str(exc).rstrip(".") + "."))
                continue
            _add(img, name, int(img.nbytes), captions, budget, out)
            continue
        if isinstance(payload, Path) and name.lower() in CAPTION_FILES:
            continue
        try:
            if isinstance(payload, Path):
                size = payload.stat().st_size
                if size > max(caps.max_image_bytes, caps.max_zip_bytes if name.lower().endswith(".zip") else 0):
                    out.skipped.append((name, f"the file is {_mb(size)}; the largest accepted is "
                                              f"{_mb(caps.max_image_bytes)}."))
                    continue
                data = payload.read_bytes()
            else:
                data = bytes(payload)
        except (OSError, TypeError) as exc:
            out.skipped.append((name, f"it could not be read ({exc})."))
            continue
        if name.lower().endswith(".zip") or data[:4] == b"PK\x03\x04":
            _read_zip(data, name, captions, budget, out)
        else:
            _read_file(data, name, captions, budget, out)
    return out
