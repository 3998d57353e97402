"""Benchmark memory-bank building and cached loading (issue target: a 6,000-image bank with a shipped
encoder builds in <= 2 minutes on the 2-core CPU; a cached one loads in <= 2 s).

``python -m hen_demo.data.bench_bank [--n 6000] [--encoder vq-small] [--dataset tiles] [--json]``
"""

from __future__ import annotations

import argparse
import gc
import json
import shutil
import tempfile
import time


def bench_bank(n: int = 6000, encoder: str = "vq-small", dataset: str = "tiles", cache_dir=None,
               threads: int | None = None) -> dict:
    """Build a bank in a fresh cache folder, then load it again; returns timings in seconds."""
    import torch

    from hen_demo.data.banks import build_bank

    if threads:
        torch.set_num_threads(int(threads))
    tmp = cache_dir or tempfile.mkdtemp(prefix="hen-bench-bank-")
    try:
        t0 = time.perf_counter()
        bank = build_bank(dataset, encoder, n=n, seed=0, cache_dir=tmp)
        build_s = time.perf_counter() - t0
        code_dim, encode_s = int(bank.codes.shape[1]), bank.meta["encode_s"]
        del bank  # the next one is read from disk, not from the bank still alive in this process
        gc.collect()
        t1 = time.perf_counter()
        again = build_bank(dataset, encoder, n=n, seed=0, cache_dir=tmp)
        load_s = time.perf_counter() - t1
        assert again.meta.get("from_cache"), "second build did not come from the cache"
        return {"dataset": dataset, "encoder": encoder, "n": n, "code_dim": code_dim,
                "build_s": round(build_s, 2), "encode_decode_s": round(encode_s, 2),
                "cached_load_s": round(load_s, 3), "threads": torch.get_num_threads(),
                "build_target_s": 120, "load_target_s": 2,
                "ok": build_s <= 120 and load_s <= 2}
    finally:
        if cache_dir is None:
            shutil.rmtree(tmp, ignore_errors=True)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--n", type=int, default=6000)
    p.add_argument("--encoder", default="vq-small")
    p.add_argument("--dataset", default="tiles")
    p.add_argument("--threads", type=int, default=None)
    p.add_argument("--json", action="store_true")
    a = p.parse_args(argv)
    res = bench_bank(a.n, a.encoder, a.dataset, threads=a.threads)
    print(json.dumps(res) if a.json else "\n".join(f"{k}: {v}" for k, v in res.items()))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
