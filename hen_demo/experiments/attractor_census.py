"""Attractor census under occlusion: where the wrong retrievals go, at calibrated beta, beside the NN ceiling.

Every stored image is queried with its bottom half hidden and filled black (HEN §3.1's occlusion) or with the
dataset's mean grey (for contrast), encoded, and retrieved with the modern Hopfield update (HEN eq. 2, L2
similarity) at the calibrated beta of each representation (``calibrated_beta``, relative = 1), so every
representation is equally sharp. Beside identity we report the one-shot nearest-neighbour identity (the
ceiling the representation sets) and the attractor census (``hen_demo.census``): how many distinct memories
capture the wrong answers, the largest one's share, and the mean brightness of the hidden region of the top
attractors vs the bank's mean. Raw pixels also run with the mask-aware L2 on the visible half
(``memory.masked``; our baseline, not the papers'). Tiles are the offline stand-in for MS-COCO; faces and
digits are held-out sets (nothing is trained or tuned on them).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from hen_demo.experiments.base import ExperimentResult, config_dict, null_progress
from hen_demo.experiments.sources import check_dataset, notes_for, resolve_encoders, sub_progress

NAME = "attractor-census"
TITLE = "Attractor census — where occluded queries go wrong, at calibrated β"
COLUMNS = ["dataset", "held_out", "encoder", "similarity", "fill", "n", "beta", "identity_accuracy", "nn_ceiling",
           "metastable_fraction", "n_wrong", "distinct_attractors", "top_share", "top_capture",
           "top_hidden_brightness", "wrong_hidden_brightness", "bank_hidden_brightness", "seconds"]
HELD_OUT = ("faces", "digits")  # nothing is trained or tuned on these (issue 9)
MASK_AWARE = "masked-l2"  # the similarity column's name for the mask-aware baseline


@dataclass
class Config:
    datasets: list[str] = field(default_factory=lambda: ["tiles", "faces", "digits"])
    encoders: list[str] | None = None  # None: pixels + the shipped encoders (robust-small when present)
    fills: list[str] = field(default_factory=lambda: ["black", "grey"])
    n: int = 1000  # memories = queries per dataset (faces have 200)
    steps: int = 50  # T_f
    relative_beta: float = 1.0  # beta = relative * calibrated_beta(bank)
    corruption: str = "occlude-bottom"
    amount: float = 0.5
    mask_aware: bool = True  # add raw pixels with the mask-aware L2 on the visible pixels
    top: int = 6  # attractors listed (and drawn) per cell
    seed: int = 0
    device: str | None = None

    @classmethod
    def quick(cls) -> "Config":
        return cls(n=400, steps=30)

    @classmethod
    def tiny(cls) -> "Config":
        return cls(datasets=["tiles"], encoders=["pixels"], fills=["black"], n=24, steps=5, mask_aware=False)


def _encoders(names):
    if names:
        return resolve_encoders(names)
    return resolve_encoders(None, include_pretrained=False)  # pixels + shipped, robust-small when present


def run(cfg: Config, progress=None) -> ExperimentResult:
    import torch

    from hen_demo import metrics
    from hen_demo.census import attractor_census
    from hen_demo.data import build_bank
    from hen_demo.data.corruptions import corruption_mask, encode_corrupted, fill_stats
    from hen_demo.data.images import to_float_tensor
    from hen_demo.encoders import get_image_encoder
    from hen_demo.memory import HopfieldMemory, calibrated_beta
    from hen_demo.memory.masked import mask_aware_memory, masked_calibrated_beta, pixel_mask_to_code

    t0 = time.perf_counter()
    progress = progress or null_progress
    encoders, skipped = _encoders(cfg.encoders)
    rows, thumbs = [], {}
    cells = len(cfg.datasets) * len(encoders)
    done = 0
    for ds in cfg.datasets:
        n = check_dataset(ds, cfg.n)
        for enc_name in encoders:
            progress(done / cells, f"{ds} · {enc_name}: encoding {n} memories")
            enc = get_image_encoder(enc_name, device=cfg.device)
            bank = build_bank(ds, enc, n, cfg.seed, progress=sub_progress(progress, done / cells,
                                                                          (done + 0.5) / cells))
            codes = bank.codes  # (N, K)
            targets = np.arange(len(codes))
            hidden = corruption_mask(to_float_tensor(bank.images[:1]), cfg.corruption, cfg.amount, cfg.seed)[0]
            stats = fill_stats(bank.images)
            beta = cfg.relative_beta * calibrated_beta(codes, 1.0, "l2")
            mem = HopfieldMemory(codes, similarity="l2", separation="softmax", beta=beta, device=cfg.device)
            base = dict(dataset=ds, held_out=ds in HELD_OUT, encoder=enc_name, n=len(codes), beta=beta)
            for fill in cfg.fills:
                t1 = time.perf_counter()
                queries = encode_corrupted(enc, bank.images, cfg.corruption, cfg.amount, cfg.seed, fill=fill,
                                           stats=stats)  # (N, K)
                out = mem.retrieve(queries, steps=cfg.steps, topk=1, keep_weights=False)
                final = metrics.nearest_memory(out.states, codes)  # (N,)
                c = attractor_census(final, targets, bank.images, hidden, top=cfg.top)
                rows.append(dict(base, similarity="l2", fill=fill,
                                 identity_accuracy=metrics.identity_accuracy(out.states, codes, targets),
                                 nn_ceiling=metrics.identity_accuracy(queries, codes, targets),  # one-shot NN
                                 metastable_fraction=float((out.top_weight < 0.9).float().mean()),
                                 **_census_cols(c), seconds=round(time.perf_counter() - t1, 3)))
                thumbs[(ds, enc_name, "l2", fill)] = (c, bank.images, hidden.numpy())
            if cfg.mask_aware and enc_name == "pixels":
                t1 = time.perf_counter()
                side = enc.image_size  # the code's pixel grid (bank images are resized to it by the encoder)
                small = corruption_mask(torch.zeros(1, 3, side, side), cfg.corruption, cfg.amount, cfg.seed)[0]
                vis = pixel_mask_to_code(~small)[0]  # (K,) one mask for every query
                queries = encode_corrupted(enc, bank.images, cfg.corruption, cfg.amount, cfg.seed)
                # calibrated on the dims it compares (the scores live on the visible half's distance scale)
                mm = mask_aware_memory(codes, vis, masked_calibrated_beta(codes, vis, cfg.relative_beta),
                                       device=cfg.device)
                out = mm.retrieve(queries, steps=cfg.steps, clamp=vis, topk=1, keep_weights=False)
                final = metrics.nearest_memory(out.states, codes)
                nn = mm.similarity_scores(queries).argmax(1).cpu().numpy()  # masked one-shot NN
                c = attractor_census(final, targets, bank.images, hidden, top=cfg.top)
                rows.append(dict(base, beta=mm.beta, similarity=MASK_AWARE, fill="any",
                                 identity_accuracy=metrics.identity_accuracy(out.states, codes, targets),
                                 nn_ceiling=float((nn == targets).mean()),
                                 metastable_fraction=float((out.top_weight < 0.9).float().mean()),
                                 **_census_cols(c), seconds=round(time.perf_counter() - t1, 3)))
                thumbs[(ds, enc_name, MASK_AWARE, "any")] = (c, bank.images, hidden.numpy())
            done += 1
    table = pd.DataFrame(rows, columns=COLUMNS)
    attractors = pd.DataFrame([dict(dataset=k[0], encoder=k[1], similarity=k[2], fill=k[3], rank=r + 1,
                                    index=a.index, count=a.count, share=a.share,
                                    hidden_brightness=a.hidden_brightness)
                               for k, (c, _, _) in thumbs.items() for r, a in enumerate(c.top)])
    progress(0.95, "drawing the top attractors")
    pfig, mfig = _figures(table, thumbs, cfg.top)
    progress(1.0, "done")
    return ExperimentResult(
        name=NAME, title=TITLE, table=table, figure=pfig, mpl_figure=mfig, findings=_findings(table),
        paper=PAPER, stand_ins=notes_for(cfg.datasets[0], encoders, skipped) + [
            "faces (scikit-image lfw_subset) and digits (scikit-learn) are held-out sets."],
        config=config_dict(cfg), seconds=time.perf_counter() - t0, extra_tables={"attractors": attractors})


def _census_cols(c) -> dict:
    """The census numbers of one cell; shares are 0 (not undefined) when nothing went wrong."""
    nan = float("nan")
    return dict(n_wrong=c.n_wrong, distinct_attractors=c.n_distinct,
                top_share=c.top_share if c.n_wrong else 0.0, top_capture=c.top_capture if c.n_wrong else 0.0,
                top_hidden_brightness=c.top_hidden_brightness if c.n_wrong else nan,
                wrong_hidden_brightness=c.wrong_hidden_brightness if c.n_wrong else nan,
                bank_hidden_brightness=c.bank_hidden_brightness)


def _figures(table: pd.DataFrame, thumbs: dict, top: int):
    """PNG: thumbnails of the top attractors with their counts, one row per cell. HTML: the same images in plotly
    (go.Image panels) above bars of identity vs the NN ceiling."""
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    from hen_demo.experiments.plotting import PLOTLY_FONT

    # the PNG: every representation under the black fill (the failure), raw pixels under the other fills and
    # with the mask-aware similarity (the contrast); the HTML shows every cell
    png_keys = [k for k in thumbs if k[3] == "black" or k[1] == "pixels"]
    mfig = _thumbnail_png(table, thumbs, png_keys or list(thumbs), top)
    keys = list(thumbs)
    n_rows = max(len(keys), 1)
    pfig = make_subplots(rows=n_rows + 1, cols=top, vertical_spacing=0.02 if n_rows > 8 else 0.05,
                         subplot_titles=[f"×{a.count}" if j < len(thumbs[k][0].top) and
                                         (a := thumbs[k][0].top[j]) else "" for k in keys for j in range(top)]
                         + ["identity vs NN ceiling"] + [""] * (top - 1),
                         specs=[[{}] * top] * n_rows + [[{"colspan": top}] + [None] * (top - 1)])
    for r, key in enumerate(keys):
        c, images, _ = thumbs[key]
        for j, a in enumerate(c.top):
            pfig.add_trace(go.Image(source=_png_uri(images[a.index]), name=f"memory {a.index}",
                                    hovertemplate=f"{'/'.join(key)}<br>memory {a.index}: {a.count} wrong "
                                                  f"({a.share:.0%})<extra></extra>"), row=r + 1, col=j + 1)
        pfig.update_yaxes(title_text=f"{key[0]}·{key[1]}·{key[3]}", title_font_size=10, row=r + 1, col=1)
    labels = [f"{d}·{e}·{f if s == 'l2' else 'mask-aware'}" for d, e, s, f in
              zip(table.dataset, table.encoder, table.similarity, table.fill)]
    pfig.add_trace(go.Bar(x=labels, y=table.identity_accuracy, name="identity"), row=n_rows + 1, col=1)
    pfig.add_trace(go.Bar(x=labels, y=table.nn_ceiling, name="NN ceiling"), row=n_rows + 1, col=1)
    pfig.update_xaxes(showticklabels=False, row=None)
    pfig.update_xaxes(showticklabels=True, row=n_rows + 1, col=1)
    pfig.update_yaxes(showticklabels=False)
    pfig.update_yaxes(showticklabels=True, row=n_rows + 1, col=1)
    pfig.update_layout(title=TITLE, template="plotly_white", font=PLOTLY_FONT, barmode="group",
                       height=130 * n_rows + 420, margin=dict(l=110, r=20, t=80, b=120))
    return pfig, mfig


def _png_uri(image) -> str:
    """A uint8 (H, W, 3) image as a PNG data URI (a tenth of the size of plotly's pixel-array JSON)."""
    import base64
    import io

    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(np.asarray(image, dtype=np.uint8)).save(buf, format="PNG", optimize=True)
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


def _thumbnail_png(table: pd.DataFrame, thumbs: dict, keys: list, top: int):
    """Matplotlib figure: per cell, its numbers and the top attractors' thumbnails (count, share of the wrong
    answers), the hidden region outlined in red."""
    from matplotlib.figure import Figure

    from hen_demo.experiments.plotting import FONT

    n_rows = max(len(keys), 1)
    mfig = Figure(figsize=(1.1 * top + 3.6, 1.15 * n_rows + 0.8))
    axes = mfig.subplots(n_rows, top + 1, squeeze=False, gridspec_kw=dict(width_ratios=[3.2] + [1] * top))
    for r, key in enumerate(keys):
        c, images, hidden = thumbs[key]
        row = table[(table.dataset == key[0]) & (table.encoder == key[1]) & (table.similarity == key[2])
                    & (table.fill == key[3])].iloc[0]
        what = f"{key[3]} fill" if key[2] == "l2" else "mask-aware L2"
        label = (f"{key[0]} · {key[1]} · {what}\n"
                 f"identity {row.identity_accuracy:.0%} (NN {row.nn_ceiling:.0%})\n"
                 + (f"{c.n_wrong} wrong → {c.n_distinct} memories\n"
                    f"hidden half: top {c.top_hidden_brightness:.2f} · bank {c.bank_hidden_brightness:.2f}"
                    if c.n_wrong else "no wrong retrievals"))
        axes[r, 0].text(0, 0.5, label, fontsize=FONT["tick"] - 3, va="center", ha="left",
                        transform=axes[r, 0].transAxes)
        for j in range(top + 1):
            axes[r, j].axis("off")
        for j, a in enumerate(c.top):
            ax = axes[r, j + 1]
            ax.imshow(images[a.index], interpolation="nearest")
            if hidden.any() and not hidden.all():
                ax.contour(hidden.astype(float), levels=[0.5], colors="red", linewidths=1.0)
            ax.set_title(f"×{a.count} ({a.share:.0%})", fontsize=FONT["tick"] - 3)
    mfig.suptitle("Top attractors of the wrong retrievals (count, share of the wrong); hidden half outlined",
                  fontsize=FONT["title"] - 4)
    mfig.tight_layout(rect=(0, 0, 1, 1 - 0.45 / (1.15 * n_rows + 0.8)))
    return mfig


PAPER = (
    "HEN §3.1 and Fig. 2 query half-occluded images (the hidden half black) and report that raw-image modern "
    "Hopfield networks end in metastable states while encoded memories are recalled. The papers do not count "
    "where wrong retrievals go, compare against a nearest-neighbour ceiling, try other fills of the hidden "
    "half, or compare with a similarity restricted to the visible pixels; those columns are our additions."
)


def _span(values, fmt: str) -> str:
    """'a–b' for a column's range, or 'a' when it is one value."""
    lo, hi = values.min(), values.max()
    lo, hi = (int(lo), int(hi)) if fmt == "d" else (float(lo), float(hi))
    return f"{lo:{fmt}}" if lo == hi else f"{lo:{fmt}}–{hi:{fmt}}"


def _findings(table: pd.DataFrame) -> str:
    if table.empty:
        return "No runs."
    parts = []
    l2 = table[table.similarity == "l2"]
    black = l2[l2.fill == "black"]
    for ds, d in black.groupby("dataset", sort=False):
        held = " (held out)" if ds in HELD_OUT else ""
        ids = ", ".join(f"{r.encoder} {r.identity_accuracy:.0%} (NN {r.nn_ceiling:.0%})" for _, r in d.iterrows())
        parts.append(f"**{ds}{held}, black bottom half, calibrated β:** identity {ids}.")
        w = d[d.n_wrong > 0]
        if len(w):
            parts.append(
                f"The wrong answers collapse onto few memories: {_span(w.distinct_attractors, 'd')} distinct "
                f"attractors for {_span(w.n_wrong, 'd')} wrong retrievals, the largest alone taking "
                f"{_span(w.top_share, '.0%')}; the top attractors' hidden half averages brightness "
                f"{_span(w.top_hidden_brightness, '.2f')} against the bank's {w.bank_hidden_brightness.mean():.2f}"
                + (": L2 against a black half favours memories whose hidden half is dark."
                   if w.top_hidden_brightness.max() < w.bank_hidden_brightness.mean() - 0.1 else "."))
    grey = l2[l2.fill == "grey"]
    if len(grey) and len(black):
        m = black.merge(grey, on=["dataset", "encoder"], suffixes=("_black", "_grey"))
        if len(m):
            parts.append("With the dataset-mean grey fill instead: " + "; ".join(
                f"{r.dataset}/{r.encoder} identity {r.identity_accuracy_black:.0%} → {r.identity_accuracy_grey:.0%}, "
                f"top attractor hidden brightness {r.top_hidden_brightness_grey:.2f}"
                for _, r in m.iterrows()) + ".")
    ma = table[table.similarity == MASK_AWARE]
    if len(ma):
        parts.append("Raw pixels with the mask-aware L2 on the visible half (our baseline): " + ", ".join(
            f"{r.dataset} {r.identity_accuracy:.0%} (NN {r.nn_ceiling:.0%})" for _, r in ma.iterrows())
            + ": the information is in the visible half; the black fill is what misleads plain L2.")
    gap = table.nn_ceiling - table.identity_accuracy
    far = table[gap.abs() > 0.05]
    if far.empty:
        parts.append(f"Identity stays within {gap.abs().max():.1%} of the one-shot nearest-neighbour ceiling in "
                     "every cell: at calibrated β the dynamics reach the ceiling; the representation and the fill "
                     "set it.")
    else:
        parts.append("Identity is more than 5 points from the one-shot nearest-neighbour ceiling in: " + "; ".join(
            f"{r.dataset}/{r.encoder}/{r.similarity}/{r.fill} ({r.identity_accuracy:.0%} vs {r.nn_ceiling:.0%})"
            for _, r in far.iterrows()) + "; everywhere else within 5 points.")
    return " ".join(parts)
