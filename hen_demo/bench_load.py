"""``python -m hen_demo bench --load [--clients 20 --seconds 60] [--json]``: the app under many users.

Launches the app in a child process on a free port of 127.0.0.1 (never another interface), waits until it
answers, sends one warm-up request, then drives it with ``--clients`` gradio_client sessions, each sending the
app's real default Explore retrieval back to back for ``--seconds``: ``/retrieve`` with every parameter at the
value its control starts with, as the app's API reports it (:func:`default_request`: what a student's click on
Retrieve sends on a fresh page); with ``--heavy`` one more user runs U-Hop Stage I (300 iterations, a heavy
event) back to back meanwhile. It prints completed requests per second, the server's CPU time per request (user
+ system CPU seconds of the server process during the load, from /proc, divided by the completed requests: what
a room of students costs a small CPU Space), the latency p50 / p95, the errors (with a few messages), and the
server's resident memory (RSS, from /proc): warm (after the warm-up), peak (sampled every 0.2 s during the load)
and after (``--settle`` seconds after the load ended).

The machine's load average at the start is printed too: other processes on the same cores slow the app down.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

HEAVY_ITERATIONS = 300  # U-Hop Stage I iterations of the --heavy user (the slider's top)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The load test's options (``--load`` itself is defined by ``hen_demo.bench``)."""
    parser.add_argument("--clients", type=int, default=None,
                        help="--load: concurrent simulated users (default 20; with --heavy 1)")
    parser.add_argument("--seconds", type=float, default=60.0, help="--load: how long each user keeps sending")
    parser.add_argument("--settle", type=float, default=20.0,
                        help="--load: seconds after the load before RSS 'after' is read (default 20)")
    parser.add_argument("--heavy", action="store_true",
                        help="--load: the default request's p95 idle, then while one more user runs U-Hop Stage I "
                             "(300 iterations) back to back (hen_demo.bench_heavy)")
    parser.add_argument("--uploads", action="store_true",
                        help="--load: instead, --clients sessions each add --images pictures to their own bank "
                             "(hen_demo.bench_uploads): RSS before, peak, after")
    parser.add_argument("--images", type=int, default=50, help="--load --uploads: images per session (default 50)")
    parser.add_argument("--startup-timeout", type=float, default=600.0,
                        help="--load: seconds to wait for the app to start (the first start builds banks)")


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def rss_mb(pid: int) -> float | None:
    """Resident memory of process ``pid`` in MB (None when it is gone or /proc is missing)."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024.0
    except OSError:
        return None
    return None


def default_request(client, api_name: str = "/retrieve") -> dict:
    """The app's real default request to ``api_name``: every parameter at its control's initial value, as the
    running app's API reports it (``parameter_default``), so the bench sends what a click on a fresh page sends."""
    params = client.view_api(return_format="dict", print_info=False)["named_endpoints"][api_name]["parameters"]
    missing = [p["parameter_name"] for p in params if not p.get("parameter_has_default")]
    if missing:
        raise RuntimeError(f"{api_name} has parameters without a default value: {', '.join(missing)}.")
    return {p["parameter_name"]: p["parameter_default"] for p in params}


def cpu_seconds(pid: int) -> float | None:
    """User + system CPU seconds process ``pid`` has used so far (all its threads; /proc/PID/stat), or None."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    # after the ")" ending the name: field 3 (state) is fields[0], so utime (14) and stime (15) are [11] and [12]
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def wait_idle(pid: int, below: float = 0.05, window: float = 1.0, timeout: float = 180.0) -> bool:
    """Wait until process ``pid`` uses less than ``below`` of a core over ``window`` seconds (its background
    warm-ups are done), at most ``timeout`` seconds; True when it got idle."""
    t_end = time.monotonic() + timeout
    while time.monotonic() < t_end:
        c0 = cpu_seconds(pid)
        time.sleep(window)
        c1 = cpu_seconds(pid)
        if c0 is None or c1 is None or c1 - c0 < below * window:
            return True
    return False


def _percentile(values: list[float], q: float) -> float | None:
    if not values:
        return None
    v = sorted(values)
    k = (len(v) - 1) * q
    lo, hi = int(k), min(int(k) + 1, len(v) - 1)
    return v[lo] + (v[hi] - v[lo]) * (k - lo)


def start_server(port: int, env: dict | None = None, log_path: Path | None = None) -> subprocess.Popen:
    """``python -m hen_demo serve --host 127.0.0.1 --port PORT`` in a child process."""
    cmd = [sys.executable, "-m", "hen_demo", "serve", "--host", "127.0.0.1", "--port", str(port)]
    out = open(log_path, "wb") if log_path else subprocess.DEVNULL
    child_env = {**os.environ, "GRADIO_ANALYTICS_ENABLED": "False", **(env or {})}
    return subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, env=child_env)


def wait_ready(url: str, proc: subprocess.Popen, timeout: float) -> None:
    t0 = time.monotonic()
    while time.monotonic() - t0 < timeout:
        if proc.poll() is not None:
            raise RuntimeError(f"The app exited with status {proc.returncode} before it answered.")
        try:
            with urllib.request.urlopen(url + "/config", timeout=5) as r:
                if r.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.5)
    raise RuntimeError(f"The app did not answer at {url} within {timeout:.0f} s.")


def run_load(clients: int = 20, seconds: float = 60.0, settle: float = 20.0, startup_timeout: float = 600.0,
             env: dict | None = None, request_timeout: float = 300.0, heavy: bool = False, log=print) -> dict:
    """Launch the app, drive it, stop it; returns the measurements (module docstring)."""
    from gradio_client import Client

    if clients < 1 or seconds <= 0:
        raise ValueError("--clients must be at least 1 and --seconds positive.")
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    tmp = Path(tempfile.mkdtemp(prefix="hen_load_"))
    proc = start_server(port, env, tmp / "server.log")
    load_avg = os.getloadavg()[0] if hasattr(os, "getloadavg") else None
    try:
        t_start = time.monotonic()
        wait_ready(url, proc, startup_timeout)
        log(f"app up at {url} after {time.monotonic() - t_start:.1f} s; warming up")

        def client():
            return Client(url, verbose=False, download_files=False, analytics_enabled=False)

        first = client()
        request = default_request(first)
        log("default /retrieve: " + ", ".join(f"{k}={v!r}" for k, v in request.items() if k != "editor"))
        first.predict(**request, api_name="/retrieve")  # warm-up (first request loads lazily)
        idle = wait_idle(proc.pid)  # background warm-ups (the caption memories) end before CPU is counted
        log(f"server idle after the warm-up: {idle}")
        warm = rss_mb(proc.pid)
        peak = [warm or 0.0]
        sampling = threading.Event()

        def sample():
            while not sampling.is_set():
                r = rss_mb(proc.pid)
                if r is not None:
                    peak[0] = max(peak[0], r)
                sampling.wait(0.2)

        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        latencies: list[float] = []
        errors: list[str] = []
        lock = threading.Lock()
        t_end = time.monotonic() + seconds

        def user(i: int):
            try:
                c = client()
            except Exception as exc:  # noqa: BLE001 - a refused connection is a measured error
                with lock:
                    errors.append(f"connect: {exc}")
                return
            while time.monotonic() < t_end:
                t0 = time.monotonic()
                try:
                    c.submit(**request, api_name="/retrieve").result(timeout=request_timeout)
                    with lock:
                        latencies.append(time.monotonic() - t0)
                except Exception as exc:  # noqa: BLE001
                    with lock:
                        errors.append(f"{type(exc).__name__}: {str(exc)[:200]}")

        heavy_times: list[float] = []

        def heavy_user():  # U-Hop Stage I with many iterations: one of the heavy events (one slot app-wide)
            c = client()
            while time.monotonic() < t_end:
                t0 = time.monotonic()
                try:
                    c.predict(iterations=HEAVY_ITERATIONS, api_name="/run_uhop")
                    heavy_times.append(time.monotonic() - t0)
                except Exception as exc:  # noqa: BLE001
                    with lock:
                        errors.append(f"heavy: {type(exc).__name__}: {str(exc)[:200]}")

        log(f"{clients} clients{' + 1 heavy' if heavy else ''} for {seconds:.0f} s (load average before: {load_avg})")
        t0 = time.monotonic()
        cpu0 = cpu_seconds(proc.pid)
        threads = [threading.Thread(target=user, args=(i,), daemon=True) for i in range(clients)]
        if heavy:
            threads.append(threading.Thread(target=heavy_user, daemon=True))
        for t in threads:
            t.start()
        for t in threads:
            t.join(seconds + request_timeout + 30)
        elapsed = time.monotonic() - t0
        cpu1 = cpu_seconds(proc.pid)
        cpu = cpu1 - cpu0 if cpu0 is not None and cpu1 is not None else None
        time.sleep(max(0.0, settle))
        sampling.set()
        sampler.join(2)
        after = rss_mb(proc.pid)
        result = {
            "clients": clients, "seconds": seconds, "elapsed_s": round(elapsed, 2),
            "completed": len(latencies), "errors": len(errors), "error_examples": sorted(set(errors))[:5],
            "requests_per_s": round(len(latencies) / elapsed, 3) if elapsed > 0 else None,
            "server_cpu_s": _round(cpu, 2),
            "server_cpu_s_per_request": _round(cpu / len(latencies)) if cpu is not None and latencies else None,
            "p50_s": _round(_percentile(latencies, 0.5)), "p95_s": _round(_percentile(latencies, 0.95)),
            "rss_warm_mb": _round(warm, 1), "rss_peak_mb": _round(peak[0], 1), "rss_after_mb": _round(after, 1),
            "rss_after_over_warm": _round(after / warm if after and warm else None),
            "heavy": heavy, "heavy_completed": len(heavy_times),
            "heavy_mean_s": _round(sum(heavy_times) / len(heavy_times)) if heavy_times else None,
            "settle_s": settle, "cpu_count": os.cpu_count(), "load_average_before": load_avg,
            "server_log": str(tmp / "server.log"),
        }
        return result
    finally:
        proc.terminate()
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()


def _round(x, nd: int = 3):
    return None if x is None else round(float(x), nd)


def format_result(r: dict) -> str:
    lines = [
        f"clients {r['clients']} × {r['seconds']:.0f} s: {r['completed']} completed, {r['errors']} errors, "
        f"{r['requests_per_s']} requests/s, server CPU {r.get('server_cpu_s_per_request')} s per request, "
        f"p50 {r['p50_s']} s, p95 {r['p95_s']} s",
        f"RSS: warm {r['rss_warm_mb']} MB, peak {r['rss_peak_mb']} MB, after {r['settle_s']:.0f} s "
        f"{r['rss_after_mb']} MB ({r['rss_after_over_warm']}× warm)",
        f"machine: {r['cpu_count']} CPUs, load average before the run {r['load_average_before']}",
    ]
    if r.get("heavy"):
        lines.append(f"heavy user (U-Hop Stage I, {HEAVY_ITERATIONS} iterations): {r['heavy_completed']} runs, "
                     f"mean {r['heavy_mean_s']} s")
    lines += [f"error: {e}" for e in r["error_examples"]]
    return "\n".join(lines)


def run(args) -> int:
    """The ``bench --load`` command (the default-request load; ``--heavy`` and ``--uploads`` are dispatched by
    ``hen_demo.bench`` to ``bench_heavy`` / ``bench_uploads``, which build on this module)."""
    try:
        result = run_load(clients=args.clients or 20, seconds=args.seconds, settle=args.settle,
                          startup_timeout=args.startup_timeout, heavy=getattr(args, "heavy", False),
                          log=(lambda *a: print(*a, file=sys.stderr, flush=True)))
    except (ValueError, RuntimeError) as exc:
        print(exc, file=sys.stderr)
        return 2
    print(json.dumps(result, indent=2) if args.json else format_result(result))
    return 0 if result["errors"] == 0 else 1
