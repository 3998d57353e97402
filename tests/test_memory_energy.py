"""Energy descent along the dynamics, convergence flags and early stopping."""

import pytest
import torch
import torch.nn.functional as F

from hen_demo.memory import HopfieldMemory, LinearKernel


def random_bank(n=40, k=24, seed=0):
    g = torch.Generator().manual_seed(seed)
    xi = torch.randn(n, k, generator=g)
    q = xi[:8] + 1.2 * torch.randn(8, k, generator=g)
    return xi, q


def image_like_bank(n=30, side=8, seed=0):
    """Smooth random 'images' in [0, 1] (blurred noise), flattened to (n, 3*side*side); queries are
    the first 6 with the bottom half occluded (set to 0), as in the HEN experiments."""
    g = torch.Generator().manual_seed(seed)
    x = torch.rand(n, 3, side, side, generator=g)
    x = F.avg_pool2d(F.pad(x, (1, 1, 1, 1), mode="replicate"), 3, stride=1)
    x = (x - x.amin()) / (x.amax() - x.amin())
    q = x[:6].clone()
    q[:, :, side // 2 :, :] = 0
    return x.flatten(1), q.flatten(1)


@pytest.mark.parametrize("data", ["random", "image"])
@pytest.mark.parametrize("similarity", ["dot", "l2", "kernel"])
@pytest.mark.parametrize("separation", ["softmax", "sparsemax", "entmax:1.5"])
@pytest.mark.parametrize("beta", [0.1, 20.0])
def test_energy_never_increases(data, similarity, separation, beta):
    xi, q = random_bank() if data == "random" else image_like_bank()
    if similarity == "kernel":
        g = torch.Generator().manual_seed(5)
        k = xi.shape[1]
        similarity = LinearKernel(torch.eye(k + 4, k) + 0.3 * torch.randn(k + 4, k, generator=g))  # D_phi > K
    mem = HopfieldMemory(xi, similarity, separation, beta=beta, dtype=torch.float64)
    assert mem.energy_is_monotone
    for fast in (True, False):
        e = mem.retrieve(q, steps=40, tol=0, fast=fast).energies  # (T+1, B)
        scale = e.abs().amax(0).clamp_min(1.0)
        assert (e.diff(dim=0) <= 1e-9 * scale).all(), f"energy rose by {(e.diff(dim=0) / scale).max():.3g}"
        assert torch.isfinite(e).all()


@pytest.mark.parametrize("separation", ["softmax", "sparsemax"])
def test_energy_descends_in_float32_within_rounding(separation):
    xi, q = image_like_bank(n=60, side=12)
    for similarity in ("dot", "l2"):
        e = HopfieldMemory(xi, similarity, separation, beta=4.0).retrieve(q, steps=30, tol=0).energies
        scale = e.abs().amax(0).clamp_min(1.0)
        assert (e.diff(dim=0) <= 1e-5 * scale).all()


def test_energy_matches_energy_method_at_every_step():
    xi, q = random_bank()
    mem = HopfieldMemory(xi, "l2", "softmax", beta=0.5, dtype=torch.float64)
    frames = list(mem.stream(q, steps=6, tol=0))
    for f in frames:
        torch.testing.assert_close(f.energy.double(), mem.energy(f.state.double()).cpu(), rtol=1e-5, atol=1e-5)
    out = mem.retrieve(q, steps=6, tol=0)
    torch.testing.assert_close(out.energies, torch.stack([f.energy for f in frames]), rtol=1e-5, atol=1e-5)


def test_stored_pattern_is_a_fixed_point_and_converges_at_once():
    xi = torch.sign(torch.randn(20, 64, generator=torch.Generator().manual_seed(1)))
    for sep in ("softmax", "sparsemax", "entmax:1.5", "poly:10"):
        out = HopfieldMemory(xi, "dot", sep, beta=5.0).retrieve(xi[:5], steps=50, tol=1e-6)
        assert out.converged.all() and out.steps <= (1 if sep != "poly:10" else 3), sep
        torch.testing.assert_close(out.states, xi[:5], rtol=0, atol=1e-3)
        assert torch.equal(out.topk_indices[:, 0], torch.arange(5))


def test_early_stopping_per_query_and_energy_rows_repeat():
    xi = torch.sign(torch.randn(30, 64, generator=torch.Generator().manual_seed(0)))
    q = torch.cat([xi[:1], 0.5 * xi[1:2] + 0.45 * xi[2:3]])  # one at a memory, one between two memories
    out = HopfieldMemory(xi, "dot", "softmax", beta=0.5).retrieve(q, steps=200, tol=1e-6)
    assert out.n_steps[0] < out.n_steps[1] == out.steps
    assert out.converged.all()
    k = int(out.n_steps[0])
    assert (out.energies[k:, 0] == out.energies[k, 0]).all()  # rows after convergence repeat its last value


def test_not_converged_when_steps_run_out():
    xi, q = random_bank()
    out = HopfieldMemory(xi, "dot", "softmax", beta=0.05).retrieve(q, steps=2, tol=1e-12)
    assert out.steps == 2 and not out.converged.any()
    assert out.energies.shape == (3, q.shape[0])


def test_converged_queries_leave_the_batch():
    """Active-set bookkeeping: a batch gives the same per-query result as one query at a time."""
    xi, q = random_bank()
    mem = HopfieldMemory(xi, "l2", "softmax", beta=0.3)
    batch = mem.retrieve(q, steps=100, tol=1e-5)
    for i in range(q.shape[0]):
        single = mem.retrieve(q[i], steps=100, tol=1e-5)
        assert int(single.n_steps[0]) == int(batch.n_steps[i])
        torch.testing.assert_close(single.states[0], batch.states[i], rtol=1e-5, atol=1e-5)


def test_chunked_reference_path_equals_unchunked(monkeypatch):
    import hen_demo.memory.hopfield as hop
    xi, q = random_bank()
    mem = HopfieldMemory(xi, "manhattan", "softmax", beta=0.3)
    full = mem.retrieve(q, steps=30)
    monkeypatch.setattr(hop, "_CHUNK_ELEMENTS", 3 * xi.shape[0])  # 3 queries per block
    chunked = mem.retrieve(q, steps=30)
    torch.testing.assert_close(full.states, chunked.states)
    torch.testing.assert_close(full.energies, chunked.energies)
    assert torch.equal(full.converged, chunked.converged)
