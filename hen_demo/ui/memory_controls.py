"""The controls that configure one Hopfield memory: dataset, encoder, similarity, separation, beta, N, T, tol.

Used by the Explore, Compare and Text -> Image tabs. ``beta`` has two linked widgets: a slider over
log10(beta) (0.001 .. 1000, what a hand can sweep) and a number box with the exact value (what an expert
types; 0 or a negative value there gives a visible error on Retrieve).
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass

import gradio as gr

from hen_demo.data import CORRUPTIONS
from hen_demo.data.bank_build import build_time_note
from hen_demo.pipeline import MASK_AWARE, RunOptions
from hen_demo.ui import limits, state

LOG_BETA_MIN, LOG_BETA_MAX = -3.0, 3.0
# how the β box is read: relative to the bank's calibration (hen_demo.memory.calibrated_beta) or absolute
BETA_MODES = [("relative (calibrated: 1 = as sharp for every representation)", "relative"),
              ("absolute (the papers' β)", "absolute")]
# the corruptions a query dropdown offers ("mask" needs a painted mask: the Explore tab's brush does that)
QUERY_CORRUPTIONS = [c for c in CORRUPTIONS if c != "mask"]
# what hidden pixels (occlusions, masks, the brush) become: hen_demo.data.FILLS
FILL_CHOICES = [("black (the papers' occlusion)", "black"), ("dataset grey", "grey"), ("mean image", "mean-image"),
                ("uniform noise", "noise")]
# our raw-pixel baseline (hen_demo.memory.masked): L2 on the visible pixels only
MASK_AWARE_CHOICE = ("mask-aware L2 (raw pixels only: visible pixels)", MASK_AWARE)


@dataclass
class MemoryControls:
    """The Gradio components of one memory configuration (in the order handlers take them)."""

    dataset: gr.Dropdown
    encoder: gr.Dropdown
    similarity: gr.Dropdown
    separation: gr.Dropdown
    log_beta: gr.Slider
    beta: gr.Number
    n: gr.Slider
    steps: gr.Slider
    tol: gr.Number
    encoder_note: gr.Markdown
    beta_mode: gr.Radio | None = None  # "relative" (calibrated, 1 = nearest-neighbour sharp) | "absolute"

    def inputs(self) -> list:
        """Handler inputs: dataset, encoder, similarity, separation, beta, n, steps, tol."""
        return [self.dataset, self.encoder, self.similarity, self.separation, self.beta, self.n, self.steps,
                self.tol]


def beta_from_log(log_beta: float) -> float:
    return float(f"{10.0 ** float(log_beta):.4g}")


def log_from_beta(beta: float | None):
    if beta is None or not isinstance(beta, (int, float)) or not math.isfinite(beta) or beta <= 0:
        return gr.skip()  # leave the slider; the error shows on Retrieve
    return round(min(max(math.log10(beta), LOG_BETA_MIN), LOG_BETA_MAX), 2)


def encoder_note(name: str, n=None, device_type: str = "cpu") -> str:
    """A visible sentence when the chosen encoder cannot be used here; for a slow encoder (the papers' models), how
    long a new bank of ``n`` memories takes on this device before the build starts (``bank_build.build_time_note``);
    empty otherwise."""
    for label, value in state.encoder_choices():
        if value == name and "(unavailable" in label:
            return f"⚠️ **{label}** — pick another encoder; this one cannot be loaded here."
    if n is None:
        return ""
    cost = build_time_note(name, limits.cap_n(int(n)), device_type=device_type)
    return f"⏱️ {cost}" if cost else ""


def n_slider_update(dataset: str, n: float):
    """Re-range the N slider to 10 .. the dataset's size when the dataset changes."""
    if dataset == state.MINE:  # your images: N stays where it is and means "at most" (check_n clamps it), so no
        return gr.skip()  # event in flight reads a maximum lowered under it
    size = state.dataset_size(dataset) or 10
    top = max(10, limits.cap_n(int(size)))  # the public mode's cap on N
    if top <= 10:  # a slider needs maximum > minimum
        return gr.update(maximum=20, value=10)
    return gr.update(maximum=top, value=min(int(n or state.DEFAULT_N), top))


def build_memory_controls(
    prefix: str = "",
    dataset: str | None = None,
    encoder: str | None = None,
    similarity: str = "l2",
    separation: str = "softmax",
    beta: float = 1.0,
    n: int = state.DEFAULT_N,
    steps: int = 50,
    tol: float = 1e-6,
    show_dataset: bool = True,
    elem_prefix: str | None = None,
    advanced: bool = False,
    extra_advanced: tuple = (),
    beta_mode: str = "absolute",
    mask_aware: bool = False,
    res=None,
) -> MemoryControls:
    """Create the controls (inside the current Blocks context) and wire their small handlers.

    Args:
        advanced: put separation, steps T and tolerance in a collapsed "Advanced" accordion (Explore: the
            first screen keeps only what a newcomer changes).
        extra_advanced: components created with ``render=False`` to render inside that accordion too.
        beta_mode: how the β box is read at first, "relative" (calibrated) or "absolute".
        res: the app's Resources (its device sets the build-time estimate of a new bank).
        mask_aware: also offer the mask-aware similarity (raw pixels only: ``MemoryConfig`` refuses it with an encoder).
    """
    dataset = dataset or state.DEFAULT_DATASET
    size = state.dataset_size(dataset) or n

    def eid(name: str) -> str | None:  # stable element ids for the browser test and benchmark
        return f"{elem_prefix}-{name}" if elem_prefix else None

    enc = encoder or state.default_encoder()
    ds = gr.Dropdown(state.dataset_choices(), value=dataset, label=f"{prefix}Dataset", visible=show_dataset,
                     elem_id=eid("dataset"))
    encoder_dd = gr.Dropdown(state.encoder_choices(), value=enc, label=f"{prefix}Encoder Φ_enc / Φ_dec",
                             info="raw pixels = the plain modern Hopfield network", elem_id=eid("encoder"))
    device_type = getattr(getattr(res, "device", None), "type", "cpu")
    note_for = functools.partial(encoder_note, device_type=device_type)
    note = gr.Markdown(note_for(enc, min(n, int(size))))
    similarity_dd = gr.Dropdown(similarity_choices(mask_aware), value=similarity, label=f"{prefix}Similarity f_sim",
                                elem_id=eid("similarity"))
    mode = gr.Radio(BETA_MODES, value=beta_mode, label=f"{prefix}β (inverse temperature) is given as",
                    elem_id=eid("beta-mode"))
    log_beta = gr.Slider(LOG_BETA_MIN, LOG_BETA_MAX, value=round(math.log10(beta), 2), step=0.05,
                         label=f"{prefix}log₁₀ β")
    beta_box = gr.Number(value=beta, label=f"{prefix}β ({beta_mode})", minimum=None, precision=None,
                         elem_id=eid("beta"))
    n_slider = gr.Slider(10, max(10, int(size)), value=min(n, int(size)), step=10, label=f"{prefix}Memories N",
                         elem_id=eid("n"))

    def later():  # separation, T and tol: in the accordion when ``advanced``, else inline
        sep = gr.Dropdown(state.SEPARATIONS, value=separation, label=f"{prefix}Separation",
                          info="softmax = HEN eq. 2; sparsemax / entmax give sparse weights")
        t = gr.Slider(1, 300, value=steps, step=1, label=f"{prefix}Steps T (at most)", elem_id=eid("steps"))
        tl = gr.Number(value=tol, label=f"{prefix}Tolerance (stop when ‖s⁽ᵗ⁺¹⁾ − s⁽ᵗ⁾‖ < tol)",
                       elem_id=eid("tol"))
        for comp in extra_advanced:
            comp.render()
        return sep, t, tl

    if advanced:
        with gr.Accordion("Advanced: separation, steps, tolerance, seed", open=False):
            sep, t, tl = later()
    else:
        sep, t, tl = later()
    c = MemoryControls(dataset=ds, encoder=encoder_dd, similarity=similarity_dd, separation=sep,
                       log_beta=log_beta, beta=beta_box, n=n_slider, steps=t, tol=tl, encoder_note=note,
                       beta_mode=mode)
    mode.change(lambda m: gr.update(label=f"{prefix}β ({m})"), mode, beta_box, queue=False,
                show_progress="hidden", api_name=False)
    c.log_beta.input(beta_from_log, c.log_beta, c.beta, queue=False, show_progress="hidden", api_name=False)
    # .change (not .input): examples and other tabs set these too, and the linked widgets must follow
    c.beta.change(log_from_beta, c.beta, c.log_beta, queue=False, show_progress="hidden", api_name=False)
    c.dataset.change(n_slider_update, [c.dataset, c.n], c.n, queue=False, show_progress="hidden", api_name=False)
    for trigger in (c.encoder.input, c.n.change):  # the build-time estimate follows the encoder and N
        trigger(note_for, [c.encoder, c.n], c.encoder_note, queue=False, show_progress="hidden", api_name=False)
    return c


def similarity_choices(mask_aware: bool = False) -> list:
    """The similarity dropdown's choices (the engine's, plus the mask-aware baseline where a tab supports it)."""
    return list(state.SIMILARITIES) + ([MASK_AWARE_CHOICE] if mask_aware else [])


def fill_and_stats(fill, bank) -> tuple[str, object]:
    """(fill, FillStats of the bank's images) for a fill dropdown value; a fill that does not exist is a
    ValueError with a sentence (``hen_demo.data.corruptions.check_fill``)."""
    from hen_demo.data.corruptions import STAT_FILLS, check_fill, fill_stats

    fill = "black" if fill is None else fill
    stats = fill_stats(bank.images) if fill in STAT_FILLS else None
    check_fill(fill, stats)
    return fill, stats


def run_options(steps, tol, topk: int = 5, stream: bool = True) -> RunOptions:
    """The run controls' values -> :class:`RunOptions` (validated there, once). ``stream``: stream at most
    ``limits.MAX_STREAM_FRAMES`` frames (``every`` chosen from T)."""
    opts = RunOptions(steps=steps, tol=tol, topk=topk)
    opts.every = limits.stream_every(opts.steps) if stream else 1
    return opts


def check_n(dataset: str, n) -> int:
    """N as an int in 10 .. dataset size (ValueError otherwise)."""
    if n is None:
        raise ValueError("Choose how many memories N to store.")
    n = int(n)
    size = state.dataset_size(dataset)
    if n < 1:
        raise ValueError(f"N must be at least 1 (got {n}).")
    if dataset == state.MINE:  # your images: N is "at most", the slider's grid starts at 10
        if not size:
            state.snap_n(dataset, n)  # the sentence: no images stored yet
        n = min(n, size)
    if size is not None and n > size:
        raise ValueError(f"N = {n:,} is more than the {size:,} images in the dataset '{dataset}'.")
    return state.snap_n(dataset, n)  # on the slider's grid (a script's N = 15 reuses N = 20), capped when public


def corruption_kind(value) -> str:
    """A corruption dropdown's value -> the kind to apply ("none" for an empty or unknown value)."""
    return value if value in CORRUPTIONS else "none"
