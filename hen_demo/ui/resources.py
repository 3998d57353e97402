"""The app's shared heavy objects: encoders, memory banks, datasets and HEN pipelines, each built once per process.

Nothing here is copied per user; ``gr.State`` only ever holds small, deep-copyable values. One byte-bounded cache
(``hen_demo.cache.ByteCache``) holds them all, least recently used evicted first; every entry is built once even
when many sessions ask at the same time. The app creates one :class:`Resources` and hands it to every tab
(``build_tab(res)``); handlers take it as their first argument. Pipelines are keyed by their
:class:`~hen_demo.pipeline.MemoryConfig`, which :meth:`Resources.memory_config` makes from the shared controls.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable
from dataclasses import dataclass

from hen_demo.cache import DEFAULT_MAX_AGE, ByteCache, budget_from_env
from hen_demo.data import build_bank, load_dataset
from hen_demo.encoders import get_image_encoder, get_text_encoder
from hen_demo.encoders.pretrained import loading_note
from hen_demo.memory.devices import pick_device
from hen_demo.pipeline import HENPipeline, MemoryConfig
from hen_demo.ui import limits, sessions
from hen_demo.ui.sessions import MINE
from hen_demo.ui.state import CAPTION_WEIGHT, check_available, snap_n

__all__ = ["BankKey", "Resources"]


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

    def __contains__(self, key) -> bool:
        return key in self._view

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
            if progress is not None:  # a first-use download of the papers' weights says so before it starts
                progress(0.0, loading_note(encoder))
            # pass the cached encoder objects, so their weights are loaded once per process
            tenc = self.text_encoder(text_encoder, encoder) if text_encoder else None
            slot = limits.heavy_slot() if int(n) > limits.caps().heavy_bank else contextlib.nullcontext()
            with slot:
                return build_bank(dataset, self.encoder(encoder), n=int(n), seed=int(seed), text_encoder=tenc,
                                  progress=progress, device=self.device)

        return self._banks.get(key, make)

    def has_bank(self, dataset: str, encoder: str, n, text_encoder: str | None = None, seed: int = 0) -> bool:
        """Whether that bank is already in memory (so a request will not build it)."""
        if dataset == MINE:
            return sessions.current().encoded(encoder)
        return BankKey(dataset, encoder, int(snap_n(dataset, n)), int(seed), text_encoder) in self._banks

    def memory_config(self, dataset: str, encoder: str, n, similarity, separation, beta, beta_mode="absolute",
                      text_encoder: str | None = None, bind: tuple[int, int] | None = None,
                      text_weight: float | None = None, progress=None) -> MemoryConfig:
        """The shared memory controls' values -> a :class:`MemoryConfig`, validated here, once (the engine trusts it).

        Checks that the dataset and encoders can be used here, snaps N to the sliders' grid, takes the bank and the
        encoder from the caches (building the bank on first use) and reads ``beta`` as ``beta_mode`` says:
        "relative" (to the bank's calibration, ``hen_demo.memory.calibrated_beta``) or "absolute" (the papers' β).
        ``text_encoder``: memories are [image code; text code] (caption queries, HEN sec. 3.2), with the caption
        half weighted ``text_weight`` (default CAPTION_WEIGHT) and ``bind`` = (i, j) giving j the caption of i.
        """
        check_available("dataset", dataset)
        check_available("encoder", encoder)
        if text_encoder is not None:
            check_available("text encoder", text_encoder)
        if beta is None:
            raise ValueError("Type a value for β (a positive number, e.g. 1).")
        if beta_mode not in (None, "absolute", "relative"):
            raise ValueError(f"β is given as 'relative' or 'absolute'; got {beta_mode!r}.")
        relative = beta_mode == "relative"
        bank = self.bank(dataset, encoder, n, 0, text_encoder, progress=progress)
        return MemoryConfig(bank, self.encoder(encoder), similarity=similarity, separation=separation,
                            beta=None if relative else beta, beta_relative=beta if relative else None,
                            device=self.device, cross_modal=text_encoder is not None, bind=bind,
                            text_weight=CAPTION_WEIGHT if text_weight is None else float(text_weight))

    def pipeline(self, config: MemoryConfig) -> HENPipeline:
        """The shared HEN pipeline (bank + encoder + Hopfield memory) of ``config``, built once per configuration."""
        if getattr(config.bank, "meta", {}).get("session"):  # your images: kept, and deleted, with the session
            return sessions.current().pipeline(config.cache_key(), lambda: HENPipeline(config))
        return self._pipelines.get(config.cache_key(), lambda: HENPipeline(config))
