"""Gradio's image cache, made safe to re-send the same picture while a browser is still reading it.

Gradio (6.x) stores every image output as ``<cache>/<hash of the encoded bytes>/image.<fmt>`` and writes that
file with ``Path.write_bytes`` each time, even when it already exists. A stream that sends the same picture
twice (a converged state in the last message, a top-k thumbnail that comes back, Replay) truncates and
rewrites a file a browser may be downloading: the server logs "Too little data for declared Content-Length"
and the page can show a broken image (issue 10 §3 met one such case). Since the name is the hash of the
content, a file that is already there with the right size already holds these bytes; :func:`install` makes the
cache skip that write and write new files atomically (``hen_demo.atomic``), so a reader never sees a half file.

The app's pictures are small (28-256 px a side, pixel art upscaled by whole factors): they are stored as PNG at
zlib level 1 whatever format the component asked for (``SMALL_SIDE``). Lossless keeps their pixels crisp (Gallery's
default, lossy WebP, smears them: issue 19 §13) and level 1 halves the encoding time of the default level 6 for a
few percent more bytes (measured: 192×192 emoji 2.4 ms / 7.6 kB against 4.3 ms / 6.4 kB; lossy WebP 8.7 ms):
each streamed frame of every visitor pays it (issue 19 §14). Larger pictures keep the requested format.
"""

from __future__ import annotations

import io
import os
from pathlib import Path

from gradio import processing_utils

from hen_demo.atomic import atomic_write

_original = processing_utils.save_pil_to_cache
SMALL_SIDE = 512  # px: pictures no larger than this a side are stored as fast lossless PNG
PNG_LEVEL = 1  # zlib level of those PNGs (1 = fastest; Pillow's default is 6)


def encode_small(img) -> bytes | None:
    """A small picture as PNG bytes at zlib level ``PNG_LEVEL`` (None for a large or animated picture)."""
    if max(img.size) > SMALL_SIDE or getattr(img, "is_animated", False):
        return None
    with io.BytesIO() as out:
        img.save(out, "png", compress_level=PNG_LEVEL)
        return out.getvalue()


# callables(path) told of every image the cache hands out (hen_demo.ui.sessions: files shown to a session that
# holds its own images are deleted with that session)
WRITE_HOOKS: list = []
# callables() -> a sub-folder name or None: a session that holds its own images gets its pictures in a folder of
# its own (hen_demo.ui.sessions), so deleting them with that session never removes a file another session shows
PATH_HOOKS: list = []


def save_pil_to_cache(img, cache_dir: str, name: str = "image", format: str = "webp") -> str:
    """Drop-in for ``gradio.processing_utils.save_pil_to_cache`` (same arguments; the path of the stored file,
    a ``.png`` for a small picture)."""
    data = encode_small(img)
    if data is not None:
        format = "png"
    else:
        data = processing_utils.encode_pil_to_bytes(img, format)
    private = next((sub for sub in (hook() for hook in PATH_HOOKS) if sub), None)
    root = Path(cache_dir) / private if private else Path(cache_dir)
    path = (root / processing_utils.hash_bytes(data) / f"{name}.{format}").resolve()
    try:
        if path.stat().st_size == len(data):  # content-addressed: these bytes are already there
            # touched, not rewritten: Gradio's delete_cache judges a file's age by its ctime, and a picture
            # handed out again must not be swept as an hour-old file while a browser is still showing it
            os.utime(path)
            return _handed_out(path)
    except OSError:
        pass
    atomic_write(path, lambda tmp: Path(tmp).write_bytes(data))
    return _handed_out(path)


def _handed_out(path: Path) -> str:
    for hook in WRITE_HOOKS:
        hook(path)
    return str(path)


def install() -> None:
    """Route Gradio's image cache writes through :func:`save_pil_to_cache` (idempotent). Every Gradio caller
    (Image, Gallery, AnnotatedImage, image_utils and save_img_array_to_cache) looks the function up on the
    module at call time, so replacing the module attribute covers them all."""
    processing_utils.save_pil_to_cache = save_pil_to_cache


__all__ = ["install", "save_pil_to_cache"]
