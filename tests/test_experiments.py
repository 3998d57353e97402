"""Experiments: every one runs at a tiny size and writes its outputs; known cases give known answers."""

import json

import numpy as np
import pandas as pd
import pytest
import torch

from hen_demo.experiments.registry import EXPERIMENTS, make_config, run_experiment

# experiments whose tiny run needs the text encoders (skipped when they are not installed)
NEEDS_TEXT = {"cross-modal", "uniqueness"}
SLOW = {"uhop-capacity", "uhop-noise", "uhop-stage1", "classical-capacity", "rank-collapse"}

EXPECTED_COLUMNS = {
    "beta-sweep": {"encoder", "similarity", "beta", "mse", "one_minus_ssim", "identity_accuracy",
                   "metastable_fraction"},
    "scale-out": {"encoder", "n", "mse", "one_minus_ssim", "identity_accuracy", "metastable_fraction"},
    "separability": {"encoder", "overlap", "d_prime", "self_mean", "cross_mean", "identity_accuracy",
                     "metastable_fraction"},
    "rank-collapse": {"model", "beta", "rank_collapse", "identity_accuracy", "metastable_fraction", "mse"},
    "cross-modal": {"encoder", "text_encoder", "n", "mse", "one_minus_ssim", "identity_accuracy",
                    "metastable_fraction"},
    "uniqueness": {"condition", "weight_a", "weight_b", "metastable_fraction", "identity_accuracy"},
    "uhop-capacity": {"dataset", "model", "memories", "sse", "identity_accuracy", "metastable_fraction"},
    "uhop-noise": {"dataset", "model", "noise", "sse", "identity_accuracy", "metastable_fraction"},
    "uhop-stage1": {"dataset", "iterations", "sse", "separation_loss", "identity_accuracy", "metastable_fraction"},
    "classical-capacity": {"n", "D", "P", "load", "recall", "identity_accuracy", "metastable_fraction"},
    "speed": {"encoder", "n", "retrieve_s", "total_s", "identity_accuracy"},
    "attractor-census": {"dataset", "encoder", "fill", "beta", "identity_accuracy", "nn_ceiling",
                         "distinct_attractors", "top_share", "top_hidden_brightness", "bank_hidden_brightness"},
}


def _text_available() -> bool:
    from hen_demo.encoders import list_text_encoders

    return any(i.available and i.name == "pixelized" for i in list_text_encoders())


@pytest.fixture(autouse=True)
def _cache(tmp_path_factory, monkeypatch):
    monkeypatch.setenv("HEN_CACHE_DIR", str(tmp_path_factory.getbasetemp() / "hen_cache"))


def _params():
    out = []
    for name in EXPERIMENTS:
        marks = [pytest.mark.slow] if name in SLOW else []
        out.append(pytest.param(name, marks=marks, id=name))
    return out


@pytest.mark.parametrize("name", _params())
def test_tiny_run_writes_outputs(name, tmp_path):
    if name in NEEDS_TEXT and not _text_available():
        pytest.skip("text encoders are not installed")
    result, paths = run_experiment(name, "tiny", out=tmp_path / name)
    df = pd.read_csv(paths["csv"])
    assert len(df) > 0
    assert EXPECTED_COLUMNS[name] <= set(df.columns), set(df.columns)
    numeric = df.select_dtypes("number").drop(columns=[c for c in ("r", "alpha", "beta") if c in df], errors="ignore")
    assert np.isfinite(numeric.to_numpy(dtype=float)).all()
    for col in ("identity_accuracy", "metastable_fraction"):
        assert df[col].between(0, 1).all()
    for key in ("png", "html", "md", "meta"):
        assert paths[key].exists() and paths[key].stat().st_size > 0
    html = paths["html"].read_text()
    assert "../plotly.min.js" in html and "cdn.plot.ly" not in html  # offline: the shared local plotly.js
    meta = json.loads(paths["meta"].read_text())
    assert meta["name"] == name and meta["config"]["size"] == "tiny"
    assert isinstance(meta["weight_fingerprints"], dict)  # staleness (report.stale_sections)
    md = paths["md"].read_text()
    assert "**The paper:**" in md and "**Reading:**" in md


def test_well_separated_one_hot_memories_are_recalled_exactly():
    from hen_demo.experiments.hen_eval import evaluate_memory
    from hen_demo.memory import HopfieldMemory

    K = 27  # codes decode to 3x3x3 images
    patterns = torch.eye(K)  # (27, 27) one-hot: orthogonal, well separated
    rng = np.random.default_rng(0)
    queries = (0.7 * patterns + 0.05 * torch.tensor(rng.random((K, K)), dtype=torch.float32)).clamp(0, 1)
    reference = (patterns.reshape(K, 3, 3, 3).permute(0, 2, 3, 1).numpy() * 255).astype(np.uint8)

    def decode(codes):
        return codes.reshape(-1, 3, 3, 3).clamp(0, 1)

    for sim in ("dot", "l2"):
        mem = HopfieldMemory(patterns, similarity=sim, separation="softmax", beta=60.0)
        sc = evaluate_memory(mem, patterns, queries, np.arange(K), decode, reference, steps=50)
        assert sc.identity_accuracy == 1.0
        assert sc.metastable_fraction == 0.0
        assert sc.mse < 1e-8 and sc.one_minus_ssim < 1e-4
        assert sc.rank_collapse == 0.0


def test_low_beta_collapses_to_a_mixture():
    from hen_demo import metrics
    from hen_demo.experiments.hen_eval import retrieve_batched
    from hen_demo.memory import HopfieldMemory

    patterns = torch.eye(20)
    mem = HopfieldMemory(patterns, similarity="dot", separation="softmax", beta=0.01)
    states, weights, _, _ = retrieve_batched(mem, 0.8 * patterns, steps=50)
    assert metrics.metastable_fraction(weights) == 1.0
    assert metrics.rank_collapse(states, reference=patterns) > 0.9  # all states ~ the mean of the memories


def test_classical_capacity_small_load_is_perfect():
    from hen_demo.experiments.classical_capacity import measure

    D = 200
    r = measure(D=D, P=int(0.05 * D), n=2, flip=0.0, trials=2, seed=0, max_cues=50, sweeps=5)
    assert r["recall"] == 1.0 and r["identity_accuracy"] == 1.0 and r["metastable_fraction"] == 0.0


def test_uhop_one_step_on_one_hot_memories():
    from hen_demo.experiments.uhop_common import fit_kernel, make_memory, masked_queries, one_step_scores

    patterns = 3.0 * torch.eye(16)
    queries = patterns.clone()
    for model in ("MHM", "L2 MHM", "Sparse MHM"):
        s = one_step_scores(make_memory(model, patterns, beta=5.0), patterns, queries)
        assert s.sse < 1e-6 and s.identity_accuracy == 1.0
    fit = fit_kernel(patterns, iterations=2)
    s = one_step_scores(make_memory("U-Hop", patterns, beta=5.0, fit=fit), patterns, queries)
    assert s.sse < 1e-3 and s.identity_accuracy == 1.0
    q = masked_queries(patterns, 0.5, seed=0)
    assert (q == 0).float().mean() > (patterns == 0).float().mean()  # masking zeroes entries


def test_make_config_overrides_and_unknown_name():
    cfg = make_config("beta-sweep", "quick", {"betas": [2.0], "nonexistent": 1})
    assert cfg.betas == [2.0]
    assert make_config("uhop-noise", "quick", {"dataset": "mnist"}).datasets == ["mnist"]
    assert make_config("beta-sweep", "quick", {"beta": 5.0}).betas == [5.0]
    assert make_config("scale-out", "quick", {"beta": 5.0}).beta == 5.0
    with pytest.raises(ValueError, match="unknown experiment"):
        make_config("no-such-thing")


def test_cli_and_report(tmp_path):
    from hen_demo.__main__ import main
    from hen_demo.experiments.report import build_report

    out = tmp_path / "results"
    assert main(["experiment", "beta-sweep", "--tiny", "--out", str(out / "beta-sweep"), "--betas", "1,10"]) == 0
    df = pd.read_csv(out / "beta-sweep" / "beta-sweep.csv")
    assert sorted(df.beta.unique()) == [1.0, 10.0]
    text = build_report(out)
    assert "HEN Fig. 2" in text and "Not run yet" in text and "`scale-out`" in text
    assert main(["report", "--results", str(out), "--out", str(tmp_path / "R.md")]) == 0
    assert (tmp_path / "R.md").read_text().startswith("# Reproduction report")


def test_hetero_association_from_text_and_shared_caption_mixture():
    """HEN §3.2 / Fig. 6 on synthetic codes: a unique caption recalls its image; a caption bound to two
    images recalls a 50/50 mixture of them."""
    from hen_demo import metrics
    from hen_demo.experiments.hen_eval import retrieve_batched
    from hen_demo.memory import HopfieldMemory
    from hen_demo.memory.hetero import caption_queries, hetero_patterns

    n = 10
    image = torch.eye(n)  # (10, 10) one-hot image codes, equal norms
    text = torch.tensor(np.random.default_rng(0).normal(size=(n, 6)), dtype=torch.float32)
    patterns, clamp, scale = hetero_patterns(image, text)
    assert clamp.sum() == 6 and not clamp[:n].any()
    assert abs(float(patterns[:, n:].norm(dim=1).mean()) - float(image.norm(dim=1).mean())) < 1e-4
    mem = HopfieldMemory(patterns, similarity="l2", separation="softmax", beta=50.0)
    states, weights, _, _ = retrieve_batched(mem, caption_queries(text, n, scale)[0], 100, clamp=clamp)
    assert metrics.identity_accuracy(states, patterns, np.arange(n)) == 1.0
    assert torch.allclose(states[:, n:], scale * text, atol=1e-5)  # text half stayed clamped
    shared = text.clone()
    shared[1] = shared[0]  # memories 0 and 1 now carry the same caption
    patterns, clamp, scale = hetero_patterns(image, shared)
    mem = HopfieldMemory(patterns, similarity="l2", separation="softmax", beta=50.0)
    states, weights, _, _ = retrieve_batched(mem, caption_queries(shared[:1], n, scale)[0], 100, clamp=clamp)
    assert abs(float(weights[0, 0]) - 0.5) < 0.05 and abs(float(weights[0, 1]) - 0.5) < 0.05
    assert metrics.metastable_fraction(weights) == 1.0


def test_experiments_tab_builds_runs_and_loads(tmp_path, monkeypatch):
    import gradio as gr

    from hen_demo.ui import experiments_tab as tab

    with gr.Blocks():
        tab.build_tab()
    fig, table, md, image, csv = tab._run("classical-capacity", "tiny", [], 0, progress=lambda *a, **k: None)
    assert fig is not None and len(table) > 0 and "Ours (tiny" in md and csv.endswith(".csv")
    monkeypatch.setattr(tab, "RESULTS", tmp_path)
    with pytest.raises(gr.Error):
        tab._load("classical-capacity")
    run_experiment("classical-capacity", "tiny", out=tmp_path / "classical-capacity")
    _, table, md, image, csv = tab._load("classical-capacity")
    assert len(table) > 0 and "Committed offline result" in md and image.endswith(".png")
