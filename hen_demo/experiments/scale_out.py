"""HEN Table 1: recall quality as the memory bank grows (N = 6,000 / 8,000 / 10,000 / 15,000), per encoder.

One bank of the largest size is encoded once; smaller banks are its first N memories (nested sets, so a
change between sizes comes from the added memories, not from a different draw). Queries are half-occluded
copies of stored images, all retrieved through ``HENPipeline.run`` (one batched call), at the paper's absolute
beta and at calibrated beta (relative to each bank's own scale, ``calibrated_beta``), with the one-shot
nearest-neighbour ceiling beside every result.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from hen_demo.data import build_bank
from hen_demo.data.corruptions import encode_corrupted, fill_stats
from hen_demo.experiments import plotting, scale_out_large
from hen_demo.experiments.base import ExperimentResult, config_dict, null_progress
from hen_demo.experiments.hen_eval import bank_head, beta_settings, evaluate, fill_label
from hen_demo.experiments.sources import check_dataset, notes_for, resolve_encoders, sub_progress

NAME = "scale-out"
TITLE = "HEN Table 1 — recall quality as the memory bank grows"
COLUMNS = ["encoder", "n", "n_queries", "fill", "similarity", "beta_mode", "beta", "beta_relative", "one_minus_ssim",
           "mse", "identity_accuracy", "nn_ceiling", "metastable_fraction", "effective_memories", "rank_collapse",
           "converged_fraction", "steps", "seconds"]

# HEN Table 1, (1 - SSIM, MSE) per N, copied from the paper
PAPER_TABLE = pd.DataFrame(
    [[6000, "0.021, 0.000", "0.019, 0.004", "0.836, 0.064", "0.000, 0.000"],
     [8000, "0.019, 0.000", "0.046, 0.004", "0.835, 0.067", "0.000, 0.000"],
     [10000, "0.019, 0.000", "0.047, 0.004", "0.835, 0.064", "0.000, 0.000"],
     [15000, "0.019, 0.000", "0.048, 0.004", "0.836, 0.066", "0.000, 0.000"]],
    columns=["N", "vqf8 (1-SSIM, MSE)", "vqf16", "Image", "D-VAE"])


@dataclass
class Config:
    dataset: str = "tiles"  # offline stand-in for MS-COCO (up to 20,000 distinct tiles)
    encoders: list[str] | None = None
    sizes: list[int] = field(default_factory=lambda: [6000, 8000, 10000, 15000])
    n_queries: int | None = None  # None: query every stored memory (HEN); else the first n_queries
    similarity: str = "l2"
    beta: float | None = 100.0  # the paper's absolute beta (None: calibrated only)
    beta_relative: float | None = 1.0  # calibrated beta beside it (None: absolute only)
    steps: int = 100
    corruption: str = "occlude-bottom"
    amount: float = 0.5
    fill: str = "black"  # what the hidden half becomes (black = the paper's occlusion; grey, mean-image, noise)
    seed: int = 0
    device: str | None = None
    # at scale (scale_out_large): banks of these N, streamed from disk; sharded over torchrun ranks when `sharded`
    n: list[int] | None = None  # None: HEN Table 1 above; e.g. [10**4, 10**5, 10**6] (n_queries default 64 there)
    sharded: bool = False  # split each bank over the torchrun ranks (gloo on CPU, NCCL on GPU)
    threads: int | None = None  # torch CPU threads per process (None: torch's choice)
    bank_dir: str | None = None  # where the at-scale bank's shards live (default <cache>/ooc/...)

    @classmethod
    def quick(cls) -> "Config":
        return cls(sizes=[500, 2000], n_queries=500, steps=50)

    @classmethod
    def tiny(cls) -> "Config":
        return cls(sizes=[16, 32], n_queries=16, steps=5, encoders=["pixels"])


def run(cfg: Config, progress=None) -> ExperimentResult:
    if cfg.n is not None:  # beyond Table 1: out-of-core / sharded banks of 10^4-10^7 memories
        cfg.n = [int(cfg.n)] if isinstance(cfg.n, (int, float)) else [int(v) for v in cfg.n]
        return scale_out_large.run(cfg, progress)
    if cfg.sharded:
        raise ValueError("--sharded applies to the at-scale run: give the bank sizes with --n, e.g. --n 1e4,1e5.")
    from hen_demo.encoders import get_image_encoder
    t0 = time.perf_counter()
    progress = progress or null_progress
    encoders, skipped = resolve_encoders(cfg.encoders)
    n_max = check_dataset(cfg.dataset, max(cfg.sizes))
    sizes = sorted({min(int(s), n_max) for s in cfg.sizes})
    notes = list(skipped)
    if n_max < max(cfg.sizes):
        notes.append(f"`{cfg.dataset}` holds {n_max} images, so sizes above it were capped at {n_max}.")
    rows = []
    settings = beta_settings(cfg.beta, cfg.beta_relative)
    if not settings:
        raise ValueError("scale-out needs a beta: give beta (absolute), beta_relative, or both.")
    total = len(encoders) * (len(sizes) + 1)
    step = 0
    for enc_name in encoders:
        progress(step / total, f"{enc_name}: encoding {n_max} memories")
        enc = get_image_encoder(enc_name, device=cfg.device)
        bank = build_bank(cfg.dataset, enc, n_max, cfg.seed,
                          progress=sub_progress(progress, step / total, (step + 1) / total))
        step += 1
        stats = fill_stats(bank.images)
        for n in sizes:
            progress(step / total, f"{enc_name}: N={n}")
            nq = n if cfg.n_queries is None else min(n, cfg.n_queries)
            queries = encode_corrupted(enc, bank.images[:nq], cfg.corruption, cfg.amount, cfg.seed, fill=cfg.fill,
                                       stats=stats)  # (nq, K)
            for beta, rel in settings:
                row = evaluate(bank_head(bank, n), enc, queries, np.arange(nq), cfg.similarity, beta=beta,
                               beta_relative=rel, steps=cfg.steps, device=cfg.device)
                rows.append(dict(encoder=enc_name, n=n, n_queries=nq, fill=fill_label(cfg.corruption, cfg.fill),
                                 similarity=cfg.similarity, **row))
            step += 1
    table = pd.DataFrame(rows, columns=COLUMNS)
    pfig, mfig = plotting.line_figures(
        table, "n", ["one_minus_ssim", "mse", "identity_accuracy", "metastable_fraction"], "encoder", TITLE,
        y_labels=["1 − SSIM", "MSE", "identity accuracy", "metastable fraction"], x_label="memories N",
        dash="beta_mode")  # one line per (encoder, beta mode): solid absolute, dashed calibrated
    progress(1.0, "done")
    return ExperimentResult(
        name=NAME, title=TITLE, table=table, figure=pfig, mpl_figure=mfig, findings=_findings(table),
        paper=PAPER, stand_ins=notes_for(cfg.dataset, encoders, notes), config=config_dict(cfg),
        seconds=time.perf_counter() - t0, extra_tables={"paper": PAPER_TABLE})


PAPER = (
    "HEN Table 1 (MS-COCO, values are 1 − SSIM, MSE):\n\n"
    "| N | vqf8 | vqf16 | Image | D-VAE |\n|---|---|---|---|---|\n"
    "| 6000 | 0.021, 0.000 | 0.019, 0.004 | 0.836, 0.064 | 0.000, 0.000 |\n"
    "| 8000 | 0.019, 0.000 | 0.046, 0.004 | 0.835, 0.067 | 0.000, 0.000 |\n"
    "| 10000 | 0.019, 0.000 | 0.047, 0.004 | 0.835, 0.064 | 0.000, 0.000 |\n"
    "| 15000 | 0.019, 0.000 | 0.048, 0.004 | 0.836, 0.066 | 0.000, 0.000 |\n\n"
    "All encoders keep recalling as N grows; raw images stay metastable (1 − SSIM ≈ 0.84) at every N."
)


def _findings(table: pd.DataFrame) -> str:
    if table.empty:
        return "No runs."
    parts = []
    for (enc, mode), d in table.groupby(["encoder", "beta_mode"], sort=False):
        d = d.sort_values("n")
        first, last = d.iloc[0], d.iloc[-1]
        label = f"β = {first.beta:g}" if mode == "absolute" else f"calibrated β (relative {first.beta_relative:g})"
        parts.append(f"{enc} at {label}: identity {first.identity_accuracy:.0%} → {last.identity_accuracy:.0%} "
                     f"(NN ceiling {first.nn_ceiling:.0%} → {last.nn_ceiling:.0%}), 1−SSIM {first.one_minus_ssim:.3f} → "
                     f"{last.one_minus_ssim:.3f} from N={first.n} to N={last.n}")
    text = "; ".join(parts) + ". "
    if table.n.max() < 6000:
        text += (f"These sizes ({', '.join(str(n) for n in sorted(table.n.unique()))}) are well below the paper's "
                 "6,000-15,000 and fewer than earlier quick runs (to keep the CPU rerun short), so they show the "
                 "trend, not the paper's operating point. ")
    cal = table[table.beta_mode == "relative"]
    if len(cal):
        gap = (cal.nn_ceiling - cal.identity_accuracy).abs().max()
        text += f"At calibrated β identity stays within {gap:.1%} of the NN ceiling at every N. "
        big = cal[cal.n == cal.n.max()]
        pix, enc = big[big.encoder == "pixels"], big[big.encoder != "pixels"]
        if len(pix) and len(enc):
            best = enc.loc[enc.identity_accuracy.idxmax()]
            p = pix.identity_accuracy.iloc[0]
            if best.identity_accuracy > p + 0.05:
                text += (f"At calibrated β and N={best.n}, {best.encoder} recalls more half-occluded queries than raw "
                         f"pixels ({best.identity_accuracy:.0%} vs {p:.0%}). ")
            else:
                text += (f"At calibrated β and N={best.n}, no encoder beats raw pixels by more than 5 points under "
                         f"this occlusion (best {best.encoder} {best.identity_accuracy:.0%}, pixels {p:.0%}). ")
        if cal.identity_accuracy.max() < 0.5:
            text += ("Unlike Table 1, no representation recalls most identities: the NN ceiling is low, so the "
                     "representation of a half-occluded query, not the dynamics, is the limit. ")
    return text
