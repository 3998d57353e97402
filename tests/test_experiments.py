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

# issue 9: every HEN table reports calibrated beta beside the absolute one, the NN ceiling and the fill
FAIR = {"nn_ceiling", "fill", "beta_mode", "beta_relative"}
EXPECTED_COLUMNS = {
    "beta-sweep": {"encoder", "similarity", "beta", "mse", "one_minus_ssim", "identity_accuracy",
                   "metastable_fraction"} | FAIR,
    "scale-out": {"encoder", "n", "mse", "one_minus_ssim", "identity_accuracy", "metastable_fraction"} | FAIR,
    "separability": {"dataset", "held_out", "corruption", "encoder", "overlap", "d_prime", "self_mean", "cross_mean",
                     "identity_accuracy", "metastable_fraction"} | FAIR,
    "rank-collapse": {"model", "beta", "rank_collapse", "identity_accuracy", "metastable_fraction", "mse"},
    "cross-modal": {"encoder", "text_encoder", "n", "mse", "one_minus_ssim", "identity_accuracy",
                    "metastable_fraction"} | FAIR,
    "uniqueness": {"condition", "weight_a", "weight_b", "metastable_fraction", "identity_accuracy"},
    "uhop-capacity": {"dataset", "model", "memories", "sse", "identity_accuracy", "metastable_fraction"},
    "uhop-noise": {"dataset", "model", "noise", "sse", "identity_accuracy", "metastable_fraction"},
    "uhop-stage1": {"dataset", "iterations", "sse", "separation_loss", "identity_accuracy", "metastable_fraction"},
    "classical-capacity": {"n", "D", "P", "load", "recall", "identity_accuracy", "metastable_fraction"},
    "speed": {"encoder", "n", "run_s", "total_s", "identity_accuracy"} | FAIR,
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
    numeric = df.select_dtypes("number").drop(columns=[c for c in ("r", "alpha", "beta", "beta_relative") if c in df], errors="ignore")
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
    if FAIR <= EXPECTED_COLUMNS[name]:  # both beta modes, the relative one at 1 by default
        assert set(df.beta_mode) == {"absolute", "relative"}
        assert np.allclose(df[df.beta_mode == "relative"].beta_relative, 1.0)
        assert df.nn_ceiling.between(0, 1).all()


class _OneHotEncoder:
    """Codes (B, 27) <-> 3x3x3 images: code dims are the pixels (an identity encoder for tests)."""

    image_size = 3

    def encode(self, x):
        return x.permute(0, 2, 3, 1).reshape(len(x), -1) if x.shape[1] == 3 else x.reshape(len(x), -1)

    def decode(self, codes):
        return codes.reshape(-1, 3, 3, 3).clamp(0, 1)


def _one_hot_bank(K=27):
    from types import SimpleNamespace

    patterns = torch.eye(K)  # (27, 27) one-hot: orthogonal, well separated
    images = (patterns.reshape(K, 3, 3, 3).permute(0, 2, 3, 1).numpy() * 255).astype(np.uint8)
    return SimpleNamespace(codes=patterns, recon=images, images=images, text_codes=None, captions=None), patterns


def test_well_separated_one_hot_memories_are_recalled_exactly():
    """The experiments' evaluation (HENPipeline.run) recalls orthogonal memories exactly, at an absolute beta
    and at calibrated beta, and reports the NN ceiling beside it."""
    from hen_demo.experiments.hen_eval import evaluate

    bank, patterns = _one_hot_bank()
    K = len(patterns)
    rng = np.random.default_rng(0)
    queries = (0.7 * patterns + 0.05 * torch.tensor(rng.random((K, K)), dtype=torch.float32)).clamp(0, 1)
    for sim in ("dot", "l2"):
        for beta, rel in ((60.0, None), (None, 1.0)):
            sc = evaluate(bank, _OneHotEncoder(), queries, np.arange(K), sim, beta=beta, beta_relative=rel, steps=50)
            assert sc["identity_accuracy"] == 1.0 and sc["nn_ceiling"] == 1.0
            assert sc["metastable_fraction"] == 0.0
            assert sc["mse"] < 1e-8 and sc["one_minus_ssim"] < 1e-4
            assert sc["rank_collapse"] == 0.0
            assert sc["beta_mode"] == ("absolute" if beta else "relative")
            if rel is not None:
                assert abs(sc["beta_relative"] - 1.0) < 1e-9


def test_relative_beta_is_scale_free_in_the_experiments_path():
    """Scaling every memory and query by 10 keeps identity at a fixed relative beta (the calibration rescales
    beta by 1/100 under L2) but not at a fixed absolute beta."""
    from types import SimpleNamespace

    from hen_demo.experiments.hen_eval import evaluate

    rng = np.random.default_rng(1)
    codes = torch.tensor(rng.normal(size=(60, 27)), dtype=torch.float32) * 0.1
    queries = codes + 0.08 * torch.tensor(rng.normal(size=codes.shape), dtype=torch.float32)
    enc = SimpleNamespace(image_size=3, decode=lambda c: c.reshape(-1, 3, 3, 3).clamp(0, 1))
    imgs = np.zeros((60, 3, 3, 3), np.uint8)

    def bank(scale):
        return SimpleNamespace(codes=scale * codes, recon=imgs, images=imgs, text_codes=None, captions=None)

    rel = [evaluate(bank(a), enc, a * queries, np.arange(60), beta_relative=1.0, steps=30) for a in (1.0, 10.0)]
    assert rel[0]["identity_accuracy"] == rel[1]["identity_accuracy"]
    assert abs(rel[1]["beta"] * 100 / rel[0]["beta"] - 1) < 1e-6
    ab = [evaluate(bank(a), enc, a * queries, np.arange(60), beta=1.0, steps=30) for a in (1.0, 10.0)]
    assert ab[0]["metastable_fraction"] != ab[1]["metastable_fraction"]


def test_cli_beta_relative_and_fill(tmp_path):
    from hen_demo.__main__ import main

    out = tmp_path / "scale-out"
    assert main(["experiment", "scale-out", "--tiny", "--out", str(out), "--beta-relative", "2",
                 "--fill", "grey"]) == 0
    df = pd.read_csv(out / "scale-out.csv")
    rel = df[df.beta_mode == "relative"]
    assert len(rel) and np.allclose(rel.beta_relative, 2.0) and set(df.fill) == {"grey"}
    assert (df[df.beta_mode == "absolute"].beta == 100.0).all()  # the paper's beta beside it
    sweep = make_config("beta-sweep", "tiny", {"beta_relative": [0.5, 2.0], "fill": "grey"})
    assert sweep.beta_relatives == [0.5, 2.0] and sweep.fills == ["grey"]
    for bad in ([0.0], [float("nan")], ["sharp"]):
        with pytest.raises(ValueError, match="relative beta"):
            make_config("scale-out", "tiny", {"beta_relative": bad})
    with pytest.raises(ValueError, match="one relative beta"):
        make_config("scale-out", "tiny", {"beta_relative": [1.0, 2.0]})
    with pytest.raises(ValueError, match="fill"):
        run_experiment("scale-out", "tiny", {"fill": "purple"}, out=False)


def test_cli_bad_relative_beta_is_a_sentence_not_a_traceback(tmp_path, capsys):
    from hen_demo.__main__ import main

    assert main(["experiment", "uhop-noise", "--tiny", "--out", str(tmp_path / "x"), "--beta-relative", "0"]) == 1
    err = capsys.readouterr().err
    assert "cannot run: The relative beta must be a positive" in err and "Traceback" not in err
    assert not (tmp_path / "x").exists()  # nothing half-written


def test_beta_sweep_summary_puts_best_beta_beside_the_nn_ceiling(tmp_path):
    result, paths = run_experiment("beta-sweep", "tiny", out=tmp_path / "bs")
    summary = pd.read_csv(paths["csv_summary"])
    assert {"nn_ceiling", "identity_at_relative_1", "best_beta_relative", "best_beta",
            "identity_at_paper_beta", "fill"} <= set(summary.columns)
    assert len(summary) == result.table.groupby(["encoder", "similarity", "fill"]).ngroups
    assert "identity_at_relative_1" in paths["md"].read_text()  # the section shows the summary


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
    assert sorted(df[df.beta_mode == "absolute"].beta.unique()) == [1.0, 10.0]
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
    # The even mixture of 0 and 1 is stable only while beta * (p_0 + p_1) < 1 (their weight gap d evolves as
    # d' = (p_0 + p_1) tanh(beta d)); above that it is an unstable fixed point that rounding decides. So: beta 0.5,
    # with the text half weighted up (x5) so the other captions still get no weight.
    patterns, clamp, scale = hetero_patterns(image, shared, text_weight=5.0)
    mem = HopfieldMemory(patterns, similarity="l2", separation="softmax", beta=0.5)
    states, weights, _, _ = retrieve_batched(mem, caption_queries(shared[:1], n, scale)[0], 100, clamp=clamp)
    assert abs(float(weights[0, 0]) - 0.5) < 0.05 and abs(float(weights[0, 1]) - 0.5) < 0.05
    assert metrics.metastable_fraction(weights) == 1.0


def test_experiments_tab_builds_runs_and_loads(tmp_path, monkeypatch):
    import gradio as gr

    from hen_demo.ui import experiments_tab as tab

    with gr.Blocks():
        tab.build_tab()
    fig, table, md, image, csv = tab._run("classical-capacity", "tiny", [], 0, progress=lambda *a, **k: None)
    # the tab returns visibility updates: a run shows its interactive figure and hides the committed-PNG box
    assert fig["value"] is not None and fig["visible"] and not image["visible"]
    assert len(table) > 0 and "Ours (tiny" in md and csv.endswith(".csv")
    monkeypatch.setattr(tab, "RESULTS", tmp_path)
    with pytest.raises(gr.Error):
        tab._load("classical-capacity")
    run_experiment("classical-capacity", "tiny", out=tmp_path / "classical-capacity")
    _, table, md, image, csv = tab._load("classical-capacity")
    assert len(table) > 0 and "Committed offline result" in md and image["value"].endswith(".png")


def test_experiments_tab_first_look_has_an_encoder_and_enough_memories():
    """The tab's 'tiny' size adds a shipped encoder and a few hundred memories to the tests' tiny presets."""
    from hen_demo.experiments.registry import make_config
    from hen_demo.ui import experiments_tab as tab

    cfg = make_config("beta-sweep", "tiny", tab.FIRST_LOOK)
    assert "kl-small" in cfg.encoders and "pixels" in cfg.encoders and cfg.n >= 200
    assert max(make_config("scale-out", "tiny", tab.FIRST_LOOK).sizes) >= 200
