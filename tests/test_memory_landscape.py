"""The energy landscape's arrays are the engine's own numbers (issue 21): energy map = HopfieldMemory's energy at
the grid points, basin labels = where HopfieldMemory.retrieve ends from them, and basins merge at small beta."""

import numpy as np
import pytest
import torch

from hen_demo.memory import HopfieldMemory
from hen_demo.memory.energy import hopfield_energy
from hen_demo.memory.landscape import (
    MIXTURE,
    LandscapeConfig,
    as_memories,
    attractors,
    closest_pair,
    compute_landscape,
    make_grid,
    symmetric_pair_critical_beta,
    trajectory,
)

THREE = [[-0.5, -0.6], [0.5, -0.6], [0.0, 1.4]]
PAIR = [[-0.6, 0.0], [0.6, 0.0]]  # symmetric about x = 0 (and, for dot, about the origin); exact in float64


def _cfg(similarity="l2", beta=8.0, resolution=41, **kw):
    return LandscapeConfig(similarity=similarity, beta=beta, resolution=resolution, **kw)


def _random_cells(shape, k, seed=0):
    g = np.random.default_rng(seed)
    return list(zip(g.integers(0, shape[0], k), g.integers(0, shape[1], k)))


@pytest.mark.parametrize("similarity", ["l2", "dot"])
def test_energy_map_equals_hopfield_energy_at_random_grid_points(similarity, one_thread):
    land = compute_landscape(THREE, _cfg(similarity, beta=3.0))
    mem = HopfieldMemory(torch.tensor(THREE, dtype=torch.float64), similarity=similarity, beta=3.0,
                         device="cpu", dtype=torch.float64)
    xs, ys = land.grid.xs, land.grid.ys
    for i, j in _random_cells(land.energy.shape, 25):
        point = torch.tensor([[xs[j], ys[i]]], dtype=torch.float64)  # row i is y, column j is x
        e = hopfield_energy(mem.sim, mem.separation, mem.beta, point)
        assert float(land.energy[i, j]) == pytest.approx(float(e[0]), rel=1e-12, abs=1e-12)
        # and an independent reference: the formula of HEN eq. 1 written out with numpy
        xi, x = np.asarray(THREE), point.numpy()[0]
        if similarity == "l2":
            ref = -np.log(np.exp(-3.0 * ((xi - x) ** 2).sum(1)).sum()) / 3.0
        else:
            ref = 0.5 * x @ x - np.log(np.exp(3.0 * xi @ x).sum()) / 3.0
        assert float(land.energy[i, j]) == pytest.approx(ref, rel=1e-9, abs=1e-9)


def _interior(labels: torch.Tensor, i: int, j: int) -> bool:
    """The 3 x 3 neighbourhood of (i, j) has one label: far from a basin boundary, no rounding decides it."""
    h, w = labels.shape
    if not (0 < i < h - 1 and 0 < j < w - 1):
        return False
    return bool((labels[i - 1:i + 2, j - 1:j + 2] == labels[i, j]).all())


@pytest.mark.parametrize("similarity,beta", [("l2", 8.0), ("l2", 1.0), ("dot", 30.0)])
def test_basin_labels_equal_retrieve_from_those_points(similarity, beta, one_thread):
    land = compute_landscape(THREE, _cfg(similarity, beta=beta))
    mem = HopfieldMemory(torch.tensor(THREE), similarity=similarity, beta=beta)  # float32: another engine run
    checked = 0
    for i, j in _random_cells(land.labels.shape, 60, seed=1):
        if not _interior(land.labels, i, j):
            continue
        r = mem.retrieve(torch.tensor([[float(land.grid.xs[j]), float(land.grid.ys[i])]]), steps=200, tol=1e-6)
        want = int(r.top_index[0]) if float(r.top_weight[0]) >= 0.9 else MIXTURE
        assert int(land.labels[i, j]) == want, (i, j)
        checked += 1
    assert checked >= 20


def test_at_large_beta_l2_basins_are_the_nearest_memory(one_thread):
    """An independent reference: at large beta the l2 dynamics go to the nearest memory (Voronoi cells)."""
    land = compute_landscape(THREE, _cfg("l2", beta=30.0))
    xi = torch.tensor(THREE, dtype=torch.float64)
    d = torch.cdist(land.grid.points, xi)  # (H*W, N)
    two = d.topk(2, largest=False).values
    clear = (two[:, 1] - two[:, 0]) > 0.2  # not near a Voronoi edge
    nearest = d.argmin(1)
    labels = land.labels.reshape(-1)
    assert clear.sum() > 0.8 * len(labels)
    assert torch.equal(labels[clear], nearest[clear])


@pytest.mark.parametrize("similarity", ["l2", "dot"])
def test_a_close_pair_shares_one_mixture_basin_at_small_beta_and_splits_at_large_beta(similarity, one_thread):
    beta_c = symmetric_pair_critical_beta(0.6, similarity)  # 1.39 for l2, 2.78 for dot
    xs = make_grid(_cfg().extent, 40).xs  # an even resolution: no grid column at x = 0 exactly
    small = compute_landscape(PAIR, _cfg(similarity, beta=beta_c / 8, resolution=40))
    assert (small.labels == MIXTURE).all()  # one basin, a mixture, for both memories
    found = attractors(small)
    assert len(found) == 1 and found[0].label == MIXTURE and found[0].count == 40 * 40
    assert torch.allclose(found[0].point, torch.zeros(2, dtype=torch.float64), atol=1e-4)  # their midpoint
    large = compute_landscape(PAIR, _cfg(similarity, beta=beta_c * 8, resolution=40))
    left, right = xs < -0.3, xs > 0.3  # columns clear of the unstable line x = 0
    assert (large.labels[:, left] == 0).all() and (large.labels[:, right] == 1).all()
    assert set(large.basin_sizes()) >= {0, 1}


def test_trajectory_starts_at_the_click_descends_and_ends_where_the_basin_says(one_thread):
    cfg = _cfg("l2", beta=8.0)
    land = compute_landscape(THREE, cfg)
    i, j = 30, 34  # (x, y) = (2.1, 1.5): inside the upper memory's basin
    assert _interior(land.labels, i, j)
    start = [float(land.grid.xs[j]), float(land.grid.ys[i])]
    path = trajectory(THREE, start, cfg)
    assert path.states[0].tolist() == pytest.approx(start, abs=1e-6)  # the stream hands back float32 states
    assert path.label == int(land.labels[i, j]) == 2
    assert (path.energies[1:] <= path.energies[:-1] + 1e-6).all()  # CCCP: E never rises (l2, softmax)
    assert float(path.energies[0]) == pytest.approx(float(land.energy[i, j]), rel=1e-6)
    assert torch.allclose(path.states[-1], land.final_states[i, j], atol=1e-5)


def test_closest_pair_and_critical_beta():
    assert closest_pair(THREE)[:2] == (0, 1)
    assert closest_pair(THREE)[2] == pytest.approx(1.0)
    assert symmetric_pair_critical_beta(0.5, "l2") == pytest.approx(2.0)
    assert symmetric_pair_critical_beta(0.5, "dot") == pytest.approx(4.0)


@pytest.mark.parametrize("bad,words", [([], "at least one"), ([[1.0, 2.0, 3.0]], "two columns"),
                                       ([[1.0, float("nan")]], "finite"), ("abc", "table of numbers")])
def test_bad_memories_get_a_clear_error(bad, words):
    with pytest.raises(ValueError, match=words):
        as_memories(bad)


@pytest.mark.parametrize("cfg,words", [(dict(similarity="cosine"), "dot or l2"), (dict(resolution=1), "resolution"),
                                       (dict(extent=(1, 0, 0, 1)), "x_max"), (dict(beta=-1.0), "beta")])
def test_bad_config_gets_a_clear_error(cfg, words):
    with pytest.raises(ValueError, match=words):
        compute_landscape(THREE, LandscapeConfig(**{"resolution": 11, **cfg}))
