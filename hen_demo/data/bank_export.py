"""Precomputed memory banks: built once where compute is cheap (a GPU), served where it is not (a CPU Space).

``python -m hen_demo build-bank --dataset coco --encoder vq-f8 --n 1000 --export DIR`` writes
``DIR/<dataset>-<encoder>-n<n>-s<seed>[-<text encoder>].safetensors`` (codes ``(N, K)``, reconstructions
``(N, s, s, 3)`` uint8, the original images unless ``--no-images``, text codes) and a ``.json`` beside it with the
captions, ids, labels, the encoder's (and text encoder's) fingerprint, and the tensor file's size and sha256.

``build_bank`` looks for an exported bank matching its request (dataset, encoder, n, seed, text encoder) in
``$HEN_BANKS_DIR`` and in the hub dataset repository ``$HEN_BANKS_REPO`` (``huggingface_hub.snapshot_download``:
the local cache first, the hub only when online; on a Space, ``preload_from_hub`` fills the cache at build time).
A matching bank is refused with a ValueError sentence when its fingerprint is not the loaded encoder's (other
weights, another input size or another version), when its file is truncated or damaged, or when its contents do not
fit its JSON. A folder or repository without exported banks is skipped with a logged sentence
(``precomputed_status()`` says it to the UI): the app keeps serving everything else.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
from pathlib import Path

import numpy as np
import torch
from safetensors.torch import load_file, save_file

from hen_demo.atomic import atomic_write, atomic_write_text
from hen_demo.data.datasets import dataset_size, load_dataset
from hen_demo.data.memory_bank import MemoryBank
from hen_demo.hub import hub_unavailable_reason

KIND = "hen-memory-bank"
VERSION = 1
log = logging.getLogger(__name__)


def export_name(dataset: str, encoder: str, n: int, seed: int, text_encoder: str | None) -> str:
    """File stem of an exported bank, e.g. ``coco-vq-f8-n1000-s0`` (unsafe characters become '_').

    ``n`` is the bank's number of memories; a request for a whole dataset (n=None) is resolved to its size first
    (``find_precomputed``)."""
    if n is None or isinstance(n, bool):
        raise ValueError("An exported bank's name needs its number of memories n (got none).")
    stem = f"{dataset}-{encoder}-n{int(n)}-s{int(seed)}" + (f"-{text_encoder}" if text_encoder else "")
    return re.sub(r"[^A-Za-z0-9_.=-]+", "_", stem)


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def export_bank(bank, encoder_fingerprint: str, out_dir, text_fingerprint: str | None = None,
                include_images: bool = True) -> Path:
    """Write ``bank`` to ``out_dir`` (tensors first, then the JSON that makes it visible); returns the JSON path."""
    if not isinstance(bank.dataset, str) or bank.dataset.startswith("folder:") or bank.dataset.startswith("upload"):
        raise ValueError("only banks of named datasets (tiles, coco, ...) can be exported: a folder or an upload "
                         "is not the same on another machine")
    out = Path(out_dir)
    stem = export_name(bank.dataset, bank.encoder, bank.n, bank.seed, bank.text_encoder)
    st_path, js_path = out / f"{stem}.safetensors", out / f"{stem}.json"
    tensors = {"codes": bank.codes.float().contiguous(), "recon": torch.from_numpy(np.ascontiguousarray(bank.recon))}
    if include_images:
        tensors["images"] = torch.from_numpy(np.ascontiguousarray(bank.images))
    if bank.text_codes is not None:
        tensors["text_codes"] = bank.text_codes.float().contiguous()
    atomic_write(st_path, lambda tmp: save_file(tensors, tmp))
    meta = {"kind": KIND, "version": VERSION, "dataset": bank.dataset, "encoder": bank.encoder,
            "encoder_fingerprint": encoder_fingerprint, "text_encoder": bank.text_encoder,
            "text_fingerprint": text_fingerprint, "n": int(bank.n), "seed": int(bank.seed),
            "code_dim": int(bank.codes.shape[1]), "captions": list(bank.captions), "ids": list(bank.ids),
            "labels": bank.labels, "has_images": include_images, "file": st_path.name,
            "bytes": st_path.stat().st_size, "sha256": _sha256(st_path)}
    atomic_write_text(js_path, json.dumps(meta))
    return js_path


def _read_meta(js_path: Path) -> dict:
    try:
        with open(js_path, encoding="utf-8") as f:
            meta = json.load(f)
    except (OSError, ValueError) as exc:
        raise ValueError(f"the bank description {js_path.name} cannot be read ({exc})") from exc
    if not isinstance(meta, dict) or meta.get("kind") != KIND:
        raise ValueError(f"{js_path.name} is not a bank written by `build-bank --export`")
    if meta.get("version") != VERSION:
        raise ValueError(f"{js_path.name} was written by another version of the bank format "
                         f"({meta.get('version')}; this app reads {VERSION}); export it again")
    return meta


def load_exported(js_path, encoder, text_encoder=None):
    """The exported bank described by ``js_path``, checked against the loaded ``encoder`` (and ``text_encoder``).

    Raises ValueError with a sentence when the bank was made with other weights or settings, its file is missing,
    truncated or damaged, or its contents do not match its description.
    """
    js_path = Path(js_path)
    meta = _read_meta(js_path)
    name = js_path.stem
    if meta["encoder_fingerprint"] != encoder.fingerprint:
        raise ValueError(f"the precomputed bank {name} was made with other {meta['encoder']} weights or settings "
                         f"than the loaded ones (fingerprint {meta['encoder_fingerprint']} vs {encoder.fingerprint}); "
                         f"it is refused: export it again with these weights, or remove it from the banks folder")
    want_text = text_encoder.fingerprint if text_encoder is not None else None
    if meta.get("text_fingerprint") != want_text:
        raise ValueError(f"the precomputed bank {name} was made with another text encoder than the loaded one; "
                         f"it is refused")
    st_path = js_path.with_name(str(meta.get("file", "")))
    if not st_path.is_file():
        raise ValueError(f"the precomputed bank {name} has no tensor file {st_path.name} beside its description")
    size = st_path.stat().st_size
    if size != meta.get("bytes") or _sha256(st_path) != meta.get("sha256"):
        raise ValueError(f"the precomputed bank file {st_path.name} is truncated or damaged ({size} bytes, "
                         f"{meta.get('bytes')} expected, or another checksum); download or export it again")
    try:
        t = load_file(str(st_path))
    except Exception as exc:
        raise ValueError(f"the precomputed bank file {st_path.name} cannot be read ({exc})") from exc
    n, k = int(meta["n"]), int(meta["code_dim"])
    codes = t.get("codes")
    if codes is None or tuple(codes.shape) != (n, k) or k != encoder.code_dim or len(meta["captions"]) != n \
            or "recon" not in t or t["recon"].shape[0] != n:
        raise ValueError(f"the precomputed bank {name} does not hold the {n} codes of length {encoder.code_dim} "
                         f"its description promises; export it again")
    if "images" in t:
        images = t["images"].numpy()
    else:  # codes-only export: the originals come from the dataset itself
        ds = load_dataset(meta["dataset"], n=n, seed=int(meta["seed"]))
        if list(ds.ids) != list(meta["ids"]):
            raise ValueError(f"the precomputed bank {name} lists other images than the dataset "
                             f"{meta['dataset']} gives here; export it with its images (without --no-images)")
        images = ds.images
    return MemoryBank(codes=codes.float(), recon=t["recon"].numpy(), images=images, captions=list(meta["captions"]),
                      ids=list(meta["ids"]), text_codes=t.get("text_codes"), dataset=meta["dataset"],
                      encoder=meta["encoder"], text_encoder=meta.get("text_encoder"), n=n, seed=int(meta["seed"]),
                      labels=meta.get("labels"),
                      meta={"from_cache": True, "precomputed": str(js_path), "notes": []})


# ---- where precomputed banks live ----------------------------------------------------------------------
_STATUS: dict[str, str] = {}
_LOGGED: set[str] = set()


def _repo_folder(repo: str) -> Path | None:
    """The local snapshot of hub dataset ``repo`` (cache first, the hub only when online), or None + a status."""
    try:
        from huggingface_hub import snapshot_download
    except ImportError:
        _STATUS[repo] = "huggingface_hub is not installed"
        return None
    kw = {"repo_type": "dataset", "allow_patterns": ["*.json", "*.safetensors"]}
    try:
        return Path(snapshot_download(repo, local_files_only=True, **kw))
    except Exception:
        pass
    reason = hub_unavailable_reason()
    if reason:
        _STATUS[repo] = f"HEN_BANKS_REPO={repo} is not in the local cache and {reason}"
        return None
    try:
        return Path(snapshot_download(repo, **kw))
    except Exception as exc:
        _STATUS[repo] = f"HEN_BANKS_REPO={repo} could not be downloaded ({type(exc).__name__}: {exc})"
        return None


def bank_folders() -> list[Path]:
    """Folders to search for exported banks: $HEN_BANKS_DIR, then the snapshot of $HEN_BANKS_REPO."""
    out = []
    local = os.environ.get("HEN_BANKS_DIR", "").strip()
    if local:
        if Path(local).is_dir():
            out.append(Path(local))
        else:
            _STATUS[local] = f"HEN_BANKS_DIR={local} is not a folder"
    repo = os.environ.get("HEN_BANKS_REPO", "").strip()
    if repo:
        folder = _repo_folder(repo)
        if folder is not None:
            if not any(folder.glob("*.json")):
                _STATUS[repo] = (f"HEN_BANKS_REPO={repo} has no exported banks (no .json files written by "
                                 f"`build-bank --export`)")
            else:
                out.append(folder)
    for msg in _STATUS.values():
        if msg not in _LOGGED:  # one line per problem, not one per build
            _LOGGED.add(msg)
            log.warning("precomputed banks: %s", msg)
    return out


def precomputed_status() -> str:
    """One sentence per problem met while looking for precomputed banks ("" when none), for the UI and the CLI."""
    bank_folders()
    return "; ".join(dict.fromkeys(_STATUS.values()))


def find_precomputed(dataset: str, encoder, n, seed: int, text_encoder=None):
    """The exported bank for this request, or None when no folder has one. Raises ValueError (see
    ``load_exported``) when one matches the request but not the encoder."""
    _STATUS.clear()
    if n is None:  # the whole dataset: its size, when known without loading it
        n = dataset_size(dataset)
        if n is None:
            return None
    stem = export_name(dataset, encoder.name, n, seed, text_encoder.name if text_encoder else None)
    for folder in bank_folders():
        js = folder / f"{stem}.json"
        if js.is_file():
            return load_exported(js, encoder, text_encoder)
    return None
