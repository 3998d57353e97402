"""``python -m hen_demo bench``: time the retrieval engine against the matmul roofline.

For each size (N memories, K dimensions, B queries, T steps) and each device (CPU, and CUDA when
present) it times ``HopfieldMemory.retrieve`` on the fast path (scaled_dot_product_attention) and on
the plain reference path (matmul -> separation -> matmul), for dot and L2 similarity with softmax, and a plain
``softmax(beta S X^T) X`` loop (``plain_loop``, what ml-jku/hopfield-layers computes; the reference row),
and the roofline: T x (two torch.mm of the same shapes, B x K x N and B x N x K). GFLOP/s counts
4 B N K T floating point operations (two matmuls of 2 B N K per step), the issue's convention; a
retrieval also computes the energies and one final pass for the weights, which count against it.

``--json`` prints one JSON object; each size carries ``roofline_fraction``: the fast path's GFLOP/s
divided by the same-shape roofline's (the lowest over the similarities benchmarked), and every path carries
``peak_fraction``: its GFLOP/s divided by the machine's GEMM peak, one square 4096 float32 torch.mm timed in
the same run, before and inside every size's round-robin, the best of them (a burst of load elsewhere only
lowers a measurement). It is the honest reference: skinny products run below it, and the same-shape roofline's
own ``peak_fraction`` shows by how much; issue 12 targets >= 0.85 for the fast path. The default sizes are A (N 6000, K 2352, B 256), B (N 15000, same) and C (N 6000, K 192, B 6000). Cases are timed round-robin,
best of ``--repeats``; process CPU time is reported too (``cpu_s``, ``roofline_fraction_cpu_time``),
which is the steadier ratio when other jobs share the CPU.
Time to an answer (``answer`` per size): at ``--answer-beta`` (150) with early stopping (tol 1e-6) the fast path's
median time beside the plain loop's, and ``of_steps_plus_one`` = that time / ((s + 1) x the fixed-work run's
step time) for an answer in s steps (issue 24: <= 1, the final statistics cost at most one more pass).
``--landscape`` times the playground's 200 x 200 energy / basin grid instead (hen_demo.bench_landscape).
``--ui`` runs the app's benchmark instead (hen_demo.ui.bench_ui, owned by the UI workstream).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from dataclasses import dataclass

import torch

from hen_demo.memory.hopfield import HopfieldMemory

DEFAULT_SIZES = "6000x2352x256x10,15000x2352x256x10,6000x192x6000x10"
PEAK_SIDE = 4096  # the square float32 GEMM whose GFLOP/s is the peak


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true", help="print one JSON object instead of a table")
    parser.add_argument("--ui", action="store_true",
                        help="benchmark the app instead (hen_demo.ui.bench_ui; uses --json and --threads)")
    parser.add_argument("--encoders", action="store_true",
                        help="time the papers' encoders at their published sizes instead "
                             "(hen_demo.encoders.bench_encoders; uses --json, --threads, --device)")
    parser.add_argument("--landscape", action="store_true",
                        help="time the energy-landscape playground's 200 x 200 grid instead "
                             "(hen_demo.bench_landscape; uses --json, --threads, --repeats)")
    parser.add_argument("--sizes", default=DEFAULT_SIZES,
                        help=f"comma-separated NxKxBxT sizes (default {DEFAULT_SIZES})")
    parser.add_argument("--similarities", default="dot,l2", help="comma-separated: dot, l2 (default both)")
    parser.add_argument("--device", default="all", choices=["all", "cpu", "cuda"],
                        help="where to run: all = CPU and CUDA when present")
    parser.add_argument("--repeats", type=int, default=2, help="timed repeats per case; the best is kept")
    parser.add_argument("--beta", type=float, default=0.01, help="inverse temperature of the benchmark memory")
    parser.add_argument("--answer-beta", type=float, default=150.0,
                        help="beta of the time-to-answer rows (early stopping at tol 1e-6; default 150)")
    parser.add_argument("--fast-method", default="auto", choices=["auto", "sdpa", "matmul"],
                        help="fast-path kernel: auto (sdpa on CPU, fused matmul elsewhere), sdpa, matmul")
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's choice)")
    parser.add_argument("--load", action="store_true",
                        help="load-test the app: launch it on 127.0.0.1 and drive it with --clients users "
                             "(hen_demo.bench_load)")
    from hen_demo import bench_load

    bench_load.add_arguments(parser)


def _parse_sizes(text: str) -> list[tuple[int, int, int, int]]:
    sizes = []
    for part in text.split(","):
        try:
            n, k, b, t = (int(v) for v in part.strip().lower().split("x"))
        except ValueError:
            raise ValueError(f"Could not read size {part!r}; write N x K x B x T, e.g. 6000x2352x256x10.") from None
        if min(n, k, b, t) < 1:
            raise ValueError(f"Every number in size {part!r} must be >= 1.")
        sizes.append((n, k, b, t))
    return sizes


def _interleaved(cases: dict, device: torch.device, repeats: int) -> dict:
    """Time every case ``repeats`` times, round-robin (so a burst of load elsewhere hits all cases
    alike), after one warm-up call each. Returns {name: (best wall s, best CPU s, last result, median wall s)}."""
    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
    best, walls = {}, {}
    for name, fn in cases.items():
        out = fn()
        sync()
        best[name] = [float("inf"), float("inf"), out]
        walls[name] = []
    for _ in range(max(1, repeats)):
        for name, fn in cases.items():
            wall, cpu = time.perf_counter(), time.process_time()
            out = fn()
            sync()
            wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
            entry = best[name]
            entry[0], entry[1], entry[2] = min(entry[0], wall), min(entry[1], cpu), out
            walls[name].append(wall)
    return {k: (*v, statistics.median(walls[k])) for k, v in best.items()}


@dataclass
class PlainAnswer:
    """What ``plain_loop`` returns: the states, the updates run, and the final weights' top-k."""

    states: torch.Tensor  # (B, K)
    n_steps: torch.Tensor  # (B,) updates run (the same for every query: the loop stops when all have)
    topk_indices: torch.Tensor  # (B, k)


def plain_loop(patterns: torch.Tensor, queries: torch.Tensor, similarity: str, beta: float, steps: int,
               tol: float = 0.0, k: int = 5) -> PlainAnswer:
    """The reference a user would write (what ml-jku/hopfield-layers computes): s <- softmax(beta sim(X, s)) X
    (HEN eq. 2) with torch.softmax, ``steps`` updates or until every query moved <= tol * max(1, ||s||), then the
    final weights' top-k (the engine's answer holds the same). L2 logits drop the per-query constant beta ||s||^2."""
    sq = (patterns * patterns).sum(-1) if similarity == "l2" else None  # (N,)

    def logits(s):  # (B, N)
        return beta * (s @ patterns.T) if sq is None else beta * (2.0 * (s @ patterns.T) - sq)

    s, n = queries, 0
    for _ in range(steps):
        new = torch.softmax(logits(s), dim=-1) @ patterns  # (B, K)
        n += 1
        moved = (new - s).norm(dim=-1) <= tol * s.norm(dim=-1).clamp_min(1.0)
        s = new
        if tol > 0 and bool(moved.all()):
            break
    idx = torch.topk(torch.softmax(logits(s), dim=-1), k, dim=-1).indices
    return PlainAnswer(s, torch.full((s.shape[0],), n), idx)


def _peak_case(device: torch.device, side: int = PEAK_SIDE):
    """The square (side x side) float32 torch.mm whose GFLOP/s is the machine's GEMM peak, as a timed case."""
    g = torch.Generator().manual_seed(1)
    a, b = torch.rand(side, side, generator=g).to(device), torch.rand(side, side, generator=g).to(device)
    out = torch.empty(side, side, device=device)
    return lambda: torch.mm(a, b, out=out)


def _peak_entry(wall: float, cpu: float, side: int = PEAK_SIDE) -> dict:
    flops = 2.0 * side**3
    return {"side": side, "time_s": wall, "cpu_s": cpu, "gflops": flops / wall / 1e9,
            "gflops_cpu_time": flops / cpu / 1e9 if cpu > 0 else None}


def gemm_peak(device: torch.device, repeats: int = 3, side: int = PEAK_SIDE) -> dict:
    """GFLOP/s of one square (side x side) float32 torch.mm on ``device`` (best wall and CPU time of repeats)."""
    wall, cpu, _, _ = _interleaved({"peak": _peak_case(device, side)}, device, repeats)["peak"]
    return _peak_entry(wall, cpu, side)


def best_peak(*peaks: dict) -> dict:
    """The fastest of several peak measurements (wall and CPU time separately): a burst of load elsewhere only
    lowers a measurement, so the best one is the machine's peak."""
    wall = min(p["time_s"] for p in peaks)
    cpu = min(p["cpu_s"] for p in peaks)
    return {**_peak_entry(wall, cpu, peaks[0]["side"]), "measurements": len(peaks)}


def apply_peak(row: dict, peak: dict) -> None:
    """Add ``peak_fraction`` (GFLOP/s over the GEMM peak) to the roofline and every path of a size's row."""
    row["peak_gflops"] = peak["gflops"]
    row["roofline"]["peak_fraction"] = row["roofline"]["gflops"] / peak["gflops"]
    pc = peak.get("gflops_cpu_time")
    for paths in row["paths"].values():
        for entry in paths.values():
            work = 4.0 * row["N"] * row["K"] * entry["updates"]  # the FLOPs behind entry["gflops"]
            entry["peak_fraction"] = entry["gflops"] / peak["gflops"]
            entry["peak_fraction_cpu_time"] = (work / entry["cpu_s"] / 1e9) / pc if pc and entry["cpu_s"] > 0 else None
    row["peak_fraction"] = min(paths["fast"]["peak_fraction"] for paths in row["paths"].values())


def _bench_size(n, k, b, t, device, sims, repeats, beta, method, answer_beta=150.0) -> tuple[dict, dict]:
    """Time one size; returns its row and the GEMM peak measured in the same round-robin (``apply_peak`` adds
    the peak fractions once the run's best peak is known)."""
    g = torch.Generator().manual_seed(0)
    patterns = torch.rand(n, k, generator=g)  # pixel-like memories in [0, 1]
    queries = patterns[:b].clone() if b <= n else torch.rand(b, k, generator=g)
    queries[:, k // 2 :] = 0.0  # occlude half of each query, as in the HEN experiments
    patterns, queries = patterns.to(device), queries.to(device)
    flops = 4.0 * b * n * k * t

    def roofline():
        p = torch.empty(b, n, device=device)
        for _ in range(t):
            torch.mm(queries, patterns.T, out=p)
            out = torch.mm(p, patterns)
        return out

    def retrieval(mem, fast):
        # states, energies, top-5 and the verdict's inputs; the (B, N) final weights are not copied out
        return lambda: mem.retrieve(queries, steps=t, tol=0.0, topk=5, fast=fast, keep_weights=False)

    cases = {"roofline": roofline, "peak": _peak_case(device)}
    answers, kernels = {}, {}
    for sim in sims:
        mem = HopfieldMemory(patterns, sim, "softmax", beta=beta, device=device, fast_method=method)
        kernels[sim] = mem._fast_step.kernel(b, device) if mem._fast_step is not None else None
        cases[(sim, "fast")] = retrieval(mem, True)
        cases[(sim, "reference")] = retrieval(mem, False)
        cases[(sim, "plain")] = lambda sim=sim: plain_loop(patterns, queries, sim, beta, t)
        # time to an answer: a sharp beta, early stopping (tol 1e-6), the same top-k and statistics
        sharp = HopfieldMemory(patterns, sim, "softmax", beta=answer_beta, device=device, fast_method=method)
        answers[(sim, "fast")] = lambda m=sharp: m.retrieve(queries, steps=t, topk=5, keep_weights=False)
        answers[(sim, "plain")] = lambda sim=sim: plain_loop(patterns, queries, sim, answer_beta, t, 1e-6)
    cases.update({("answer",) + key: fn for key, fn in answers.items()})
    timings = _interleaved(cases, device, repeats)
    mm_time, mm_cpu, _, _ = timings.pop("roofline")
    peak_wall, peak_cpu, _, _ = timings.pop("peak")
    answer = {key[1:]: timings.pop(key) for key in list(timings) if key[0] == "answer"}
    row = {"N": n, "K": k, "B": b, "T": t, "device": str(device), "fast_method": method,
           "roofline": {"time_s": mm_time, "cpu_s": mm_cpu, "gflops": flops / mm_time / 1e9}, "paths": {}}
    for (sim, path), (secs, cpu, res, median) in timings.items():
        done = int(res.n_steps.sum())  # updates actually run (queries may reach an exact fixed point)
        work = 4.0 * n * k * done
        row["paths"].setdefault(sim, {})[path] = {
            "time_s": secs, "median_s": median, "cpu_s": cpu, "gflops": work / secs / 1e9, "updates": done,
            "roofline_fraction": (work / secs) / (flops / mm_time),
            "roofline_fraction_cpu_time": (work / cpu) / (flops / mm_cpu) if cpu > 0 and mm_cpu > 0 else None,
        }
        if path == "fast" and kernels.get(sim):
            row["paths"][sim][path]["kernel"] = kernels[sim]  # the kernel "auto" picked for this shape
    row["roofline_fraction"] = min(row["paths"][sim]["fast"]["roofline_fraction"] for sim in sims)
    row["answer_beta"], row["answer"] = answer_beta, {}
    for (sim, path), (secs, _, res, median) in answer.items():
        updates = int(res.n_steps.max())
        entry = {"time_s": secs, "median_s": median, "steps": updates}
        if path == "fast":  # the budget: s steps answered within (s + 1) step times of the fixed-work run
            step_s = row["paths"][sim]["fast"]["median_s"] / t
            entry.update(step_s=step_s, of_steps_plus_one=median / ((updates + 1) * step_s))
        row["answer"].setdefault(sim, {})[path] = entry
    for sim, entries in row["answer"].items():
        entries["fast_over_plain"] = entries["fast"]["median_s"] / entries["plain"]["median_s"]
    return row, _peak_entry(peak_wall, peak_cpu)


def _print_table(rows: list[dict]) -> None:
    print(f"{'device':<7}{'N':>7}{'K':>6}{'B':>5}{'T':>4}  {'case':<15}{'time s':>9}{'GFLOP/s':>10}{'of roofline':>13}"
          f"{'(CPU-time)':>12}{'of peak':>9}{'(CPU-time)':>12}")
    for r in rows:
        head = f"{r['device']:<7}{r['N']:>7}{r['K']:>6}{r['B']:>5}{r['T']:>4}  "
        pf = r["roofline"].get("peak_fraction")
        print(head + f"{'torch.mm':<15}{r['roofline']['time_s']:>9.3f}{r['roofline']['gflops']:>10.1f}{1.0:>13.2f}"
              f"{1.0:>12.2f}" + (f"{pf:>9.2f}" if pf is not None else ""))
        for sim, paths in r["paths"].items():
            for path, v in paths.items():
                cpu = v["roofline_fraction_cpu_time"]
                pk, pkc = v.get("peak_fraction"), v.get("peak_fraction_cpu_time")
                print(head + f"{sim + ' ' + path:<15}{v['time_s']:>9.3f}{v['gflops']:>10.1f}"
                      f"{v['roofline_fraction']:>13.2f}" + (f"{cpu:>12.2f}" if cpu is not None else f"{'-':>12}")
                      + (f"{pk:>9.2f}" if pk is not None else "") + (f"{pkc:>12.2f}" if pkc is not None else "")
                      + (f"  [{v['kernel']}]" if v.get("kernel") else ""))
        for sim, a in r.get("answer", {}).items():
            f, pl = a["fast"], a["plain"]
            print(head + f"{sim + ' answer':<15}{f['median_s']:>9.3f}  fast path, beta {r['answer_beta']:g}, tol 1e-6: "
                  f"{f['steps']} steps in {f['of_steps_plus_one']:.2f} x (steps + 1) step times; plain loop "
                  f"{pl['median_s']:.3f} s ({pl['steps']} steps): fast / plain {a['fast_over_plain']:.2f} (medians)")
        print(head + f"fast path roofline_fraction (worst similarity): {r['roofline_fraction']:.2f}"
              + (f", peak_fraction: {r['peak_fraction']:.2f}" if "peak_fraction" in r else ""))


def run(args) -> int:
    if getattr(args, "load", False) and getattr(args, "heavy", False):
        from hen_demo import bench_heavy

        return bench_heavy.run(args)
    if getattr(args, "load", False) and getattr(args, "uploads", False):
        from hen_demo import bench_uploads

        return bench_uploads.run(args)
    if getattr(args, "load", False):
        from hen_demo import bench_load

        return bench_load.run(args)
    if getattr(args, "encoders", False):
        from hen_demo.encoders import bench_encoders
        return bench_encoders.main((["--json"] if args.json else []) + (["--threads", str(args.threads)] if args.threads
                                   else []) + (["--device", "cuda"] if args.device == "cuda" else []))
    if getattr(args, "landscape", False):
        from hen_demo import bench_landscape

        return bench_landscape.run(args)
    if getattr(args, "ui", False):
        try:
            from hen_demo.ui import bench_ui
        except ImportError as exc:
            print(f"The app benchmark is not available (hen_demo.ui.bench_ui could not be imported: {exc}).",
                  file=sys.stderr)
            return 2
        return int(bench_ui.run(args) or 0)
    if args.threads:
        torch.set_num_threads(args.threads)
    try:
        sizes = _parse_sizes(args.sizes)
    except ValueError as exc:
        print(exc, file=sys.stderr)
        return 2
    sims = [s.strip() for s in args.similarities.split(",") if s.strip()]
    if not sims or any(s not in ("dot", "l2") for s in sims):
        print("--similarities takes dot and/or l2 (the similarities this benchmark times).", file=sys.stderr)
        return 2
    devices = []
    if args.device in ("all", "cpu"):
        devices.append(torch.device("cpu"))
    if args.device in ("all", "cuda"):
        if torch.cuda.is_available():
            devices.append(torch.device("cuda"))
        elif args.device == "cuda":
            print("No CUDA device is available on this machine.", file=sys.stderr)
            return 2
    rows, peaks = [], {}
    for device in devices:
        measured, device_rows = [gemm_peak(device, max(1, args.repeats))], []
        for n, k, b, t in sizes:
            if not args.json:
                print(f"timing N={n} K={k} B={b} T={t} on {device} ...", file=sys.stderr, flush=True)
            row, peak_here = _bench_size(n, k, b, t, device, sims, args.repeats, args.beta, args.fast_method,
                                         args.answer_beta)
            device_rows.append(row)
            measured.append(peak_here)
        # the peak: the best of the square GEMMs timed before and inside every size's round-robin
        peaks[str(device)] = peak = best_peak(*measured)
        for row in device_rows:
            apply_peak(row, peak)
        rows += device_rows
    if args.json:
        print(json.dumps({"torch": torch.__version__, "threads": torch.get_num_threads(),
                          "gflops_formula": "4*B*N*K*T/time", "peak": peaks, "sizes": rows}, indent=2))
    else:
        print(f"torch {torch.__version__}, {torch.get_num_threads()} CPU threads; GFLOP/s = 4*B*N*K*T / time; "
              + "; ".join(f"peak ({p['side']}^2 mm) on {d}: {p['gflops']:.1f} GFLOP/s" for d, p in peaks.items()))
        _print_table(rows)
    return 0
