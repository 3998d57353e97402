"""``python -m hen_demo bench --load --uploads [--clients 20 --images 50]``: many visitors' own banks at once.

Launches the app in public mode (``HEN_PUBLIC=1``, its caps) in a child process on 127.0.0.1, reads its RSS
(``before``), then ``--clients`` gradio_client sessions each add ``--images`` distinct 96×96 PNGs to their own bank
(``/add_memories``, encoded with the default encoder) and run one retrieval on it (``/retrieve``, dataset "mine");
RSS is sampled every 0.2 s meanwhile (``peak``). Then every client closes (their tabs' heartbeats end and
``demo.unload`` deletes their banks) and ``after`` is read ``--settle`` seconds later. The public-Space bound of
``bench --load`` applies: peak RSS at most ``RSS_BOUND_MB``.
"""

from __future__ import annotations

import json
import random
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np
from PIL import Image

from hen_demo.bench_load import free_port, rss_mb, start_server, wait_ready

RSS_BOUND_MB = 2000.0  # the public Space's bound on peak RSS (README, "app under load")


def _pictures(folder: Path, count: int, seed: int) -> list[Path]:
    rng = np.random.default_rng(seed)
    out = []
    for k in range(count):
        p = folder / f"s{seed}_{k:03d}.png"
        Image.fromarray(rng.integers(0, 256, (96, 96, 3), dtype=np.uint8)).save(p)
        out.append(p)
    return out


def run_uploads(clients: int = 20, images: int = 50, settle: float = 20.0, startup_timeout: float = 600.0,
                log=print) -> dict:
    """Launch, add every client's images, retrieve once each, close them all; returns the measurements."""
    from gradio_client import Client, handle_file

    from hen_demo.ui import state

    if clients < 1 or images < 1:
        raise ValueError("--clients and --images must be at least 1.")
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    tmp = Path(tempfile.mkdtemp(prefix="hen_uploads_"))
    env = {"HEN_PUBLIC": "1", "GRADIO_HEARTBEAT_INTERVAL": "2", "HEN_SESSION_BANKS": str(max(32, clients))}
    proc = start_server(port, env, tmp / "server.log")
    try:
        wait_ready(url, proc, startup_timeout)
        files = {i: _pictures(tmp, images, seed=i) for i in range(clients)}
        before = rss_mb(proc.pid)
        peak, stop = [before or 0.0], threading.Event()

        def sample():
            while not stop.is_set():
                r = rss_mb(proc.pid)
                peak[0] = max(peak[0], r or 0.0)
                stop.wait(0.2)

        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        enc = state.default_encoder()
        errors, stored, times, lock = [], [], [], threading.Lock()
        handles = []

        def user(i: int):
            try:
                c = Client(url, verbose=False, download_files=False, analytics_enabled=False,
                           httpx_kwargs={"timeout": 600})  # uploads wait while other sessions encode
                handles.append(c)
                t0 = time.monotonic()
                out = c.predict([handle_file(str(p)) for p in files[i]], enc, api_name="/add_memories")
                table = out[2]["data"] if isinstance(out[2], dict) else out[2]
                c.predict(state.MINE, enc, "l2", "softmax", 1.0, max(10, images), 30, 1e-6, "stored memory",
                          random.Random(i).randrange(images), None, "", state.default_text_encoder(),
                          "occlude-bottom", 0.5, 0, 0, "relative", api_name="/retrieve")
                with lock:
                    stored.append(len(table))
                    times.append(time.monotonic() - t0)
            except Exception as exc:  # noqa: BLE001 - a failed user is a measured error
                with lock:
                    errors.append(f"{type(exc).__name__}: {str(exc)[:200]}")

        log(f"{clients} sessions × {images} images (public mode, encoder {enc}); RSS before {before} MB")
        threads = [threading.Thread(target=user, args=(i,), daemon=True) for i in range(clients)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(startup_timeout)
        loaded = rss_mb(proc.pid)
        for c in handles:
            c.close()
        time.sleep(max(0.0, settle))  # the heartbeats end, demo.unload runs, housekeeping frees memory
        stop.set()
        sampler.join(2)
        after = rss_mb(proc.pid)
        return {"clients": clients, "images": images, "encoder": enc, "stored_per_client": sorted(set(stored)),
                "errors": len(errors), "error_examples": sorted(set(errors))[:5],
                "add_and_retrieve_mean_s": round(sum(times) / len(times), 2) if times else None,
                "rss_before_mb": before, "rss_peak_mb": round(peak[0], 1), "rss_loaded_mb": loaded,
                "rss_after_mb": after, "rss_bound_mb": RSS_BOUND_MB, "within_bound": peak[0] <= RSS_BOUND_MB,
                "settle_s": settle, "server_log": str(tmp / "server.log")}
    finally:
        proc.terminate()
        try:
            proc.wait(15)
        except Exception:  # noqa: BLE001
            proc.kill()


def format_uploads(r: dict) -> str:
    lines = [f"uploads: {r['clients']} sessions × {r['images']} images ({r['encoder']}): stored "
             f"{r['stored_per_client']} each, {r['errors']} errors, add + retrieve {r['add_and_retrieve_mean_s']} s "
             "mean",
             f"RSS: before {r['rss_before_mb']} MB, peak {r['rss_peak_mb']} MB (bound {r['rss_bound_mb']:.0f} MB: "
             f"{'within' if r['within_bound'] else 'OVER'}), all loaded {r['rss_loaded_mb']} MB, "
             f"{r['settle_s']:.0f} s after the sessions closed {r['rss_after_mb']} MB"]
    return "\n".join(lines + [f"error: {e}" for e in r["error_examples"]])


def run(args) -> int:
    """The ``bench --load --uploads`` command (dispatched by ``hen_demo.bench``)."""
    r = run_uploads(clients=args.clients or 20, images=args.images, settle=args.settle,
                    startup_timeout=args.startup_timeout, log=(lambda *a: print(*a, file=sys.stderr, flush=True)))
    print(json.dumps(r, indent=2) if args.json else format_uploads(r))
    return 0 if r["errors"] == 0 and r["within_bound"] else 1
