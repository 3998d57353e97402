"""Memory banks larger than RAM: (N, K) codes as float16 / float32 safetensors shards on disk, read through memory
maps one chunk at a time, for ``memory.sharded.ShardedMemory`` (the same exact chunked softmax as on one device).

Layout: ``<folder>/chunk-<start>-<end>.safetensors`` (tensor "codes", rows start..end-1; the chunk files of
``bank_build.ChunkStore``, each written atomically) and ``<folder>/bank.json`` (n, dim, dtype, description),
written last. ``build_disk_bank`` writes the shards one by one and, when stopped, resumes after the last complete
shard (the codes of rows [a, b) must be a deterministic function of (a, b)). A bank of the largest N serves
every smaller N: ``DiskBank(folder, stop=n)`` reads its first n memories (nested sets, as scale-out's banks).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Callable, Iterator

import torch
from safetensors import safe_open

from hen_demo.atomic import atomic_write_text
from hen_demo.data.bank_build import ChunkStore
from hen_demo.memory.sharded import rank_slice

MANIFEST = "bank.json"
SHARD_ROWS = 65536  # memories per file (12 MB of float16 at K = 192)
DTYPES = {"float16": torch.float16, "float32": torch.float32}


def _manifest(folder: Path) -> dict | None:
    try:
        return json.loads((folder / MANIFEST).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def build_disk_bank(folder, n: int, make_codes: Callable[[int, int], torch.Tensor], dtype: str = "float16",
                    shard_rows: int = SHARD_ROWS, description: str = "", progress=None) -> "DiskBank":
    """Write an (n, K) bank under ``folder`` shard by shard, resuming an interrupted build; returns its DiskBank.

    Args:
        make_codes: ``(start, end) -> (end - start, K)`` float tensor of those memories (deterministic).
        dtype: "float16" (half the bytes to stream; codes in [0, 1] keep 3 decimals) or "float32".
        description: what the memories are (kept in bank.json and checked: a different one rebuilds).
        progress: ``callable(fraction, desc)`` or None.
    """
    if dtype not in DTYPES:
        raise ValueError(f"dtype must be one of {', '.join(DTYPES)}; got {dtype!r}.")
    if int(n) < 1 or int(shard_rows) < 1:
        raise ValueError(f"n and shard_rows must be >= 1; got {n} and {shard_rows}.")
    folder, n = Path(folder), int(n)
    meta = _manifest(folder)
    if meta and meta.get("n", 0) >= n and meta.get("dtype") == dtype and meta.get("description") == description:
        return DiskBank(folder, stop=n)
    store = ChunkStore(folder.parent, folder.name, suffix="")
    if meta and (meta.get("dtype") != dtype or meta.get("description") != description):
        store.clear()  # other memories under the same name: start over
    (folder / MANIFEST).unlink(missing_ok=True)
    done = store.contiguous(n)
    start = done[-1][1] if done else 0
    dim = None
    for a in range(start, n, shard_rows):
        b = min(n, a + shard_rows)
        codes = make_codes(a, b).to(DTYPES[dtype])  # (b - a, K)
        if codes.ndim != 2 or codes.shape[0] != b - a:
            raise ValueError(f"make_codes({a}, {b}) must return ({b - a}, K) codes; got {tuple(codes.shape)}.")
        dim = codes.shape[1]
        store.write(a, codes)
        if progress is not None:
            progress(b / n, f"bank shard {b}/{n}")
    if dim is None:  # every shard was already there
        with safe_open(str(store.contiguous(n)[0][2]), framework="pt") as f:
            dim = f.get_slice("codes").get_shape()[1]
    atomic_write_text(folder / MANIFEST, json.dumps({"n": n, "dim": int(dim), "dtype": dtype,
                                                     "shard_rows": int(shard_rows), "description": description}))
    return DiskBank(folder, stop=n)


class DiskBank:
    """Memories [start, stop) of a bank on disk (a ``memory.sharded.BankSource``), read chunk by chunk.

    Args:
        folder: written by ``build_disk_bank``.
        start / stop: the rows this reader covers (default: all); ``split(rank, world)`` gives a rank's share.
    """

    def __init__(self, folder, start: int = 0, stop: int | None = None):
        self.folder = Path(folder)
        meta = _manifest(self.folder)
        if meta is None:
            raise ValueError(f"{self.folder} holds no complete bank ({MANIFEST} is missing); build it with "
                             "build_disk_bank.")
        total = int(meta["n"])
        stop = total if stop is None else int(stop)
        if not (0 <= start <= stop <= total):
            raise ValueError(f"Rows [{start}, {stop}) are outside the bank's {total} memories.")
        self.meta, self.start, self.stop = meta, int(start), stop
        self.n_memories, self.dim = stop - self.start, int(meta["dim"])
        self.files = [(a, b, p) for a, b, p in ChunkStore(self.folder.parent, self.folder.name, suffix="")
                      .contiguous(total) if b > self.start and a < stop]

    @property
    def nbytes(self) -> int:
        """Bytes of codes this reader streams per pass."""
        return self.n_memories * self.dim * DTYPES[self.meta["dtype"]].itemsize

    def split(self, rank: int, world: int) -> "DiskBank":
        """This bank's contiguous share for ``rank`` of ``world`` (``memory.sharded.rank_slice``)."""
        a, b = rank_slice(self.n_memories, rank, world)
        return DiskBank(self.folder, self.start + a, self.start + b)

    def iter_chunks(self, rows: int) -> Iterator[tuple[int, torch.Tensor]]:
        """(first row relative to ``start``, chunk (r <= rows, K)) in order; each read from the memory-mapped file."""
        for a, b, path in self.files:
            lo, hi = max(a, self.start), min(b, self.stop)
            with safe_open(str(path), framework="pt") as f:
                codes = f.get_slice("codes")
                for i in range(lo, hi, rows):
                    j = min(hi, i + rows)
                    yield i - self.start, codes[i - a : j - a]

    def take(self, rows) -> torch.Tensor:
        """Memories at sorted positions ``rows`` (relative to ``start``) as (len(rows), K), read one by one."""
        rows = [int(r) + self.start for r in rows]
        if any(not (self.start <= r < self.stop) for r in rows):
            raise ValueError(f"take: rows must lie in [0, {self.n_memories}).")
        out = []
        for a, b, path in self.files:
            here = [r for r in rows if a <= r < b]
            if here:
                with safe_open(str(path), framework="pt") as f:
                    codes = f.get_slice("codes")
                    out += [codes[r - a : r - a + 1] for r in here]
        return torch.cat(out) if out else torch.zeros(0, self.dim)

    def read(self) -> torch.Tensor:
        """All its memories in RAM (n, K) float32 (for checks on small banks)."""
        return torch.cat([c.float() for _, c in self.iter_chunks(1 << 20)]) if self.n_memories else \
            torch.zeros(0, self.dim)
