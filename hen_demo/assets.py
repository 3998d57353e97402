"""Where the project's shipped files live: ``assets/`` (weights, model cards, captions, example images).

A leaf module (imports nothing from the package), so datasets, encoders and experiments can all find the
assets without importing one another.
"""

from __future__ import annotations

import os
from pathlib import Path


def assets_dir() -> Path:
    """The project's assets folder (env ``HEN_ASSETS_DIR`` overrides)."""
    env = os.environ.get("HEN_ASSETS_DIR")
    return Path(env) if env else Path(__file__).resolve().parents[1] / "assets"
