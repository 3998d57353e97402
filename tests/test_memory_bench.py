"""The bench command's plumbing (tiny sizes; no timing is asserted) and a large-bank smoke test."""

import argparse
import json

import pytest
import torch

from hen_demo import bench
from hen_demo.memory import HopfieldMemory


def _args(*argv):
    parser = argparse.ArgumentParser()
    bench.add_arguments(parser)
    return parser.parse_args(list(argv))


def test_bench_json_has_roofline_fraction_per_size(capsys):
    rc = bench.run(_args("--json", "--sizes", "64x16x8x3,40x8x4x2", "--repeats", "1", "--device", "cpu"))
    assert rc == 0
    data = json.loads(capsys.readouterr().out)
    assert [(r["N"], r["K"], r["B"], r["T"]) for r in data["sizes"]] == [(64, 16, 8, 3), (40, 8, 4, 2)]
    assert data["peak"]["cpu"]["side"] == 4096 and data["peak"]["cpu"]["gflops"] > 0
    for row in data["sizes"]:
        assert row["roofline_fraction"] > 0 and row["peak_fraction"] > 0
        for sim in ("dot", "l2"):
            for path in ("fast", "reference"):
                entry = row["paths"][sim][path]
                assert entry["gflops"] > 0
                assert entry["peak_fraction"] == pytest.approx(entry["gflops"] / data["peak"]["cpu"]["gflops"])


def test_default_sizes_include_size_c():
    assert (6000, 192, 6000, 10) in bench._parse_sizes(bench.DEFAULT_SIZES)


def test_bench_table_and_bad_sizes(capsys):
    assert bench.run(_args("--sizes", "32x8x4x2", "--repeats", "1", "--device", "cpu", "--similarities", "dot")) == 0
    out = capsys.readouterr().out
    assert "torch.mm" in out and "dot fast" in out and "dot reference" in out
    assert bench.run(_args("--sizes", "32x8x4")) == 2
    assert bench.run(_args("--similarities", "cosine")) == 2


@pytest.mark.slow
def test_large_bank_runs_on_cpu():
    """N = 20,000 memories of K = 4,000 dimensions (the issue's CPU scale), a few queries and steps."""
    g = torch.Generator().manual_seed(0)
    xi = torch.rand(20_000, 4_000, generator=g)
    q = xi[:4].clone()
    q[:, 2_000:] = 0
    for sim, sep in (("dot", "softmax"), ("l2", "softmax"), ("l2", "sparsemax")):
        out = HopfieldMemory(xi, sim, sep, beta=0.05).retrieve(q, steps=3)
        assert out.weights.shape == (4, 20_000) and torch.isfinite(out.states).all()
        if sim == "l2":  # dot favours the memories with the largest norm, so only l2 must find the cue's own
            assert torch.equal(out.topk_indices[:, 0], torch.arange(4))
