"""``python -m hen_demo bench --load --heavy [--clients 1 --seconds 40]``: does a heavy job slow everyone else?

One app is launched on 127.0.0.1 (``bench_load.start_server``) and measured twice, back to back:

* **idle**: ``--clients`` users send the app's default Explore retrieval (``bench_load.default_request``) back
  to back for ``--seconds``;
* **heavy**: the same users again, while one more visitor loops the heaviest job, U-Hop Stage I at its slider's
  top (``/run_uhop`` with 300 iterations, a heavy event).

It prints both p95 latencies and their ratio: the fair-share goal (issue 23) is a ratio of at most
:data:`FAIR_RATIO`. The heavy job runs at the lowest CPU priority (``hen_demo.ui.limits.low_priority``), so the
default requests take the cores first.
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
import threading
import time
from pathlib import Path

from hen_demo import bench_load

FAIR_RATIO = 3.0  # a default request's p95 under the heavy loop / its idle p95, at most


def _drive(url: str, request: dict, clients: int, seconds: float, heavy: bool, request_timeout: float) -> dict:
    """``clients`` users sending ``request`` (the default one) for ``seconds`` (and the heavy visitor when
    ``heavy``): latencies."""
    from gradio_client import Client

    latencies: list[float] = []
    errors: list[str] = []
    heavy_times: list[float] = []
    lock = threading.Lock()
    t_end = time.monotonic() + seconds
    started = threading.Event()

    def client():
        return Client(url, verbose=False, download_files=False, analytics_enabled=False)

    def user(i: int):
        c = client()
        if heavy:
            started.wait(60)  # measure only while the heavy job is running
        while time.monotonic() < t_end:
            t0 = time.monotonic()
            try:
                c.submit(**request, api_name="/retrieve").result(timeout=request_timeout)
                with lock:
                    latencies.append(time.monotonic() - t0)
            except Exception as exc:  # noqa: BLE001 - a failed request is a measured error
                with lock:
                    errors.append(f"{type(exc).__name__}: {str(exc)[:200]}")

    def heavy_user():
        c = client()
        while time.monotonic() < t_end:
            t0 = time.monotonic()
            job = c.submit(iterations=bench_load.HEAVY_ITERATIONS, api_name="/run_uhop")
            started.set()
            try:
                job.result(timeout=request_timeout)
                heavy_times.append(time.monotonic() - t0)
            except Exception as exc:  # noqa: BLE001
                with lock:
                    errors.append(f"heavy: {type(exc).__name__}: {str(exc)[:200]}")

    threads = [threading.Thread(target=user, args=(i,), daemon=True) for i in range(clients)]
    if heavy:
        threads.append(threading.Thread(target=heavy_user, daemon=True))
    for t in threads:
        t.start()
    for t in threads:
        t.join(seconds + request_timeout + 30)
    return {"completed": len(latencies), "p50_s": bench_load._percentile(latencies, 0.5),
            "p95_s": bench_load._percentile(latencies, 0.95), "max_s": max(latencies) if latencies else None,
            "errors": errors, "heavy_completed": len(heavy_times),
            "heavy_mean_s": sum(heavy_times) / len(heavy_times) if heavy_times else None}


def verdict(idle_p95: float | None, heavy_p95: float | None) -> tuple[float | None, bool]:
    """(heavy p95 / idle p95, whether that is at most FAIR_RATIO); (None, False) when a phase completed nothing."""
    if not idle_p95 or not heavy_p95:
        return None, False
    ratio = heavy_p95 / idle_p95
    return ratio, ratio <= FAIR_RATIO


def run_heavy(clients: int = 1, seconds: float = 40.0, startup_timeout: float = 600.0, env: dict | None = None,
              request_timeout: float = 300.0, log=print) -> dict:
    """Launch the app, measure the idle and the heavy phase (module docstring), stop it; returns the numbers."""
    if clients < 1 or seconds <= 0:
        raise ValueError("--clients must be at least 1 and --seconds positive.")
    port = bench_load.free_port()
    url = f"http://127.0.0.1:{port}"
    tmp = Path(tempfile.mkdtemp(prefix="hen_heavy_"))
    proc = bench_load.start_server(port, env, tmp / "server.log")
    load_avg = os.getloadavg()[0] if hasattr(os, "getloadavg") else None
    try:
        bench_load.wait_ready(url, proc, startup_timeout)
        from gradio_client import Client

        warm = Client(url, verbose=False, download_files=False, analytics_enabled=False)
        request = bench_load.default_request(warm)  # what a click on a fresh page sends
        warm.predict(**request, api_name="/retrieve")  # lazy loads
        warm.predict(iterations=1, api_name="/run_uhop")  # the U-Hop bank and its first-run costs
        log(f"app up at {url}; idle phase: {clients} client(s) for {seconds:.0f} s")
        idle = _drive(url, request, clients, seconds, heavy=False, request_timeout=request_timeout)
        log(f"heavy phase: the same + one visitor looping U-Hop Stage I ({bench_load.HEAVY_ITERATIONS} iterations)")
        loaded = _drive(url, request, clients, seconds, heavy=True, request_timeout=request_timeout)
    finally:
        proc.terminate()
        try:
            proc.wait(15)
        except Exception:  # noqa: BLE001 - still running: kill it
            proc.kill()
    ratio, fair = verdict(idle["p95_s"], loaded["p95_s"])
    rnd = bench_load._round
    return {"clients": clients, "seconds": seconds, "cpu_count": os.cpu_count(), "load_average_before": load_avg,
            "idle_completed": idle["completed"], "idle_p50_s": rnd(idle["p50_s"]), "idle_p95_s": rnd(idle["p95_s"]),
            "heavy_completed": loaded["completed"], "heavy_p50_s": rnd(loaded["p50_s"]),
            "heavy_p95_s": rnd(loaded["p95_s"]), "heavy_max_s": rnd(loaded["max_s"]),
            "p95_ratio": rnd(ratio), "fair": fair,
            "heavy_jobs_completed": loaded["heavy_completed"], "heavy_job_mean_s": rnd(loaded["heavy_mean_s"]),
            "errors": len(idle["errors"]) + len(loaded["errors"]),
            "error_examples": sorted(set(idle["errors"] + loaded["errors"]))[:5],
            "server_log": str(tmp / "server.log")}


def format_heavy(r: dict) -> str:
    lines = [
        f"default request, {r['clients']} client(s) × {r['seconds']:.0f} s per phase",
        f"idle:  {r['idle_completed']} completed, p50 {r['idle_p50_s']} s, p95 {r['idle_p95_s']} s",
        f"heavy: {r['heavy_completed']} completed, p50 {r['heavy_p50_s']} s, p95 {r['heavy_p95_s']} s, "
        f"max {r['heavy_max_s']} s  (while U-Hop Stage I ran {r['heavy_jobs_completed']} times, "
        f"mean {r['heavy_job_mean_s']} s)",
        f"p95 ratio {r['p95_ratio']} (fair: at most {FAIR_RATIO:g}) -> {'fair' if r['fair'] else 'NOT fair'}",
        f"machine: {r['cpu_count']} CPUs, load average before the run {r['load_average_before']}",
    ]
    return "\n".join(lines + [f"error: {e}" for e in r["error_examples"]])


def run(args) -> int:
    """The ``bench --load --heavy`` command (dispatched by ``hen_demo.bench``)."""
    try:
        result = run_heavy(clients=args.clients or 1, seconds=args.seconds, startup_timeout=args.startup_timeout,
                           log=(lambda *a: print(*a, file=sys.stderr, flush=True)))
    except (ValueError, RuntimeError) as exc:
        print(exc, file=sys.stderr)
        return 2
    print(json.dumps(result, indent=2) if args.json else format_heavy(result))
    return 0 if result["errors"] == 0 and result["fair"] else 1
