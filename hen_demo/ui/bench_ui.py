"""``python -m hen_demo bench --ui``: how fast the app feels (issue 4, item 9).

Measures, with N = 1,000 memories and the shipped encoder (raw pixels if none is trained):

1. **start to ready**: a fresh ``python`` process imports the app, builds it (warm-up included: the default
   memory bank, loaded from the disk cache after the first run) and answers HTTP — the time a user waits
   after ``python app.py``. Run twice: the first run may build the bank cache, the second is the usual case.
2. **first frame / frames per second** of the Explore tab's own streaming function (``explore.retrieve``,
   exactly what the Retrieve button calls), with ``tol = 0`` so it runs all T steps: time from the call to
   the first streamed frame, and frames per second after it.
3. the same in a real browser: headless chromium (Playwright) clicks Retrieve; time until the decoded state
   image changes on the page, and frames per second shown.

Targets: first frame within 1 s, at least 5 frames/s, start to ready within 20 s.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import time
import urllib.request

TARGET_FIRST_FRAME_S = 1.0
TARGET_FPS = 5.0
TARGET_START_S = 20.0

_START_SCRIPT = """
import sys, time
t0 = float(sys.argv[1])
from hen_demo.ui.app import build_app, launch
demo = build_app()
launch(demo, host="127.0.0.1", port=int(sys.argv[2]), prevent_thread_lock=True, quiet=True)
print("READY", flush=True)
import threading; threading.Event().wait(float(sys.argv[3]))
"""


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_to_ready(timeout: float = 120.0) -> float:
    """Seconds from spawning ``python`` to the app answering HTTP 200 on its page."""
    port = _free_port()
    t0 = time.time()
    proc = subprocess.Popen([sys.executable, "-c", _START_SCRIPT, str(t0), str(port), str(timeout)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        while time.time() - t0 < timeout:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=1) as r:
                    if r.status == 200:
                        return time.time() - t0
            except OSError:
                time.sleep(0.1)
            if proc.poll() is not None:
                raise RuntimeError("the app process exited before it was ready")
        raise TimeoutError(f"the app was not ready after {timeout:.0f} s")
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def _explore_args(encoder: str, index: int, steps: int, beta: float = 0.1) -> list:
    from hen_demo.ui import state

    # fps 0: unthrottled (the tab's playback slider paces frames for watching); beta as an absolute value
    return ["tiles", encoder, "l2", "softmax", beta, 1000, steps, 0.0, "stored memory", index, None, "",
            state.default_text_encoder(), "occlude-bottom", 0.5, 0, 0, "absolute"]


def stream_timings(encoder: str, queries: int = 5, steps: int = 30, beta: float = 0.03) -> dict:
    """First-frame latency and frames/s of ``explore.retrieve`` (the Retrieve button's function)."""
    from hen_demo.ui import explore, state

    # what the app does before it is ready: registry listings (build_app) and the default bank (warm_up)
    state.dataset_choices(), state.encoder_choices(), state.text_encoder_choices()
    state.RESOURCES.bank("tiles", encoder, 1000)
    state.RESOURCES.dataset("tiles", 1000)
    fn = explore.retrieve.__wrapped__  # without the gr.Error wrapper; same work
    firsts, rates, counts = [], [], []
    for q in range(queries):
        t0 = time.perf_counter()
        stamps = []
        for _ in fn(*_explore_args(encoder, 11 * q + 3, steps, beta), progress=lambda *a, **k: None):
            stamps.append(time.perf_counter() - t0)
        firsts.append(stamps[0])
        counts.append(len(stamps))
        if len(stamps) > 1:
            rates.append((len(stamps) - 1) / (stamps[-1] - stamps[0]))
    return {"first_frame_s": statistics.median(firsts), "first_frame_max_s": max(firsts),
            "frames_per_s": statistics.median(rates), "frames": counts, "queries": queries}


CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]

# records when the decoded-state image changes (one entry per streamed frame that reached the page)
_OBSERVE_AND_CLICK = """() => {
  if (window.__obs) window.__obs.disconnect();
  window.__frames = [];
  const box = document.querySelector('#explore-state');
  const old = box.querySelector('img');
  const seen = new Set(old && old.src ? [old.src] : []);  // the previous query's last frame is not new
  const note = () => { const img = box.querySelector('img');
    if (img && img.src && !seen.has(img.src)) { seen.add(img.src); window.__frames.push(performance.now()); } };
  window.__obs = new MutationObserver(note);
  window.__obs.observe(box, {subtree: true, childList: true, attributes: true});
  window.__t0 = performance.now();
  document.querySelector('#explore-retrieve').click();
}"""


def browser_timings(queries: int = 3, beta: float = 0.03, steps: int = 30) -> dict | None:
    """Click Retrieve in headless chromium; time until the first decoded frame shows and frames/s after.

    ``beta = 0.03`` with raw pixels or a small encoder gives a long (metastable) trajectory, so frames/s is
    measured over many frames; ``tol = 0`` runs all ``steps`` unless the state stops moving exactly.
    Returns None when chromium or playwright is missing.
    """
    if not os.path.exists(CHROMIUM):
        return None
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        return None
    from hen_demo.ui.app import build_app, launch

    demo = build_app()
    port = _free_port()
    launch(demo, host="127.0.0.1", port=port, prevent_thread_lock=True, quiet=True)
    firsts, rates, counts, statuses = [], [], [], []
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            page = browser.new_page(viewport={"width": 1400, "height": 1200})
            page.goto(f"http://127.0.0.1:{port}/", timeout=60_000)
            page.wait_for_selector("#explore-retrieve", timeout=60_000)
            page.get_by_text("Advanced: separation, steps", exact=False).first.click()  # steps, tol live there
            page.locator("#explore-beta-mode input[value='absolute']").first.check()
            page.wait_for_timeout(300)
            for elem, value in (("beta", beta), ("steps", steps), ("tol", 0), ("fps", 0)):
                box = page.locator(f"#explore-{elem} input[type=number]").first
                box.fill(str(value))
                box.press("Tab")  # commit the value (blur)
            page.wait_for_timeout(500)
            for q in range(queries):
                # a different stored memory each time: identical frames would reuse cached image URLs
                box = page.locator("#explore-index input").first
                box.fill(str(17 * q + 4))
                box.press("Enter")
                page.wait_for_timeout(800)
                page.evaluate(_OBSERVE_AND_CLICK)
                page.wait_for_function("() => document.querySelector('#explore-retrieve') && "
                                       "!document.querySelector('#explore-state .pending') && "
                                       "window.__frames.length > 0", timeout=60_000)
                # wait until no new frame arrived for 1.5 s (the stream has ended)
                last = -1
                while True:
                    page.wait_for_timeout(1500)
                    n = page.evaluate("window.__frames.length")
                    if n == last:
                        break
                    last = n
                t0, frames = page.evaluate("[window.__t0, window.__frames]")
                statuses.append(page.locator("#explore-status").inner_text()[:60])
                stamps = [(f - t0) / 1000.0 for f in frames]
                firsts.append(stamps[0])
                counts.append(len(stamps))
                if len(stamps) > 1 and stamps[-1] > stamps[0]:
                    rates.append((len(stamps) - 1) / (stamps[-1] - stamps[0]))
            browser.close()
    finally:
        demo.close()
    return {"first_frame_s": statistics.median(firsts), "first_frame_max_s": max(firsts),
            "frames_per_s": statistics.median(rates) if rates else None, "frames_shown": counts,
            "last_status": statuses, "beta": beta, "steps": steps, "queries": queries}


def run(args) -> int:
    if getattr(args, "threads", None):
        import torch

        torch.set_num_threads(args.threads)
    from hen_demo.ui import state

    encoder = state.default_encoder()
    report = {"encoder": encoder, "n": 1000, "dataset": "tiles", "device": str(state.RESOURCES.device)}
    print(f"HEN Explorer app benchmark: tiles, N = 1,000, encoder {encoder}", file=sys.stderr)
    report["start_to_ready_s"] = [round(start_to_ready(), 2) for _ in range(2)]
    print(f"start to ready: {report['start_to_ready_s']} s (first run may build the bank cache)", file=sys.stderr)
    report["stream"] = stream_timings(encoder)
    print(f"explore.retrieve: {report['stream']}", file=sys.stderr)
    report["browser"] = browser_timings()
    print(f"in chromium: {report['browser']}", file=sys.stderr)
    s, h = report["stream"], report["browser"] or report["stream"]
    report["targets_met"] = {
        "first_frame_within_1s": s["first_frame_s"] <= TARGET_FIRST_FRAME_S and h["first_frame_s"] <= TARGET_FIRST_FRAME_S,
        "at_least_5_fps": s["frames_per_s"] >= TARGET_FPS and (h["frames_per_s"] or 0) >= TARGET_FPS,
        "start_within_20s": report["start_to_ready_s"][-1] <= TARGET_START_S,
    }
    if getattr(args, "json", False):
        print(json.dumps(report, indent=2))
    else:
        print(f"first frame: {s['first_frame_s']:.3f} s (function), {h['first_frame_s']:.3f} s (browser); "
              f"frames/s: {s['frames_per_s']:.1f} (function), {h['frames_per_s'] or 0:.1f} (browser); "
              f"start to ready: {report['start_to_ready_s'][-1]:.1f} s; targets met: {report['targets_met']}")
    return 0 if all(report["targets_met"].values()) else 1

