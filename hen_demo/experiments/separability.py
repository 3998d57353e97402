"""HEN Fig. 3: how separable are encoded queries from the other memories?

For every stored image i, the half-occluded query is encoded (or kept as pixels for the raw-image MHN), and
c_ij = cos(s_i^(0), xi_j) is computed against all memories (HEN §3.1, "Probing the separability"). Self
similarities c_ii and cross similarities c_ij (j != i) are histogrammed; we summarise them by the histogram
overlap coefficient, d' and the fraction of queries whose own memory is their cosine-nearest. One retrieval
per encoder at a fixed beta adds identity accuracy and the metastable fraction.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np
import pandas as pd

from hen_demo import metrics
from hen_demo.data import build_bank
from hen_demo.data.corruptions import encode_corrupted
from hen_demo.experiments import plotting
from hen_demo.experiments.base import ExperimentResult, config_dict, null_progress
from hen_demo.experiments.hen_eval import evaluate_memory
from hen_demo.experiments.sources import check_dataset, notes_for, resolve_encoders, sub_progress

NAME = "separability"
TITLE = "HEN Fig. 3 — self vs cross cosine similarity of queries and memories"
COLUMNS = ["encoder", "n", "self_mean", "self_std", "cross_mean", "cross_std", "overlap", "d_prime",
           "margin_fraction", "similarity", "beta", "identity_accuracy", "nn_ceiling", "metastable_fraction", "mse",
           "one_minus_ssim"]


@dataclass
class Config:
    dataset: str = "tiles"
    encoders: list[str] | None = None
    n: int = 6000
    corruption: str = "occlude-bottom"
    amount: float = 0.5
    similarity: str = "l2"  # retrieval run for identity accuracy / metastability
    beta: float = 100.0
    steps: int = 100
    max_cross: int = 200_000  # cross pairs kept for the histogram (uniform sample)
    seed: int = 0
    device: str | None = None

    @classmethod
    def quick(cls) -> "Config":
        return cls(n=500, steps=50)

    @classmethod
    def tiny(cls) -> "Config":
        return cls(n=20, steps=5, encoders=["pixels"])


def run(cfg: Config, progress=None) -> ExperimentResult:
    from hen_demo.encoders import get_image_encoder
    from hen_demo.memory import HopfieldMemory

    t0 = time.perf_counter()
    progress = progress or null_progress
    encoders, skipped = resolve_encoders(cfg.encoders)
    n = check_dataset(cfg.dataset, cfg.n)
    rows, panels = [], {}
    for i, enc_name in enumerate(encoders):
        progress(i / len(encoders), f"{enc_name}: encoding")
        enc = get_image_encoder(enc_name, device=cfg.device)
        bank = build_bank(cfg.dataset, enc, n, cfg.seed,
                          progress=sub_progress(progress, i / len(encoders), (i + 0.5) / len(encoders)))
        queries = encode_corrupted(enc, bank.images, cfg.corruption, cfg.amount, cfg.seed)  # (N, K)
        targets = np.arange(len(bank.codes))
        st = metrics.separability(queries, bank.codes, targets, max_cross=cfg.max_cross, seed=cfg.seed)
        panels[enc_name] = {"self  cos(s_i, ξ_i)": st.self_cos, "cross cos(s_i, ξ_j), j≠i": st.cross_cos}
        progress((i + 0.5) / len(encoders), f"{enc_name}: retrieval")
        mem = HopfieldMemory(bank.codes, similarity=cfg.similarity, separation="softmax", beta=cfg.beta,
                             device=cfg.device)
        sc = evaluate_memory(mem, bank.codes, queries, targets, enc.decode, bank.recon, steps=cfg.steps)
        rows.append(dict(encoder=enc_name, n=len(targets), self_mean=float(st.self_cos.mean()),
                         self_std=float(st.self_cos.std()), cross_mean=float(st.cross_cos.mean()),
                         cross_std=float(st.cross_cos.std()), overlap=st.overlap, d_prime=st.d_prime,
                         margin_fraction=st.margin_fraction, similarity=cfg.similarity, beta=cfg.beta,
                         identity_accuracy=sc.identity_accuracy, nn_ceiling=sc.nn_ceiling,
                         metastable_fraction=sc.metastable_fraction,
                         mse=sc.mse, one_minus_ssim=sc.one_minus_ssim))
    table = pd.DataFrame(rows, columns=COLUMNS)
    pfig, mfig = plotting.histogram_figures(panels, TITLE)
    progress(1.0, "done")
    return ExperimentResult(
        name=NAME, title=TITLE, table=table, figure=pfig, mpl_figure=mfig, findings=_findings(table),
        paper=PAPER, stand_ins=notes_for(cfg.dataset, encoders, skipped), config=config_dict(cfg),
        seconds=time.perf_counter() - t0)


PAPER = (
    "HEN Fig. 3 shows histograms of cos(s_i^(0), ξ_j) for self (i = j) and cross (i ≠ j) pairs on MS-COCO: "
    "for raw images the two histograms overlap heavily; the encoders reduce the overlap, VQ variants more than "
    "KL ones (with larger self-similarity), and D-VAE gives the tightest distributions — which the paper links "
    "to D-VAE's best recall. The paper reports no overlap numbers; ours are the histogram overlap coefficient "
    "(0 = disjoint) and d'."
)


def _findings(table: pd.DataFrame) -> str:
    if table.empty:
        return "No runs."
    parts = [f"{r.encoder}: overlap {r.overlap:.2f}, d′ {r.d_prime:.1f}, self cos {r.self_mean:.2f} ± {r.self_std:.2f}, "
             f"cross cos {r.cross_mean:.2f} ± {r.cross_std:.2f}, own memory cosine-nearest for {r.margin_fraction:.0%} "
             f"of queries, identity accuracy {r.identity_accuracy:.0%}" for _, r in table.iterrows()]
    text = "; ".join(parts) + ". "
    pix = table[table.encoder == "pixels"]
    enc = table[table.encoder != "pixels"]
    if len(pix) and len(enc):
        p = pix.iloc[0]
        if enc.overlap.min() < p.overlap - 0.05:
            text += "As in the paper, encoding reduces the self/cross overlap relative to raw pixels for at least one encoder. "
        else:
            text += ("Unlike the paper, encoding does not reduce the overlap here: our encoders push unrelated memories "
                     f"apart (cross cosine {enc.cross_mean.mean():.2f} vs {p.cross_mean:.2f} for pixels) but also push a "
                     f"half-occluded query away from its own code (self cosine {enc.self_mean.mean():.2f} vs "
                     f"{p.self_mean:.2f}), so the two distributions still overlap. ")
    text += ("The fraction of queries whose own memory is the cosine-nearest bounds what any β can recall, and it "
             "tracks identity accuracy closely.")
    return text
