"""Kernel memory network (HEN §2.1, eq. 3) against numpy references and its fixed-point property."""

import math

import numpy as np
import pytest
import torch

from hen_demo.memory.hopfield import RetrievalResult, RetrievalStep
from hen_demo.memory.kmn import KernelMemoryNetwork, exponential_kernel


def _numpy_kernel(A, B, r, alpha):
    out = np.empty((len(A), len(B)))
    for i, a in enumerate(A):
        for j, b in enumerate(B):
            out[i, j] = math.exp(-((np.linalg.norm(a - b) / r) ** alpha))
    return out


@pytest.mark.parametrize("alpha", [0.5, 1.0, 2.0])
def test_kernel_and_one_update_match_numpy(alpha):
    rng = np.random.default_rng(0)
    X = rng.random((12, 5))
    Q = rng.random((4, 5))
    r = 1.3
    K = _numpy_kernel(X, X, r, alpha)
    np.testing.assert_allclose(exponential_kernel(torch.tensor(Q), torch.tensor(X), r, alpha).numpy(),
                               _numpy_kernel(Q, X, r, alpha), atol=1e-10)
    mem = KernelMemoryNetwork(X, r=r, alpha=alpha)
    np.testing.assert_allclose(mem.gram.numpy(), K, atol=1e-12)
    # HEN eq. 3 with patterns as columns: s' = Xi K^+ K(Xi, s)
    ref = (X.T @ np.linalg.pinv(K, hermitian=True) @ _numpy_kernel(X, Q, r, alpha)).T  # (B, K)
    np.testing.assert_allclose(mem.update(Q).numpy(), ref, atol=1e-5)


@pytest.mark.parametrize("alpha,r", [(1.0, 2.0), (0.7, 1.0), (2.0, 0.8)])
def test_stored_patterns_are_retrieved_exactly_from_themselves(alpha, r):
    g = torch.Generator().manual_seed(1)
    X = torch.rand(40, 20, generator=g)
    mem = KernelMemoryNetwork(X, r=r, alpha=alpha)
    assert torch.allclose(mem.pinv @ mem.gram, torch.eye(40, dtype=torch.float64), atol=1e-8)  # K^+ K = I
    out = mem.retrieve(X, steps=5)
    assert isinstance(out, RetrievalResult)
    assert torch.allclose(out.states, X, atol=1e-5)
    assert out.converged.all() and out.steps == 1 and (out.n_steps == 1).all()
    assert torch.allclose(out.weights, torch.eye(40), atol=1e-6)  # c(xi_mu) = e_mu
    assert torch.equal(out.topk_indices[:, 0], torch.arange(40))
    assert out.energies.shape == (2, 40) and float(out.energies.max()) < 1e-5  # residual ~ 0 at fixed points


def test_duplicate_patterns_give_a_finite_pseudo_inverse_and_exact_retrieval():
    X = torch.rand(6, 4, generator=torch.Generator().manual_seed(2))
    X = torch.cat([X, X[:2]])  # two duplicates: K(Xi, Xi) is singular
    mem = KernelMemoryNetwork(X, r=1.0)
    assert torch.isfinite(mem.pinv).all()
    out = mem.retrieve(X, steps=3)
    assert torch.allclose(out.states, X, atol=1e-5)


def test_pseudo_inverse_is_computed_once_per_bank(monkeypatch):
    X = torch.rand(20, 8, generator=torch.Generator().manual_seed(3))
    mem = KernelMemoryNetwork(X, r=1.5)
    pinv = mem.pinv
    calls = []
    real = torch.linalg.pinv
    monkeypatch.setattr(torch.linalg, "pinv", lambda *a, **k: calls.append(1) or real(*a, **k))
    mem.retrieve(X + 0.05, steps=4)
    list(mem.stream(X[:2], steps=2))
    mem.update(X)
    assert calls == [] and mem.pinv is pinv


def test_stream_and_retrieve_agree_and_report_the_residual():
    g = torch.Generator().manual_seed(4)
    X = torch.rand(15, 6, generator=g)
    Q = X[:3] + 0.05 * torch.randn(3, 6, generator=g)
    mem = KernelMemoryNetwork(X, r=2.0)
    frames = list(mem.stream(Q, steps=6, tol=0.0))
    assert isinstance(frames[0], RetrievalStep) and frames[0].t == 0
    assert torch.allclose(frames[0].state, Q, atol=1e-6)
    out = mem.retrieve(Q, steps=6, tol=0.0)
    assert torch.allclose(frames[-1].state, out.states)
    Q64 = Q.double()
    before = Q64.clone()
    mem.retrieve(Q64, steps=3)
    assert torch.equal(Q64, before)  # the caller's query is never modified
    assert out.energies.shape == (7, 3)
    # energy[t] is ||T(s_t) - s_t||: the distance between consecutive states
    for t in range(6):
        step = (frames[t + 1].state - frames[t].state).norm(dim=1)
        assert torch.allclose(out.energies[t], step, atol=1e-5)


def test_bad_inputs_raise_value_error():
    X = torch.rand(5, 3)
    for r in (0.0, -1.0, float("nan"), float("inf")):
        with pytest.raises(ValueError, match="scale r"):
            KernelMemoryNetwork(X, r=r)
    for alpha in (0.0, -0.5, 2.5):
        with pytest.raises(ValueError, match="alpha"):
            KernelMemoryNetwork(X, alpha=alpha)
    with pytest.raises(ValueError, match="NaN"):
        KernelMemoryNetwork(torch.full((3, 2), float("nan")))
    with pytest.raises(ValueError, match="shape"):
        KernelMemoryNetwork(torch.rand(2, 3, 4))
    mem = KernelMemoryNetwork(X)
    with pytest.raises(ValueError, match=r"\(B, 3\)"):
        mem.retrieve(torch.rand(2, 4))
    with pytest.raises(ValueError, match="steps"):
        mem.retrieve(X, steps=0)
    with pytest.raises(ValueError, match="NaN"):
        mem.retrieve(torch.full((1, 3), float("nan")))
