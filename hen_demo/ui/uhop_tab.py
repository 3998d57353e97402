"""U-Hop tab: the learned kernel made visible (U-Hop Alg. 1, Def. 2.2, eq. 2.4, Thm 2.2).

On the current memory bank (raw pixels, or any encoder's codes: U-Hop on HEN latents is one click):
Stage I runs live (the separation loss L_Phi falling per iteration), then the tab shows the pairwise cosine
similarities of the memories in kernel space Phi(x) = W x before and after, retrieval error and identity accuracy
of the plain modern Hopfield network (W = I) and of U-Hop on the same corrupted queries, which memories are exact
fixed points of sparsemax retrieval (Thm 2.2) before and after, and finally Stage II streamed step by step next to
the plain network on one query. Presentation only: the math is hen_demo.memory.uhop, and every retrieval (plain,
U-Hop's kernel, the distance baselines) runs through hen_demo.pipeline.HENPipeline (run for the batch, stream for
Stage II), scored there with the pipeline's one definition of identity (the winning memory is the target).
"""

from __future__ import annotations

import functools
import itertools
import queue
import threading
import time

import gradio as gr
import numpy as np

from hen_demo.memory.uhop import exact_fixed_points, fit_uhop_kernel, kernel_cosines
from hen_demo.pipeline import HENPipeline, MemoryConfig, RunOptions
from hen_demo.ui import limits, state
from hen_demo.ui.errors import user_errors
from hen_demo.ui.memory_controls import QUERY_CORRUPTIONS
from hen_demo.ui.plots import as_plot, energy_spec, histogram_figure
from hen_demo.ui.present import beta_text, show
from hen_demo.ui.separability import BATCH
from hen_demo.ui.teaching_figures import loss_figure, margin_figure

LATEX = [{"left": "$$", "right": "$$", "display": True}, {"left": "$", "right": "$", "display": False}]
MAX_EVAL = 200  # queries used for the before/after numbers
MAX_COS_PAIRS = 20_000  # cosine pairs drawn for the histograms
BIG = 224  # px side the Stage II images are upscaled to (nearest neighbour), readable on a projector

TEXT = r"""
## U-Hop: learn the similarity, then retrieve
U-Hop (Wu, Hu, Hsiao & Liu) replaces the dot product by a learned kernel $\mathcal K(u,v) = \langle Wu, Wv\rangle$
with feature map $\Phi(x) = Wx$ (eq. 2.1) and retrieves with $x \leftarrow \Xi\,\operatorname{Sep}(\beta\,\mathcal K(\Xi, x))$
(eq. 2.4). **Stage I** (Alg. 1) takes gradient steps on the **separation loss** (Def. 2.2)
$$\mathcal L_\Phi(\Xi; t) = \log \mathbb E_{u\ne v\sim\Xi}\, e^{-t\,\|\Phi(u)-\Phi(v)\|^2},$$
with the outputs $\Phi(u)$ normalised to unit length (App. D.2, as the official code does), pushing the stored
memories apart in kernel space, then normalises the rows of $W$. **Stage II** is ordinary
Hopfield retrieval with the learned kernel. With sparsemax, memory $\mu$ is an **exact fixed point** when
$\operatorname{Sep}(\beta\mathcal K(\Xi,\xi_\mu)) = e_\mu$ (eq. 2.6), i.e. when its margin
$\beta\big(\mathcal K(\xi_\mu,\xi_\mu) - \max_{\nu\ne\mu}\mathcal K(\xi_\nu,\xi_\mu)\big) - \tfrac{1}{\alpha-1} \ge 0$
(Thm 2.2 / App. E.3, $\alpha = 2$). $W$ starts at the identity, so 0 iterations is the plain network.
Stage I is not guaranteed to help every memory space: on raw digit pixels it raises identity accuracy a lot,
on some encoders' latents it can lower it, and with the paper's step $\gamma = 1$ the error can rise again after
a few iterations. The table below reports what happens on *your* bank.

**β, fairly:** the learned kernel's scores, dot products and distances have different scales, so one absolute β
is sharper for some models than for others. By default each model runs at β times **its own calibrated β**
(`hen_demo.memory.calibrated_beta`; for the kernel, on the features $W\xi$) and the table shows the absolute value
used; choose *absolute* for the paper's protocol (β = 1 for every model). On the default bank (digits, N = 100,
half the pixels masked) U-Hop's gain holds both ways: identity 0.15 → 0.54 at β = 1, 0.19 → 0.55 at calibrated β,
above the one-shot L2 nearest neighbour (0.33): the kernel changes which memory is nearest.

**Against the simple baselines:** with correctly signed L2 and Manhattan similarities ($-\|x-\xi\|$, so the
softmax favours the *nearest* memory) these simple baselines beat U-Hop in the `uhop-capacity` experiment
(half of the raw pixel entries zeroed, one step: Manhattan retrieves almost every digit). The paper's comparison
put $+$distance into the softmax, which picks the *farthest* memory; the experiment repeats that error in rows
marked "paper sign" and so reproduces the paper's ordering. The second table below runs the correctly signed
baselines on this tab's queries; there the mask is applied to the image before it is encoded, and the ordering
can differ. Digits are an evaluation here, as MNIST is in the paper; U-Hop's kernel is fitted on the memories
themselves, which is U-Hop's method.
"""


@user_errors
def run_uhop(res, dataset, encoder_name, n, kind, amount, iterations, lr, t, beta, steps, query_index,
             beta_mode="absolute", delay=0.15, progress=gr.Progress()):
    """Generator for the whole tab. Yields 12 outputs: loss plot, cosine histograms, before/after table,
    exact-retrieval margins plot, exact-retrieval text, exact-gallery, query / plain / U-Hop / target images,
    energy plot, status text (``gr.skip()`` for outputs that do not change in a frame).

    ``beta_mode``: "absolute" (one β for every model, the paper's protocol: β = 1) or "relative" (each model at
    ``beta`` times its own calibrated β, ``hen_demo.memory.calibrated_beta``: the learned kernel, dot, L2 and
    Manhattan scores have different scales, so one absolute β is sharper for some than for others)."""
    n, iterations, steps = int(n), int(iterations), int(steps)
    if beta_mode not in ("absolute", "relative"):
        raise ValueError(f"β is given as 'absolute' or 'relative'; got {beta_mode!r}.")
    if n < 2:
        raise ValueError("U-Hop needs at least two memories.")
    state.check_available("dataset", dataset)
    state.check_available("encoder", encoder_name)
    skip = gr.skip()
    prog = (lambda f, d: progress(f, desc=d)) if progress is not None else None

    def frame(**kw):
        keys = ["loss", "hist", "table", "margin", "exact", "gallery", "query", "plain", "uhop", "target",
                "energy", "status"]
        return tuple(kw.get(k, skip) for k in keys)

    yield frame(status=f"Building the memory bank ({dataset}, {encoder_name}, N = {n}) …")
    bank = res.bank(dataset, encoder_name, n, progress=prog)
    encoder = res.encoder(encoder_name)
    codes = bank.codes.float().cpu()  # (N, K)
    n = codes.shape[0]
    n_eval = min(n, MAX_EVAL)
    targets = np.arange(n_eval)  # query i is the corrupted memory i

    def pipeline(similarity) -> HENPipeline:
        """The bank's memory with ``similarity`` (a name, or U-Hop's learned LinearKernel) at the tab's beta
        (absolute, or relative to that similarity's own calibration)."""
        b = dict(beta_relative=float(beta)) if beta_mode == "relative" else dict(beta=float(beta))
        return HENPipeline(MemoryConfig(bank, encoder, similarity=similarity, device=res.device, **b))

    def beta_of(pipe: HENPipeline) -> str:
        return beta_text(pipe.beta, pipe.beta_relative)

    opts = RunOptions(steps=steps, topk=1)
    plain = pipeline("dot")
    queries = plain.encode_corrupted(bank.images[:n_eval], kind, float(amount), seed=0, batch=BATCH)  # (B, K)
    before = plain.run(queries, opts, targets=targets)
    cos0 = kernel_cosines(codes, None, MAX_COS_PAIRS)

    # ---- Stage I, live: fit in a worker thread, stream the loss as it arrives
    losses: list[float] = []
    inbox: queue.Queue = queue.Queue()
    result: dict = {}

    def work():
        try:
            result["fit"] = fit_uhop_kernel(codes, iterations=iterations, lr=float(lr), t=float(t),
                                            callback=lambda i, loss: inbox.put(loss))
        except Exception as exc:  # re-raised in the generator, where gradio can show it
            result["error"] = exc
        finally:
            inbox.put(None)

    threading.Thread(target=work, daemon=True).start()
    last = 0.0
    while True:
        item = inbox.get()
        if item is None:
            break
        losses.append(float(item))
        if time.perf_counter() - last > 0.2:
            last = time.perf_counter()
            yield frame(loss=loss_figure(losses, iterations),
                        status=f"Stage I: iteration {len(losses) - 1} / {iterations}, L<sub>Φ</sub> = {losses[-1]:.4f}")
    if "error" in result:
        raise result["error"]
    fit = result["fit"]
    loss_fig = loss_figure(fit.loss_history, iterations)

    # ---- before / after
    uhop = pipeline(fit.kernel)  # U-Hop Stage II (Alg. 1 lines 5-8): retrieval with K(u, v) = <Wu, Wv>
    after = uhop.run(queries, opts, targets=targets)
    cos1 = kernel_cosines(codes, fit.W, MAX_COS_PAIRS)
    hist = histogram_figure({"before: Φ = identity": cos0, "after Stage I: Φ(x) = Wx": cos1},
                            title="Cosine similarity between stored memories in kernel space",
                            xaxis="cos(Φ(ξ_μ), Φ(ξ_ν)), μ ≠ ν", height=360, nbins=50, projector=True)
    beta_head = f"β = {beta:g}" if beta_mode == "absolute" else f"β = {beta:g} × each model's calibrated β"
    table = (f"| on {n_eval} queries ({kind} {amount:g}), {beta_head}, {steps} steps | plain MHN (W = I) | "
             f"U-Hop ({iterations} Stage I steps) |\n|---|---|---|\n"
             f"| β used | {beta_of(plain)} | {beta_of(uhop)} |\n"
             f"| separation loss L<sub>Φ</sub> | {fit.loss_history[0]:.4f} | **{fit.loss_history[-1]:.4f}** |\n"
             f"| retrieval error (image MSE to the target's reconstruction) | {before.mse.mean():.5f} | "
             f"**{after.mse.mean():.5f}** |\n"
             f"| identity accuracy (the winning memory is the target) | {before.identity:.3f} | "
             f"**{after.identity:.3f}** |\n"
             f"| mean cosine between memories in kernel space | {cos0.mean():.3f} | **{cos1.mean():.3f}** |")
    base = []
    for label, sim in (("L2 MHM (−‖x−ξ‖²)", "l2"), ("Manhattan MHM (−‖x−ξ‖₁)", "manhattan")):
        baseline = pipeline(sim)
        out = baseline.run(queries, opts, targets=targets)
        base.append(f"| {label} | {beta_of(baseline)} | {out.mse.mean():.5f} | {out.identity:.3f} |")
    table += (f"\n\n**Correctly signed distance baselines on the same queries** ({beta_head}, {steps} steps; the "
              f"query's own L2-nearest memory has identity {before.nn_ceiling:.3f}):\n\n"
              "| model | β used | retrieval error (MSE) | identity accuracy |\n|---|---|---|---|\n" + "\n".join(base))
    holds0, margin0, ver0 = exact_fixed_points(codes, "dot", plain.beta)
    holds1, margin1, ver1 = exact_fixed_points(codes, fit.kernel, uhop.beta)
    gained = np.flatnonzero(holds1 & ~holds0)
    lost = int(np.sum(holds0 & ~holds1))
    exact = (f"**Exact fixed points with sparsemax ({beta_of(plain)} plain, {beta_of(uhop)} U-Hop):** plain **{int(holds0.sum())} / {n}**, "
             f"U-Hop **{int(holds1.sum())} / {n}** (Thm 2.2 margin ≥ 0). Checked by running one sparsemax step from "
             f"each memory: {ver0} and {ver1} put all their weight on themselves. "
             f"{len(gained)} memories became exact only after Stage I (gallery), {lost} stopped being exact.")
    recon = bank.recon
    gallery = [(recon[i], f"#{i}") for i in gained[:12]]
    yield frame(loss=loss_fig, hist=hist, table=table, margin=margin_figure(margin0, margin1), exact=exact,
                gallery=gallery, status="Stage II: retrieving the same query with both networks …")

    # ---- Stage II, streamed next to the plain network
    if int(query_index) < 0:  # auto: the first query the two networks disagree on (U-Hop right), else #0
        wins = np.flatnonzero(after.correct & ~before.correct)
        q_idx = int(wins[0]) if len(wins) else 0
        how = ("picked automatically: the first query U-Hop gets right and the plain network wrong"
               if len(wins) else "no query where U-Hop wins; showing #0")
    else:
        q_idx, how = int(query_index) % n, "your choice"
    q = queries[q_idx:q_idx + 1] if q_idx < n_eval else plain.encode_corrupted(
        bank.images[q_idx:q_idx + 1], kind, float(amount), seed=0)
    query_img = show(plain.decode(q), BIG)
    target_img = show(recon[q_idx], BIG)
    e_plain, e_uhop = [], []
    last_p = last_u = None
    for fp, fu in itertools.zip_longest(plain.stream(q, opts, target=q_idx), uhop.stream(q, opts, target=q_idx)):
        first = last_p is None
        last_p, last_u = fp or last_p, fu or last_u
        e_plain.append(last_p.energies[-1])
        e_uhop.append(last_u.energies[-1])
        # a network that has already stopped keeps its picture
        yield frame(query=query_img if first else skip, target=target_img if first else skip,
                    plain=show(fp.image, BIG) if fp else skip,
                    uhop=show(fu.image, BIG) if fu else skip,
                    energy=as_plot(energy_spec({"plain MHN": e_plain, "U-Hop": e_uhop},
                                               title="Energy per step (each model's own)",
                                               height=300, projector=True)),
                    status=f"Stage II: step {last_p.t if fp else last_u.t}")
        if delay:
            time.sleep(float(delay))
    res_p, res_u = last_p.result, last_u.result
    yield frame(status=f"Done. Query #{q_idx} ({how}): plain MHN's strongest memory #{res_p.winner} "
                       f"({'correct' if res_p.correct else 'wrong'}), U-Hop's #{res_u.winner} "
                       f"({'correct' if res_u.correct else 'wrong'}).")


def latent_choice() -> tuple[str, str]:
    """(encoder for 'U-Hop on HEN latents', note): the default trained encoder, or pixels with a note."""
    enc = state.default_encoder()
    if enc == "pixels":
        return enc, ("No trained encoder is available here (train one with `python -m hen_demo train-encoder`), "
                     "so this runs on raw pixels.")
    return enc, f"U-Hop on the latent codes of **{enc}** (HEN's encoder): a combination neither paper shows."


def build_tab(res) -> None:
    """The U-Hop tab (called inside ``with gr.Tab("U-Hop"):``)."""
    gr.Markdown(TEXT, latex_delimiters=LATEX)
    with gr.Row():
        dataset = gr.Dropdown(state.dataset_choices(), value="digits", label="Dataset")
        encoder = gr.Dropdown(state.encoder_choices(), value="pixels", label="Memory space (encoder)")
        n = gr.Slider(10, 500, value=100, step=10, label="N memories")
        kind = gr.Dropdown(QUERY_CORRUPTIONS, value="mask-random", label="Query corruption")
        amount = gr.Slider(0.0, 1.0, value=0.5, step=0.05, label="Amount")
    with gr.Row():
        iterations = gr.Slider(0, 300, value=60, step=10, label="Stage I iterations N")
        lr = gr.Number(1.0, label="Stage I learning rate γ")
        t = gr.Number(2.0, label="t (RBF scale)")
        beta_mode = gr.Radio([("relative: each model's own calibrated β", "relative"),
                              ("absolute (the paper: β = 1)", "absolute")], value="relative", label="β is given as",
                             elem_id="uhop-beta-mode", min_width=260)
        beta = gr.Number(1.0, label="β")
        steps = gr.Slider(1, 30, value=8, step=1, label="Stage II steps T")
        query_index = gr.Number(-1, precision=0, label="Query memory # (-1: auto)")
    with gr.Row():
        run_btn = gr.Button("Run U-Hop: Stage I, then Stage II", variant="primary", elem_id="uhop-run")
        latent_btn = gr.Button("U-Hop on HEN latents (one click)", elem_id="uhop-latent")
    status = gr.Markdown(elem_id="uhop-status")
    with gr.Row():
        loss_plot = gr.Plot(label="Stage I")
        hist_plot = gr.Plot(label="Kernel-space similarities")
    table = gr.Markdown()
    with gr.Row():
        with gr.Column(scale=3):
            margin_plot = gr.Plot(label="Exact retrieval (Thm 2.2)")
        with gr.Column(scale=2):
            exact_text = gr.Markdown()
            exact_gallery = gr.Gallery(label="became exact fixed points after Stage I", columns=6, height=200,
                                       object_fit="contain", allow_preview=False)
    gr.Markdown("### Stage II: the same corrupted query, plain modern Hopfield vs U-Hop")
    with gr.Row():
        query_img = gr.Image(label="query", interactive=False, height=220, buttons=[],
                             elem_classes=["hen-img", "pixelated"])
        plain_img = gr.Image(label="plain MHN", interactive=False, height=220, buttons=[],
                             elem_classes=["hen-img", "pixelated"])
        uhop_img = gr.Image(label="U-Hop", interactive=False, height=220, buttons=[],
                             elem_classes=["hen-img", "pixelated"])
        target_img = gr.Image(label="target memory", interactive=False, height=220, buttons=[],
                             elem_classes=["hen-img", "pixelated"])
    energy_plot = gr.Plot(label="Energy")

    inputs = [dataset, encoder, n, kind, amount, iterations, lr, t, beta, steps, query_index, beta_mode]
    outputs = [loss_plot, hist_plot, table, margin_plot, exact_text, exact_gallery, query_img, plain_img, uhop_img,
               target_img, energy_plot, status]
    run = functools.partial(run_uhop, res)
    run_btn.click(run, inputs, outputs, api_name="run_uhop", **limits.heavy_events())

    def pick_latent():
        enc, note = latent_choice()
        return gr.update(value=enc), note

    latent_btn.click(pick_latent, None, [encoder, status]).then(run, inputs, outputs, api_name=False, **limits.heavy_events())
