"""Banks by prefix: a dataset × encoder is encoded once; the bank of N memories is a view of its first N.

Every named dataset selects its n items as the first n of one fixed order (``load_dataset``: a seeded permutation
of the whole dataset for the offline ones, the first n rows for the online ones), so the bank of N memories is
the first N rows of the bank of the whole dataset: the same ids, in the same order. ``build_bank`` therefore keeps
one **prefix bank** per (dataset, seed, encoder, text encoder): on disk one entry (``bank_cache_key`` with
``n = "prefix"``), in memory one set of buffers, and hands out views of its first N rows (:func:`prefix_view`:
no copy). Changing N then costs no encoding, no disk and no memory beyond the one bank.

How far a build goes (:func:`extend_target`, offline datasets; an online one is never downloaded further than
asked): the whole dataset when that is cheap here (at most
:data:`FULL_BANK_SECONDS` of encoding by this encoder's measured cost, or at most twice the N asked; and at most
:data:`FULL_BANK_BYTES`), else only the N asked; a later, larger N encodes only the items after the ones already there and replaces the
disk entry by the longer prefix.

The prefix banks alive in this process are found again through a weak registry by their cache path (:func:`live`): a view holds
its prefix bank (``MemoryBank.base``), so the prefix stays in memory exactly as long as some cache or caller
keeps one of its views, and the process's caches (``hen_demo.cache.ByteCache``, which counts a shared buffer
once) decide that.
"""

from __future__ import annotations

import threading
import weakref
from dataclasses import replace

# encode the whole dataset at once when the rest takes at most this long here (or N is at least half of it) ...
FULL_BANK_SECONDS = 10.0
FULL_BANK_BYTES = 256 * 1024 ** 2  # ... and the whole bank (codes, reconstructions, images) weighs at most this

# where a prefix bank lives on disk (cache folder / key) -> the longest prefix bank alive in this process
_LIVE: weakref.WeakValueDictionary = weakref.WeakValueDictionary()
_LOCKS: dict[str, threading.Lock] = {}
_LOCKS_GUARD = threading.Lock()


def lock(slot: str) -> threading.Lock:
    """The lock under which the prefix bank at ``slot`` (its cache path) is looked up and extended (two requests
    build it once)."""
    with _LOCKS_GUARD:
        return _LOCKS.setdefault(slot, threading.Lock())


def live(slot: str):
    """The prefix bank at ``slot`` alive in this process (some view or cache still holds it), or None."""
    return _LIVE.get(slot)


def remember(bank, slot: str) -> None:
    """Register ``bank`` (a prefix bank) as the live one at ``slot``, unless a longer one is alive."""
    current = _LIVE.get(slot)
    if current is None or current.n < bank.n:
        _LIVE[slot] = bank


def extend_target(have: int, want: int, size: int, seconds_per_item: float | None, bytes_per_item: int) -> int:
    """How many items a build that needs ``want`` (``have`` already encoded, ``size`` in the dataset) encodes up
    to: ``size`` when the rest of the dataset is cheap (module docstring), else ``want``."""
    if want >= size:
        return size
    cheap_time = (2 * want >= size  # at most twice the work asked for
                  or seconds_per_item is not None and seconds_per_item * (size - have) <= FULL_BANK_SECONDS)
    cheap_bytes = bytes_per_item * size <= FULL_BANK_BYTES
    return size if cheap_time and cheap_bytes else want


def bytes_per_item(enc, side: int = 64) -> int:
    """Estimated bytes one memory adds to a bank: its code, the encoder's reconstruction and the original image."""
    return 4 * int(enc.code_dim) + 3 * int(enc.image_size) ** 2 + 3 * side * side


def prefix_view(bank, n: int, key: str, meta: dict | None = None):
    """The bank of the first ``n`` memories of prefix bank ``bank``: views of its buffers (no copy), the same ids
    in the same order; ``key`` is the bank's own cache key (what a bank built for exactly n would have)."""
    if not 1 <= int(n) <= bank.n:
        raise ValueError(f"A bank of {bank.n} memories has no prefix of {n}.")
    n = int(n)
    return replace(bank, codes=bank.codes[:n], recon=bank.recon[:n], images=bank.images[:n],
                   captions=list(bank.captions[:n]), ids=list(bank.ids[:n]),
                   text_codes=None if bank.text_codes is None else bank.text_codes[:n],
                   labels=None if bank.labels is None else list(bank.labels[:n]), n=n, key=key,
                   meta={**bank.meta, **(meta or {}), "prefix_of": bank.n, "prefix_key": bank.key}, base=bank)
