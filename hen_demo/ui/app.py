"""The Gradio app: one Blocks with a tab per module, and the ``serve`` command.

``python -m hen_demo serve [--host 127.0.0.1] [--port 7860] [--share]`` or ``python app.py``.
Each tab module exposes ``build_tab()`` (``build_tab(res)`` for the tabs that run memories over the app's one
:class:`~hen_demo.ui.resources.Resources`) and is called inside ``with gr.Tab(label):``. Tabs written
by other workstreams are skipped only while their module file does not exist yet; any other import error
propagates (a broken tab must be seen, not hidden).
"""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import logging
import os
import threading
import time
from pathlib import Path

import gradio as gr

from hen_demo.cache import release_memory
from hen_demo.ui import gradio_cache, gradio_skip, limits, presenter, sessions, theme, validate
from hen_demo.ui.resources import Resources

# (label, module) in the order they appear
TABS: list[tuple[str, str]] = [
    ("Explore", "hen_demo.ui.explore"),
    ("Compare", "hen_demo.ui.compare"),
    ("Separability", "hen_demo.ui.separability"),
    ("Text → Image", "hen_demo.ui.text2image"),
    ("U-Hop", "hen_demo.ui.uhop_tab"),
    ("Classroom", "hen_demo.ui.classroom"),
    ("Experiments", "hen_demo.ui.experiments_tab"),
    ("How it works", "hen_demo.ui.howto"),
]
# the tabs whose build_tab takes the shared Resources (they build banks and pipelines)
WITH_RESOURCES = {"Explore", "Compare", "Separability", "Text → Image", "U-Hop"}

# the app's CSS: the font and size variables (hen_demo.ui.theme), then style.css beside this file
CSS = theme.css_variables() + (Path(__file__).with_name("style.css")).read_text(encoding="utf-8")
CSS += "\n" + presenter.CSS  # presenter mode's own stylesheet (hen_demo/ui/presenter.css)

HEADER = """# HEN Explorer — associative memories you can watch work
Images stored as memories of a modern Hopfield network, recalled from a damaged image or a caption, step by step.
**HEN** runs the dynamics in an encoder's latent space; *raw pixels* is the plain modern Hopfield network.
"""

PUBLIC_NOTE = """
*Public demo: N, steps, U-Hop iterations and experiment sizes are capped, and heavy jobs take turns. Run it on
your own machine (`python -m hen_demo serve`) to lift the caps.*
"""

CONCURRENCY = int(os.environ.get("HEN_CONCURRENCY", "4"))
# uploads and other temporary files Gradio keeps: checked every 10 minutes, deleted after an hour
DELETE_CACHE = (600, 3600)
HOUSEKEEPING_S = 30.0  # how often idle cache entries are dropped and freed memory handed back to the OS

limits.configure_pil()  # before any image is opened: PIL refuses decompression bombs
gradio_cache.install()  # re-sending a picture never rewrites a cached file a browser is reading
gradio_skip.install()  # a streamed gr.skip() rebuilds no component (issue 19 §14)


def available_tabs(only: list[str] | None = None) -> list[tuple[str, str]]:
    """The tabs whose module exists (others are still being written), optionally only those labelled ``only``."""
    tabs = [(label, mod) for label, mod in TABS if importlib.util.find_spec(mod) is not None]
    if only is not None:
        tabs = [(label, mod) for label, mod in tabs if label in only]
    return tabs


def build_app(warm: bool = True, tabs: list[str] | None = None, res: Resources | None = None) -> gr.Blocks:
    """Build the whole app (``demo.resources``: the one :class:`Resources` its tabs share).

    Args:
        res: the shared encoders / banks / pipelines (default: a new one, byte budget from the environment).
        warm: build the default memory bank now (disk-cached after the first run), so the first click is fast.
        tabs: labels of the tabs to include (default: all; env ``HEN_TABS`` = comma-separated labels).
    """
    if tabs is None and os.environ.get("HEN_TABS"):
        tabs = [t.strip() for t in os.environ["HEN_TABS"].split(",")]
    res = Resources() if res is None else res
    if warm:
        warm_up(res)
        warm_captions_in_background(res)
    with gr.Blocks(title="HEN Explorer", fill_width=True, delete_cache=DELETE_CACHE) as demo:
        gr.Markdown(HEADER + (PUBLIC_NOTE if limits.public_mode() else ""), elem_classes="hen-header")
        presenter.build_presenter_controls()  # the toggle, ?present=1, "Next iteration", keyboard shortcuts
        # "wrap": on a phone every tab stays in the bar (on two rows), none hidden behind a "⋯" menu
        with gr.Tabs(overflow_behavior="wrap", elem_id="hen-tabs"):
            for label, module_name in available_tabs(tabs):
                module = importlib.import_module(module_name)
                with gr.Tab(label):
                    module.build_tab(res) if label in WITH_RESOURCES else module.build_tab()
        sessions.install(demo)  # each event knows its session (its own images); a closed tab's images go
    demo.resources = res
    limits.guard_inputs(demo)  # image sizes before decoding, seed range, public caps: checked on the server
    validate.install(demo)  # every event's arguments checked against their components, refusals as sentences
    demo.queue(default_concurrency_limit=CONCURRENCY, max_size=limits.QUEUE_MAX)
    from hen_demo.ui.api import hide_plumbing

    hide_plumbing(demo)  # only the retrievals are API endpoints; previews and redraws are UI plumbing
    return demo


def warm_up(res: Resources) -> float:
    """Load the default encoder and memory bank into the shared cache; returns seconds taken."""
    from hen_demo.ui import state

    t0 = time.perf_counter()
    try:
        enc = state.default_encoder()
        print(f"HEN Explorer: loading the {enc} encoder and the default memory bank ({state.DEFAULT_DATASET}, "
              f"N = {state.DEFAULT_N:,}); the first start encodes it (cached afterwards) ...", flush=True)
        res.encoder(enc)
        res.bank(state.DEFAULT_DATASET, enc, state.DEFAULT_N)
        print(f"HEN Explorer: ready after {time.perf_counter() - t0:.1f} s; building the tabs ...", flush=True)
    except ValueError as exc:  # e.g. a dataset missing here: the app still starts, the tab shows the error
        print(f"warm-up skipped: {exc}")
    return time.perf_counter() - t0


def warm_captions_in_background(res: Resources) -> threading.Thread:
    """Load the default text encoder and the Text → Image tab's default caption memories in a daemon thread,
    so the app starts as fast as before and the first caption click does not wait ~15 s for them (issue 19
    §13). A click that comes earlier waits for the same build (the shared cache builds each key once)."""
    from hen_demo.ui import state, text2image

    def work():
        t0 = time.perf_counter()
        try:
            d = text2image.DEFAULTS
            text_encoder, encoder = state.default_text_encoder(), state.default_encoder()
            res.text_encoder(text_encoder, encoder)
            res.pipeline(res.memory_config(text2image.DEFAULT_DATASET, encoder, d["n"], d["similarity"], "softmax",
                                           d["beta"], d["beta_mode"], text_encoder=text_encoder,
                                           text_weight=d["text_weight"]))
            print(f"HEN Explorer: text encoder {text_encoder} and caption memories ready after "
                  f"{time.perf_counter() - t0:.1f} s", flush=True)
        except ValueError as exc:  # e.g. no text encoder here: the tab says so when used
            print(f"caption warm-up skipped: {exc}", flush=True)

    thread = threading.Thread(target=work, name="hen-warm-captions", daemon=True)
    thread.start()
    return thread


def configure_logging() -> None:
    """One line per expected user error, tracebacks for the unexpected ones (hen_demo.ui.errors)."""
    logger = logging.getLogger("hen_demo")
    if not logger.handlers:
        handler = logging.StreamHandler()
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
        logger.addHandler(handler)
        logger.setLevel(logging.INFO)


def start_housekeeping(cache, period: float = HOUSEKEEPING_S) -> threading.Thread:
    """A daemon thread that drops ``cache`` entries idle past their age and hands freed memory back to the OS
    (without it, RSS stays at its peak after a burst of requests)."""

    def loop():
        while True:
            time.sleep(period)
            cache.sweep()
            sessions.STORE.sweep()  # visitors' own images unused for HEN_SESSION_IDLE_S
            release_memory()

    thread = threading.Thread(target=loop, name="hen-housekeeping", daemon=True)
    thread.start()
    return thread


def launch(demo: gr.Blocks, host: str | None = None, port: int | None = None, share: bool = False, **kwargs):
    """Launch with the app's theme and CSS (Gradio 6 takes them at launch), the upload size cap and housekeeping."""
    configure_logging()
    if getattr(demo, "resources", None) is not None:
        start_housekeeping(demo.resources.cache)
    kwargs.setdefault("max_file_size", limits.MAX_FILE_SIZE)
    return demo.launch(server_name=host, server_port=port, share=share, css=CSS, theme=theme.theme(),
                       show_error=True, **kwargs)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--host", default=os.environ.get("GRADIO_SERVER_NAME", "127.0.0.1"),
                        help="interface to listen on (0.0.0.0 to serve the local network)")
    parser.add_argument("--port", type=int, default=int(os.environ.get("GRADIO_SERVER_PORT", "7860")),
                        help="port to listen on (default: %(default)s; env GRADIO_SERVER_PORT)")
    parser.add_argument("--share", action="store_true", help="create a temporary public gradio.live link")
    parser.add_argument("--memories", default=None, metavar="DIR",
                        help="preload the images of DIR (with captions.txt / captions.json) as every session's "
                             "'Your images' bank (a class set); visitors can add and remove their own")


def run(args) -> int:
    if getattr(args, "memories", None):
        try:
            loaded = sessions.STORE.set_default(args.memories)
        except ValueError as exc:
            print(exc)
            return 2
        print(f"HEN Explorer: {len(loaded.images)} images from {args.memories} are every session's 'Your images'"
              + (f"; skipped {len(loaded.skipped)}: " + "; ".join(f"{a}: {b}" for a, b in loaded.skipped[:5])
                 if loaded.skipped else ""), flush=True)
    demo = build_app()
    launch(demo, host=args.host, port=args.port, share=args.share)
    return 0
