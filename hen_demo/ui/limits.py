"""What one request may ask of a shared server: public-mode caps, N on the slider's grid, image sizes, disk.

A public demo (a Hugging Face Space, a class on one laptop) serves anonymous users on two cores and 16 GB, so
the server enforces, whatever a browser or a script sends:

* **N on the slider's grid** (:func:`snap_n`): N = 15 would build and keep another bank next to N = 10 and 20.
* **Image sizes** (:func:`guard_inputs`): every image input (Image, ImageEditor, Sketchpad) has its pixel size read
  from the file header *before* Gradio decodes it (the editor decodes its background, layers and composite in
  ``preprocess``; a 316 kB 10,000 × 10,000 PNG took 11.7 s and 300 MB there), and PIL refuses decompression bombs.
* **Seeds** in 0 .. 2**32 - 1 (NumPy's range), said in a sentence instead of "Overflow when unpacking long long".
* **Public mode** (``HEN_PUBLIC=1``, on when ``SPACE_ID`` is set, off with ``HEN_PUBLIC=0``): caps on N, steps T,
  U-Hop's Stage I iterations and experiment sizes (:data:`PUBLIC_CAPS`); run the app locally to lift them.
* **Heavy work takes turns** (:data:`HEAVY`, :func:`heavy_slot`): experiments, Stage I fits, capacity sweeps and
  bank builds above :attr:`Caps.heavy_bank` images share one slot, so two of them never split the two cores; the
  heavy events run at a low CPU priority (``hen_demo.ui.priority``), so other visitors' requests go first.
* **Arguments** of every event are checked against their components before anything reads them
  (``hen_demo.ui.validate``): a bad value from a script gets a sentence, not Gradio's or Python's text.
* **Disk**: experiment runs from the UI go to one folder that keeps only the newest few (:func:`run_folder`).
"""

from __future__ import annotations

import contextlib
import functools
import io
import os
import re
import shutil
import tempfile
import threading
import time
import warnings
from pathlib import Path

import gradio as gr
from PIL import Image

from hen_demo.data.images import MAX_SIDE
from hen_demo.ui.caps import LOCAL_CAPS, PUBLIC_CAPS, Caps, caps, public_mode  # noqa: F401  (re-exported)
from hen_demo.ui.errors import log, refuse

MAX_FILE_SIZE = os.environ.get("HEN_MAX_FILE_SIZE", "10mb")  # launch(max_file_size=...): larger uploads refused
QUEUE_MAX = int(os.environ.get("HEN_QUEUE_MAX", "64"))  # requests waiting at once; the next is told to retry
SEED_MAX = 2**32 - 1
N_STEP, N_MIN = 10, 10  # the N sliders' grid: 10, 20, 30, ... and the dataset's size at the top
HEAVY = "heavy"  # the concurrency_id every heavy event shares (concurrency_limit=1)
KEEP_RUNS = 4  # experiment runs kept on disk from the UI
MAX_STREAM_FRAMES = 60  # frames one streamed retrieval sends at most (T = 300 streams every 5th step)


LOCAL_HINT = "Run the app on your own machine (python -m hen_demo serve) to go further."


# ---- N --------------------------------------------------------------------------------------------------
def snap_n(n, size: int | None) -> int:
    """N on the sliders' grid (10, 20, 30, ... and ``size`` itself), nearest value, within 1 .. ``size``.

    Raises ValueError for a missing or non-numeric N, and for N above the public cap.
    """
    if n is None:
        raise ValueError("Choose how many memories N to store.")
    try:
        n = float(n)
    except (TypeError, ValueError):
        raise ValueError(f"N must be a whole number of memories (got {n!r}).") from None
    if n != n or n in (float("inf"), float("-inf")):
        raise ValueError("N must be a whole number of memories.")
    top = int(size) if size else None
    if top is not None and top <= N_MIN:
        return top
    snapped = max(N_MIN, int(round((n - N_MIN) / N_STEP)) * N_STEP + N_MIN)
    if top is not None and (snapped > top or n >= top):
        snapped = top
    cap = caps().max_n
    if cap is not None and snapped > cap:
        raise ValueError(f"This public demo stores at most {cap:,} memories (N = {snapped:,} was asked). "
                         f"Choose a smaller N. {LOCAL_HINT}")
    return snapped


def cap_n(size: int) -> int:
    """The largest N a slider should offer for a dataset of ``size`` images."""
    cap = caps().max_n
    return int(size) if cap is None else min(int(size), cap)


def stream_every(steps: int, max_frames: int = MAX_STREAM_FRAMES) -> int:
    """Stream every k-th step so a run of ``steps`` sends at most ``max_frames`` frames (each is decoded,
    PNG-encoded and sent to the browser; 300 of them per user would cost more than the retrieval)."""
    return max(1, -(-int(steps) // int(max_frames)))


# ---- heavy work -----------------------------------------------------------------------------------------
_HEAVY_LOCK = threading.Lock()


@contextlib.contextmanager
def heavy_slot(what: str = "this job"):
    """Hold the one heavy slot (for heavy work started inside a light event, e.g. a large bank build)."""
    with _HEAVY_LOCK:
        yield


def heavy_events() -> dict:
    """Keyword arguments for a heavy event's registration: ``.click(fn, ..., **heavy_events())``."""
    return {"concurrency_id": HEAVY, "concurrency_limit": 1}


# ---- images ---------------------------------------------------------------------------------------------
def configure_pil() -> None:
    """PIL refuses to open more than 4 × MAX_SIDE² pixels anywhere (DecompressionBombError: 8,192² px; its
    default is 179 M px). Our own checks read the size from the header first and refuse any side over MAX_SIDE
    with the size in the sentence; this is the backstop for any decode they do not cover."""
    Image.MAX_IMAGE_PIXELS = 2 * MAX_SIDE * MAX_SIDE  # PIL raises above twice this, warns above it


def too_large_sentence(width: int, height: int) -> str:
    return (f"The image is {width:,} × {height:,} px; the largest side accepted is {MAX_SIDE:,} px. "
            f"Scale it down (the encoders work at 28-256 px) and try again.")


def _image_size(item) -> tuple[int, int] | None:
    """(width, height) from an image file's header (FileData, path, bytes), without decoding it."""
    if item is None:
        return None
    path = getattr(item, "path", None)
    if isinstance(item, (bytes, bytearray, memoryview)):
        src = io.BytesIO(bytes(item))
    elif path is not None or isinstance(item, (str, Path)):
        src = str(path if path is not None else item)
        if not os.path.exists(src):
            return None
    else:
        return None
    try:
        with warnings.catch_warnings():  # the size is checked right after, against MAX_SIDE
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(src) as im:
                return im.size
    except Image.DecompressionBombError as exc:  # PIL read the header and refused; its message has the pixels
        found = re.search(r"\((\d+) pixels\)", str(exc))
        what = f"The image has {int(found.group(1)):,} pixels" if found else "The image is far too large"
        raise refuse(f"{what}; the largest side accepted is {MAX_SIDE:,} px. Scale it down and try again.") from None
    except Exception as exc:  # not an image / truncated
        raise refuse("This file could not be read as an image (PNG, JPEG, WebP, ...). "
                       "Try another file, or save it again as PNG.") from exc


def check_editor_payload(component, payload) -> None:
    """Refuse an image input's payload (Image: FileData; ImageEditor: background, layers, composite) whose
    images are larger than MAX_SIDE a side, reading only their headers (gr.Error with a sentence)."""
    if payload is None:
        return
    parts = []
    if hasattr(payload, "background") or hasattr(payload, "layers"):
        if getattr(payload, "id", None) is not None and hasattr(component, "blob_storage"):
            cached = component.blob_storage.get(payload.id)
            if cached is not None:
                parts += [cached.background, cached.composite, *(cached.layers or [])]
        parts += [getattr(payload, "background", None), getattr(payload, "composite", None),
                  *(getattr(payload, "layers", None) or [])]
    else:
        parts.append(payload)
    for part in parts:
        size = _image_size(part)
        if size is not None and max(size) > MAX_SIDE:
            raise refuse(too_large_sentence(*size))


def check_seed(value) -> None:
    if value is None:
        return
    try:
        ok = float(value) == float(value) and 0 <= float(value) <= SEED_MAX
    except (TypeError, ValueError, OverflowError):
        ok = False
    if not ok:
        raise refuse(f"The seed must be a whole number from 0 to {SEED_MAX:,} (got {value}). "
                       "Type a smaller number; any seed in that range gives a reproducible result.")


def cap_sentence(label: str, cap: int, what: str, value: float) -> str:
    """The public cap's refusal: what the demo allows, what was asked, and how to go further."""
    return (f"This public demo allows at most {cap:,} {what} ({label} = {value:g} was asked). "
            f"Choose a smaller value. {LOCAL_HINT}")


def _cap_check(label: str, cap: int, what: str):
    def check(value):
        if value is not None and float(value) > cap:
            raise refuse(cap_sentence(label, cap, what, float(value)))

    return check


_GUARDED: dict[type, type] = {}


def _guarded_class(cls: type) -> type:
    """A subclass of component ``cls`` whose preprocess first runs the instance's ``_hen_checks``.

    It keeps the frontend's component (``is_template``, and ``get_block_name`` answers as ``cls`` does, so a
    guarded Sketchpad is still drawn by ImageEditor's frontend) and the class id.
    Swapping the class (not patching the instance) survives Gradio's per-session copies of a component.
    """
    if cls in _GUARDED:
        return _GUARDED[cls]

    def preprocess(self, payload):
        try:
            for check in getattr(self, "_hen_checks", ()):
                check(self, payload)
        except gr.Error as exc:  # an expected refusal: one log line, no traceback
            log.info("refused input '%s': %s", getattr(self, "label", None) or cls.__name__, exc.message)
            raise
        return cls.preprocess(self, payload)

    from gradio.blocks import Block

    if cls.get_block_name is Block.get_block_name:  # Gradio's rule, applied to cls (not to the subclass)
        block_name = (cls.__base__ if hasattr(cls, "is_template") else cls).__name__.lower()
    else:
        block_name = cls.get_block_name(cls)
    meta = type(cls)
    # the metaclass's own __new__ is skipped: it would write a .pyi stub file; the events are the base's
    sub = super(meta, meta).__new__(meta, f"Checked{cls.__name__}", (cls,), {
        "preprocess": preprocess, "is_template": True, "__module__": __name__,
        "get_component_class_id": classmethod(lambda c: cls.get_component_class_id()),
        # the frontend component of ``cls`` itself (a template such as Sketchpad names its parent, ImageEditor)
        "get_block_name": lambda self: block_name,
    })
    _GUARDED[cls] = sub
    return sub


def _add_check(block, check) -> None:
    if not isinstance(type(block), type) or type(block) not in _GUARDED.values():
        block.__class__ = _guarded_class(type(block))
    block._hen_checks = [*getattr(block, "_hen_checks", ()), check]


def _label(block) -> str:
    return str(getattr(block, "label", "") or "").lower()


def guard_inputs(demo: gr.Blocks) -> dict[str, int]:
    """Add the server-side checks to every input of ``demo`` (call after the tabs are built).

    Image / ImageEditor / Sketchpad: size from the header before decoding. Numbers labelled "seed": 0 .. 2**32-1.
    Public mode: sliders for N (labels with "memories n" / "n memories"), steps T ("steps t") and Stage I
    iterations ("iterations") get their maximum capped (the browser shows the cap) and refuse more with a
    sentence; the experiment size radio ("size" with "tiny") offers the allowed sizes only.
    Returns how many components of each kind were guarded (the tests check none was missed).
    """
    c = caps()
    counts = {"image": 0, "seed": 0, "n": 0, "steps": 0, "iterations": 0, "experiment": 0}
    for block in demo.blocks.values():
        label = _label(block)
        if isinstance(block, (gr.Image, gr.ImageEditor)):  # Sketchpad / Paint are ImageEditors
            _add_check(block, check_editor_payload)
            counts["image"] += 1
        elif isinstance(block, gr.Number) and "seed" in label:
            _add_check(block, lambda self, value: check_seed(value))
            counts["seed"] += 1
        elif isinstance(block, gr.Slider):
            for key, words, cap, what in (
                ("n", ("memories n", "n memories"), c.max_n, "memories"),
                ("steps", ("steps t",), c.max_steps, "retrieval steps"),
                ("iterations", ("iterations",), c.max_iterations, "Stage I iterations"),
            ):
                if any(w in label for w in words):
                    counts[key] += 1
                    if cap is not None:
                        block.maximum = min(block.maximum, cap)
                        if block.value is not None and not callable(block.value) and block.value > cap:
                            block.value = cap
                        check = _cap_check(block.label, cap, what)
                        _add_check(block, lambda self, value, check=check: check(value))
                        # hen_demo.ui.validate says this sentence for a value above the lowered maximum
                        block._hen_cap = functools.partial(cap_sentence, block.label, cap, what)
        elif isinstance(block, gr.Radio) and label == "size" and c.experiment_sizes is not None:
            counts["experiment"] += 1
            allowed = [ch for ch in block.choices if ch[1] in c.experiment_sizes]
            block.choices = allowed or block.choices
            if block.value not in c.experiment_sizes:
                block.value = c.experiment_sizes[0]

            def check_size(self, value, sizes=c.experiment_sizes):
                if value not in sizes:
                    raise refuse(f"This public demo runs experiments at size {' or '.join(sizes)} only "
                                   f"('{value}' was asked). {LOCAL_HINT}")

            _add_check(block, check_size)
    return counts


def check_encoders(encoders) -> None:
    """Public mode: at most ``max_encoders`` encoders in one experiment run (ValueError with a sentence)."""
    cap = caps().max_encoders
    if cap is not None and encoders and len(encoders) > cap:
        raise ValueError(f"This public demo compares at most {cap} encoders in one run ({len(encoders)} chosen). "
                         f"Untick some. {LOCAL_HINT}")


# ---- disk -----------------------------------------------------------------------------------------------
def runs_root() -> Path:
    return Path(os.environ.get("HEN_RUNS_DIR") or Path(tempfile.gettempdir()) / "hen_ui_runs")


_RUNS_LOCK = threading.Lock()


def run_folder(name: str, keep: int = KEEP_RUNS) -> Path:
    """A fresh folder for one experiment run from the UI, inside one folder that keeps the newest ``keep`` runs
    (older ones are deleted), so repeated runs do not fill the disk."""
    root = runs_root()
    with _RUNS_LOCK:
        root.mkdir(parents=True, exist_ok=True)
        runs = sorted((p for p in root.iterdir() if p.is_dir()), key=lambda p: p.stat().st_mtime)
        for old in runs[: max(0, len(runs) - keep + 1)]:
            shutil.rmtree(old, ignore_errors=True)
        safe = "".join(ch if ch.isalnum() or ch in "-_" else "_" for ch in name)[:40]
        return Path(tempfile.mkdtemp(prefix=f"{safe}_{time.strftime('%H%M%S')}_", dir=root))
