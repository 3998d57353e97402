"""Memory banks: a dataset encoded into the matrix of memories Ξ̂ = Φ_enc(Ξ) (HEN eq. 5), cached on disk.

``build_bank(dataset, encoder, n, seed)`` encodes n images into codes ``(N, K)``, decodes them again to get
the encoder's own reconstructions (what HEN compares retrievals against, HEN §3 "Evaluation Metrics"), and
optionally encodes the captions with a text encoder (``text_codes``, for HEN Fig. 4 cross-modal memories
[image code; text code]). Banks are cached as ``<key>.safetensors`` (tensors) + ``<key>.json`` (metadata)
under ``cache_dir`` (default env ``HEN_CACHE_DIR`` or ``~/.cache/hen_demo``)/banks. The key hashes
everything that changes the result (dataset identity, n, seed, the encoders' fingerprints, the format
version). Both files are written to temporary names and renamed into place, tensors first: a bank is
only found when its JSON exists, so an interrupted build leaves no broken cache entry.

Builds with large encoders are chunked, resumable, sized to the device's memory and announce their time
(``bank_build``); the cache folder is kept under ``HEN_BANK_CACHE_BYTES`` (least recently used first); exported
banks (``bank_export``) are found in ``$HEN_BANKS_DIR`` / ``$HEN_BANKS_REPO`` before anything is built.

CLI: ``python -m hen_demo build-bank --dataset tiles --encoder vq-small --n 6000 [--export DIR]``.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from safetensors.torch import load_file, save_file
from tqdm import tqdm

from hen_demo.atomic import atomic_write
from hen_demo.data import bank_build, bank_prefix
from hen_demo.data.bank_export import export_bank, find_precomputed
from hen_demo.data.datasets import OFFLINE, ImageDataset, _check_n, dataset_size, load_dataset
from hen_demo.data.emoji import atlas_fingerprint
from hen_demo.data.images import to_float_tensor, to_uint8
from hen_demo.data.memory_bank import MemoryBank, default_cache_dir
from hen_demo.encoders import get_image_encoder, get_text_encoder
from hen_demo.encoders.base import ImageEncoder

FORMAT_VERSION = 1
DATA_VERSION = "offline-v1"  # bump when the offline datasets' contents change
DEFAULT_CACHE_BYTES = 4 * 1024 ** 3  # bank cache limit unless HEN_BANK_CACHE_BYTES says otherwise


def _dataset_identity(dataset, n, seed) -> dict:
    if isinstance(dataset, ImageDataset):
        h = hashlib.sha256()
        h.update(np.ascontiguousarray(dataset.images).tobytes())
        h.update(json.dumps([dataset.captions, dataset.ids]).encode())
        return {"content": h.hexdigest(), "n": len(dataset)}
    ident = {"name": dataset, "n": n, "seed": seed}
    if dataset.startswith("folder:"):  # a folder's contents can change under the same name
        folder = Path(dataset[len("folder:"):].strip())
        if folder.is_dir():
            ident["files"] = sorted((p.name, p.stat().st_size, p.stat().st_mtime_ns)
                                    for p in folder.iterdir() if p.is_file())
    else:
        ident["data_version"] = DATA_VERSION
        if dataset == "emoji":  # the atlas can be rebuilt under the same name
            ident["atlas"] = atlas_fingerprint()
    return ident


def bank_cache_key(dataset, encoder_fingerprint: str, n, seed: int, text_fingerprint: str | None) -> str:
    """sha256 (first 24 hex digits) of everything that changes a bank's contents."""
    payload = {"format": FORMAT_VERSION, "dataset": _dataset_identity(dataset, n, seed),
               "encoder": encoder_fingerprint, "text": text_fingerprint}
    return hashlib.sha256(json.dumps(payload, sort_keys=True, default=str).encode()).hexdigest()[:24]


def save_bank(bank: MemoryBank, folder: Path) -> Path:
    tensors = {"codes": bank.codes.contiguous(), "recon": torch.from_numpy(np.ascontiguousarray(bank.recon)),
               "images": torch.from_numpy(np.ascontiguousarray(bank.images))}
    if bank.text_codes is not None:
        tensors["text_codes"] = bank.text_codes.contiguous()
    st_path, js_path = folder / f"{bank.key}.safetensors", folder / f"{bank.key}.json"
    atomic_write(st_path, lambda tmp: save_file(tensors, tmp))
    meta = {"format": FORMAT_VERSION, "captions": bank.captions, "ids": bank.ids, "labels": bank.labels,
            "dataset": bank.dataset, "encoder": bank.encoder, "text_encoder": bank.text_encoder,
            "n": bank.n, "seed": bank.seed, "key": bank.key,
            "meta": {k: v for k, v in bank.meta.items() if k != "cache_path"}}

    def write_json(tmp):
        with open(tmp, "w", encoding="utf-8") as f:
            json.dump(meta, f)

    atomic_write(js_path, write_json)
    return js_path


def load_bank(key: str, cache_dir=None) -> MemoryBank | None:
    """The cached bank with this key, or None when absent or unreadable (it is then rebuilt)."""
    folder = Path(cache_dir or default_cache_dir()) / "banks"
    st_path, js_path = folder / f"{key}.safetensors", folder / f"{key}.json"
    if not (js_path.is_file() and st_path.is_file()):
        return None
    try:
        with open(js_path, encoding="utf-8") as f:
            meta = json.load(f)
        t = load_file(str(st_path))
        bank = MemoryBank(codes=t["codes"], recon=t["recon"].numpy(), images=t["images"].numpy(),
                          captions=meta["captions"], ids=meta["ids"], text_codes=t.get("text_codes"),
                          dataset=meta["dataset"], encoder=meta["encoder"], text_encoder=meta["text_encoder"],
                          n=int(meta["n"]), seed=int(meta["seed"]), labels=meta.get("labels"), key=key,
                          meta=dict(meta.get("meta", {}), cache_path=str(st_path), from_cache=True))
        if bank.codes.shape[0] != bank.n or len(bank.captions) != bank.n:
            return None
        try:
            os.utime(js_path)  # last use: the byte-bounded cache evicts the least recently used first
        except OSError:
            pass
        return bank
    except Exception:  # a damaged entry is treated as missing
        return None


def cache_budget_bytes() -> int:
    """The bank cache's size limit in bytes: env HEN_BANK_CACHE_BYTES (e.g. 2000000000 or 2e9), default 4 GiB."""
    raw = os.environ.get("HEN_BANK_CACHE_BYTES", "").strip()
    if not raw:
        return DEFAULT_CACHE_BYTES
    try:
        value = int(float(raw))
    except ValueError:
        raise ValueError(f"HEN_BANK_CACHE_BYTES must be a number of bytes (e.g. 2000000000); got {raw!r}") from None
    if value < 0:
        raise ValueError(f"HEN_BANK_CACHE_BYTES must be >= 0; got {raw!r}")
    return value


def _entry_size(paths) -> int:
    total = 0
    for p in paths:
        if p.is_dir():
            total += sum(f.stat().st_size for f in p.rglob("*") if f.is_file())
        elif p.is_file():
            total += p.stat().st_size
    return total


def prune_bank_cache(banks_dir, budget: int | None = None, keep=()) -> list[str]:
    """Delete the least recently used cached banks (and unfinished builds' chunk folders) until the folder holds at
    most ``budget`` bytes (default ``cache_budget_bytes()``); keys in ``keep`` are never deleted. A bank's age is
    the time it was last written or loaded. Returns the deleted keys, oldest first."""
    folder = Path(banks_dir)
    if not folder.is_dir():
        return []
    budget = cache_budget_bytes() if budget is None else int(budget)
    entries: dict[str, list[Path]] = {}
    for p in folder.iterdir():
        if p.name.startswith("."):  # another process's temporary file
            continue
        key = p.name.split(".", 1)[0]
        entries.setdefault(key, []).append(p)
    sized = []
    for key, paths in entries.items():
        age = max(p.stat().st_mtime for p in paths)
        sized.append((age, key, paths, _entry_size(paths)))
    total = sum(e[3] for e in sized)
    removed = []
    for _, key, paths, size in sorted(sized):
        if total <= budget:
            break
        if key in keep:
            continue
        for p in sorted(paths, key=lambda q: q.suffix != ".json"):  # the JSON first: the entry vanishes at once
            if p.is_dir():
                shutil.rmtree(p, ignore_errors=True)
            else:
                p.unlink(missing_ok=True)
        total -= size
        removed.append(key)
    return removed


def build_bank(dataset, encoder, n: int | None = 1000, seed: int = 0, text_encoder=None, cache_dir=None,
               progress=None, use_cache: bool = True, device=None, batch_size: int | None = None,
               chunk_size: int | None = None, precomputed: bool = True) -> MemoryBank:
    """Encode ``n`` items of ``dataset`` with ``encoder`` into a MemoryBank, reusing the disk cache.

    A named dataset's bank of n memories is a view of the first n rows of one prefix bank per dataset × encoder
    (``bank_prefix``): a smaller or equal n costs no encoding, no disk and no memory; a larger one encodes only the
    items not encoded yet (the whole dataset at once when that is cheap here).

    Args:
        dataset: a dataset name for ``load_dataset`` (e.g. "tiles", "folder:/path") or an ImageDataset
            (e.g. user uploads; then n and seed are ignored).
        encoder: an image encoder name (``list_image_encoders``) or an ImageEncoder.
        text_encoder: None, a text encoder name, or a TextEncoder; fills ``bank.text_codes`` (N, K_text).
            "pixelized" uses ``encoder`` as its image encoder.
        cache_dir: root of the cache (banks go to ``cache_dir/banks``); default env HEN_CACHE_DIR or
            ~/.cache/hen_demo. ``use_cache=False`` neither reads nor writes it (and encodes exactly n items).
            The folder is kept under ``HEN_BANK_CACHE_BYTES`` (least recently used banks go first).
        progress: ``callable(fraction: float, desc: str)`` or None. Before the first image it receives the
            estimated time ("about 3 min for 1000 images"), from the per-image cost measured on this device.
        batch_size: images per batch (default: what fits the device's memory, ``bank_build.choose_batch_size``).
        chunk_size: items per chunk written to the cache while building (default about 30 s of work); a build
            that is interrupted resumes after its last complete chunk.
        precomputed: look for an exported bank first (``$HEN_BANKS_DIR``, ``$HEN_BANKS_REPO``; see
            ``bank_export``). One that matches the request but not the encoder's fingerprint is refused with a
            ValueError.
    """
    def report(frac, desc):
        if progress is not None:
            progress(float(min(max(frac, 0.0), 1.0)), desc)

    t0 = time.perf_counter()
    report(0.0, "loading encoder")
    enc = encoder if isinstance(encoder, ImageEncoder) else get_image_encoder(encoder, device=device)
    tenc = None
    if text_encoder is not None:
        tenc = text_encoder if not isinstance(text_encoder, str) else get_text_encoder(
            text_encoder, image_encoder=enc, device=device)
    if isinstance(dataset, ImageDataset):
        n, dataset_name = len(dataset), dataset.name
    elif isinstance(dataset, str):
        dataset_name = dataset
    else:
        raise ValueError("dataset must be a dataset name or an ImageDataset")
    fingerprint, text_fp = enc.fingerprint or enc.name, tenc.fingerprint if tenc else None
    key = bank_cache_key(dataset, fingerprint, n, seed, text_fp)
    cache_root = Path(cache_dir or default_cache_dir())
    budget = cache_budget_bytes() if use_cache else None  # a bad setting fails before any work
    size = dataset_size(dataset) if isinstance(dataset, str) and not dataset.startswith("folder:") else None
    build = _Build(enc, tenc, dataset_name, seed, cache_root, budget, report, batch_size, chunk_size, t0)
    if use_cache and size is not None:
        want = size if n is None else _check_n(n, size, dataset_name)
        pkey = bank_cache_key(dataset, fingerprint, "prefix", seed, text_fp)
        with bank_prefix.lock(str(cache_root / "banks" / pkey)):
            return _by_prefix(build, dataset, want, size, key, pkey, precomputed)
    if use_cache:
        cached = load_bank(key, cache_root)
        if cached is not None:
            cached.meta["load_s"] = time.perf_counter() - t0
            report(1.0, "loaded from cache")
            return cached
    if precomputed and isinstance(dataset, str):
        pre = _precomputed(build, n, key)
        if pre is not None:
            return pre
    report(0.01, f"loading dataset {dataset_name}")
    ds = dataset if isinstance(dataset, ImageDataset) else load_dataset(dataset, n=n, seed=seed)
    bank = build.encode(ds, None, key, use_cache)
    report(1.0, "done")
    return bank


def _by_prefix(build: _Build, dataset: str, want: int, size: int, key: str, pkey: str,
               precomputed: bool) -> MemoryBank:
    """The bank of the first ``want`` items from the prefix bank ``pkey`` (alive here, on disk, or extended)."""
    slot = str(build.cache_root / "banks" / pkey)
    full = bank_prefix.live(slot)
    if full is None or full.n < want:
        stored = load_bank(pkey, build.cache_root)
        if stored is not None and (full is None or stored.n > full.n):
            full = stored
            bank_prefix.remember(full, slot)
    if full is not None and full.n >= want:
        return _cached_view(build, full, want, key)
    if full is None:  # a bank cached by an older version for exactly this n starts the prefix (no re-encoding)
        full = load_bank(key, build.cache_root)
        if full is not None:
            full.key = pkey
            bank_prefix.remember(full, slot)
            return _cached_view(build, full, want, key)
    if precomputed:
        pre = _precomputed(build, want, key)
        if pre is not None:
            return pre
    have = full.n if full is not None else 0
    cost = bank_build.known_cost(build.enc, build.cache_root)
    offline = dataset in OFFLINE  # an online dataset is downloaded: never more of it than asked
    if cost is None and size > want and offline:  # is the whole dataset cheap here? (two random images tell)
        build.report(0.01, "measuring this encoder's speed on this machine")
        bank_build.measure_cost(build.enc, torch.rand(1, 3, build.enc.image_size, build.enc.image_size))  # warm-up
        cost = bank_build.measure_cost(build.enc)
    target = (bank_prefix.extend_target(have, want, size, cost, bank_prefix.bytes_per_item(build.enc)) if offline
              else want)
    build.report(0.01, f"loading dataset {build.dataset_name}")
    ds = load_dataset(dataset, n=target, seed=build.seed)
    longer = build.encode(ds, full, pkey, True, cost=cost)
    bank_prefix.remember(longer, slot)
    build.report(1.0, "done")
    return bank_prefix.prefix_view(longer, want, key, {"from_cache": False})


def _cached_view(build: _Build, full: MemoryBank, want: int, key: str) -> MemoryBank:
    build.report(1.0, "loaded from cache")
    return bank_prefix.prefix_view(full, want, key, {"load_s": time.perf_counter() - build.t0, "from_cache": True})


def _precomputed(build: _Build, n, key: str) -> MemoryBank | None:

    pre = find_precomputed(build.dataset_name, build.enc, n, build.seed, build.tenc)
    if pre is not None:
        pre.key = key
        pre.meta["load_s"] = time.perf_counter() - build.t0
        build.report(1.0, "loaded a precomputed bank")
    return pre


@dataclass
class _Build:
    """What one ``build_bank`` call encodes with, and where it reports and caches."""

    enc: object
    tenc: object
    dataset_name: str
    seed: int
    cache_root: Path
    budget: int | None
    report: object
    batch_size: int | None
    chunk_size: int | None
    t0: float

    def encode(self, ds: ImageDataset, head: MemoryBank | None, key: str, use_cache: bool,
               cost: float | None = None) -> MemoryBank:
        """The bank of all of ``ds`` under ``key``: ``head``'s rows reused for its first ``head.n`` items, the
        rest encoded (in chunks kept on disk, so an interrupted build resumes), saved when ``use_cache``."""
        enc, report = self.enc, self.report
        N, start = len(ds), (head.n if head is not None else 0)
        banks_dir = self.cache_root / "banks"
        bs = bank_build.choose_batch_size(enc, self.batch_size)
        cost = cost or bank_build.known_cost(enc, self.cache_root)
        if cost is None and N - start > 2 * bs:  # measure on two of the dataset's images before promising a time
            report(0.02, "measuring this encoder's speed on this machine")
            cost = bank_build.measure_cost(enc, to_float_tensor(ds.images[start:start + 2]))
        chunk = int(self.chunk_size) if self.chunk_size else bank_build.chunk_size_for(bs, cost)
        store = bank_build.ChunkStore(banks_dir, key) if use_cache else None
        done, codes, recon = store.resume(enc.code_dim, N, start) if store else (start, [], [])
        if head is not None:
            codes, recon = [head.codes, *codes], [head.recon, *recon]
        resumed = done
        left = N - done
        eta = (f"{bank_build.format_duration(cost * left)} for {left} images ({cost:.3g} s per image here)"
               if cost else "")
        report(0.05 + 0.85 * done / max(N, 1),
               (f"resuming after {done} images; " if done else "") + (eta or f"encoding {N} images"))
        t1 = time.perf_counter()
        for c0 in range(done, N, chunk):
            c1 = min(c0 + chunk, N)
            cz, cr = [], []
            for i in range(c0, c1, bs):
                x = to_float_tensor(ds.images[i:min(i + bs, c1)])  # (b, 3, H, W)
                z = enc.encode(x, batch_size=bs)  # (b, K)
                cz.append(z)
                cr.append(to_uint8(enc.decode(z, batch_size=bs)))
                k = min(i + bs, c1)
                rate = (time.perf_counter() - t1) / max(1, k - resumed)
                report(0.05 + 0.85 * k / N,
                       f"encoding {k}/{N} images, {bank_build.format_duration(rate * (N - k))} left")
            codes.append(torch.cat(cz))
            recon.append(np.concatenate(cr))
            if store is not None:
                store.write(c0, codes[-1], recon[-1])
        encode_s = time.perf_counter() - t1
        if N > resumed and use_cache:
            bank_build.record_cost(enc, self.cache_root, encode_s / (N - resumed))
        codes_t = torch.cat(codes) if codes else torch.zeros(0, enc.code_dim)
        text_codes = None
        if self.tenc is not None:
            report(0.9, "encoding captions")
            new_text = self.tenc.encode(ds.captions[start:]) if N > start else None
            parts = [t for t in ((head.text_codes if head is not None else None), new_text) if t is not None]
            text_codes = torch.cat(parts) if parts else None
        bank = MemoryBank(codes=codes_t.float().contiguous(), recon=np.ascontiguousarray(np.concatenate(recon)),
                          images=ds.images, captions=list(ds.captions), ids=list(ds.ids), text_codes=text_codes,
                          dataset=self.dataset_name, encoder=enc.name,
                          text_encoder=self.tenc.name if self.tenc else None, n=N, seed=self.seed,
                          labels=ds.labels, key=key,
                          meta={"encode_s": encode_s, "build_s": time.perf_counter() - self.t0, "from_cache": False,
                                "resumed_items": resumed, "reused_items": start, "batch_size": bs,
                                "chunk_size": chunk, "notes": list(ds.notes)})
        if use_cache:
            report(0.97, "saving to cache")
            bank.meta["cache_path"] = str(save_bank(bank, banks_dir))  # a longer prefix replaces the shorter one
            store.clear()
            prune_bank_cache(banks_dir, self.budget, keep={key})
        return bank


# ---- command line ---------------------------------------------------------------------------------------
def add_arguments(parser) -> None:
    parser.add_argument("--dataset", default="tiles", help="dataset name (tiles, photos, digits, faces, coco, "
                        "cifar10, mnist, folder:<path>)")
    parser.add_argument("--encoder", default="vq-small", help="image encoder name")
    parser.add_argument("--text-encoder", default=None, help="optional text encoder (minilm, clip, pixelized)")
    parser.add_argument("--n", type=int, default=1000, help="number of memories")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--cache-dir", default=None, help="cache root (default $HEN_CACHE_DIR or ~/.cache/hen_demo)")
    parser.add_argument("--force", action="store_true", help="rebuild even when a cached bank exists")
    parser.add_argument("--device", default=None, help="torch device (default: CUDA when present, else CPU)")
    parser.add_argument("--batch-size", type=int, default=None, help="images per batch (default: fits the memory)")
    parser.add_argument("--export", default=None, metavar="DIR",
                        help="also write the bank as safetensors + JSON to DIR, for $HEN_BANKS_DIR / $HEN_BANKS_REPO")
    parser.add_argument("--no-images", action="store_true",
                        help="with --export: leave the original images out (they are reloaded from the dataset)")


def run(args) -> int:
    bar = tqdm(total=100, unit="%")

    def progress(frac, desc):
        if desc.startswith(("about ", "resuming")):  # the estimate stays on screen
            bar.write(desc)
        bar.set_description(desc)
        bar.n = int(round(100 * frac))
        bar.refresh()

    try:
        device = args.device or ("cuda" if torch.cuda.is_available() else None)
        enc = get_image_encoder(args.encoder, device=device)
        tenc = (get_text_encoder(args.text_encoder, image_encoder=enc, device=device) if args.text_encoder
                else None)
        bank = build_bank(args.dataset, enc, n=args.n, seed=args.seed, text_encoder=tenc,
                          cache_dir=args.cache_dir, progress=progress, use_cache=not args.force,
                          batch_size=args.batch_size, precomputed=not args.export)
        if args.force:  # rebuild, then store it
            save_bank(bank, Path(args.cache_dir or default_cache_dir()) / "banks")
        exported = None
        if args.export:
            exported = export_bank(bank, enc.fingerprint, args.export,
                                   text_fingerprint=tenc.fingerprint if tenc else None,
                                   include_images=not args.no_images)
    except ValueError as exc:
        bar.close()
        print(f"error: {exc}")
        return 2
    bar.close()
    src = "cache" if bank.meta.get("from_cache") else f"built in {bank.meta.get('build_s', 0):.1f} s"
    print(f"bank {bank.key}: {bank.n} memories x K={bank.codes.shape[1]} ({bank.encoder}"
          f"{', text ' + bank.text_encoder if bank.text_encoder else ''}) from {src}")
    if exported is not None:
        print(f"exported to {exported} (and {exported.with_suffix('.safetensors').name})")
    return 0
