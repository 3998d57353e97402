"""Whether the Hugging Face hub can be used from this machine (for datasets, weights and precomputed banks).

A leaf module (imports nothing from the package): datasets and encoders both ask it, neither imports the other.
"""

from __future__ import annotations

import functools
import os
import socket


@functools.lru_cache(maxsize=1)
def _hub_reachable() -> bool:
    try:
        with socket.create_connection(("huggingface.co", 443), timeout=1.5):
            return True
    except OSError:
        return False


def hub_unavailable_reason() -> str:
    """"" when the Hugging Face hub can be used, else why not (never raises)."""
    if os.environ.get("HF_HUB_OFFLINE", "").strip().lower() in ("1", "true", "yes", "on"):
        return "HF_HUB_OFFLINE is set, so the hub is not contacted"
    if not _hub_reachable():
        return "the Hugging Face hub (huggingface.co) cannot be reached from this machine"
    return ""
