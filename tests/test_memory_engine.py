"""HopfieldMemory against independent references (attention, cdist, sort-based sparsemax)."""

import numpy as np
import pytest
import torch

from hen_demo.memory import HopfieldMemory, LinearKernel
from hen_demo.memory.ties import winner_of_weights


def _bank(n=40, k=16, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(n, k, generator=g, dtype=torch.float64)


def _noisy(x, idx, sigma=0.3, seed=1):
    g = torch.Generator().manual_seed(seed)
    return x[idx] + sigma * torch.randn(len(idx), x.shape[1], generator=g, dtype=x.dtype)


def sparsemax_sorted(z):
    """Independent sparsemax, U-Hop App. D.1 eq. D.3: [z - tau]_+ with the sorted-support threshold."""
    zs, _ = torch.sort(z, dim=-1, descending=True)
    ks = torch.arange(1, z.shape[-1] + 1, dtype=z.dtype)
    cums = zs.cumsum(-1)
    support = 1 + ks * zs > cums
    kappa = support.sum(-1, keepdim=True)
    tau = (cums.gather(-1, kappa - 1) - 1) / kappa.to(z.dtype)
    return torch.clamp(z - tau, min=0)


def entmax_bisect_ref(z, alpha, iters=200):
    """Independent alpha-entmax: p = [(alpha-1) z - tau]_+^(1/(alpha-1)), tau found by bisection on sum p = 1."""
    x = (alpha - 1) * z
    hi = x.max(-1, keepdim=True).values
    lo = hi - 1.0
    for _ in range(iters):
        mid = (lo + hi) / 2
        total = torch.clamp(x - mid, min=0).pow(1 / (alpha - 1)).sum(-1, keepdim=True)
        lo = torch.where(total >= 1, mid, lo)
        hi = torch.where(total >= 1, hi, mid)
    p = torch.clamp(x - (lo + hi) / 2, min=0).pow(1 / (alpha - 1))
    return p / p.sum(-1, keepdim=True)


METHODS = ["sdpa", "matmul", "auto"]


@pytest.mark.parametrize("method", METHODS)
def test_one_softmax_step_equals_attention(method):
    xi = _bank().float()
    q = _noisy(xi.double(), [0, 3, 5]).float()
    beta = 0.7
    attn = torch.softmax(beta * q @ xi.T, dim=-1) @ xi  # softmax(Q K^T) V with K = V = Xi
    for fast in (True, False):
        out = HopfieldMemory(xi, "dot", "softmax", beta=beta, fast_method=method).retrieve(q, steps=1, fast=fast)
        torch.testing.assert_close(out.states, attn, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("beta", [0.05, 1.0])
def test_fast_l2_step_equals_cdist_reference(beta, method):
    xi = _bank(n=60, k=12).float()
    q = _noisy(xi.double(), [1, 2, 7, 9], sigma=0.8).float()
    d2 = torch.cdist(q.double(), xi.double()) ** 2
    ref = torch.softmax(-beta * d2, dim=-1) @ xi.double()  # L2 convention: z = -||xi - s||^2
    mem = HopfieldMemory(xi, "l2", "softmax", beta=beta, fast_method=method)
    fast = mem.retrieve(q, steps=1, fast=True)
    torch.testing.assert_close(fast.states.double(), ref, rtol=1e-4, atol=1e-4)
    # the energy the fast path reports from its log-sum-exp equals -(1/beta) log sum exp(-beta d^2)
    e_ref = -torch.logsumexp(-beta * d2, dim=-1) / beta
    torch.testing.assert_close(fast.energies[0].double(), e_ref, rtol=1e-4, atol=1e-3)
    torch.testing.assert_close(mem.similarity_scores(q).double(), -d2, rtol=1e-4, atol=1e-3)


@pytest.mark.parametrize("method", METHODS)
def test_fast_and_reference_paths_agree_over_many_steps(method):
    xi = _bank(n=80, k=20, seed=3).float()
    q = _noisy(xi.double(), list(range(10)), sigma=1.0).float()
    kernel = LinearKernel(torch.randn(24, 20, generator=torch.Generator().manual_seed(2)) / 5)
    for sim in ("dot", "l2", "cosine", kernel):
        beta = 3.0 if sim == "cosine" else 0.3
        mem = HopfieldMemory(xi, sim, "softmax", beta=beta, fast_method=method)
        assert mem._fast_step is not None
        a, b = mem.retrieve(q, steps=30, fast=True), mem.retrieve(q, steps=30, fast=False)
        torch.testing.assert_close(a.states, b.states, rtol=1e-4, atol=1e-4)
        torch.testing.assert_close(a.energies[0], b.energies[0], rtol=1e-4, atol=1e-3)
        torch.testing.assert_close(a.weights, b.weights, rtol=1e-3, atol=1e-4)


def test_sparsemax_and_entmax_match_independent_implementations():
    xi = _bank(n=30, k=10)
    q = _noisy(xi, [0, 1, 2, 3, 4], sigma=1.5)
    beta = 0.4
    z = beta * q @ xi.T
    cases = {"sparsemax": sparsemax_sorted(z), "entmax:2": sparsemax_sorted(z),
             "entmax:1.5": entmax_bisect_ref(z, 1.5), "entmax:1.25": entmax_bisect_ref(z, 1.25)}
    for sep, ref in cases.items():
        w = HopfieldMemory(xi, "dot", sep, beta=beta, dtype=torch.float64).weights(q)
        torch.testing.assert_close(w, ref, rtol=1e-6, atol=1e-6, msg=sep)
        assert (w == 0).any(), f"{sep} should give exact zeros on this data"


def test_poly_weights_are_normalized_rectified_powers():
    xi = _bank(n=20, k=8)
    q = _noisy(xi, [0, 5], sigma=0.5)
    w = HopfieldMemory(xi, "dot", "poly:10", dtype=torch.float64).weights(q)
    r = torch.relu(q @ xi.T) ** 9
    torch.testing.assert_close(w, r / r.sum(-1, keepdim=True))


def test_kernel_identity_equals_dot():
    xi = _bank(n=25, k=9).float()
    q = _noisy(xi.double(), [2, 4]).float()
    for sep in ("softmax", "sparsemax"):
        a = HopfieldMemory(xi, LinearKernel(torch.eye(9)), sep, beta=0.9).retrieve(q, steps=20)
        b = HopfieldMemory(xi, "dot", sep, beta=0.9).retrieve(q, steps=20)
        torch.testing.assert_close(a.states, b.states, rtol=1e-5, atol=1e-5)
        torch.testing.assert_close(a.energies, b.energies, rtol=1e-5, atol=1e-4)


def test_softmax_energy_closed_form():
    xi = _bank(n=15, k=6)
    s = _noisy(xi, [0, 1, 2])
    beta = 2.0
    mem = HopfieldMemory(xi, "dot", "softmax", beta=beta, dtype=torch.float64)
    ref = -torch.log(torch.exp(beta * s @ xi.T).sum(-1)) / beta + 0.5 * (s * s).sum(-1)  # HEN eq. 1
    torch.testing.assert_close(mem.energy(s), ref)


def test_sparsemax_energy_matches_uhop_eq_2_3():
    xi = _bank(n=15, k=6)
    s = _noisy(xi, [0, 1, 2], sigma=1.0)
    beta = 0.8
    mem = HopfieldMemory(xi, "dot", "sparsemax", beta=beta, dtype=torch.float64)
    theta = beta * s @ xi.T
    p = sparsemax_sorted(theta)
    psi = 0.5 * (theta**2).sum(-1) - 0.5 * ((p - theta) ** 2).sum(-1) + 0.5  # U-Hop eq. 2.3, alpha = 2
    torch.testing.assert_close(mem.energy(s), 0.5 * (s * s).sum(-1) - psi / beta)


@pytest.mark.parametrize("sim, sep, step", [("dot", "softmax", 1.0), ("dot", "sparsemax", 1.0),
                                             ("dot", "entmax:1.5", 1.0), ("l2", "softmax", 0.5),
                                             ("l2", "sparsemax", 0.5)])
def test_update_is_gradient_step_of_energy_autograd(sim, sep, step):
    """hamux-style check: the update equals s - c grad E(s) (c = 1 for dot, 1/2 for l2, whose convex
    part is ||s||^2), i.e. the closed-form update is the CCCP step of the reported energy."""
    xi = _bank(n=12, k=5)
    s = _noisy(xi, [3, 4], sigma=0.7).requires_grad_(True)
    mem = HopfieldMemory(xi, sim, sep, beta=1.3, dtype=torch.float64)
    from hen_demo.memory.energy import hopfield_energy
    e = hopfield_energy(mem.sim, mem.separation, mem.beta, s)
    (g,) = torch.autograd.grad(e.sum(), s)
    torch.testing.assert_close(s.detach() - step * g, mem.update(s.detach()))


def test_clamp_keeps_clamped_dims_and_fills_the_rest():
    g = torch.Generator().manual_seed(0)
    xi = torch.sign(torch.randn(10, 40, generator=g))  # equal-norm patterns
    q = xi[[4]].clone()
    q[:, 20:] = 0  # the "image half" is missing; the "text half" (first 20 dims) is known
    clamp = torch.zeros(40, dtype=torch.bool)
    clamp[:20] = True
    for fast in (True, False):
        out = HopfieldMemory(xi, "dot", "softmax", beta=1.0).retrieve(q, steps=50, clamp=clamp, fast=fast)
        assert torch.equal(out.states[:, :20], q[:, :20])
        torch.testing.assert_close(out.states[:, 20:], xi[[4], 20:], rtol=0, atol=1e-2)
        assert out.topk_indices[0, 0] == 4
        assert (out.energies.diff(dim=0) <= 1e-5).all()  # constrained CCCP still descends


def test_stream_starts_with_query_and_ends_at_retrieve():
    xi = _bank(n=30, k=10).float()
    q = _noisy(xi.double(), [0, 1, 2], sigma=0.6).float()
    for sim, sep in (("dot", "softmax"), ("l2", "sparsemax"), ("manhattan", "softmax"), ("cosine", "entmax:1.5")):
        mem = HopfieldMemory(xi, sim, sep, beta=0.5)
        frames = list(mem.stream(q, steps=40, topk=3))
        assert frames[0].t == 0 and torch.equal(frames[0].state, q)
        assert [f.t for f in frames] == list(range(len(frames)))
        ref = mem.retrieve(q, steps=40, fast=False)
        torch.testing.assert_close(frames[-1].state, ref.states, rtol=1e-5, atol=1e-5)
        torch.testing.assert_close(frames[-1].energy, ref.energies[-1], rtol=1e-5, atol=1e-5)
        assert len(frames) == ref.steps + 1
        assert frames[-1].weights.shape == (3, 30) and frames[-1].topk_indices.shape == (3, 3)
        fast = mem.retrieve(q, steps=40)
        torch.testing.assert_close(frames[-1].state, fast.states, rtol=1e-4, atol=1e-4)


def test_result_shapes_and_topk():
    xi = _bank(n=20, k=7).float()
    out = HopfieldMemory(xi, beta=2.0).retrieve(xi[3], steps=5, topk=4)
    assert out.states.shape == (1, 7) and out.weights.shape == (1, 20)
    assert out.energies.shape == (out.steps + 1, 1)
    assert out.topk_indices.shape == (1, 4) and out.topk_weights.shape == (1, 4)
    assert out.states.dtype == torch.float32 and out.converged.dtype == torch.bool
    torch.testing.assert_close(out.topk_weights, out.weights.topk(4).values)
    assert HopfieldMemory(xi).retrieve(xi[:2], topk=100).topk_indices.shape == (2, 20)
    assert HopfieldMemory(xi).retrieve(xi[:2], topk=0).topk_indices.shape == (2, 0)


def test_auto_method_picks_the_kernel_per_shape(monkeypatch):
    """auto: flash sdpa on the CPU once B x N is large, the fused matmul step below that and without flash."""
    import hen_demo.memory.fastpath as fp
    calls = []
    xi = _bank(n=50, k=8).float()
    mem = HopfieldMemory(xi, "dot", "softmax", beta=0.5)
    monkeypatch.setattr(mem._fast_step, "step_sdpa", lambda s: calls.append("sdpa") or fp.FastAttentionStep.step_sdpa(mem._fast_step, s))
    monkeypatch.setattr(mem._fast_step, "step_matmul", lambda s: calls.append("mm") or fp.FastAttentionStep.step_matmul(mem._fast_step, s))
    mem.retrieve(xi[:4], steps=1)  # B x N = 200: small
    monkeypatch.setattr(fp, "SDPA_MIN_SCORES", 100)
    mem.retrieve(xi[:4], steps=1)  # now "large"
    monkeypatch.setattr(mem._fast_step, "_flash", None)  # as on a device without the CPU flash op
    mem.retrieve(xi[:4], steps=1)
    assert calls == ["mm", "sdpa", "mm"]


def test_matmul_and_sdpa_kernels_agree_with_the_reference():
    xi = _bank(n=60, k=16).float()
    q = _noisy(xi.double(), [0, 1, 2, 5], sigma=0.7).float()
    for sim in ("dot", "l2", "cosine"):
        ref = HopfieldMemory(xi, sim, "softmax", beta=0.6).retrieve(q, steps=8, tol=0, fast=False)
        for method in ("matmul", "sdpa"):
            got = HopfieldMemory(xi, sim, "softmax", beta=0.6, fast_method=method).retrieve(q, steps=8, tol=0)
            torch.testing.assert_close(got.states, ref.states, rtol=1e-4, atol=1e-4)
            # tol = 0 stops a query only on a bit-exact fixed point, which one kernel's rounding may reach a
            # step before the other's: compare the steps both ran (a stopped query repeats its last energy)
            t = min(len(got.energies), len(ref.energies))
            torch.testing.assert_close(got.energies[:t], ref.energies[:t], rtol=1e-4, atol=1e-3)


def test_public_sdpa_fallback_matches_reference():
    """Where the CPU flash op is missing, sdpa + a separate log-sum-exp gives the same states and energies."""
    xi = _bank(n=40, k=12).float()
    q = _noisy(xi.double(), [0, 1, 2], sigma=0.7).float()
    for sim in ("dot", "l2"):
        mem = HopfieldMemory(xi, sim, "softmax", beta=0.4, fast_method="sdpa")
        mem._fast_step._flash = None
        a, b = mem.retrieve(q, steps=10, tol=0), mem.retrieve(q, steps=10, tol=0, fast=False)
        torch.testing.assert_close(a.states, b.states, rtol=1e-4, atol=1e-4)
        torch.testing.assert_close(a.energies, b.energies, rtol=1e-4, atol=1e-3)


def test_numpy_inputs_accepted():
    xi = np.random.default_rng(0).normal(size=(10, 4)).astype(np.float32)
    out = HopfieldMemory(xi, beta=3.0).retrieve(xi[:2], steps=3)
    assert out.states.shape == (2, 4)


def test_a_change_of_beta_reaches_retrieve_and_stream():
    """retrieve and stream share one step loop: setting beta changes both, and they agree after the change."""
    xi = _bank(n=25, k=8).float()
    q = _noisy(xi.double(), [0, 1, 2, 3], sigma=0.8).float()
    mem = HopfieldMemory(xi, "l2", beta=0.01)
    soft_r = mem.retrieve(q, steps=30).states
    soft_s = list(mem.stream(q, steps=30, fast=True))[-1].state
    mem.beta = 50.0
    sharp_r = mem.retrieve(q, steps=30).states
    sharp_s = list(mem.stream(q, steps=30, fast=True))[-1].state
    assert (soft_r - sharp_r).abs().max() > 1e-2 and (soft_s - sharp_s).abs().max() > 1e-2
    torch.testing.assert_close(sharp_r, sharp_s, rtol=1e-4, atol=1e-4)
    torch.testing.assert_close(soft_r, soft_s, rtol=1e-4, atol=1e-4)
    with pytest.raises(ValueError, match="beta"):
        mem.beta = -1.0


@pytest.mark.parametrize("similarity", ["dot", "l2", "cosine"])
def test_final_stats_without_weights_equal_the_weights_path(similarity):
    """keep_weights=False reduces the final weights chunk by chunk (FastAttentionStep.final_stats); every
    number it reports must equal the path that builds the (B, N) weights."""
    g = torch.Generator().manual_seed(3)
    xi = torch.rand(700, 48, generator=g)
    q = xi[:300].clone()
    q[:, 24:] = 0.0
    mem = HopfieldMemory(xi, similarity=similarity, beta=0.5 if similarity == "dot" else 6.0)
    a = mem.retrieve(q, steps=6, tol=1e-6, topk=4, fast=True)
    b = mem.retrieve(q, steps=6, tol=1e-6, topk=4, fast=True, keep_weights=False)
    assert b.weights is None and a.weights is not None
    assert torch.equal(a.topk_indices, b.topk_indices) and torch.equal(a.top_index, b.top_index)
    assert torch.equal(a.n_above, b.n_above) and torch.equal(a.converged, b.converged)
    for f in ("states", "energies", "n_eff", "top_weight", "topk_weights"):
        torch.testing.assert_close(getattr(a, f), getattr(b, f), rtol=1e-4, atol=1e-5)


def test_final_stats_count_every_weight_above_005_and_break_ties_like_argmax():
    """final_stats reads n_above and the winner from one top-20 pass: a bank where a query is shared by many equal
    or near-equal memories (n_above up to 19, exact ties) must still agree with the (B, N) weights."""
    g = torch.Generator().manual_seed(5)
    base = torch.rand(40, 16, generator=g)
    groups = [base[i].expand(c, 16) for i, c in zip(range(6), (1, 2, 5, 12, 19, 30))]  # exact duplicates
    xi = torch.cat(groups + [base[6:] + 0.01 * torch.randn(34, 16, generator=g)])
    q = torch.stack([base[i] for i in range(6)]) + 0.001
    mem = HopfieldMemory(xi, similarity="l2", beta=20.0)
    a = mem.retrieve(q, steps=2, tol=0.0, topk=3, fast=True)
    b = mem.retrieve(q, steps=2, tol=0.0, topk=3, fast=True, keep_weights=False)
    expect = (a.weights > 0.05).sum(dim=-1)
    assert expect.tolist()[:5] == [1, 2, 5, 12, 19] and expect[5] == 0  # 30 copies: each weight 1/30 < 0.05
    assert torch.equal(b.n_above, expect)
    # the tie rule (memory.ties), not argmax: the lowest index among copies within 0.1 % of the top weight, so
    # rounding (or a one-ulp change of the bank) cannot pick another copy
    winner, tied = winner_of_weights(a.weights)
    assert torch.equal(b.top_index, winner) and torch.equal(a.top_index, b.top_index)
    assert b.tied.tolist() == a.tied.tolist() == [False, True, True, True, True, True]
    assert b.top_index.tolist()[:5] == [0, 1, 3, 8, 20]  # the first copy of each group
