"""A byte-bounded, age-aware, thread-safe cache for the app's heavy shared objects (banks, pipelines, encoders).

Counting entries is not enough on a public server: one bank of 20,000 latent codes weighs as much as a hundred
of 1,000, so a count-bounded cache lets a few heavy requests push the process past the machine's memory.
:class:`ByteCache` weighs every value (torch tensors and numpy arrays by their buffers, each buffer counted
once) and evicts the least recently used entries while the total is over ``budget`` bytes, and entries idle for
longer than ``max_age`` seconds. ``get(key, make)`` builds a value once even when many threads ask for it at the
same time; a value larger than the whole budget is returned but not kept.

No library we depend on does this: ``functools.lru_cache`` and ``cachetools`` bound counts (``cachetools``
takes a ``getsizeof`` but has no per-key build lock, no age sweep, and is not installed here).
"""

from __future__ import annotations

import ctypes
import gc
import os
import sys
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch

GIB = 1 << 30
# The default for every cache of the app together: fits a 16 GB Space (cpu-basic) with room for the request
# buffers of ~20 concurrent users, the encoder weights and Python itself.
DEFAULT_BUDGET = int(1.5 * GIB)
DEFAULT_MAX_AGE = 3600.0  # s an entry may stay unused


def parse_bytes(raw: str, name: str) -> int:
    """``"2e9"``, ``"2000000000"``, ``"1.5G"``, ``"800M"`` -> bytes (ValueError with a sentence otherwise)."""
    text = str(raw).strip().upper().removesuffix("B")
    scale = {"K": 1 << 10, "M": 1 << 20, "G": 1 << 30, "T": 1 << 40}.get(text[-1:], 1)
    if scale != 1:
        text = text[:-1]
    try:
        value = float(text) * scale
    except ValueError:
        raise ValueError(f"{name} must be a number of bytes (e.g. 2000000000, 2e9 or 2G); got {raw!r}.") from None
    if not value > 0:
        raise ValueError(f"{name} must be a positive number of bytes; got {raw!r}.")
    return int(value)


def budget_from_env(var: str = "HEN_CACHE_BYTES", default: int = DEFAULT_BUDGET) -> int:
    """The byte budget from environment variable ``var`` (default ``default``)."""
    raw = os.environ.get(var)
    return default if raw in (None, "") else parse_bytes(raw, var)


def _buffer_id(obj) -> tuple | None:
    """(address, nbytes) of the memory a tensor / array really owns, so views of one buffer count once."""
    if isinstance(obj, torch.Tensor):
        if obj.is_meta:
            return None
        storage = obj.untyped_storage()
        return ("t", storage.data_ptr(), storage.nbytes())
    if isinstance(obj, np.ndarray):
        base = obj
        while isinstance(base.base, np.ndarray):
            base = base.base
        return ("a", base.__array_interface__["data"][0], base.nbytes)
    return None


def sizeof(obj, seen: set | None = None, _depth: int = 0) -> int:
    """Approximate bytes held by ``obj``: tensor / array buffers (each once per ``seen``), plus containers,
    dataclasses, ``__dict__``/``__slots__`` objects and ``torch.nn.Module`` parameters and buffers, recursively.

    Args:
        seen: buffer and object ids already counted (pass the same set to weigh several objects without
            counting what they share twice; pre-fill it to exclude another cached object's buffers).
    """
    seen = set() if seen is None else seen
    if _depth > 12 or obj is None or isinstance(obj, (bool, int, float, complex, type)):
        return 0
    buf = _buffer_id(obj)
    if buf is not None:
        if buf in seen:
            return 0
        seen.add(buf)
        return int(buf[2])
    if id(obj) in seen:
        return 0
    seen.add(id(obj))
    if isinstance(obj, (str, bytes, bytearray)):
        return sys.getsizeof(obj)
    size = sys.getsizeof(obj, 64)
    if isinstance(obj, dict):
        return size + sum(sizeof(k, seen, _depth + 1) + sizeof(v, seen, _depth + 1) for k, v in list(obj.items()))
    if isinstance(obj, (list, tuple, set, frozenset)):
        return size + sum(sizeof(v, seen, _depth + 1) for v in list(obj))
    if isinstance(obj, torch.nn.Module):
        return size + sum(sizeof(t, seen, _depth + 1) for t in list(obj.parameters()) + list(obj.buffers()))
    if isinstance(obj, (type(sizeof), type(threading.Lock()))):
        return 0
    fields = getattr(obj, "__dict__", None)
    if fields is not None:
        size += sizeof(fields, seen, _depth + 1)
    for slot in getattr(type(obj), "__slots__", ()) or ():
        size += sizeof(getattr(obj, slot, None), seen, _depth + 1)
    return size


def release_memory() -> None:
    """Collect garbage and hand freed heap pages back to the OS (glibc ``malloc_trim``; a no-op elsewhere).

    Without the trim, RSS stays at its peak after a burst of requests even when every buffer was freed.
    """
    gc.collect()
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):
        pass


@dataclass
class _Entry:
    value: object
    nbytes: int
    used: float  # time.monotonic() of the last get


class ByteCache:
    """A thread-safe LRU cache bounded by bytes and by idle age.

    Args:
        budget: the most bytes the kept values may weigh together (as :func:`sizeof` estimates them).
        max_age: seconds an entry may stay unused before it is dropped (checked on every ``get``); None = never.
        weigh: ``weigh(key, value) -> bytes``; default :func:`sizeof`.
        name: shown in :meth:`stats`.
    """

    def __init__(self, budget: int, max_age: float | None = DEFAULT_MAX_AGE,
                 weigh: Callable[[object, object], int] | None = None, name: str = "cache",
                 clock: Callable[[], float] = time.monotonic):
        if int(budget) <= 0:
            raise ValueError(f"A cache budget must be a positive number of bytes (got {budget}).")
        self.budget = int(budget)
        self.max_age = max_age
        self.name = name
        self._custom_weigh = weigh is not None
        self._weigh = weigh
        self._clock = clock
        self._items: OrderedDict[object, _Entry] = OrderedDict()
        self._lock = threading.Lock()
        self._key_locks: dict = {}
        self.evictions = 0

    # ---- reading -----------------------------------------------------------------------------------
    def get(self, key, make: Callable[[], object]):
        """The value for ``key``, built by ``make()`` once (other threads asking meanwhile wait for it)."""
        with self._lock:
            self._expire_locked()
            entry = self._items.get(key)
            if entry is not None:
                entry.used = self._clock()
                self._items.move_to_end(key)
                return entry.value
            key_lock = self._key_locks.setdefault(key, threading.Lock())
        with key_lock:  # only one thread builds a given key; the others wait and reuse it
            with self._lock:
                entry = self._items.get(key)
                if entry is not None:
                    entry.used = self._clock()
                    self._items.move_to_end(key)
                    return entry.value
            try:
                value = make()
            finally:
                with self._lock:
                    self._key_locks.pop(key, None)
            self.put(key, value)
            return value

    def __contains__(self, key) -> bool:
        with self._lock:
            return key in self._items

    def __len__(self) -> int:
        with self._lock:
            return len(self._items)

    @property
    def nbytes(self) -> int:
        """Bytes the kept values hold together (shared buffers once)."""
        with self._lock:
            return self._total_locked()

    def stats(self) -> dict:
        with self._lock:
            return {"name": self.name, "entries": len(self._items), "bytes": self._total_locked(),
                    "budget": self.budget, "evictions": self.evictions}

    def namespace(self, tag: str) -> "CacheView":
        """A view whose keys are ``(tag, key)``: several kinds of object share this cache's one budget."""
        return CacheView(self, tag)

    # ---- writing -----------------------------------------------------------------------------------
    def put(self, key, value) -> bool:
        """Keep ``value`` under ``key`` (evicting the least recently used entries to make room); False when it
        alone is larger than the whole budget (then it is not kept)."""
        alone = int(self._weigh(key, value)) if self._custom_weigh else sizeof(value)
        with self._lock:
            self._items.pop(key, None)
            if alone > self.budget:  # never evict everything else for a value that cannot stay anyway
                return False
            self._items[key] = _Entry(value, alone, self._clock())
            evicted = self._shrink_locked()
            kept = key in self._items
        if evicted:
            release_memory()
        return kept

    def sweep(self) -> int:
        """Drop entries idle for longer than ``max_age``; returns how many were dropped."""
        with self._lock:
            n = self._expire_locked()
        if n:
            release_memory()
        return n

    def clear(self) -> None:
        with self._lock:
            self._items.clear()
        release_memory()

    def _expire_locked(self) -> int:
        if self.max_age is None:
            return 0
        now, dropped = self._clock(), 0
        for key in [k for k, e in self._items.items() if now - e.used > self.max_age]:
            del self._items[key]
            dropped += 1
        self.evictions += dropped
        return dropped

    def _total_locked(self) -> int:
        """Bytes held by all entries together. With the default weigh, buffers shared by several entries (a
        pipeline and its bank, a bank and the dataset view of it) count once; each entry's ``nbytes`` is what it
        adds to the entries used more recently than it."""
        if self._custom_weigh:
            for key, entry in self._items.items():
                entry.nbytes = int(self._weigh(key, entry.value))
            return sum(e.nbytes for e in self._items.values())
        seen: set = set()
        total = 0
        for entry in reversed(self._items.values()):  # most recent first: an old entry's shared buffers count
            entry.nbytes = sizeof(entry.value, seen)  # for the newer one that keeps them alive longest
            total += entry.nbytes
        return total

    def _shrink_locked(self) -> bool:
        """Evict least recently used entries while over budget (the newest entry goes too if it alone is)."""
        total = self._total_locked()
        evicted = False
        while total > self.budget and self._items:
            self._items.popitem(last=False)  # least recently used first
            self.evictions += 1
            evicted = True
            total = self._total_locked()
        return evicted


class CacheView:
    """The part of a :class:`ByteCache` whose keys carry one tag (``get(key, make)``, ``clear()``)."""

    def __init__(self, cache: ByteCache, tag: str):
        self.cache, self.tag = cache, tag

    def get(self, key, make: Callable[[], object]):
        return self.cache.get((self.tag, key), make)

    def __contains__(self, key) -> bool:
        return (self.tag, key) in self.cache

    def clear(self) -> None:
        with self.cache._lock:
            for k in [k for k in self.cache._items if isinstance(k, tuple) and k and k[0] == self.tag]:
                del self.cache._items[k]
        release_memory()
