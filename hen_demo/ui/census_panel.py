"""Explore's "Why did it fail? Attractor census" panel: where a batch of damaged queries of the bank lands.

The same damage as the Explore query (corruption, amount, fill, seed) is applied to ``N_QUERIES`` stored
memories; the pipeline retrieves them in one batch (``HENPipeline.run``) and
``hen_demo.census.attractor_census`` counts the wrong answers: identity, the NN ceiling, how many distinct
memories capture the wrong answers, the top attractors with their counts, and the brightness of the hidden
region of the attractors against the bank's. Under a black half, L2 favours memories whose hidden half is
dark; the thumbnails make that visible. Only wiring and presentation here.
"""

from __future__ import annotations

import functools

import gradio as gr
import numpy as np
import torch

from hen_demo.census import attractor_census
from hen_demo.data.corruptions import corruption_mask
from hen_demo.data.images import to_float_tensor
from hen_demo.pipeline import memory_thumbnails
from hen_demo.ui import state
from hen_demo.ui.errors import user_errors
from hen_demo.ui.memory_controls import (
    check_n,
    corruption_kind,
    run_options,
)

N_QUERIES = 200  # damaged queries per census (the first N_QUERIES memories of the bank)
TOP = 8  # attractors shown
COLUMNS = ["memory", "wrong answers captured", "share of wrong", "hidden-region brightness"]


@user_errors
def census(res, dataset, encoder, similarity, separation, beta, n, steps, tol, beta_mode, corruption, amount, fill,
           seed, n_queries: int = N_QUERIES, progress=gr.Progress()):
    """Census of ``n_queries`` damaged queries of the current bank.

    Returns (summary markdown, gallery [(thumbnail, "#i × count")], table rows). The table lists the top
    attractors and one "other memories" row, so its counts sum to the number of wrong answers.
    """
    n = check_n(dataset, n)
    opts = run_options(steps, tol, stream=False)
    cfg = res.memory_config(dataset, encoder, n, similarity, separation, beta, beta_mode,
                            progress=lambda f, d="": progress(f, desc=d or "building the memory bank"))
    pipe = res.pipeline(cfg)
    b = min(int(n_queries), pipe.n)
    targets = np.arange(b)
    kind, amount, seed = corruption_kind(corruption), float(amount or 0), int(seed or 0)
    images = np.asarray(pipe.bank.images[:b])
    fill = "black" if fill is None else fill
    # one batch: every query with the same seed, so the hidden masks are corruption_mask's
    queries = pipe.encode_corrupted(images, kind, amount, seed, fill=fill, batch=b)  # (b, K)
    hidden = corruption_mask(to_float_tensor(images), kind, amount, seed)  # (b, H, W)
    opts.visible = pipe.visible_dims(hidden)  # read by a mask-aware memory only
    batch = pipe.run(queries, opts, targets=targets)
    c = attractor_census(batch.winner, targets, pipe.bank.images, hidden if bool(hidden.any()) else
                         torch.ones_like(hidden), top=TOP)
    damage = f"{kind} {amount:g}" + (f", {fill} fill" if bool(hidden.any()) else "")
    md = (f"**{b} damaged queries** ({damage}) · {encoder} · {similarity} · "
          f"β = {batch.beta:.4g}: identity **{batch.identity:.0%}**, one-shot NN ceiling **{batch.nn_ceiling:.0%}**. "
          f"{c.summary()}")
    if c.n_wrong and bool(hidden.any()) and np.isfinite(c.top_hidden_brightness):
        darker = c.top_hidden_brightness < c.bank_hidden_brightness - 0.05
        md += ("  \n**The attractors' hidden region is darker than the bank's**: the fill is what they match."
               if darker and fill == "black" else "")
    thumbs = memory_thumbnails(pipe.bank, [a.index for a in c.top], 64)
    gallery = [(np.ascontiguousarray(t.repeat(2, 0).repeat(2, 1)), f"#{a.index} × {a.count}")
               for t, a in zip(thumbs, c.top)]
    rows = [[f"#{a.index}", a.count, round(a.share, 3), round(a.hidden_brightness, 3)] for a in c.top]
    other = c.n_wrong - sum(a.count for a in c.top)
    if other:
        rows.append([f"{c.n_distinct - len(c.top)} other memories", other, round(other / c.n_wrong, 3), None])
    return md, gallery, rows


class CensusPanel:
    """The panel's components; ``wire`` connects its button to the Explore controls."""

    def __init__(self):
        with gr.Accordion("Why did it fail? Attractor census (200 damaged queries of this bank)", open=False,
                          elem_id="explore-census"):
            gr.Markdown("Applies the query's damage (corruption, amount, fill, seed) to the first 200 stored "
                        "memories, retrieves them all with the current memory and counts where the wrong answers "
                        "go. Try *bottom half black* on tiles: a few memories with a dark bottom half capture most "
                        "wrong answers, because L2 against a black half favours them.")
            self.button = gr.Button("Run the census", elem_id="explore-census-run")
            self.summary = gr.Markdown(elem_id="explore-census-summary")
            self.gallery = gr.Gallery(label="Top attractors (stored originals, × wrong answers captured)", columns=TOP,
                                      height="auto", allow_preview=False, object_fit="contain", buttons=[],
                                      elem_classes=["hen-img", "pixelated"])
            self.table = gr.Dataframe(headers=COLUMNS, interactive=False, wrap=True)

    def wire(self, res, inputs: list) -> None:
        """inputs: dataset, encoder, similarity, separation, beta, n, steps, tol, beta_mode, corruption, amount,
        fill, seed (the order of :func:`census`)."""
        self.button.click(state.gpu(functools.partial(census, res)), inputs, [self.summary, self.gallery, self.table], api_name="census",
                          concurrency_limit=2)


def build_panel() -> CensusPanel:
    return CensusPanel()
