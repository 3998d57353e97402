"""Per-request caps and public mode: a leaf module (errors reads the time limit from here, limits enforces the rest).

Read from the environment each time (``HEN_PUBLIC``, ``SPACE_ID``, ``HEN_TIME_LIMIT``), so tests can switch modes.
"""

from __future__ import annotations

import os
from dataclasses import dataclass


def public_mode() -> bool:
    """True on a public server: ``HEN_PUBLIC=1``, or a Hugging Face Space (``SPACE_ID`` set) unless ``HEN_PUBLIC=0``."""
    flag = os.environ.get("HEN_PUBLIC", "").strip().lower()
    if flag in ("0", "false", "no", "off"):
        return False
    return flag in ("1", "true", "yes", "on") or bool(os.environ.get("SPACE_ID"))


@dataclass(frozen=True)
class Caps:
    """Per-request limits. ``None`` = no cap."""

    max_n: int | None = None  # memories N in one bank
    max_steps: int | None = None  # retrieval steps T
    max_iterations: int | None = None  # U-Hop Stage I iterations
    experiment_sizes: tuple[str, ...] | None = None  # experiment sizes the UI may run
    max_encoders: int | None = None  # encoders one experiment run may compare
    time_limit: float = 900.0  # s one request may run before it is stopped with a message
    heavy_bank: int = 3000  # banks with more images than this are built in the shared heavy slot


LOCAL_CAPS = Caps()
PUBLIC_CAPS = Caps(max_n=5000, max_steps=100, max_iterations=100, experiment_sizes=("tiny",), max_encoders=2,
                   time_limit=120.0)


def caps() -> Caps:
    """The caps in force now (read from the environment each time, so tests can switch modes)."""
    base = PUBLIC_CAPS if public_mode() else LOCAL_CAPS
    raw = os.environ.get("HEN_TIME_LIMIT")
    if raw:
        base = Caps(**{**base.__dict__, "time_limit": float(raw)})
    return base
