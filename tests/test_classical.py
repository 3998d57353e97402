"""Textbook results for the classical memories (slides 002): each test compares with an independent formula or a
known law, so it can fail."""

import numpy as np
import pytest
import torch

from hen_demo.memory.classical import (
    CorrelationMemory,
    DenseAssociativeMemory,
    HebbianHopfield,
    attention_step,
    capacity_curve,
    classify_state,
    dam_capacity_estimate,
    flip_bits,
    lse_energy,
    measure_recall,
    modern_hopfield_step,
    random_bipolar,
    recall_fraction,
)


def test_hebbian_weights_and_energy_match_the_slides_formulas():
    xi = random_bipolar(4, 30, seed=1)
    x = xi.astype(float)
    net = HebbianHopfield(xi, zero_diagonal=False)
    np.testing.assert_allclose(net.weights, sum(np.outer(p, p) for p in x))  # W = sum_mu xi xi^T
    s = random_bipolar(3, 30, seed=2)
    # E = -1/2 sum_ij W_ij s_i s_j = -1/2 sum_mu (xi_mu . s)^2
    np.testing.assert_allclose(net.energy(s), -0.5 * ((s.astype(float) @ x.T) ** 2).sum(axis=1))
    net0 = HebbianHopfield(xi)  # zero diagonal shifts the energy by P * D / 2
    np.testing.assert_allclose(net0.energy(s), net.energy(s) + 4 * 30 / 2)
    assert np.all(np.diag(net0.weights) == 0)


def test_single_pattern_recalled_from_20_percent_flipped_bits():
    xi = random_bipolar(1, 100, seed=3)
    net = HebbianHopfield(xi)
    cue = flip_bits(xi[0], 0.2, seed=4)
    assert np.sum(cue != xi[0]) == 20
    for mode in ("async", "sync"):
        trace = net.run_async(cue, sweeps=3, seed=0) if mode == "async" else net.run_sync(cue, steps=5)
        np.testing.assert_array_equal(trace.final, xi[0])
        assert trace.converged


@pytest.mark.parametrize("zero_diagonal", [True, False])
def test_energy_never_rises_under_asynchronous_updates(zero_diagonal):
    xi = random_bipolar(20, 64, seed=5)  # overloaded on purpose: long runs through spurious states
    net = HebbianHopfield(xi, zero_diagonal=zero_diagonal)
    for seed in range(5):
        trace = net.run_async(random_bipolar(1, 64, seed=10 + seed)[0], sweeps=10, seed=seed)
        assert np.all(np.diff(trace.energies) <= 1e-9)
        # the incrementally tracked energy equals a fresh evaluation
        np.testing.assert_allclose(trace.energies, net.energy(trace.states), atol=1e-9)
        # one recorded row per single-neuron update
        assert len(trace.states) == trace.update_index[-1] + 1
        assert np.all(np.sum(trace.states[1:] != trace.states[:-1], axis=1) <= 1)


def test_dense_memory_energy_never_rises_and_matches_formula():
    xi = random_bipolar(30, 40, seed=6)
    for n in (2, 3, 4):
        dam = DenseAssociativeMemory(xi, n=n)
        trace = dam.run_async(random_bipolar(1, 40, seed=7)[0], sweeps=5, seed=1)
        assert np.all(np.diff(trace.energies) <= 1e-6 * np.abs(trace.energies[:-1]).max())
        expected = -((trace.states.astype(float) @ xi.T.astype(float)) ** n / n).sum(axis=1)
        np.testing.assert_allclose(trace.energies, expected, rtol=1e-12)


def test_dense_n2_is_the_zero_diagonal_hopfield_network():
    xi = random_bipolar(8, 50, seed=8)
    cue = flip_bits(xi[2], 0.3, seed=9)
    a = HebbianHopfield(xi).run_async(cue, sweeps=5, seed=3)
    b = DenseAssociativeMemory(xi, n=2).run_async(cue, sweeps=5, seed=3)
    np.testing.assert_array_equal(a.final, b.final)
    # slides' synchronous rule with j != i, n = 2  ==  sgn(W s) with zero diagonal
    w = HebbianHopfield(xi).weights
    s = random_bipolar(5, 50, seed=11)
    h = s @ w
    expected = np.where(h > 0, 1, np.where(h < 0, -1, s))
    np.testing.assert_array_equal(DenseAssociativeMemory(xi, 2).update_sync(s), expected)


def test_capacity_collapses_past_0p14_D_at_D256():
    high = recall_fraction(256, 13, n=2, flip=0.0, trials=2, seed=0)  # P = 0.05 D
    low = recall_fraction(256, 77, n=2, flip=0.0, trials=2, seed=0)  # P = 0.3 D
    assert high >= 0.95
    assert low <= 0.05
    far = measure_recall(256, 77, n=2, trials=1, seed=0)
    assert far.spurious_fraction > 0.9 and far.mean_overlap < 0.8


def test_dense_memory_of_higher_order_stores_more():
    D, P = 64, 40  # P ~ 0.6 D: hopeless for n = 2, easy for n = 3 (capacity ~ D^2)
    curve2 = capacity_curve(D, [P], n=2, trials=2, seed=1)
    curve3 = capacity_curve(D, [P], n=3, trials=2, seed=1)
    assert curve2.recall_fraction[0] < 0.1
    assert curve3.recall_fraction[0] > 0.9
    assert dam_capacity_estimate(D, 3) > 10 * dam_capacity_estimate(D, 2)
    np.testing.assert_allclose(dam_capacity_estimate(100, 2), 100 / (2 * np.log(100)))


def test_kohonen_recalls_exactly_with_orthonormal_keys_and_amari_cleans_crosstalk():
    rng = np.random.default_rng(0)
    q, _ = np.linalg.qr(rng.normal(size=(16, 16)))
    A = q[:5]  # (5, 16) orthonormal rows
    C = random_bipolar(5, 9, seed=1).astype(float)
    kohonen = CorrelationMemory(A, C, g="identity")
    np.testing.assert_allclose(kohonen.recall(A), C, atol=1e-10)
    # bipolar keys (correlated): Kohonen output carries cross-talk, Amari's sign removes it
    xi = random_bipolar(3, 200, seed=2)
    masked = xi[0].astype(float).copy()
    masked[100:] = 0  # hide half of the cue
    amari = CorrelationMemory(xi, g="sign").recall(masked)
    koh = CorrelationMemory(xi, g="identity").recall(masked)
    np.testing.assert_array_equal(amari, xi[0])
    assert not np.allclose(koh, xi[0])
    np.testing.assert_allclose(koh, xi.T.astype(float) @ (xi.astype(float) @ masked))


def test_classify_state_finds_stored_negated_and_mixtures():
    xi = random_bipolar(3, 101, seed=4)
    assert classify_state(xi[1], xi).kind == "stored"
    assert classify_state(-xi[2], xi).kind == "negated"
    mix = np.sign(xi[0].astype(int) + xi[1] - xi[2]).astype(np.int8)
    v = classify_state(mix, xi)
    assert v.kind == "mixture" and sorted(v.indices) == [0, 1, 2] and v.is_spurious


def test_modern_hopfield_step_is_attention_and_lowers_lse_energy():
    rng = np.random.default_rng(5)
    X = rng.normal(size=(7, 12))
    s = rng.normal(size=12)
    new, p = modern_hopfield_step(X, s, beta=0.7)
    np.testing.assert_allclose(p.sum(), 1.0, rtol=1e-6)
    np.testing.assert_allclose(new, attention_step(X, s, beta=0.7), atol=1e-5)
    ref = torch.softmax(0.7 * torch.tensor(X @ s), 0).numpy() @ X
    np.testing.assert_allclose(new, ref, atol=1e-5)
    assert lse_energy(X, new, 0.7) <= lse_energy(X, s, 0.7) + 1e-9  # CCCP step descends


@pytest.mark.parametrize("bad", [
    lambda: HebbianHopfield(np.array([[1, 0, -1]])),
    lambda: HebbianHopfield(np.ones(5)),
    lambda: HebbianHopfield(np.ones((2, 4))).run_async(np.ones(5)),
    lambda: HebbianHopfield(np.ones((2, 4))).energy(np.array([1, -1, 0.5, 1])),
    lambda: CorrelationMemory(np.ones((3, 4)), np.ones((2, 4))),
    lambda: CorrelationMemory(np.ones((3, 4)), g="tanh"),
    lambda: CorrelationMemory(np.ones((3, 4))).recall(np.ones(5)),
    lambda: DenseAssociativeMemory(np.ones((2, 4)), n=1),
    lambda: DenseAssociativeMemory(np.ones((2, 4)), n=2.5),
    lambda: flip_bits(np.ones(4), 1.5),
    lambda: capacity_curve(32, []),
    lambda: modern_hopfield_step(np.ones((2, 3)), np.ones(3), beta=0),
])
def test_bad_inputs_raise_value_error(bad):
    with pytest.raises(ValueError):
        bad()


def test_module_docstring_example_runs():
    import textwrap

    import hen_demo.memory.classical as classical

    example = textwrap.dedent(classical.__doc__.split("Example::")[1])
    exec(compile(example, "classical-example", "exec"), {})


def test_dense_sync_minerva2_recalls_correlated_digits_where_n2_fails():
    from hen_demo.ui.patterns import sklearn_digit_patterns

    xi = sklearn_digit_patterns(5)[0]  # strongly correlated patterns (max overlap ~0.7)
    cue = flip_bits(xi[3], 0.1, seed=0)
    minerva = DenseAssociativeMemory(xi, n=4).run_sync(cue, steps=10)  # cubic update sgn(Xi^T (Xi s)^3)
    classical = DenseAssociativeMemory(xi, n=2).run_sync(cue, steps=10)
    np.testing.assert_array_equal(minerva.final, xi[3])
    assert not np.array_equal(classical.final, xi[3])
