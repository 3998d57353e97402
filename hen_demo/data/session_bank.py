"""Private memory banks: one visitor's own images, encoded on demand, held in memory for one session only.

* :class:`SessionImages` — the images one session stored (``hen_demo.data.uploads``), their editable captions, and
  the :class:`~hen_demo.data.banks.MemoryBank` built from them with the chosen encoder (HEN eq. 5, the same
  ``build_bank`` every bank goes through, with the shared disk cache switched off: ``use_cache=False``). Only the
  current encoder's codes are kept; choosing another encoder re-encodes the stored images; adding images encodes
  only the new ones (codes are matched to images by their pixel hash).
* :class:`SessionStore` — the sessions' images by session id, at most ``max_sessions`` at once (the least recently
  used is dropped first, and its owner is told why on their next call), each dropped after ``idle_s`` seconds
  unused (:meth:`SessionStore.sweep`) and when its session ends (:meth:`SessionStore.drop`). Nothing is written to
  disk, and no session can reach another's images: every lookup is by the caller's own session id.
"""

from __future__ import annotations

import contextlib
import threading
import time
import uuid
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch

from hen_demo.data.banks import MemoryBank, build_bank
from hen_demo.data.datasets import ImageDataset
from hen_demo.data.uploads import LOCAL_UPLOAD_CAPS, SIDE, UploadCaps, UploadResult, read_uploads

NAME = "your images"  # the banks' dataset name


class SessionImages:
    """One session's own images and the memory bank encoded from them (module docstring)."""

    def __init__(self, caps: UploadCaps = LOCAL_UPLOAD_CAPS):
        self.caps = caps
        self.token = uuid.uuid4().hex[:16]  # names this session's banks; never the session id itself
        self.lock = threading.RLock()
        self.images: list = []  # UploadedImage, in bank order
        self.version = 0  # bumped when images or captions change
        self._codes: dict = {}  # {"fingerprint": str, "codes": {digest: (K,)}, "recon": {digest: (s, s, 3)}}
        self._text: dict = {}  # (text encoder name, captions) -> (N, K_text)
        self.pipelines: dict = {}  # (version, pipeline key) -> HENPipeline over this session's bank
        self.notice = ""  # one sentence the owner should read (e.g. why their images were dropped)
        self.files: set = set()  # files shown to this session that hold its images (deleted with it)

    def __len__(self) -> int:
        return len(self.images)

    @property
    def nbytes(self) -> int:
        """Bytes of the files this session sent (what the per-session byte cap counts)."""
        return sum(im.nbytes for im in self.images)

    def memory_bytes(self) -> int:
        """Bytes held in memory: stored images, codes and reconstructions."""
        total = sum(im.image.nbytes for im in self.images)
        total += sum(c.numel() * c.element_size() for c in self._codes.get("codes", {}).values())
        total += sum(r.nbytes for r in self._codes.get("recon", {}).values())
        return int(total)

    def _changed(self) -> None:
        self.version += 1
        self.pipelines.clear()

    def add(self, files) -> UploadResult:
        """Validate and store ``files`` (``read_uploads``'s inputs); the caps cover the whole session."""
        with self.lock:
            result = read_uploads(files, self.caps, held=len(self.images), held_bytes=self.nbytes,
                                  held_digests={im.digest for im in self.images})
            if result.images:
                names = {im.name for im in self.images}
                for im in result.images:
                    im.name = _unique(im.name, names)
                self.images.extend(result.images)
                self._changed()
            return result

    def remove(self, indices) -> int:
        """Delete the images at ``indices`` (0-based, bank order); returns how many were removed."""
        with self.lock:
            drop = set()
            for i in indices:
                if isinstance(i, bool) or int(i) != i or not 0 <= int(i) < len(self.images):
                    raise ValueError(f"There is no image {i} to remove: you have {len(self.images)} "
                                     f"(numbered 0 to {len(self.images) - 1}).")
                drop.add(int(i))
            if drop:
                self.images = [im for k, im in enumerate(self.images) if k not in drop]
                self._changed()
            return len(drop)

    def clear(self) -> None:
        with self.lock:
            self.images, self._codes, self._text = [], {}, {}
            self._changed()

    def set_captions(self, captions) -> int:
        """Replace the captions (one per image, bank order); an empty one falls back to the file name's.
        Returns how many changed."""
        with self.lock:
            caps = list(captions)
            if len(caps) != len(self.images):
                raise ValueError(f"Give one caption per image: {len(self.images)} images, {len(caps)} captions.")
            changed = 0
            for im, cap in zip(self.images, caps):
                text = " ".join(str(cap if cap is not None else "").split())[:500]
                text = text or f"An image named {im.name.rsplit('.', 1)[0]}."
                if text != im.caption:
                    im.caption, changed = text, changed + 1
            if changed:
                self._changed()
            return changed

    def encoded(self, encoder_name: str) -> bool:
        """Whether every stored image has codes of the encoder named ``encoder_name`` (a request will not encode)."""
        with self.lock:
            codes = self._codes.get("codes", {})
            return bool(self.images) and self._codes.get("name") == encoder_name and all(
                im.digest in codes for im in self.images)

    def pipeline(self, key, make: Callable[[], object]):
        """This session's pipeline for ``key`` (a MemoryConfig's cache key), built by ``make`` once per version of the
        images; at most 4 are kept."""
        with self.lock:
            k = (self.version, key)
            if k not in self.pipelines:
                while len(self.pipelines) >= 4:
                    self.pipelines.pop(next(iter(self.pipelines)))
                self.pipelines[k] = make()
            return self.pipelines[k]

    def dataset(self, n: int | None = None) -> ImageDataset:
        """The stored images as a dataset (the first ``n``, bank order); ValueError when there are none."""
        with self.lock:
            if not self.images:
                raise ValueError("You have not stored any images yet: add some in Explore's 'Your images' panel "
                                 "(upload, a .zip, the webcam, paste or a drawing).")
            chosen = self.images[: len(self.images) if n is None else max(1, int(n))]
            return ImageDataset(np.stack([im.image for im in chosen]), [im.caption for im in chosen],
                                [f"mine/{im.name}" for im in chosen], NAME, None)

    def bank(self, encoder, text_encoder=None, n: int | None = None,
             progress: Callable[[float, str], None] | None = None) -> MemoryBank:
        """The memory bank of the first ``n`` images encoded with ``encoder`` (an ImageEncoder), with the captions'
        codes when ``text_encoder`` (a TextEncoder) is given. Encodes only images this encoder has not seen."""
        with self.lock:
            ds = self.dataset(n)
            digests = [im.digest for im in self.images[: len(ds)]]
            fp = encoder.fingerprint or encoder.name
            if self._codes.get("fingerprint") != fp:  # another encoder: re-encode from the stored images
                self._codes = {"fingerprint": fp, "name": encoder.name, "codes": {}, "recon": {}}
            codes, recon = self._codes["codes"], self._codes["recon"]
            keep = set(digests) | {im.digest for im in self.images}
            for d in [d for d in codes if d not in keep]:  # removed images' codes go with them
                codes.pop(d), recon.pop(d)
            todo = [k for k, d in enumerate(digests) if d not in codes]
            if todo:
                part = ImageDataset(ds.images[todo], [ds.captions[k] for k in todo], [ds.ids[k] for k in todo],
                                    NAME, None)
                built = build_bank(part, encoder, use_cache=False, precomputed=False, progress=progress)
                for j, k in enumerate(todo):
                    codes[digests[k]] = built.codes[j].clone()
                    recon[digests[k]] = built.recon[j].copy()
            elif progress is not None:
                progress(1.0, "your images are encoded")
            text_codes, tname = None, None
            if text_encoder is not None:
                tkey = (text_encoder.name, tuple(ds.captions))
                if tkey not in self._text:
                    self._text = {tkey: text_encoder.encode(ds.captions)}  # one text encoding kept
                text_codes, tname = self._text[tkey], text_encoder.name
            key = f"session-{self.token}-v{self.version}-{len(ds)}-{fp}"[:120]
            return MemoryBank(codes=torch.stack([codes[d] for d in digests]).float().contiguous(),
                              recon=np.stack([recon[d] for d in digests]), images=ds.images,
                              captions=list(ds.captions), ids=list(ds.ids), text_codes=text_codes, dataset=NAME,
                              encoder=encoder.name, text_encoder=tname, n=len(ds), seed=0, labels=None, key=key,
                              meta={"from_cache": False, "session": True, "side": SIDE})


def _unique(name: str, taken: set) -> str:
    """``name``, or ``name (2)``, ``name (3)``, ... when another stored image has it; adds it to ``taken``."""
    out, k = name, 2
    while out in taken:
        stem, dot, ext = name.rpartition(".")
        out = f"{stem} ({k}).{ext}" if dot else f"{name} ({k})"
        k += 1
    taken.add(out)
    return out


class SessionStore:
    """Sessions' own images by session id, bounded and dropped when idle (module docstring).

    Args:
        max_sessions: sessions whose images are held at once; a new one drops the least recently used.
        idle_s: seconds unused after which :meth:`sweep` drops a session's images.
        caps: ``callable() -> UploadCaps`` read when a session starts (public mode is read each time).
        clock: ``callable() -> seconds`` (tests pass a fake clock; no test sleeps).
    """

    def __init__(self, max_sessions: int = 32, idle_s: float = 3600.0,
                 caps: Callable[[], UploadCaps] = lambda: LOCAL_UPLOAD_CAPS, clock: Callable[[], float] = time.monotonic):
        if max_sessions < 1 or idle_s <= 0:
            raise ValueError("A session store needs max_sessions >= 1 and idle_s > 0.")
        self.max_sessions, self.idle_s, self.caps, self.clock = int(max_sessions), float(idle_s), caps, clock
        self._sessions: OrderedDict[str, tuple[SessionImages, float]] = OrderedDict()  # oldest use first
        self._reasons: OrderedDict[str, str] = OrderedDict()  # why a session's images were dropped
        self._cond = threading.Condition()
        self.default: list = []  # UploadedImages every new session starts with (serve --memories DIR)

    def __len__(self) -> int:
        return len(self._sessions)

    def get(self, session_id: str | None, create: bool = True) -> SessionImages | None:
        """The images of ``session_id`` (created empty, or with the default files, when ``create``)."""
        if not session_id:
            raise ValueError("Your images belong to a browser session; this call came without one.")
        with self._cond:
            entry = self._sessions.pop(session_id, None)
            if entry is None:
                if not create:
                    return None
                images = SessionImages(self.caps())
                if self.default:  # the folder preloaded for everyone: the same arrays, own names and captions
                    images.images = [replace(im) for im in self.default]
                images.notice = self._reasons.pop(session_id, "")
                while len(self._sessions) >= self.max_sessions:
                    old, _ = next(iter(self._sessions.items()))
                    self._drop(old, f"Your images were removed: this server holds the images of "
                                    f"{self.max_sessions} sessions at once, and yours had been unused the longest. "
                                    "Add them again to continue.")
            else:
                images = entry[0]
            self._sessions[session_id] = (images, self.clock())  # now the most recently used
            return images

    def holds(self, session_id: str) -> bool:
        with self._cond:
            return session_id in self._sessions

    def _drop(self, session_id: str, reason: str) -> bool:
        entry = self._sessions.pop(session_id, None)
        if entry is None:
            return False
        entry[0].clear()  # free the arrays now, even if a handler still holds the object
        for path in list(entry[0].files):  # the pictures of its retrievals Gradio's cache handed out
            Path(path).unlink(missing_ok=True)
            with contextlib.suppress(OSError):
                Path(path).parent.rmdir()
        entry[0].files.clear()
        if reason:
            self._reasons[session_id] = reason
            while len(self._reasons) > 10 * self.max_sessions:
                self._reasons.popitem(last=False)
        self._cond.notify_all()
        return True

    def drop(self, session_id: str, reason: str = "") -> bool:
        """Delete a session's images (its tab closed); True when there were any."""
        with self._cond:
            return self._drop(session_id, reason)

    def sweep(self) -> list[str]:
        """Drop the sessions unused for ``idle_s`` seconds; returns their ids."""
        with self._cond:
            now = self.clock()
            old = [s for s, (_, t) in self._sessions.items() if now - t > self.idle_s]
            for s in old:
                self._drop(s, f"Your images were removed after {self.idle_s / 60:g} minutes unused.")
            return old

    def set_default(self, folder) -> UploadResult:
        """Preload every image of ``folder`` (with its captions.json / captions.txt) for each new session; the
        local caps apply (the server's operator chose the folder). Returns what was read and skipped."""
        files = sorted(p for p in Path(folder).iterdir() if p.is_file()) if Path(folder).is_dir() else None
        if files is None:
            raise ValueError(f"--memories: folder not found: {folder}")
        result = read_uploads(files, LOCAL_UPLOAD_CAPS)
        if not result.images:
            raise ValueError(f"--memories: no readable images in {folder}"
                             + (f" ({result.skipped[0][0]}: {result.skipped[0][1]})" if result.skipped else ""))
        self.default = result.images
        return result

    def wait_dropped(self, session_id: str, timeout: float) -> bool:
        """Block until ``session_id`` holds no images (or ``timeout`` s pass); True when it is gone."""
        with self._cond:
            return self._cond.wait_for(lambda: session_id not in self._sessions, timeout)

    def memory_bytes(self) -> int:
        with self._cond:
            return sum(s.memory_bytes() for s, _ in self._sessions.values())
