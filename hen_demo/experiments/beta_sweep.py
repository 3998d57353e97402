"""HEN Fig. 2: recall error (MSE, 1 - SSIM) against beta for each encoder x {dot, L2}, half-occluded queries.

Every stored image is queried with its bottom half occluded (HEN §3.1: N memories, N queries), encoded by the
same encoder, retrieved with T_f update steps of HEN eq. 2 in latent space (all queries in one batched call),
decoded, and compared with the encoder's own reconstruction of the memory — all through ``HENPipeline.run``.
We add identity accuracy, the metastable fraction (a blurry mixture vs a clean recall) and the one-shot
nearest-neighbour ceiling, and sweep beta twice: at the paper's absolute values and relative to each bank's
calibration (``calibrated_beta``), because one absolute beta is not equally sharp for every representation.
The hidden half is filled black (the paper's occlusion) or with the dataset's mean grey.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from hen_demo.data import build_bank
from hen_demo.data.corruptions import encode_corrupted, fill_stats
from hen_demo.encoders import get_image_encoder
from hen_demo.experiments import plotting
from hen_demo.experiments.base import ExperimentResult, config_dict, null_progress
from hen_demo.experiments.hen_eval import beta_settings, evaluate, fill_label
from hen_demo.experiments.sources import check_dataset, notes_for, resolve_encoders, sub_progress

NAME = "beta-sweep"
TITLE = "HEN Fig. 2 — recall error vs beta, per encoder and similarity"
COLUMNS = ["encoder", "similarity", "fill", "beta_mode", "beta", "beta_relative", "n", "mse", "one_minus_ssim",
           "identity_accuracy", "nn_ceiling", "metastable_fraction", "effective_memories", "rank_collapse",
           "converged_fraction", "steps", "seconds"]
SUMMARY_COLUMNS = ["encoder", "similarity", "fill", "nn_ceiling", "identity_at_relative_1", "best_identity",
                   "best_beta_relative", "best_beta", "paper_beta", "identity_at_paper_beta"]


@dataclass
class Config:
    dataset: str = "tiles"  # offline stand-in for MS-COCO
    encoders: list[str] | None = None  # None: pixels + shipped encoders, robust-small when present (+ the papers')
    similarities: list[str] = field(default_factory=lambda: ["dot", "l2"])
    betas: list[float] = field(default_factory=lambda: [0.001, 0.01, 0.1, 1.0, 10.0, 100.0, 1000.0])  # absolute
    # beta relative to each bank's calibration (hen_demo.memory.calibrated_beta; 1 = calibrated sharpness)
    beta_relatives: list[float] = field(default_factory=lambda: [0.1, 0.3, 1.0, 3.0, 10.0])
    n: int = 6000  # memories = queries (HEN: 6,000 MS-COCO images)
    steps: int = 100  # T_f (HEN §4: T_f = 100)
    corruption: str = "occlude-bottom"
    amount: float = 0.5  # half the image hidden
    fills: list[str] = field(default_factory=lambda: ["black", "grey"])  # what the hidden half becomes
    paper_beta: float = 100.0  # the absolute beta the summary quotes beside the calibrated one
    seed: int = 0
    device: str | None = None

    @classmethod
    def quick(cls) -> "Config":
        return cls(n=400, betas=[0.01, 1.0, 100.0], beta_relatives=[0.1, 0.3, 1.0, 3.0, 10.0], steps=50)

    @classmethod
    def tiny(cls) -> "Config":
        return cls(n=24, betas=[1.0, 100.0], beta_relatives=[1.0], steps=5, encoders=["pixels"], fills=["black"])


def run(cfg: Config, progress=None) -> ExperimentResult:
    t0 = time.perf_counter()
    progress = progress or null_progress
    encoders, skipped = resolve_encoders(cfg.encoders)
    n = check_dataset(cfg.dataset, cfg.n)
    settings = beta_settings(cfg.betas, cfg.beta_relatives)
    rows = []
    n_runs = max(1, len(encoders) * len(cfg.fills) * len(cfg.similarities) * len(settings))
    done = 0
    for enc_name in encoders:
        progress(done / n_runs, f"{enc_name}: encoding {n} memories")
        enc = get_image_encoder(enc_name, device=cfg.device)
        bank = build_bank(cfg.dataset, enc, n, cfg.seed,
                          progress=sub_progress(progress, done / n_runs, (done + 0.5) / n_runs))
        stats = fill_stats(bank.images)
        targets = np.arange(len(bank.codes))
        for fill in cfg.fills:
            queries = encode_corrupted(enc, bank.images, cfg.corruption, cfg.amount, cfg.seed, fill=fill,
                                       stats=stats)  # (N, K)
            for sim in cfg.similarities:
                for beta, rel in settings:
                    progress(done / n_runs, f"{enc_name} · {fill} · {sim} · " +
                             (f"beta={beta:g}" if beta is not None else f"relative beta={rel:g}"))
                    row = evaluate(bank, enc, queries, targets, sim, beta=beta, beta_relative=rel, steps=cfg.steps,
                                   device=cfg.device)
                    rows.append(dict(encoder=enc_name, similarity=sim, fill=fill_label(cfg.corruption, fill),
                                     n=len(targets), **row))
                    done += 1
    table = pd.DataFrame(rows, columns=COLUMNS)
    pfig, mfig = plotting.line_figures(
        table.sort_values("beta_relative"), "beta_relative",
        ["identity_accuracy", "nn_ceiling", "one_minus_ssim", "metastable_fraction"],
        ["similarity", "encoder", "fill"], TITLE, logx=True,
        y_labels=["identity accuracy", "NN ceiling", "1 − SSIM", "metastable fraction"],
        x_label="β relative to the bank's calibration (absolute β converted)", vline=1.0)
    progress(1.0, "done")
    summary = summarise(table, cfg.paper_beta)
    return ExperimentResult(
        name=NAME, title=TITLE, table=table, figure=pfig, mpl_figure=mfig, findings=_findings(table, summary),
        paper=PAPER, stand_ins=notes_for(cfg.dataset, encoders, skipped), config=config_dict(cfg),
        seconds=time.perf_counter() - t0, summary=summary)


def summarise(table: pd.DataFrame, paper_beta: float = 100.0) -> pd.DataFrame:
    """One row per (encoder, similarity, fill): NN ceiling, identity at relative β = 1, the best β (most
    identities; ties: lower MSE) as absolute and relative values, and identity at the paper's absolute β."""
    rows = []
    for (enc, sim, fill), d in table.groupby(["encoder", "similarity", "fill"], sort=False):
        best = d.sort_values(["identity_accuracy", "mse"], ascending=[False, True]).iloc[0]
        rel1 = d[(d.beta_mode == "relative") & np.isclose(d.beta_relative, 1.0)]
        pap = d[(d.beta_mode == "absolute") & np.isclose(d.beta, paper_beta)]
        rows.append(dict(encoder=enc, similarity=sim, fill=fill, nn_ceiling=float(d.nn_ceiling.iloc[0]),
                         identity_at_relative_1=float(rel1.identity_accuracy.iloc[0]) if len(rel1) else float("nan"),
                         best_identity=float(best.identity_accuracy), best_beta_relative=float(best.beta_relative),
                         best_beta=float(best.beta), paper_beta=paper_beta,
                         identity_at_paper_beta=float(pap.identity_accuracy.iloc[0]) if len(pap) else float("nan")))
    return pd.DataFrame(rows, columns=SUMMARY_COLUMNS)


PAPER = (
    "HEN Fig. 2 plots MSE and 1 − SSIM against β on 6,000 MS-COCO images (28×28×3 for the raw-image "
    "baseline) with half-occluded queries, for raw images, D-VAE, KL-f8/f16 and VQ-f8/f16, each with dot "
    "and ℓ2 similarity. The encoded representations perform well above a certain β; the raw-image MHN stays in "
    "metastable states for every β and both similarities. (Numbers are read off a plot; the text gives none.)"
)


def _findings(table: pd.DataFrame, summary: pd.DataFrame) -> str:
    if table.empty:
        return "No runs."
    text = ("The table above is the summary (every row of the sweep is in the CSV); the plot puts every run on "
            "one axis, β relative to its bank's calibration (absolute β converted), so a representation's best β "
            "and its NN ceiling can be read side by side. ")
    # the NN ceiling is the one-shot L2 nearest neighbour, so it bounds (and is reached by) the L2 rows only
    l2 = summary[summary.similarity == "l2"]
    gap = (l2.nn_ceiling - l2.identity_at_relative_1).abs()
    if len(gap.dropna()):
        text += (f"L2 at calibrated β (relative 1): identity is within {gap.max():.1%} of the one-shot L2 "
                 f"nearest-neighbour ceiling in every cell (median gap {gap.median():.1%})" +
                 (": the dynamics reach what the representation allows. " if gap.max() <= 0.05 else ". "))
    dot = summary[summary.similarity == "dot"]
    if len(dot):
        def cells(word, rows):  # "above it for kl-small/mean (80% vs 70%); " or "" when no row
            return (f"{word} it for " + ", ".join(f"{r.encoder}/{r.fill} ({r.identity_at_relative_1:.0%} vs "
                                                 f"{r.nn_ceiling:.0%})" for _, r in rows.iterrows()) + "; "
                    if len(rows) else "")

        text += ("The dot-product rows are not bounded by that L2 ceiling: "
                 + cells("above", dot[dot.identity_at_relative_1 > dot.nn_ceiling + 0.05])
                 + cells("below", dot[dot.identity_at_relative_1 < dot.nn_ceiling - 0.05])
                 + "the dot product ranks memories by a different score than L2 does. ")
    for fill, d in l2.groupby("fill", sort=False):
        pix = d[d.encoder == "pixels"]
        enc = d[d.encoder != "pixels"]
        if len(pix) and len(enc):
            p, e = pix.identity_at_relative_1.iloc[0], enc.identity_at_relative_1.max()
            who = enc.loc[enc.identity_at_relative_1.idxmax(), "encoder"]
            text += (f"L2, {fill} fill, calibrated β: raw pixels {p:.0%}, best encoder {who} {e:.0%} "
                     f"(NN ceilings {pix.nn_ceiling.iloc[0]:.0%} and "
                     f"{enc.loc[enc.identity_at_relative_1.idxmax(), 'nn_ceiling']:.0%}). ")
    pap = l2.dropna(subset=["identity_at_paper_beta"])
    pix = pap[pap.encoder == "pixels"]
    if len(pix):
        p = pix.iloc[0]
        text += (f"At the paper's single absolute β = {p.paper_beta:g} (L2), raw pixels score "
                 f"{p.identity_at_paper_beta:.0%} against {p.identity_at_relative_1:.0%} at their own calibrated β"
                 f" (β = {p.paper_beta:g} is the pixel bank's calibrated β times " + _rel_of(table, "pixels", p.paper_beta) + "); comparisons here are read "
                 "at calibrated β or at each representation's best β, never at one absolute β. ")
    if summary.best_identity.max() < 0.5:
        text += ("No representation recalls most half-occluded tiles at any β; the NN ceiling says the "
                 "representation, not the dynamics, sets that limit (tiles are overlapping crops of 27 photos, so "
                 "a visible half often matches other tiles as well as its own).")
    return text


def _rel_of(table: pd.DataFrame, encoder: str, beta: float) -> str:
    d = table[(table.encoder == encoder) & (table.similarity == "l2") & (table.beta_mode == "absolute")
              & np.isclose(table.beta, beta)]
    return f"{d.beta_relative.iloc[0]:.3g}" if len(d) else "?"
