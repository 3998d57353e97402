"""U-Hop experiments at fair beta: each model at its own calibrated beta beside the paper's absolute beta = 1
(issue 9's rule applied to uhop-capacity / uhop-noise / uhop-stage1)."""

import dataclasses
import math

import numpy as np
import pandas as pd
import pytest
import torch

from hen_demo.experiments.registry import make_config, run_experiment
from hen_demo.experiments.uhop_common import ALL_MODELS, NN, UHOP, beta_runs, make_memory, model_beta
from hen_demo.memory.calibration import CALIBRATION_C
from hen_demo.memory.uhop import fit_uhop_kernel


def _memories(n=12, k=16, seed=0):
    return torch.rand(n, k, generator=torch.Generator().manual_seed(seed), dtype=torch.float64).float()


def _reference_beta(x: np.ndarray, kind: str, relative: float) -> float:
    """relative * C / median of the positive gaps, computed here with numpy (independent of calibration.py):
    dot g_n = x_n . x_n - max_{m != n} x_m . x_n; distances g_n = min_{m != n} d(x_m, x_n)."""
    x = x.astype(np.float64)
    n = len(x)
    off = ~np.eye(n, dtype=bool)
    if kind == "dot":
        G = x @ x.T
        g = np.array([G[i, i] - G[i, off[i]].max() for i in range(n)])
    else:
        diff = x[:, None, :] - x[None, :, :]  # (n, n, K)
        d = {"l2": (diff ** 2).sum(-1), "euclidean": np.sqrt((diff ** 2).sum(-1)),
             "manhattan": np.abs(diff).sum(-1)}[kind]
        g = np.array([d[i, off[i]].min() for i in range(n)])
    g = np.sort(g[g > 0])
    return relative * CALIBRATION_C / float(g[(len(g) - 1) // 2])  # the lower median, as torch.median takes


EXPECTED_KIND = {"MHM": "dot", "Sparse MHM": "dot", "L2 MHM": "l2", "Manhattan MHM": "manhattan",
                 "L2 MHM (paper sign)": "euclidean", "Manhattan MHM (paper sign)": "manhattan"}


def test_each_model_gets_relative_times_its_own_calibrated_beta():
    x = _memories()
    fit = fit_uhop_kernel(x, iterations=3, lr=0.1)
    for model, kind in EXPECTED_KIND.items():
        mem = make_memory(model, x, beta=1.0, fit=fit, beta_relative=0.5)
        assert mem.beta == pytest.approx(_reference_beta(x.numpy(), kind, 0.5), rel=1e-5), model
        assert model_beta(model, x, 1.0, fit, 0.5) == pytest.approx(mem.beta, rel=1e-12)
    # the scales really differ, so one absolute beta is not equally sharp for all
    betas = {k: _reference_beta(x.numpy(), k, 1.0) for k in ("dot", "l2", "manhattan")}
    assert max(betas.values()) > 3 * min(betas.values())


def test_the_kernel_model_uses_the_kernels_calibration():
    x = _memories()
    fit = fit_uhop_kernel(x, iterations=5, lr=1.0)
    features = (x.double() @ fit.W.double().T).numpy()  # Phi(xi) = W xi (U-Hop eq. 2.1)
    mem = make_memory(UHOP, x, beta=1.0, fit=fit, beta_relative=2.0)
    assert mem.beta == pytest.approx(_reference_beta(features, "dot", 2.0), rel=1e-5)
    assert mem.beta != pytest.approx(_reference_beta(x.numpy(), "dot", 2.0), rel=1e-2)  # not plain dot's


def test_dam_keeps_the_absolute_beta_nn_has_none_and_absolute_mode_is_unchanged():
    x = _memories()
    fit = fit_uhop_kernel(x, iterations=1, lr=0.1)
    assert make_memory("DAM poly-10", x, beta=1.0, beta_relative=3.0).beta == 1.0
    assert math.isnan(model_beta(NN, x, 1.0, None, 3.0)) and math.isnan(model_beta(NN, x, 1.0))
    q = x + 0.05
    for model in ALL_MODELS:
        mem = make_memory(model, x, beta=1.0, fit=fit)  # the paper's protocol: beta = 1 for every model
        if model != NN:
            assert mem.beta == 1.0, model
    # poly weights ignore beta: the calibrated and the absolute DAM retrieve the same states
    a = make_memory("DAM poly-10", x, beta=1.0).retrieve(q, steps=1, tol=0.0).states
    b = make_memory("DAM poly-10", x, beta=50.0).retrieve(q, steps=1, tol=0.0).states
    assert torch.allclose(a, b)


@pytest.mark.parametrize("bad", [0.0, -1.0, float("nan"), float("inf")])
def test_a_bad_relative_beta_is_a_value_error(bad):
    x = _memories()
    with pytest.raises(ValueError, match="relative beta must be a positive"):
        make_memory("MHM", x, beta=1.0, beta_relative=bad)
    with pytest.raises(ValueError, match="relative beta must be a positive"):
        beta_runs(1.0, [1.0, bad])
    with pytest.raises(ValueError, match="relative beta must be a positive"):
        make_config("uhop-capacity", "tiny", {"beta_relative": [bad]})


def test_the_cli_relative_beta_reaches_the_three_experiments():
    for name in ("uhop-capacity", "uhop-noise", "uhop-stage1"):
        assert make_config(name, "quick").beta_relatives == [1.0]
        assert make_config(name, "tiny", {"beta_relative": [0.5, 2.0]}).beta_relatives == [0.5, 2.0]
    with pytest.raises(ValueError, match="absolute beta, relative betas"):
        beta_runs(None, None)


def test_a_callable_early_stopping_beta_is_evaluated_per_iterate():
    x = _memories(n=10)
    q = x * (torch.rand(x.shape, generator=torch.Generator().manual_seed(1)) > 0.5)
    kw = dict(iterations=4, lr=0.5, holdout=(q, torch.arange(10)))
    fixed = fit_uhop_kernel(x, beta=3.0, **kw)
    seen = []
    called = fit_uhop_kernel(x, beta=lambda W: seen.append(W.shape) or 3.0, **kw)
    assert [e for _, e in called.holdout_history] == pytest.approx([e for _, e in fixed.holdout_history])
    assert len(seen) == len(fixed.holdout_history) == 5


@pytest.fixture
def _cache(tmp_path_factory, monkeypatch):
    monkeypatch.setenv("HEN_CACHE_DIR", str(tmp_path_factory.getbasetemp() / "hen_cache"))


@pytest.mark.slow
@pytest.mark.parametrize("name", ["uhop-capacity", "uhop-noise", "uhop-stage1"])
def test_a_tiny_run_writes_both_beta_modes(name, tmp_path, _cache):
    torch.set_num_threads(1)
    result, paths = run_experiment(name, "tiny", out=tmp_path / name)
    for df in (pd.read_csv(paths["csv"]), result.extra_tables["runs"]):
        assert {"beta_mode", "beta", "beta_relative"} <= set(df.columns)
        assert set(df.beta_mode) == {"absolute", "relative"}
        ab, rel = df[df.beta_mode == "absolute"], df[df.beta_mode == "relative"]
        assert ab.beta_relative.isna().all() and np.allclose(rel.beta_relative, 1.0)
        assert np.allclose(ab.beta.dropna(), 1.0)
        assert len(ab) == len(rel)
        u = rel[rel["model"] == UHOP] if "model" in rel else rel
        assert (u.beta > 0).all() and not np.allclose(u.beta, 1.0)  # the kernel's own calibrated beta
    assert "At calibrated β" in result.findings
    if name == "uhop-capacity":  # the paper-protocol rows do not depend on the relative mode being run
        from hen_demo.experiments import uhop_capacity

        alone = uhop_capacity.run(dataclasses.replace(uhop_capacity.Config.tiny(), beta_relatives=None))
        assert set(alone.extra_tables["runs"].beta_mode) == {"absolute"}
        a = alone.extra_tables["runs"].drop(columns=["beta_mode", "beta_relative"]).reset_index(drop=True)
        b = result.extra_tables["runs"]
        b = b[b.beta_mode == "absolute"].drop(columns=["beta_mode", "beta_relative"]).reset_index(drop=True)
        pd.testing.assert_frame_equal(a, b)
