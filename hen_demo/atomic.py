"""Atomic file writes: nothing half-written is ever left where a reader looks.

``atomic_write(path, writer)`` calls ``writer(tmp_path)`` on a temporary file in the same folder and renames it
into place with ``os.replace`` (atomic on POSIX and Windows when both live on one filesystem). If the writer
raises, or the process is interrupted, the temporary file is removed and ``path`` keeps its old content.
Used by the bank cache, the encoder trainer and converters, and the experiment writers.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from pathlib import Path


def atomic_write(path: str | os.PathLike, writer: Callable[[str], object]) -> Path:
    """Write ``path`` through ``writer(tmp)`` and rename into place; returns ``path`` as a Path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    # keep the real suffix: some writers (matplotlib savefig) pick the format from it
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=path.suffix, dir=path.parent)
    os.close(fd)
    try:
        writer(tmp)
        os.chmod(tmp, 0o644)  # mkstemp creates owner-only files; caches and outputs are meant to be shared
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    return path


def atomic_write_text(path: str | os.PathLike, text: str) -> Path:
    """``atomic_write`` for a UTF-8 text file."""

    def write(tmp: str) -> None:
        with open(tmp, "w", encoding="utf-8") as f:
            f.write(text)

    return atomic_write(path, write)
