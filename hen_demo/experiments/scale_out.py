"""HEN Table 1: recall quality as the memory bank grows (N = 6,000 / 8,000 / 10,000 / 15,000), per encoder.

One bank of the largest size is encoded once; smaller banks are its first N memories (nested sets, so a
change between sizes comes from the added memories, not from a different draw). Queries are half-occluded
copies of stored images, all retrieved in one batched engine call (split only when memory requires).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from hen_demo.data import build_bank
from hen_demo.data.corruptions import encode_corrupted
from hen_demo.experiments import plotting
from hen_demo.experiments.base import ExperimentResult, config_dict, null_progress
from hen_demo.experiments.hen_eval import evaluate_memory
from hen_demo.experiments.sources import check_dataset, notes_for, resolve_encoders, sub_progress

NAME = "scale-out"
TITLE = "HEN Table 1 — recall quality as the memory bank grows"
COLUMNS = ["encoder", "n", "n_queries", "similarity", "beta", "one_minus_ssim", "mse", "identity_accuracy", "nn_ceiling",
           "metastable_fraction", "effective_memories", "rank_collapse", "converged_fraction", "steps", "seconds"]

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
    beta: float = 100.0
    steps: int = 100
    corruption: str = "occlude-bottom"
    amount: float = 0.5
    seed: int = 0
    device: str | None = None

    @classmethod
    def quick(cls) -> "Config":
        return cls(sizes=[500, 1000, 2000], n_queries=500, steps=50)

    @classmethod
    def tiny(cls) -> "Config":
        return cls(sizes=[16, 32], n_queries=16, steps=5, encoders=["pixels"])


def run(cfg: Config, progress=None) -> ExperimentResult:
    from hen_demo.encoders import get_image_encoder
    from hen_demo.memory import HopfieldMemory

    t0 = time.perf_counter()
    progress = progress or null_progress
    encoders, skipped = resolve_encoders(cfg.encoders)
    n_max = check_dataset(cfg.dataset, max(cfg.sizes))
    sizes = sorted({min(int(s), n_max) for s in cfg.sizes})
    notes = list(skipped)
    if n_max < max(cfg.sizes):
        notes.append(f"`{cfg.dataset}` holds {n_max} images, so sizes above it were capped at {n_max}.")
    rows = []
    total = len(encoders) * (len(sizes) + 1)
    step = 0
    for enc_name in encoders:
        progress(step / total, f"{enc_name}: encoding {n_max} memories")
        enc = get_image_encoder(enc_name, device=cfg.device)
        bank = build_bank(cfg.dataset, enc, n_max, cfg.seed,
                          progress=sub_progress(progress, step / total, (step + 1) / total))
        step += 1
        for n in sizes:
            progress(step / total, f"{enc_name}: N={n}")
            nq = n if cfg.n_queries is None else min(n, cfg.n_queries)
            queries = encode_corrupted(enc, bank.images[:nq], cfg.corruption, cfg.amount, cfg.seed)  # (nq, K)
            patterns = bank.codes[:n]
            mem = HopfieldMemory(patterns, similarity=cfg.similarity, separation="softmax", beta=cfg.beta,
                                 device=cfg.device)
            sc = evaluate_memory(mem, patterns, queries, np.arange(nq), enc.decode, bank.recon[:nq],
                                 steps=cfg.steps)
            rows.append(dict(encoder=enc_name, n=n, n_queries=nq, similarity=cfg.similarity, beta=cfg.beta,
                             **sc.row()))
            step += 1
    table = pd.DataFrame(rows, columns=COLUMNS)
    pfig, mfig = plotting.line_figures(
        table, "n", ["one_minus_ssim", "mse", "identity_accuracy", "metastable_fraction"], "encoder", TITLE,
        y_labels=["1 − SSIM", "MSE", "identity accuracy", "metastable fraction"], x_label="memories N")
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
    for enc, d in table.groupby("encoder", sort=False):
        d = d.sort_values("n")
        first, last = d.iloc[0], d.iloc[-1]
        parts.append(f"{enc}: 1−SSIM {first.one_minus_ssim:.3f} → {last.one_minus_ssim:.3f}, identity "
                     f"{first.identity_accuracy:.0%} → {last.identity_accuracy:.0%} from N={first.n} to N={last.n}")
    text = "; ".join(parts) + ". "
    if table.n.max() < 6000:
        text += ("These sizes are well below the paper's 6,000-15,000 (a --quick run or a small dataset), so they "
                 "show the trend, not the paper's operating point. ")
    enc = table[table.encoder != "pixels"]
    pix = table[table.encoder == "pixels"]
    if len(enc) and len(pix):
        if enc.identity_accuracy.max() < 0.5:
            text += ("Unlike Table 1, no encoder recalls most identities: on the offline data a half-occluded query "
                     "rarely lands in its own memory's basin (see beta-sweep and separability for why). ")
        if enc.identity_accuracy.max() > pix.identity_accuracy.max() + 0.05:
            text += "As in the paper, encoded memories are recalled more often than raw pixels. "
    return text
