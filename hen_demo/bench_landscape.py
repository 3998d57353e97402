"""``python -m hen_demo bench --landscape``: time the energy-landscape playground's grid (issue 21).

One ``compute_landscape`` call = the energy at every grid point (``HopfieldMemory.energy``) and the basins (one
batched ``HopfieldMemory.retrieve`` from every grid point, up to 200 steps), on a 200 x 200 grid for the
playground's presets, both similarities and betas from mixed (small) to separated (large). The target is under
a second per grid on 2 cores. Wall and process CPU time are reported, best of ``--repeats``; small ops over
40,000 states are overhead-bound, so ``--threads 1`` is often faster on a busy machine.
"""

from __future__ import annotations

import json
import time

import torch

from hen_demo.memory.landscape import LandscapeConfig, compute_landscape

# the playground's default memories (hen_demo.ui.landscape.PRESETS) and a ring of six
CASES = {"three": [[-0.5, -0.6], [0.5, -0.6], [0.0, 1.4]],
         "ring of six": [[1.5, 0.0], [0.75, 1.299], [-0.75, 1.299], [-1.5, 0.0], [-0.75, -1.299], [0.75, -1.299]]}
BETAS = (0.3, 1.0, 3.0, 10.0, 30.0)
TARGET_S = 1.0


def time_grid(memories, similarity: str, beta: float, resolution: int, repeats: int) -> dict:
    cfg = LandscapeConfig(similarity=similarity, beta=beta, resolution=resolution)
    best_wall, best_cpu, land = float("inf"), float("inf"), None
    for _ in range(max(1, repeats)):
        w0, c0 = time.perf_counter(), time.process_time()
        land = compute_landscape(memories, cfg)
        best_wall = min(best_wall, time.perf_counter() - w0)
        best_cpu = min(best_cpu, time.process_time() - c0)
    return {"similarity": similarity, "beta": beta, "grid": f"{resolution}x{resolution}", "wall_s": best_wall,
            "cpu_s": best_cpu, "mixture_fraction": land.mixture_fraction, "converged": float(land.converged.double().mean())}


def run(args, resolution: int = 200) -> int:
    threads = [args.threads] if args.threads else sorted({1, torch.get_num_threads()})
    before = torch.get_num_threads()
    rows = []
    try:
        for n_threads in threads:
            torch.set_num_threads(n_threads)
            for name, memories in CASES.items():
                for similarity in ("l2", "dot"):
                    for beta in BETAS:
                        row = time_grid(memories, similarity, beta, resolution, args.repeats)
                        rows.append({"threads": n_threads, "memories": name, **row})
    finally:
        torch.set_num_threads(before)
    worst = {t: max(r["wall_s"] for r in rows if r["threads"] == t) for t in threads}
    if args.json:
        print(json.dumps({"torch": torch.__version__, "target_s": TARGET_S, "worst_wall_s": worst, "rows": rows},
                         indent=2))
        return 0
    print(f"energy landscape, {resolution}x{resolution} grid (energy + basins), best of {args.repeats}; "
          f"target < {TARGET_S:g} s")
    print(f"{'threads':>7} {'memories':>12} {'sim':>4} {'beta':>6} {'wall s':>8} {'cpu s':>8} {'mixture':>8}")
    for r in rows:
        print(f"{r['threads']:>7} {r['memories']:>12} {r['similarity']:>4} {r['beta']:>6g} {r['wall_s']:>8.3f} "
              f"{r['cpu_s']:>8.3f} {r['mixture_fraction']:>8.2f}")
    for t, w in worst.items():
        print(f"worst wall time with {t} thread(s): {w:.3f} s ({'within' if w < TARGET_S else 'ABOVE'} the target)")
    return 0
