"""U-Hop Fig. 3 (left panels): retrieval error against memory-set size, 50 % masked queries, one update step.

For each dataset, memory size M and repeat, M memories are drawn at random from a pool, every memory is
queried with half of its entries zeroed, and each model does one update with beta = 1 (setting in
uhop_common). U-Hop's kernel is trained on the memory set for ``uhop_iterations`` Stage I steps first.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import pandas as pd
import torch

from hen_demo.experiments import plotting
from hen_demo.experiments.base import ExperimentResult, config_dict, null_progress
from hen_demo.experiments.uhop_common import (
    ALL_MODELS,
    UHOP,
    fit_kernel,
    load_vectors,
    make_memory,
    masked_queries,
    one_step_scores,
    stand_in,
)

NAME = "uhop-capacity"
TITLE = "U-Hop Fig. 3 — retrieval error vs memory-set size (50 % masked, one step)"
COLUMNS = ["dataset", "model", "memories", "repeat", "sse", "sse_std", "identity_accuracy", "metastable_fraction"]


@dataclass
class Config:
    datasets: list[str] = field(default_factory=lambda: ["digits", "tiles"])  # MNIST / CIFAR-10 stand-ins
    sizes: list[int] = field(default_factory=lambda: [10, 20, 30, 50, 100, 200, 500])  # App. F Table 4
    models: list[str] = field(default_factory=lambda: list(ALL_MODELS))
    repeats: int = 5  # paper: 20
    beta: float = 1.0
    mask_fraction: float = 0.5
    uhop_iterations: int = 100  # Stage I steps N (paper: 100 MNIST, 200 CIFAR in F.3)
    seed: int = 0
    device: str | None = None

    @classmethod
    def quick(cls) -> "Config":
        return cls(sizes=[10, 50, 100, 200], repeats=2, uhop_iterations=20)

    @classmethod
    def tiny(cls) -> "Config":
        return cls(datasets=["digits"], sizes=[5, 10], repeats=1, uhop_iterations=2)


def run(cfg: Config, progress=None) -> ExperimentResult:
    t0 = time.perf_counter()
    progress = progress or null_progress
    rows = []
    total = len(cfg.datasets) * len(cfg.sizes) * cfg.repeats
    done = 0
    for dataset in cfg.datasets:
        pool = load_vectors(dataset, max(cfg.sizes) * 2, seed=cfg.seed)  # (P, K) candidates
        for m in cfg.sizes:
            if m > len(pool):
                raise ValueError(f"memory size {m} exceeds the {len(pool)} images loaded from {dataset}.")
            for rep in range(cfg.repeats):
                progress(done / total, f"{dataset}: M={m}, repeat {rep + 1}")
                g = torch.Generator().manual_seed(cfg.seed * 1000 + m * 7 + rep)
                patterns = pool[torch.randperm(len(pool), generator=g)[:m]]  # (M, K)
                queries = masked_queries(patterns, cfg.mask_fraction, seed=cfg.seed + rep)
                fit = fit_kernel(patterns, cfg.uhop_iterations, seed=cfg.seed + rep) if UHOP in cfg.models else None
                for model in cfg.models:
                    mem = make_memory(model, patterns, cfg.beta, fit, cfg.device)
                    s = one_step_scores(mem, patterns, queries)
                    rows.append(dict(dataset=dataset, model=model, memories=m, repeat=rep, sse=s.sse,
                                     sse_std=s.sse_std, identity_accuracy=s.identity_accuracy,
                                     metastable_fraction=s.metastable_fraction))
                done += 1
    table = pd.DataFrame(rows, columns=COLUMNS)
    mean = summarize(table, "memories")
    pfig, mfig = plotting.line_figures(
        mean, "memories", ["sse", "identity_accuracy", "metastable_fraction"], ["dataset", "model"], TITLE,
        logx=True, y_labels=["sum-of-squares error", "identity accuracy", "metastable fraction"],
        x_label="memory-set size M")
    progress(1.0, "done")
    return ExperimentResult(
        name=NAME, title=TITLE, table=mean, figure=pfig, mpl_figure=mfig, findings=findings(mean, "memories"),
        paper=PAPER, stand_ins=[stand_in(d) for d in cfg.datasets] + [
            f"{cfg.repeats} repeats per point (paper: 20); U-Hop Stage I ran {cfg.uhop_iterations} iterations."],
        config=config_dict(cfg), seconds=time.perf_counter() - t0, extra_tables={"runs": table})


def summarize(table: pd.DataFrame, x: str) -> pd.DataFrame:
    """Mean over repeats (sse_std: spread across repeats of the per-run mean)."""
    g = table.groupby(["dataset", "model", x], sort=False)
    out = g[["sse", "identity_accuracy", "metastable_fraction"]].mean().reset_index()
    out["sse_std"] = g["sse"].std().fillna(0.0).values
    out["repeats"] = g.size().values
    return out


PAPER = (
    "U-Hop Fig. 3 (MNIST, CIFAR-10; 50 % of pixels masked; one update step; β = 1; sum-of-squares error; 20 "
    "runs): U-Hop has a much lower error than MHM, sparse MHM, DAM poly-10, L2-MHM and Manhattan-MHM at every "
    "memory size (10-500); the error of all baselines grows with the memory size. §5 quotes an average 30 % "
    "improvement even with a single Stage I iteration. The figure is a plot; no numbers are given in the text."
)


def findings(mean: pd.DataFrame, x: str) -> str:
    """Plain sentences comparing U-Hop with the best baseline at the largest ``x`` per dataset."""
    parts = []
    for dataset, d in mean.groupby("dataset", sort=False):
        top = d[d[x] == d[x].max()].set_index("model")
        if UHOP not in top.index:
            continue
        base = top.drop(index=UHOP)
        best = base.sse.idxmin()
        u, b = top.loc[UHOP], base.loc[best]
        if abs(u.sse - b.sse) <= 1e-6 * max(1.0, b.sse):
            verdict = "tie: both ≈ equal"
        else:
            if u.sse < b.sse:
                verdict = "lower" + (f", by {(b.sse - u.sse) / b.sse:.0%}" if b.sse > 1e-3 else "")
            else:
                verdict = "higher" + (f", {u.sse / b.sse:.1f}×" if b.sse > 1e-3 else "")
        vs_mhm = ""
        if "MHM" in top.index and top.loc["MHM"].sse > 1e-3:
            m = top.loc["MHM"]
            vs_mhm = (f"; against plain MHM (the same dot-product family U-Hop learns a kernel for) U-Hop's error is "
                      f"{(m.sse - u.sse) / m.sse:.0%} lower (the paper quotes ~30 % on average)" if u.sse <= m.sse else
                      f"; U-Hop's error is {u.sse / m.sse:.1f}× plain MHM's")
        parts.append(f"{dataset} at {x}={d[x].max():g}: U-Hop error {u.sse:.3g} vs best baseline {best} {b.sse:.3g} "
                     f"({verdict}); identity accuracy U-Hop {u.identity_accuracy:.0%} vs "
                     f"{b.identity_accuracy:.0%}{vs_mhm}")
    text = "; ".join(parts) + ". " if parts else ""
    if any("best baseline Manhattan MHM" in p for p in parts):
        text += ("Manhattan-similarity MHM is the strongest model here: zeroing half of a memory's entries (or adding "
                 "noise) moves the query far from it in dot-product and squared-L2 terms, but the ℓ1 distance to the "
                 "right memory still tends to stay the smallest, and at β = 1 on raw [0, 1] pixels every softmax is "
                 "practically an arg-max, so the winner takes all. ")
    ok = all("(lower" in p or "(tie" in p for p in parts)
    if parts:
        text += ("This matches the paper's ordering (U-Hop lowest). " if ok else
                 "Here U-Hop does not beat every baseline everywhere, unlike the paper; with β = 1 and raw [0, 1] "
                 "pixels the softmax is nearly a hard arg-max, so errors are dominated by which memory wins, "
                 "and our stand-in images and fewer repeats/Stage I steps differ from the paper's. ")
    return text
