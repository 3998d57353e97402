"""HEN Fig. 2: recall error (MSE, 1 - SSIM) against beta for each encoder x {dot, L2}, half-occluded queries.

Every stored image is queried with its bottom half occluded (HEN §3.1: N memories, N queries), encoded by the
same encoder, retrieved with T_f update steps of HEN eq. 2 in latent space (all queries in one batched call),
decoded, and compared with the encoder's own reconstruction of the memory. We add identity accuracy and the
metastable fraction, which tell a blurry mixture apart from a clean recall.
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

NAME = "beta-sweep"
TITLE = "HEN Fig. 2 — recall error vs beta, per encoder and similarity"
COLUMNS = ["encoder", "similarity", "beta", "n", "mse", "one_minus_ssim", "identity_accuracy", "nn_ceiling",
           "metastable_fraction", "effective_memories", "rank_collapse", "converged_fraction", "steps", "seconds"]


@dataclass
class Config:
    dataset: str = "tiles"  # offline stand-in for MS-COCO
    encoders: list[str] | None = None  # None: pixels + shipped encoders (+ the papers' when reachable)
    similarities: list[str] = field(default_factory=lambda: ["dot", "l2"])
    betas: list[float] = field(default_factory=lambda: [0.001, 0.01, 0.1, 1.0, 10.0, 100.0, 1000.0])
    n: int = 6000  # memories = queries (HEN: 6,000 MS-COCO images)
    steps: int = 100  # T_f (HEN §4: T_f = 100)
    corruption: str = "occlude-bottom"
    amount: float = 0.5  # half the image hidden
    seed: int = 0
    device: str | None = None

    @classmethod
    def quick(cls) -> "Config":
        return cls(n=400, betas=[0.01, 1.0, 100.0], steps=50)

    @classmethod
    def tiny(cls) -> "Config":
        return cls(n=24, betas=[1.0, 100.0], steps=5, encoders=["pixels"])


def run(cfg: Config, progress=None) -> ExperimentResult:
    from hen_demo.encoders import get_image_encoder
    from hen_demo.memory import HopfieldMemory

    t0 = time.perf_counter()
    progress = progress or null_progress
    encoders, skipped = resolve_encoders(cfg.encoders)
    n = check_dataset(cfg.dataset, cfg.n)
    rows = []
    n_runs = len(encoders) * len(cfg.similarities) * len(cfg.betas)
    done = 0
    for enc_name in encoders:
        progress(done / n_runs, f"{enc_name}: encoding {n} memories")
        enc = get_image_encoder(enc_name, device=cfg.device)
        bank = build_bank(cfg.dataset, enc, n, cfg.seed,
                          progress=sub_progress(progress, done / n_runs, (done + 0.5) / n_runs))
        queries = encode_corrupted(enc, bank.images, cfg.corruption, cfg.amount, cfg.seed)  # (N, K)
        targets = np.arange(len(bank.codes))
        for sim in cfg.similarities:
            for beta in cfg.betas:
                progress(done / n_runs, f"{enc_name} · {sim} · beta={beta:g}")
                mem = HopfieldMemory(bank.codes, similarity=sim, separation="softmax", beta=float(beta),
                                     device=cfg.device)
                sc = evaluate_memory(mem, bank.codes, queries, targets, enc.decode, bank.recon,
                                     steps=cfg.steps)
                rows.append(dict(encoder=enc_name, similarity=sim, beta=float(beta), n=len(targets), **sc.row()))
                done += 1
    table = pd.DataFrame(rows, columns=COLUMNS)
    pfig, mfig = plotting.line_figures(
        table, "beta", ["mse", "one_minus_ssim", "identity_accuracy", "metastable_fraction"],
        ["similarity", "encoder"], TITLE, logx=True,
        y_labels=["MSE", "1 − SSIM", "identity accuracy", "metastable fraction"], x_label="β")
    progress(1.0, "done")
    return ExperimentResult(
        name=NAME, title=TITLE, table=table, figure=pfig, mpl_figure=mfig, findings=_findings(table),
        paper=PAPER, stand_ins=notes_for(cfg.dataset, encoders, skipped), config=config_dict(cfg),
        seconds=time.perf_counter() - t0)


PAPER = (
    "HEN Fig. 2 plots MSE and 1 − SSIM against β on 6,000 MS-COCO images (28×28×3 for the raw-image "
    "baseline) with half-occluded queries, for raw images, D-VAE, KL-f8/f16 and VQ-f8/f16, each with dot "
    "and ℓ2 similarity. The encoded representations perform well above a certain β; the raw-image MHN stays in "
    "metastable states for every β and both similarities. (Numbers are read off a plot; the text gives none.)"
)


def _findings(table: pd.DataFrame) -> str:
    if table.empty:
        return "No runs."
    # best β per configuration = most identities recalled (ties: lower MSE); the lowest MSE alone would pick
    # the smallest β, whose blurry average of all memories has a small MSE and no identity at all
    best = (table.sort_values(["identity_accuracy", "mse"], ascending=[False, True])
            .groupby(["encoder", "similarity"], as_index=False, sort=False).first())
    parts = [f"{r.encoder}/{r.similarity}: identity {r.identity_accuracy:.1%} at β={r.beta:g} (MSE {r.mse:.4f}, "
             f"1−SSIM {r.one_minus_ssim:.3f}, metastable {r.metastable_fraction:.0%})" for _, r in best.iterrows()]
    text = "Best β per configuration (most identities recalled) — " + "; ".join(parts) + ". "
    lowest = table.loc[table.mse.idxmin()]
    if lowest.metastable_fraction > 0.5:
        text += (f"The lowest MSE overall ({lowest.mse:.4f}, {lowest.encoder}/{lowest.similarity} at β={lowest.beta:g}) "
                 f"is a blurry average of many memories (metastable {lowest.metastable_fraction:.0%}, identity "
                 f"{lowest.identity_accuracy:.0%}): MSE rewards averaging, which is why identity accuracy is reported "
                 "next to it. ")
    pix = best[best.encoder == "pixels"]
    enc = best[best.encoder != "pixels"]
    if len(pix) and len(enc):
        p_id, e_id = pix.identity_accuracy.max(), enc.identity_accuracy.max()
        if e_id >= 0.9 and p_id < 0.5:
            text += "As in the paper, encoded memories are recalled where raw pixels fail. "
        elif e_id > p_id + 0.05:
            text += (f"As in the paper, encoders recall more identities than raw pixels ({e_id:.0%} vs {p_id:.0%}), "
                     "but far from the paper's near-perfect recall. ")
        else:
            text += (f"Unlike the paper, our encoders do not rescue recall (best identity {e_id:.0%} with an encoder vs "
                     f"{p_id:.0%} with raw pixels). ")
        if e_id < 0.5:
            text += ("Two reasons we can name: the offline tiles are overlapping crops of only 27 photos, so the "
                     "visible half of a tile often matches other tiles as well as its own; and our small encoders "
                     "map a half-black tile far from its own code (see the separability section). ")
    hi = table[table.beta == table.beta.max()]
    lo = table[table.beta == table.beta.min()]
    if len(hi) and len(lo):
        text += (f"Across all configurations the metastable fraction falls from {lo.metastable_fraction.mean():.0%} "
                 f"at β={lo.beta.iloc[0]:g} to {hi.metastable_fraction.mean():.0%} at β={hi.beta.iloc[0]:g}: "
                 "small β averages many memories (a mixture), large β picks one — though not necessarily the "
                 "right one.")
    return text
