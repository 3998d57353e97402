"""Gradio's image cache with hen_demo.ui.gradio_cache installed: re-sending a picture never rewrites its file."""

import os

import numpy as np
from gradio import processing_utils
from PIL import Image

from hen_demo.ui import (
    app,  # noqa: F401  (importing the app installs the fix)
    gradio_cache,
)


def _arr(seed=0):
    return np.random.default_rng(seed).integers(0, 256, (32, 32, 3), dtype=np.uint8)


def test_the_app_installs_the_content_addressed_cache():
    assert processing_utils.save_pil_to_cache is gradio_cache.save_pil_to_cache


def test_the_same_picture_again_is_not_rewritten_and_a_new_one_is_written_atomically(tmp_path, monkeypatch):
    first = processing_utils.save_img_array_to_cache(_arr(), str(tmp_path), format="png")
    stamp = 1_000_000_000  # an mtime from 1970 (set, not waited for)
    os.utime(first, ns=(stamp, stamp))
    inode = os.stat(first).st_ino
    writes = []
    real = gradio_cache.atomic_write
    monkeypatch.setattr(gradio_cache, "atomic_write", lambda path, writer: writes.append(path) or real(path, writer))
    again = processing_utils.save_img_array_to_cache(_arr(), str(tmp_path), format="png")
    # not rewritten (same file, no write; Gradio's own rewrites it), but touched: Gradio's delete_cache sweeps by age
    assert again == first and os.stat(first).st_ino == inode and writes == [] and os.stat(first).st_mtime_ns > stamp
    other = processing_utils.save_img_array_to_cache(_arr(1), str(tmp_path), format="png")
    assert other != first and len(writes) == 1 and np.array_equal(np.asarray(Image.open(other)), _arr(1))



def test_a_small_picture_is_stored_lossless_whatever_format_was_asked(tmp_path):
    """Pixel art stays crisp (lossy WebP, Gallery's default, smears it: issue 19 §13); large pictures keep theirs."""
    small = processing_utils.save_img_array_to_cache(_arr(2), str(tmp_path), format="webp")
    assert small.endswith(".png") and np.array_equal(np.asarray(Image.open(small)), _arr(2))
    big = np.zeros((gradio_cache.SMALL_SIDE + 1, 8, 3), dtype=np.uint8)
    assert processing_utils.save_img_array_to_cache(big, str(tmp_path), format="webp").endswith(".webp")


def test_a_private_session_gets_its_own_copy_so_deleting_it_spares_the_shared_one(tmp_path, monkeypatch):
    """The same picture for a session with its own images (PATH_HOOKS gives a sub-folder) and for any other
    session: two files, so the private one can be deleted with its session while the shared one stays."""
    shared = processing_utils.save_img_array_to_cache(_arr(3), str(tmp_path), format="png")
    monkeypatch.setattr(gradio_cache, "PATH_HOOKS", [lambda: "session-abc"])
    private = processing_utils.save_img_array_to_cache(_arr(3), str(tmp_path), format="png")
    assert private != shared and "session-abc" in private
    os.remove(private)  # what SessionStore.drop does with the session's files
    assert os.path.exists(shared)
