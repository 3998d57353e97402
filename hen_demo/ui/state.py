"""Shared, read-only resources for every tab: encoders, memory banks and Hopfield memories.

Heavy objects (encoder weights, banks of N codes, the memories over them) are loaded once per process and
shared by all sessions; nothing here is copied per user. ``gr.State`` only ever holds small, deep-copyable
values (indices, names). Every cache is guarded by a lock so two users asking for the same bank at once
build it once.

Other tabs use :data:`RESOURCES` (``RESOURCES.bank(...)``, ``RESOURCES.encoder(...)``,
``RESOURCES.pipeline(...)``) and the choice helpers (:func:`dataset_choices`, :func:`encoder_choices`, ...).
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable
from dataclasses import dataclass, replace

from hen_demo.cache import DEFAULT_MAX_AGE, ByteCache, budget_from_env
from hen_demo.data import build_bank, list_datasets, load_dataset
from hen_demo.encoders import (
    EncoderUnavailable,
    get_image_encoder,
    get_text_encoder,
    list_image_encoders,
    list_text_encoders,
)
from hen_demo.memory.devices import pick_device
from hen_demo.pipeline import HENPipeline, RetrievalConfig
from hen_demo.ui import limits, sessions
from hen_demo.ui.sessions import MINE

UNAVAILABLE = "(unavailable: {reason})"
DEFAULT_DATASET = "emoji"  # Explore, Compare: recognisable images; the contrast holds at calibrated beta
DEFAULT_N = 1000
SIMILARITIES = ["l2", "dot", "cosine", "manhattan"]
SEPARATIONS = ["softmax", "sparsemax", "entmax:1.5", "poly:3", "poly:10"]


class _LRU:
    """One kind of object (encoders, banks, ...) in the app's shared byte-bounded cache: ``get(key, make)``.

    All kinds share one budget (env ``HEN_CACHE_BYTES``, default ``hen_demo.cache.DEFAULT_BUDGET``), weighed in
    bytes with shared buffers counted once (a pipeline holds its bank), least recently used evicted first, and
    entries unused for ``HEN_CACHE_MAX_AGE`` seconds (default 3600) dropped.
    """

    def __init__(self, cache: ByteCache, tag: str):
        self._view = cache.namespace(tag)

    def get(self, key, make: Callable[[], object]):
        return self._view.get(key, make)

    def clear(self) -> None:
        self._view.clear()


@dataclass(frozen=True)
class BankKey:
    dataset: str
    encoder: str
    n: int
    seed: int = 0
    text_encoder: str | None = None


class Resources:
    """Process-wide caches. ``device`` is picked once (GPU when present)."""

    def __init__(self, budget: int | None = None, max_age: float | None = None):
        """Args: budget: bytes all caches may hold together (default env ``HEN_CACHE_BYTES``, else 1.5 GiB);
        max_age: seconds an unused entry is kept (default env ``HEN_CACHE_MAX_AGE``, else 3600)."""
        self.device = pick_device()
        if max_age is None:
            max_age = float(os.environ.get("HEN_CACHE_MAX_AGE") or DEFAULT_MAX_AGE)
        self.cache = ByteCache(budget_from_env() if budget is None else budget, max_age=max_age, name="resources")
        self._encoders = _LRU(self.cache, "encoder")
        self._text_encoders = _LRU(self.cache, "text-encoder")
        self._banks = _LRU(self.cache, "bank")
        self._datasets = _LRU(self.cache, "dataset")
        self._pipelines = _LRU(self.cache, "pipeline")

    def encoder(self, name: str):
        """The image encoder ``name`` (raises EncoderUnavailable, a ValueError, with the reason)."""

        def make():
            enc = get_image_encoder(name, device=self.device)
            enc.eval() if hasattr(enc, "eval") else None
            return enc

        return self._encoders.get(name, make)

    def text_encoder(self, name: str, image_encoder: str | None = None):
        key = (name, image_encoder if name == "pixelized" else None)
        return self._text_encoders.get(
            key, lambda: get_text_encoder(name, image_encoder=self.encoder(image_encoder) if image_encoder else None,
                                     device=self.device)
        )

    def dataset(self, name: str, n: int, seed: int = 0):
        """The ``n`` stored images of dataset ``name`` in bank order (``.images`` uint8 (n, H, W, 3), ``.captions``).

        Read directly (``hen_demo.data.load_dataset``, the selection ``build_bank`` encodes, so image i is memory
        i) and cached; no encoder runs. ``n`` is snapped to the N sliders' grid like :meth:`bank`'s.
        """
        n = snap_n(name, n)
        if name == MINE:  # the caller's own images: never in the shared cache
            return sessions.current().dataset(n)
        return self._datasets.get((name, int(n), int(seed)), lambda: load_dataset(name, n=int(n), seed=int(seed)))

    def bank(self, dataset: str, encoder: str, n: int, seed: int = 0, text_encoder: str | None = None,
             progress: Callable[[float, str], None] | None = None):
        """The memory bank (cached in memory here and on disk by ``build_bank``).

        ``n`` is snapped to the N sliders' grid (:func:`snap_n`), so an off-grid N from a script reuses a bank
        instead of building and keeping another one; a large build takes the shared heavy slot.
        """
        n = snap_n(dataset, n)
        if dataset == MINE:  # the caller's own images, encoded in their session (never in the shared caches)
            tenc = self.text_encoder(text_encoder, encoder) if text_encoder else None
            return sessions.current().bank(self.encoder(encoder), tenc, int(n), progress=progress)
        key = BankKey(dataset, encoder, int(n), int(seed), text_encoder)

        def make():
            # pass the cached encoder objects, so their weights are loaded once per process
            tenc = self.text_encoder(text_encoder, encoder) if text_encoder else None
            slot = limits.heavy_slot() if int(n) > limits.caps().heavy_bank else contextlib.nullcontext()
            with slot:
                return build_bank(dataset, self.encoder(encoder), n=int(n), seed=int(seed), text_encoder=tenc,
                                  progress=progress, device=self.device)

        return self._banks.get(key, make)

    def pipeline(self, key: BankKey, config: RetrievalConfig, cross_modal: bool = False,
                 bind: tuple[int, int] | None = None, text_weight: float = 1.0, progress=None) -> HENPipeline:
        """A HEN pipeline (bank + encoder + Hopfield memory) for ``key`` and the memory part of ``config``."""
        config.validate()
        key = replace(key, n=snap_n(key.dataset, key.n))  # the bank's N (on the sliders' grid)
        beta = None if config.beta_relative is not None else float(config.beta)  # relative: beta is unused
        mkey = (key, config.similarity, config.separation, beta, config.beta_relative, cross_modal, bind,
                float(text_weight))

        def make():
            bank = self.bank(key.dataset, key.encoder, key.n, key.seed, key.text_encoder, progress=progress)
            return HENPipeline.build(bank, self.encoder(key.encoder), config, cross_modal=cross_modal,
                                     bind=bind, text_weight=text_weight, device=self.device)

        if key.dataset == MINE:  # kept with the session's images, deleted with them
            mine = sessions.current()
            with mine.lock:
                if (mine.version, mkey) not in mine.pipelines:
                    while len(mine.pipelines) >= 4:
                        mine.pipelines.pop(next(iter(mine.pipelines)))
                    mine.pipelines[(mine.version, mkey)] = make()
                return mine.pipelines[(mine.version, mkey)]
        return self._pipelines.get(mkey, make)


RESOURCES = Resources()

# Caption half's weight in [image; text] memories (hen_demo.memory.hetero.hetero_patterns). Tuned on photos (27)
# with kl-small, L2: at beta = 0.001 and weight 3 every unique caption recalls its image (27/27, minilm and
# pixelized), and two images bound to one caption end as a 50/50 mixture.
CAPTION_WEIGHT = 3.0


def caption_pipeline(dataset: str, encoder: str, text_encoder: str, n: int, config: RetrievalConfig,
                     bind: tuple[int, int] | None = None, text_weight: float = CAPTION_WEIGHT, progress=None):
    """The shared pipeline over [image; text] memories, for caption queries (Explore and Text -> Image)."""
    check_available("encoder", encoder)
    check_available("text encoder", text_encoder)
    key = BankKey(dataset, encoder, n, 0, text_encoder)
    return RESOURCES.pipeline(key, config, cross_modal=True, bind=bind, text_weight=float(text_weight),
                              progress=progress)


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
