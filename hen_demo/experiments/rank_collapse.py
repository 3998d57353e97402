"""HEN footnote 1 / §3.1: the column rank of the recovered pattern matrix as a metastability measure,
and the kernel memory network (KMN, HEN eq. 3) baseline.

When many queries fall into the same metastable mixture, their final states coincide and the recovered
matrix S^(T_f) (one column per query) loses rank. We report ``rank_collapse = 1 - rank(S) / rank(target
memories)`` (0 = every query kept its own state, 1 = all collapsed onto one) against beta, next to MSE,
1 - SSIM, identity accuracy and the metastable fraction. The KMN baseline (exponential kernel, a small sweep
over r and alpha as HEN describes) runs on raw pixels; HEN reports MSE 0.2427 and 1 - SSIM 0.972 at N = 6,000.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import torch

from hen_demo.data import build_bank
from hen_demo.data.corruptions import encode_corrupted
from hen_demo.encoders import get_image_encoder
from hen_demo.experiments import plotting
from hen_demo.experiments.base import ExperimentResult, config_dict, null_progress
from hen_demo.experiments.hen_eval import beta_settings, evaluate, evaluate_memory
from hen_demo.experiments.sources import check_dataset, notes_for, resolve_encoders, sub_progress
from hen_demo.memory.kmn import KernelMemoryNetwork

NAME = "rank-collapse"
TITLE = "HEN rank of the recovered pattern matrix vs beta, and the KMN baseline"
COLUMNS = ["model", "encoder", "similarity", "beta_mode", "beta", "beta_relative", "r", "alpha", "n", "n_queries", "rank_collapse",
           "identity_accuracy", "nn_ceiling", "metastable_fraction", "mse", "one_minus_ssim", "seconds"]


@dataclass
class Config:
    dataset: str = "tiles"
    encoders: list[str] | None = None
    similarity: str = "l2"
    betas: list[float] = field(default_factory=lambda: [0.001, 0.01, 0.1, 1.0, 10.0, 100.0, 1000.0])
    # also run each representation at these multiples of its own calibrated beta (calibrated_beta); every row
    # records its beta relative to the calibration, the axis on which the encoders' curves are comparable
    beta_relatives: list[float] = field(default_factory=lambda: [1.0])
    n: int = 6000  # memories
    n_queries: int = 1000  # queries whose states form S^(T_f) (rank needs n_queries <= K to be informative)
    steps: int = 100
    kmn: bool = True
    kmn_encoder: str = "pixels"
    kmn_r_scales: list[float] = field(default_factory=lambda: [0.25, 1.0, 4.0])  # x median nearest distance
    kmn_alphas: list[float] = field(default_factory=lambda: [1.0, 2.0])
    kmn_steps: int = 10
    corruption: str = "occlude-bottom"
    amount: float = 0.5
    seed: int = 0
    device: str | None = None

    @classmethod
    def quick(cls) -> "Config":
        return cls(n=400, n_queries=200, betas=[0.01, 1.0, 100.0], steps=50, kmn_r_scales=[1.0, 4.0],
                   kmn_alphas=[1.0])

    @classmethod
    def tiny(cls) -> "Config":
        return cls(n=20, n_queries=12, betas=[1.0, 100.0], steps=5, encoders=["pixels"], kmn_r_scales=[1.0],
                   kmn_alphas=[1.0], kmn_steps=3)


def _median_nn_distance(x: torch.Tensor, sample: int = 1000) -> float:
    """Median distance from a memory to its nearest other memory (sets the KMN kernel scale r)."""
    x = x[:sample].double()
    d = torch.cdist(x, x)
    d.fill_diagonal_(float("inf"))
    return float(d.min(1).values.median())


def run(cfg: Config, progress=None) -> ExperimentResult:
    t0 = time.perf_counter()
    progress = progress or null_progress
    encoders, skipped = resolve_encoders(cfg.encoders)
    n = check_dataset(cfg.dataset, cfg.n)
    nq = min(cfg.n_queries, n)
    rows = []
    kmn_runs = len(cfg.kmn_r_scales) * len(cfg.kmn_alphas) if cfg.kmn else 0
    settings = beta_settings(cfg.betas, cfg.beta_relatives)
    total = len(encoders) * len(settings) + kmn_runs
    done = 0
    banks = {}
    for enc_name in encoders:
        enc = get_image_encoder(enc_name, device=cfg.device)
        bank = build_bank(cfg.dataset, enc, n, cfg.seed,
                          progress=sub_progress(progress, done / total, (done + 0.5) / total))
        queries = encode_corrupted(enc, bank.images[:nq], cfg.corruption, cfg.amount, cfg.seed)  # (nq, K)
        banks[enc_name] = (bank, enc, queries)
        for beta, rel in settings:
            progress(done / total, f"{enc_name} · beta " + (f"{beta:g}" if rel is None else f"relative {rel:g}"))
            sc = evaluate(bank, enc, queries, np.arange(nq), similarity=cfg.similarity, beta=beta, beta_relative=rel,
                          steps=cfg.steps, device=cfg.device, rank_size=nq)  # through HENPipeline.run
            rows.append(dict(model="HEN" if enc_name != "pixels" else "MHN", encoder=enc_name,
                             similarity=cfg.similarity, beta_mode=sc["beta_mode"], beta=sc["beta"],
                             beta_relative=sc["beta_relative"], r=np.nan, alpha=np.nan, n=n, n_queries=nq,
                             rank_collapse=sc["rank_collapse"], identity_accuracy=sc["identity_accuracy"],
                             nn_ceiling=sc["nn_ceiling"], metastable_fraction=sc["metastable_fraction"],
                             mse=sc["mse"], one_minus_ssim=sc["one_minus_ssim"],
                             seconds=sc["seconds"]))
            done += 1
    notes = list(skipped)
    if cfg.kmn:
        if cfg.kmn_encoder in banks:
            bank, enc, queries = banks[cfg.kmn_encoder]
        else:
            enc = get_image_encoder(cfg.kmn_encoder, device=cfg.device)
            bank = build_bank(cfg.dataset, enc, n, cfg.seed)
            queries = encode_corrupted(enc, bank.images[:nq], cfg.corruption, cfg.amount, cfg.seed)
        d0 = _median_nn_distance(bank.codes)
        for scale in cfg.kmn_r_scales:
            for alpha in cfg.kmn_alphas:
                progress(done / total, f"KMN r={scale:g}·d, alpha={alpha:g}")
                kmn = KernelMemoryNetwork(bank.codes, r=scale * d0, alpha=float(alpha), device=cfg.device)
                sc = evaluate_memory(kmn, bank.codes, queries, np.arange(nq), enc.decode, bank.recon[:nq],
                                     steps=cfg.kmn_steps, rank_size=nq)
                rows.append(dict(model="KMN", encoder=cfg.kmn_encoder, similarity="exp-kernel", beta_mode="",
                                 beta=np.nan, beta_relative=np.nan,
                                 r=scale * d0, alpha=float(alpha), n=n, n_queries=nq, rank_collapse=sc.rank_collapse,
                                 identity_accuracy=sc.identity_accuracy, nn_ceiling=sc.nn_ceiling,
                                 metastable_fraction=sc.metastable_fraction,
                                 mse=sc.mse, one_minus_ssim=sc.one_minus_ssim, seconds=round(sc.seconds, 3)))
                done += 1
        notes.append(f"KMN kernel scale r is given as multiples {cfg.kmn_r_scales} of the median nearest-memory "
                     f"distance ({d0:.3g}); HEN does not state its r and α grid.")
    table = pd.DataFrame(rows, columns=COLUMNS)
    hen = table[table.model != "KMN"]
    # x = beta relative to each representation's calibration: one absolute beta is sharp for one bank and blurry
    # for another (their distance scales differ ~10x), so only this axis compares the encoders fairly
    pfig, mfig = plotting.line_figures(
        hen.sort_values("beta_relative"), "beta_relative",
        ["rank_collapse", "identity_accuracy", "metastable_fraction", "one_minus_ssim"], "encoder",
        TITLE, logx=True, y_labels=["rank collapse 1 − rank/rank*", "identity accuracy", "metastable fraction",
                                    "1 − SSIM"], x_label="β relative to the representation's calibration")
    progress(1.0, "done")
    return ExperimentResult(
        name=NAME, title=TITLE, table=table, figure=pfig, mpl_figure=mfig, findings=_findings(table),
        paper=PAPER, stand_ins=notes_for(cfg.dataset, encoders, notes), config=config_dict(cfg),
        seconds=time.perf_counter() - t0)


PAPER = (
    "HEN (footnote 1, Appendix §2-3) checks the column rank of the recovered matrix S^(T_f): for a well chosen β "
    "the HEN iterates stabilise with near-perfect retrieval and no rank loss, consistent with Fig. 2. KMN "
    "baseline (exponential kernel, sweep over r and α): with 6,000 images, **MSE 0.2427 and 1 − SSIM 0.972**; "
    "KMNs failed to scale with N."
)


def _findings(table: pd.DataFrame) -> str:
    if table.empty:
        return "No runs."
    text = ""
    hen = table[table.model != "KMN"]
    for enc, d in hen.groupby("encoder", sort=False):
        a = d[d.beta_mode == "absolute"].sort_values("beta")
        if len(a):
            lo, hi = a.iloc[0], a.iloc[-1]
            text += (f"{enc}: rank collapse {lo.rank_collapse:.2f} at β={lo.beta:g} → {hi.rank_collapse:.2f} at "
                     f"β={hi.beta:g} (identity {lo.identity_accuracy:.0%} → {hi.identity_accuracy:.0%})")
        cal = d[(d.beta_mode == "relative") & np.isclose(d.beta_relative, 1.0)]
        if len(cal):
            c = cal.iloc[0]
            text += (f"; at calibrated β (relative 1, β={c.beta:.3g}) rank collapse {c.rank_collapse:.2f}, identity "
                     f"{c.identity_accuracy:.0%} (NN ceiling {c.nn_ceiling:.0%})")
        text += ". "
    if len(hen) > 2 and hen.rank_collapse.std() > 0 and hen.metastable_fraction.std() > 0:
        corr = float(np.corrcoef(hen.rank_collapse, hen.metastable_fraction)[0, 1])
        text += (f"Across β and encoders, rank collapse and the metastable fraction correlate (r = {corr:.2f}), "
                 "the paper's footnote-1 sanity check. " if corr > 0.5 else
                 f"Rank collapse and the metastable fraction do not move together here (r = {corr:.2f}): wrong "
                 "but clean recalls (many queries onto the same single memory) also lose rank without being "
                 "mixtures. ")
    kmn = table[table.model == "KMN"]
    if len(kmn):
        b = kmn.sort_values("mse").iloc[0]
        text += (f"KMN on {b.encoder}, best of {len(kmn)} (r, α) settings: MSE {b.mse:.4f}, 1 − SSIM "
                 f"{b.one_minus_ssim:.3f}, identity {b.identity_accuracy:.0%} at N={b.n} (paper: MSE 0.2427, "
                 "1 − SSIM 0.972 at N = 6,000). ")
        if b.identity_accuracy > 0.5:
            text += ("Our KMN does much better than the paper's: kernel interpolation makes every memory an exact "
                     "fixed point, and with r tied to the nearest-memory distance and few, well separated "
                     "offline images the occluded query still lands in the right basin.")
        else:
            text += "Like the paper, KMN fails on these image memories."
    return text
