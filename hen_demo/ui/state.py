"""What every tab offers and checks: dataset / encoder choices, their availability, N on the sliders' grid, defaults.

Stateless apart from a small memo of dataset sizes. The heavy shared objects (encoders, banks, pipelines) live
in a :class:`hen_demo.ui.resources.Resources` that the app creates once and hands to each tab.
"""

from __future__ import annotations

import os

from hen_demo.data import list_datasets
from hen_demo.encoders import EncoderUnavailable, list_image_encoders, list_text_encoders
from hen_demo.ui import limits, sessions
from hen_demo.ui.sessions import MINE

UNAVAILABLE = "(unavailable: {reason})"
DEFAULT_DATASET = "emoji"  # Explore, Compare: recognisable images; the contrast holds at calibrated beta
DEFAULT_N = 1000
SIMILARITIES = ["l2", "dot", "cosine", "manhattan"]
SEPARATIONS = ["softmax", "sparsemax", "entmax:1.5", "poly:3", "poly:10"]


# Caption half's weight in [image; text] memories (hen_demo.memory.hetero.hetero_patterns). Tuned on photos (27)
# with kl-small, L2: at beta = 0.001 and weight 3 every unique caption recalls its image (27/27, minilm and
# pixelized), and two images bound to one caption end as a 50/50 mixture.
CAPTION_WEIGHT = 3.0


# ---- choices for dropdowns ------------------------------------------------------------------------
def _label(info) -> str:
    label = getattr(info, "label", None) or info.name
    if info.available:
        return label
    return f"{label} " + UNAVAILABLE.format(reason=info.reason or "not reachable")


def dataset_choices() -> list[tuple[str, str]]:
    """(label, name) for every dataset; unavailable ones carry their reason in the label."""
    out = []
    for info in list_datasets():
        short = (getattr(info, "label", None) or info.name).split(" (")[0]
        if info.available:
            label = f"{short} — {info.size:,} images" if info.size else short
        else:
            label = f"{short} " + UNAVAILABLE.format(reason=info.reason or "not reachable")
        out.append((label, info.name))
    return out + [(mine_label(), MINE)]


def mine_label(n: int | None = None) -> str:
    """The dropdown label of the caller's own images: "Your images (n)"."""
    n = sessions.count() if n is None else int(n)
    return f"Your images ({n}) — add them in Explore" if n == 0 else f"Your images ({n})"


def encoder_choices() -> list[tuple[str, str]]:
    """(label, name) for every image encoder, available first; unavailable ones show the reason."""
    infos = sorted(list_image_encoders(), key=lambda i: (not i.available, not i.shipped, i.name != "pixels"))
    return [(_label(i), i.name) for i in infos]


def text_encoder_choices() -> list[tuple[str, str]]:
    infos = sorted(list_text_encoders(), key=lambda i: not i.available)
    return [(_label(i), i.name) for i in infos]


def default_encoder() -> str:
    """A shipped, available encoder if there is one (vq first), else raw pixels."""
    infos = [i for i in list_image_encoders() if i.available and i.shipped and i.name != "pixels"]
    for preferred in ("kl-small", "vq-small", "dvae-small"):  # kl-small: the defaults below were tuned on it
        if any(i.name == preferred for i in infos):
            return preferred
    return infos[0].name if infos else "pixels"


def default_text_encoder() -> str:
    avail = [i.name for i in list_text_encoders() if i.available]
    for preferred in ("minilm", "pixelized", "clip"):
        if preferred in avail:
            return preferred
    return avail[0] if avail else "pixelized"


def dataset_size(name: str) -> int | None:
    if name == MINE:
        return sessions.count()
    for info in list_datasets():
        if info.name == name:
            return info.size
    return None


def check_available(kind: str, name: str) -> None:
    """Raise ValueError with the reason when dataset / encoder ``name`` cannot be used here."""
    if kind == "dataset" and name == MINE:
        return
    infos = {"dataset": list_datasets, "encoder": list_image_encoders, "text encoder": list_text_encoders}[kind]()
    for info in infos:
        if info.name == name:
            if not info.available:
                raise EncoderUnavailable(f"The {kind} '{name}' is unavailable here: {info.reason}")
            return
    raise ValueError(f"Unknown {kind} '{name}'.")


_SIZES: dict[str, int | None] = {}


def snap_n(dataset: str, n) -> int:
    """N on the N sliders' grid (10, 20, ... and the dataset's size), capped in public mode (ValueError)."""
    if dataset == MINE:  # the caller's own count, never cached
        size = dataset_size(MINE)
        if not size:
            sessions.current().dataset()  # the sentence: no images stored yet
        return limits.snap_n(n, size)
    if dataset not in _SIZES:
        _SIZES[dataset] = dataset_size(dataset)
    return limits.snap_n(n, _SIZES[dataset])


GPU_DURATION = int(os.environ.get("HEN_GPU_DURATION", "60"))  # s of ZeroGPU time one request may hold


def gpu(fn, duration: int | None = None):
    """Wrap an event handler with ``spaces.GPU(duration=...)`` on Hugging Face ZeroGPU Spaces, when the
    ``spaces`` package is installed; the handlers return numpy images and CPU tensors, never CUDA ones.

    Elsewhere (``spaces`` absent) the handler is returned unchanged (the device is picked once, GPU when present).
    """
    try:
        import spaces  # only installed on Hugging Face Spaces
    except ImportError:
        return fn
    return spaces.GPU(duration=int(duration or GPU_DURATION))(fn)
