"""HEN Table 2 (and Fig. 4-5): text -> image hetero-association.

Memories are concatenations xi_n = [Phi_I(image_n); c * Phi_T(caption_n)] (HEN §3.2). A query is
[0; c * Phi_T(caption)]: the image half starts blank and the text half is clamped (held at the query's values)
while the image half evolves; the image half of the final state is decoded and compared with the encoder's
reconstruction of the captioned image. The text block is scaled by c = mean ||image code|| / mean ||text code||
so that neither modality dominates the energy (HEN: "provided the Hopfield energy landscapes are appropriately
normalized"). Text encoders: CLIP when reachable (the paper's), MiniLM offline, and pixelized captions (the
caption rendered as an image and encoded by the same image encoder, HEN §3.2). Every retrieval runs through
``HENPipeline.run`` (cross-modal memory config), at the paper's absolute beta and at calibrated beta (relative
to the concatenated bank's own scale), with the one-shot nearest-neighbour ceiling of the caption queries.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from hen_demo.data import build_bank
from hen_demo.encoders import get_image_encoder, list_text_encoders
from hen_demo.experiments import plotting
from hen_demo.experiments.base import ExperimentResult, config_dict, null_progress
from hen_demo.experiments.hen_eval import bank_head, beta_settings, evaluate
from hen_demo.experiments.sources import check_dataset, notes_for, resolve_encoders, sub_progress
from hen_demo.memory.hetero import caption_queries, hetero_patterns

NAME = "cross-modal"
TITLE = "HEN Table 2 — recall from a caption (text half clamped)"
COLUMNS = ["encoder", "text_encoder", "text_weight", "n", "n_queries", "fill", "similarity", "beta_mode", "beta",
           "beta_relative", "text_scale", "one_minus_ssim", "mse", "identity_accuracy", "nn_ceiling",
           "metastable_fraction", "effective_memories", "steps", "seconds"]
QUERY_FILL = "zeros (caption only)"  # the query's image half: HEN sec. 3.2 starts it blank

PAPER_TABLE = pd.DataFrame(
    [["6000-CLIP", "0.016, 0.000", "0.024, 0.000", "0.681, 0.118", "0.000, 0.000"],
     ["6000", "0.016, 0.000", "0.024, 0.000", "0.952, 0.214", "0.000, 0.000"],
     ["8000", "0.016, 0.000", "0.023, 0.000", "0.952, 0.215", "0.000, 0.000"],
     ["10000", "0.015, 0.000", "0.024, 0.000", "0.952, 0.215", "0.000, 0.000"],
     ["15000", "0.015, 0.000", "0.024, 0.000", "0.952, 0.215", "0.000, 0.000"]],
    columns=["N", "vqf8 (1-SSIM, MSE)", "vqf16", "Image", "D-VAE"])


@dataclass
class Config:
    dataset: str = "tiles"
    encoders: list[str] | None = None
    text_encoders: list[str] | None = None  # None: clip when reachable, minilm and pixelized
    sizes: list[int] = field(default_factory=lambda: [6000, 8000, 10000, 15000])
    n_queries: int | None = 2000  # queries: the first n_queries captions (None = all)
    similarity: str = "l2"
    beta: float | None = 100.0  # the paper's absolute beta (None: calibrated only)
    beta_relative: float | None = 1.0  # calibrated beta beside it (None: absolute only)
    # text block norm relative to the image block (HEN: "appropriately normalized"); 1 = equal mean norms
    text_weights: list[float] = field(default_factory=lambda: [1.0, 10.0])
    steps: int = 100
    seed: int = 0
    device: str | None = None

    @classmethod
    def quick(cls) -> "Config":
        return cls(sizes=[500, 1000], n_queries=300, steps=50)

    @classmethod
    def tiny(cls) -> "Config":
        return cls(sizes=[12], n_queries=12, steps=5, encoders=["pixels"], text_encoders=["pixelized"],
                   text_weights=[1.0])


def resolve_text_encoders(names) -> tuple[list[str], list[str]]:
    """Available text encoders among ``names`` (default: clip if reachable, minilm, pixelized) and notes."""
    infos = {i.name: i for i in list_text_encoders()}
    wanted = list(names) if names else ["clip", "minilm", "pixelized"]
    run, notes = [], []
    for name in wanted:
        info = infos.get(name)
        if info is None:
            raise ValueError(f"unknown text encoder {name!r}; known: {', '.join(infos)}.")
        if info.available:
            run.append(name)
        else:
            notes.append(f"text encoder `{name}` unavailable ({info.reason})" +
                         ("; MiniLM and pixelized text stood in for CLIP." if name == "clip" else "."))
    if not run:
        raise ValueError("no text encoder is available: " + "; ".join(notes))
    return run, notes



def run(cfg: Config, progress=None) -> ExperimentResult:
    t0 = time.perf_counter()
    progress = progress or null_progress
    encoders, skipped = resolve_encoders(cfg.encoders)
    settings = beta_settings(cfg.beta, cfg.beta_relative)
    if not settings:
        raise ValueError("cross-modal needs a beta: give beta (absolute), beta_relative, or both.")
    texts, text_notes = resolve_text_encoders(cfg.text_encoders)
    n_max = check_dataset(cfg.dataset, max(cfg.sizes))
    sizes = sorted({min(int(s), n_max) for s in cfg.sizes})
    rows = []
    total = len(encoders) * len(texts) * (len(sizes) + 1)
    done = 0
    for enc_name in encoders:
        enc = get_image_encoder(enc_name, device=cfg.device)
        for text_name in texts:
            progress(done / total, f"{enc_name} + {text_name}: encoding {n_max} images and captions")
            bank = build_bank(cfg.dataset, enc, n_max, cfg.seed, text_encoder=text_name,
                              progress=sub_progress(progress, done / total, (done + 1) / total))
            done += 1
            k_img = bank.codes.shape[1]
            for n in sizes:
                nq = n if cfg.n_queries is None else min(n, cfg.n_queries)
                for tw in cfg.text_weights:
                    progress(done / total, f"{enc_name} + {text_name}: N={n}, text weight {tw:g}")
                    _, clamp, scale = hetero_patterns(bank.codes[:n], bank.text_codes[:n], text_weight=float(tw))
                    queries, _ = caption_queries(bank.text_codes[:nq], k_img, scale)  # (nq, K_i + K_t): [0; c t]
                    for beta, rel in settings:
                        sc = evaluate(bank_head(bank, n), enc, queries, np.arange(nq), cfg.similarity, beta=beta,
                                      beta_relative=rel, steps=cfg.steps, clamp=clamp, cross_modal=True,
                                      text_weight=float(tw), device=cfg.device)
                        rows.append(dict(encoder=enc_name, text_encoder=text_name, text_weight=float(tw), n=n,
                                         n_queries=nq, fill=QUERY_FILL, similarity=cfg.similarity,
                                         beta_mode=sc["beta_mode"], beta=sc["beta"], beta_relative=sc["beta_relative"],
                                         text_scale=round(scale, 4), one_minus_ssim=sc["one_minus_ssim"],
                                         mse=sc["mse"], identity_accuracy=sc["identity_accuracy"],
                                         nn_ceiling=sc["nn_ceiling"], metastable_fraction=sc["metastable_fraction"],
                                         effective_memories=sc["effective_memories"], steps=sc["steps"],
                                         seconds=sc["seconds"]))
                done += 1
    table = pd.DataFrame(rows, columns=COLUMNS)
    pfig, mfig = plotting.line_figures(
        table, "n", ["one_minus_ssim", "mse", "identity_accuracy", "metastable_fraction"],
        ["text_encoder", "encoder", "text_weight", "beta_mode"], TITLE, y_labels=["1 − SSIM", "MSE", "identity accuracy", "metastable fraction"],
        x_label="memories N")
    progress(1.0, "done")
    notes = notes_for(cfg.dataset, encoders, skipped + text_notes)
    return ExperimentResult(
        name=NAME, title=TITLE, table=table, figure=pfig, mpl_figure=mfig, findings=_findings(table, cfg),
        paper=PAPER, stand_ins=notes, config=config_dict(cfg), seconds=time.perf_counter() - t0,
        extra_tables={"paper": PAPER_TABLE})


PAPER = (
    "HEN Table 2 (MS-COCO; values 1 − SSIM, MSE; image half decoded after retrieval from [0; text]):\n\n"
    "| N | vqf8 | vqf16 | Image | D-VAE |\n|---|---|---|---|---|\n"
    "| 6000-CLIP | 0.016, 0.000 | 0.024, 0.000 | 0.681, 0.118 | 0.000, 0.000 |\n"
    "| 6000 (pixelized text) | 0.016, 0.000 | 0.024, 0.000 | 0.952, 0.214 | 0.000, 0.000 |\n"
    "| 8000 | 0.016, 0.000 | 0.023, 0.000 | 0.952, 0.215 | 0.000, 0.000 |\n"
    "| 10000 | 0.015, 0.000 | 0.024, 0.000 | 0.952, 0.215 | 0.000, 0.000 |\n"
    "| 15000 | 0.015, 0.000 | 0.024, 0.000 | 0.952, 0.215 | 0.000, 0.000 |\n\n"
    "Encoded images recall from a caption alone; raw images do not. COCO's five captions per image were joined "
    "into one sentence before encoding."
)


def _findings(table: pd.DataFrame, cfg: Config) -> str:
    if table.empty:
        return "No runs."
    parts = []
    for (text, enc, tw, mode), d in table.groupby(["text_encoder", "encoder", "text_weight", "beta_mode"], sort=False):
        r = d.sort_values("n").iloc[-1]
        b = f"β = {r.beta:g}" if mode == "absolute" else f"calibrated β (relative {r.beta_relative:g})"
        parts.append(f"{enc} + {text}, text weight {tw:g}, {b}, N={r.n}: identity {r.identity_accuracy:.0%} "
                     f"(NN ceiling {r.nn_ceiling:.0%}), 1 − SSIM {r.one_minus_ssim:.3f}")
    text = "; ".join(parts) + ". "
    cal = table[table.beta_mode == "relative"]
    base = cal if len(cal) else table
    by_w = base.groupby("text_weight").identity_accuracy.mean()
    if len(by_w) > 1 and by_w.iloc[-1] > by_w.iloc[0] + 0.1:
        text += (f"The balance of the two halves decides the outcome: with equal norms (weight {by_w.index[0]:g}) the "
                 f"blank image half of the query makes the memories with the smallest image codes win under ℓ2 "
                 f"(mean identity {by_w.iloc[0]:.0%}); weighting the caption {by_w.index[-1]:g}× lets the text pick "
                 f"the memory (mean identity {by_w.iloc[-1]:.0%}). HEN only says the energy landscapes must be "
                 "'appropriately normalized'. ")
    if len(cal):
        gap = (cal.nn_ceiling - cal.identity_accuracy).abs().max()
        text += f"At calibrated β identity is within {gap:.1%} of the caption queries' NN ceiling in every cell. "
        for tw, d in cal.groupby("text_weight", sort=False):
            pix, enc = d[d.encoder == "pixels"], d[d.encoder != "pixels"]
            if len(pix) and len(enc):
                text += (f"Text weight {tw:g}, calibrated β: raw pixels {pix.identity_accuracy.mean():.0%} (mean over "
                         f"text encoders and N) vs encoders {enc.identity_accuracy.mean():.0%}. ")
    pix = base[base.encoder == "pixels"]
    if len(pix) and pix.identity_accuracy.max() > 0.9:
        text += ("Unlike HEN's Table 2, raw pixels also recall well once the caption dominates: identity then "
                 "comes from the caption alone, whatever the image representation. ")
    if table.identity_accuracy.max() < 0.9:
        text += ("Recall from captions stays far from the paper's near-perfect scores. Our offline captions describe "
                 "tiles cut from only 27 photos and differ mostly in a zoom factor and a corner position, so their "
                 "text codes are close — the unique association HEN requires is weaker than with COCO captions. ")
    return text
