"""U-Hop Stage I options (lr schedules, fit subset, early stopping, snapshots), the official protocol's
corruptions and the sign of the distance baselines (issue 14)."""

import math

import pytest
import torch

from hen_demo.experiments.uhop_common import (
    NN,
    PAPER_SIGN,
    capacity_queries,
    clamped_noise_queries,
    dropout_queries,
    make_memory,
    masked_queries,
    noise_queries,
    one_step_scores,
    retrieval_scores,
    sum_squared_error,
)
from hen_demo.memory.hopfield import HopfieldMemory
from hen_demo.memory.similarity import LinearKernel
from hen_demo.memory.uhop import (
    exact_fixed_points,
    fit_uhop_kernel,
    initial_feature_map,
    kernel_cosines,
    kernel_retrieval_error,
    separation_loss,
    step_size,
)


def _memories(n=30, k=20, seed=0):
    return torch.rand(n, k, generator=torch.Generator().manual_seed(seed))


# ----------------------------------------------------------------------------- Stage I


@pytest.mark.parametrize("include_self", [False, True])
def test_one_stage_one_step_lowers_the_loss(include_self):
    X = _memories()
    fit = fit_uhop_kernel(X, iterations=1, lr=0.1, include_self=include_self, normalize_rows=False)
    before = float(separation_loss(fit.W_initial, X, include_self=include_self))
    after = float(separation_loss(fit.W, X, include_self=include_self))
    assert fit.loss_history[0] == pytest.approx(before, abs=1e-6)
    assert after < before - 1e-4
    # the step is W_0 - gamma * grad, checked against autograd here
    W = fit.W_initial.clone().requires_grad_(True)
    (g,) = torch.autograd.grad(separation_loss(W, X, include_self=include_self), W)
    assert torch.allclose(fit.W, fit.W_initial - 0.1 * g, atol=1e-6)


def test_snapshots_equal_separate_fits():
    X = _memories()
    fit = fit_uhop_kernel(X, iterations=6, lr=0.5, snapshot_at=[0, 2, 6])
    assert sorted(fit.snapshots) == [0, 2, 6]
    for n in (2, 6):
        assert torch.allclose(fit.snapshots[n], fit_uhop_kernel(X, iterations=n, lr=0.5).W, atol=1e-6)
    assert torch.allclose(fit.snapshots[0], torch.eye(20))


def test_lr_schedules():
    assert step_size(1.0, "constant", 7) == 1.0
    assert step_size(2.0, "inv-sqrt", 3) == pytest.approx(1.0)
    # the official code divides the step by sqrt(i + 1) after every step: gamma, gamma, gamma/sqrt2, gamma/sqrt6
    assert [step_size(1.0, "official", i) for i in range(4)] == pytest.approx([1, 1, 1 / math.sqrt(2), 1 / math.sqrt(6)])
    with pytest.raises(ValueError, match="lr_schedule"):
        fit_uhop_kernel(_memories(), iterations=1, lr_schedule="cosine")


def test_fit_fraction_uses_a_subset():
    X = _memories(n=20)
    fit = fit_uhop_kernel(X, iterations=3, fit_fraction=0.5, seed=3)
    assert fit.fit_indices.shape == (10,) and len(set(fit.fit_indices.tolist())) == 10
    sub = X[fit.fit_indices]
    assert fit.loss_history[0] == pytest.approx(float(separation_loss(torch.eye(20), sub)), abs=1e-6)
    assert fit.loss_history[0] != pytest.approx(float(separation_loss(torch.eye(20), X)), abs=1e-4)
    with pytest.raises(ValueError, match="fit_fraction"):
        fit_uhop_kernel(X, fit_fraction=0.0)


def test_kernel_retrieval_error_matches_hopfield_memory():
    X = _memories()
    Q = masked_queries(X, 0.5, seed=1)
    W = torch.randn(24, 20, generator=torch.Generator().manual_seed(2)) / 5
    mem = HopfieldMemory(X, similarity=LinearKernel(W), separation="softmax", beta=1.5)
    ref = float(((mem.retrieve(Q, steps=1, tol=0.0).states - X) ** 2).sum(1).mean())
    assert kernel_retrieval_error(W, X, Q, torch.arange(30), beta=1.5) == pytest.approx(ref, rel=1e-5)


def test_early_stopping_keeps_the_best_held_out_kernel(one_thread):
    X = _memories(n=40, k=30, seed=4)
    held = (masked_queries(X, 0.5, seed=9), torch.arange(40))
    fit = fit_uhop_kernel(X, iterations=40, lr=1.0, holdout=held, patience=5)
    steps, errs = zip(*fit.holdout_history)
    assert list(steps) == list(range(len(steps)))
    best = min(range(len(errs)), key=errs.__getitem__)
    assert fit.best_iteration == best
    assert kernel_retrieval_error(fit.W, X, *held) == pytest.approx(errs[best], rel=1e-5)
    assert len(steps) <= best + 6  # stopped 5 evaluations after the best one (or ran out of steps)


# ----------------------------------------------------------------------------- official protocol


def test_official_dropout_zeroes_half_and_doubles_the_rest():
    X = torch.rand(200, 100, generator=torch.Generator().manual_seed(0)) + 0.1  # no zeros to start with
    Q = dropout_queries(X, 0.5, seed=1)
    zero = Q == 0
    assert abs(float(zero.float().mean()) - 0.5) < 0.01
    assert torch.allclose(Q[~zero], 2 * X[~zero])
    assert torch.equal(capacity_queries(X, "official", 0.5, seed=1), Q)
    # ours: the app's random mask, zeros only, the kept entries unchanged
    M = capacity_queries(X, "ours", 0.5, seed=1)
    kept = M != 0
    assert abs(float((~kept).float().mean()) - 0.5) < 0.01 and torch.equal(M[kept], X[kept])


def test_official_noise_is_clamped_absolute_value():
    X = torch.rand(50, 40, generator=torch.Generator().manual_seed(0))
    Q = clamped_noise_queries(X, 0.7, seed=2)
    noise = torch.randn(X.shape, generator=torch.Generator().manual_seed(2)) * 0.7
    assert torch.allclose(Q, (X + noise).abs().clamp(0, 1))
    assert torch.equal(noise_queries(X, 0.7, "official", seed=2), Q)
    assert (Q >= 0).all() and (Q <= 1).all()
    ours = noise_queries(X, 0.7, "ours", seed=2)  # x + N clipped: negative values become 0, not |x + N|
    assert (ours >= 0).all() and (ours <= 1).all() and not torch.allclose(ours, Q)
    with pytest.raises(ValueError, match="protocol"):
        noise_queries(X, 0.7, "paper")


def test_official_error_is_clamped():
    s, p = torch.tensor([[2.0, -1.0]]), torch.tensor([[1.0, 0.0]])
    assert sum_squared_error(s, p, clamp=True)[0] == 0.0
    assert sum_squared_error(s, p, clamp=False)[0] == pytest.approx(2.0)


# ----------------------------------------------------------------------------- baseline sign


def test_paper_sign_baseline_picks_the_farthest_memory_ours_the_nearest():
    patterns = torch.tensor([[0.0, 0.0], [1.0, 0.0], [4.0, 0.0]])
    query = torch.tensor([[0.9, 0.0]])  # nearest: memory 1, farthest: memory 2
    for model, ours in (("L2 MHM (paper sign)", "L2 MHM"), ("Manhattan MHM (paper sign)", "Manhattan MHM")):
        assert model in PAPER_SIGN
        bad = make_memory(model, patterns, beta=10.0).retrieve(query, steps=1)
        good = make_memory(ours, patterns, beta=10.0).retrieve(query, steps=1, tol=0.0)
        assert int(bad.weights.argmax()) == 2 and float(bad.weights.max()) > 0.99
        assert int(good.weights.argmax()) == 1 and float(good.weights.max()) > 0.99
        assert torch.allclose(bad.states, patterns[2:3], atol=1e-3)
    nn = make_memory(NN, patterns).retrieve(query)
    assert torch.equal(nn.states, patterns[1:2])
    s = one_step_scores(make_memory(NN, patterns), patterns, patterns)
    assert s.sse == 0.0 and s.identity_accuracy == 1.0


# ----------------------------------------------------------------------------- the U-Hop tab's numbers


def test_kernel_cosines_and_exact_fixed_points():
    X = _memories(n=12, k=6)
    cos = kernel_cosines(X, None, max_pairs=500)
    f = torch.nn.functional.normalize(X, dim=1)
    allowed = (f @ f.T)[~torch.eye(12, dtype=torch.bool)]
    assert cos.shape == (132,)  # capped at N (N - 1)
    assert all((allowed - c).abs().min() < 1e-6 for c in cos[:20])
    assert torch.allclose(torch.tensor(kernel_cosines(X, 2.0 * torch.eye(6))), torch.tensor(cos), atol=1e-6)
    holds, margin, verified = exact_fixed_points(3.0 * torch.eye(5), "dot", beta=1.0)
    assert holds.all() and verified == 5  # margin beta * (9 - 0) - 1 > 0
    holds, _, verified = exact_fixed_points(0.1 * torch.eye(5), "dot", beta=1.0)
    assert not holds.any() and verified == 0


def test_retrieval_scores_counts_hits():
    X = 3.0 * torch.eye(6)
    mem = HopfieldMemory(X, similarity="dot", separation="softmax", beta=5.0)
    err, acc, hits = retrieval_scores(mem, X[:4], X, steps=2)
    assert err < 1e-6 and acc == 1.0 and hits.tolist() == [True] * 4


def test_gaussian_init_is_the_official_one_and_the_loss_is_scale_free():
    W0 = initial_feature_map(6, init="gaussian", seed=5)
    assert torch.allclose(W0, torch.randn(6, 6, generator=torch.Generator().manual_seed(5), dtype=torch.float64).float())
    X = _memories(k=6)
    fit = fit_uhop_kernel(X, iterations=0, init="gaussian", seed=5, normalize_rows=False)
    assert torch.equal(fit.W_initial, W0)
    # the normalised-feature loss does not see the scale of W: its gradient shrinks as 1 / scale
    W = W0.clone().requires_grad_(True)
    (g1,) = torch.autograd.grad(separation_loss(W, X), W)
    W3 = (3 * W0).requires_grad_(True)
    (g3,) = torch.autograd.grad(separation_loss(W3, X), W3)
    assert torch.allclose(g3, g1 / 3, atol=1e-6)
    with pytest.raises(ValueError, match="init"):
        initial_feature_map(6, init="uniform")
