"""What makes a bank build with a large encoder livable: a time estimate before it starts, a batch size that fits
the device's memory, and chunks on disk so a crash or a closed tab loses at most one chunk.

* ``estimate_build_seconds(encoder, n)``: seconds to encode + decode n images, from the per-image cost measured on
  this device (kept in ``<cache>/costs.json`` per encoder fingerprint and device; measured on two images the first
  time). ``build_bank`` reports it through its progress callback before the first batch.
* ``choose_batch_size(encoder)``: images per batch so that a batch's activations stay within a memory budget
  (a quarter of the free memory on a GPU, an eighth of the available RAM capped at 2 GiB on a CPU), from the
  encoder's ``activation_bytes_per_image`` estimate.
* ``ChunkStore``: ``<cache>/banks/<key>.part/chunk-<start>-<end>.safetensors`` files (codes + reconstructions of
  items [start, end)), each written atomically; a later build with the same key resumes after the contiguous chunks
  found there; the bank is merged from them at the end and the folder removed.
"""

from __future__ import annotations

import json
import math
import shutil
import time
from pathlib import Path

import numpy as np
import torch
from safetensors.torch import load_file, save_file

from hen_demo.atomic import atomic_write, atomic_write_text

CPU_BUDGET_CAP = 2 * 1024 ** 3  # bytes of activations per batch on a CPU, at most
MAX_BATCH = 256
CHUNK_SECONDS = 30.0  # a chunk holds about this much work, so a crash loses at most ~30 s (and >= one batch)


# ---- time --------------------------------------------------------------------------------------------
def _cost_key(enc) -> str:
    return f"{enc.fingerprint or enc.name}@{enc.device.type}"


def _costs_file(cache_root) -> Path:
    return Path(cache_root) / "costs.json"


def known_cost(enc, cache_root) -> float | None:
    """Seconds per image (encode + decode) measured before for this encoder on this device type, or None."""
    try:
        with open(_costs_file(cache_root), encoding="utf-8") as f:
            v = json.load(f).get(_cost_key(enc))
        return float(v) if v else None
    except (OSError, ValueError, TypeError, AttributeError):
        return None


def record_cost(enc, cache_root, seconds_per_image: float) -> None:
    path = _costs_file(cache_root)
    try:
        with open(path, encoding="utf-8") as f:
            costs = json.load(f)
        if not isinstance(costs, dict):
            costs = {}
    except (OSError, ValueError):
        costs = {}
    costs[_cost_key(enc)] = float(seconds_per_image)
    costs[f"name:{enc.name}@{enc.device.type}"] = float(seconds_per_image)  # for notes before anything is loaded
    try:
        atomic_write_text(path, json.dumps(costs, indent=1, sort_keys=True))
    except OSError:  # a read-only cache only loses the estimate
        pass


def measure_cost(enc, images: torch.Tensor | None = None) -> float:
    """Seconds per image to encode and decode ``images (b, 3, H, W)`` (default: 2 random images) here."""
    if images is None:
        images = torch.rand(2, 3, enc.image_size, enc.image_size, generator=torch.Generator().manual_seed(0))
    t = time.perf_counter()
    enc.decode(enc.encode(images))
    if enc.device.type == "cuda":
        torch.cuda.synchronize(enc.device)
    return (time.perf_counter() - t) / max(1, images.shape[0])


def estimate_build_seconds(enc, n: int, cache_root, measure: bool = True) -> float | None:
    """Seconds a bank of n images will take with ``enc`` on its device (None when unknown and measure=False)."""
    cost = known_cost(enc, cache_root)
    if cost is None and measure:
        measure_cost(enc, torch.rand(1, 3, enc.image_size, enc.image_size))  # warm-up (first call allocates)
        cost = measure_cost(enc)
        record_cost(enc, cache_root, cost)
    return None if cost is None else cost * int(n)


# encode + decode seconds per image measured by ``python -m hen_demo bench --encoders`` on a shared 2-core CPU
# (README, "What the papers' encoders cost on a CPU"); used until this machine has measured its own
REFERENCE_CPU_COSTS = {"taesd": 0.15, "kl-f8": 1.97, "vq-f8": 1.71, "vq-f16": 3.13, "dvae": 4.98}


def build_time_note(name: str, n: int, device_type: str = "cpu", cache_root=None) -> str:
    """A sentence on how long a new bank of n images takes with encoder ``name`` (without loading it), for the UI;
    "" for encoders too fast to matter. Uses this machine's measurement when there is one."""
    from hen_demo.data.banks import default_cache_dir

    try:
        with open(_costs_file(cache_root or default_cache_dir()), encoding="utf-8") as f:
            cost = json.load(f).get(f"name:{name}@{device_type}")
        where = "measured on this machine"
    except (OSError, ValueError, AttributeError):
        cost = None
    if not cost:
        cost = REFERENCE_CPU_COSTS.get(name) if device_type == "cpu" else None
        where = "measured on a 2-core CPU"
    if not cost or cost * n < 20:
        return ""
    return (f"A new bank of {int(n)} images with {name} takes {format_duration(cost * n)} ({cost:.2g} s per image, "
            f"{where}); it is cached afterwards, and an interrupted build resumes.")


def format_duration(seconds: float) -> str:
    """'about 40 s', 'about 3 min', 'about 1.5 h'."""
    if seconds < 90:
        return f"about {max(1, round(seconds))} s"
    if seconds < 90 * 60:
        return f"about {round(seconds / 60)} min"
    return f"about {seconds / 3600:.1f} h"


# ---- memory -------------------------------------------------------------------------------------------
def _available_ram() -> int:
    try:
        with open("/proc/meminfo", encoding="utf-8") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return 8 * 1024 ** 3


def activation_bytes(enc) -> int:
    """Estimated peak bytes of activations to encode + decode one image (the encoder's own estimate when it has
    one, else a generic 64 float32 maps at the input size)."""
    own = getattr(enc, "activation_bytes_per_image", None)
    if own:
        return int(own)
    return 4 * 64 * int(enc.image_size) ** 2


def choose_batch_size(enc, requested: int | None = None) -> int:
    """Images per batch for ``enc`` on its device: ``requested`` if given, else what fits the memory budget."""
    if requested:
        if int(requested) < 1:
            raise ValueError(f"batch size must be at least 1; got {requested}")
        return int(requested)
    if enc.device.type == "cuda":
        free, _ = torch.cuda.mem_get_info(enc.device)
        budget = free // 4
    else:
        budget = min(CPU_BUDGET_CAP, _available_ram() // 8)
    return int(max(1, min(MAX_BATCH, budget // max(1, activation_bytes(enc)))))


def chunk_size_for(batch: int, cost: float | None) -> int:
    """Items per chunk: about CHUNK_SECONDS of work (256 when the cost is unknown), a multiple of the batch."""
    items = 256 if not cost else int(CHUNK_SECONDS / max(cost, 1e-6))
    items = max(batch, min(2048, items))
    return int(math.ceil(items / batch) * batch)


# ---- chunks -------------------------------------------------------------------------------------------
class ChunkStore:
    """Partial results of one bank build (cache key ``key``) under ``banks_dir/<key><suffix>/`` (suffix ".part": a
    cached bank's build, merged and removed at the end; "": an out-of-core bank whose chunks are the bank,
    ``data.bank_shards``)."""

    def __init__(self, banks_dir, key: str, suffix: str = ".part") -> None:
        self.folder = Path(banks_dir) / f"{key}{suffix}"

    def _chunks(self) -> list[tuple[int, int, Path]]:
        if not self.folder.is_dir():
            return []
        out = []
        for p in self.folder.glob("chunk-*.safetensors"):
            try:
                _, a, b = p.stem.split("-")
                out.append((int(a), int(b), p))
            except ValueError:
                continue
        return sorted(out)

    def contiguous(self, n: int) -> list[tuple[int, int, Path]]:
        """The chunk files (start, end, path) contiguous from item 0 and within n items, without reading them."""
        done, out = 0, []
        for a, b, p in self._chunks():
            if a == done and b <= n:
                out.append((a, b, p))
                done = b
        return out

    def resume(self, code_dim: int, n: int) -> tuple[int, list[torch.Tensor], list[np.ndarray]]:
        """(items done, codes per chunk, reconstructions per chunk) from the chunks contiguous from item 0."""
        done, codes, recon = 0, [], []
        for a, b, p in self._chunks():
            if a != done or b > n:
                continue
            try:
                t = load_file(str(p))
                z, r = t["codes"], t["recon"].numpy()
            except Exception:  # a damaged chunk (should not happen: atomic writes) is redone
                break
            if z.shape != (b - a, code_dim) or r.shape[0] != b - a:
                break
            codes.append(z)
            recon.append(r)
            done = b
        return done, codes, recon

    def write(self, start: int, codes: torch.Tensor, recon: np.ndarray | None = None) -> Path:
        """Write items [start, start + len(codes)) atomically (``recon`` None: codes only, an out-of-core bank)."""
        end = start + codes.shape[0]
        path = self.folder / f"chunk-{start:07d}-{end:07d}.safetensors"
        tensors = {"codes": codes.contiguous()}
        if recon is not None:
            tensors["recon"] = torch.from_numpy(np.ascontiguousarray(recon))
        return atomic_write(path, lambda tmp: save_file(tensors, tmp))

    def clear(self) -> None:
        shutil.rmtree(self.folder, ignore_errors=True)
