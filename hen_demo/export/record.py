"""What an export is made of: the frames a retrieval streamed and one caption, as plain data.

A run is recorded from what the app already produced, nothing is recomputed: the pipeline's
``HENFrame`` objects (``hen_demo.pipeline.HENFrame``: decoded state, energies so far, top-k weights, the
similarity histogram, the result on the last frame) or the Explore tab's Replay dictionaries built from them.
Pure of Gradio.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

VERDICT_WORDS = {"retrieved": "RETRIEVED", "metastable": "METASTABLE", "wrong": "WRONG MEMORY"}


@dataclass
class FrameRecord:
    """One streamed iteration t of a retrieval (HEN eq. 6 applied t times, decoded by HEN eq. 7)."""

    t: int  # iteration (0 = the query itself)
    image: np.ndarray  # (s, s, 3) uint8, the decoded state Phi_dec(s_hat(t))
    energy: float  # E(s(t)) (HEN eq. 1) at this frame
    n_eff: float = float("nan")  # effective number of memories 1 / sum p^2
    top_index: int | None = None  # the memory with the largest weight now
    top_weight: float | None = None
    hist_counts: np.ndarray | None = None  # (bins,) cos(state, memory_n) counts; sum = N
    hist_edges: np.ndarray | None = None  # (bins + 1,)

    def __post_init__(self):
        img = np.asarray(self.image)
        if img.ndim == 2:
            img = np.repeat(img[..., None], 3, axis=2)
        if img.ndim != 3 or img.shape[2] not in (3, 4):
            raise ValueError(f"A frame's image must be (H, W, 3) uint8; got shape {img.shape}.")
        self.image = np.ascontiguousarray(img[..., :3].astype(np.uint8))


@dataclass
class RunCaption:
    """The words under an exported retrieval: what ran, at which β (both ways), and what it gave."""

    dataset: str
    encoder: str
    n: int  # memories N
    similarity: str = "l2"
    beta: float | None = None  # absolute beta the memory used
    beta_relative: float | None = None  # the same beta relative to the bank's calibration
    verdict_kind: str | None = None  # retrieved / metastable / wrong (None while unknown)
    verdict_text: str = ""  # one sentence, e.g. "Retrieved memory #25: it holds 100% of the weight."
    title: str = "HEN retrieval"  # e.g. "Explore", "Compare A", "Text → Image"
    extra: list[str] = field(default_factory=list)  # further lines (NN ceiling, corruption, ...)
    state_label: str = "state Φ_dec(ŝ⁽ᵗ⁾)"  # the state panel's label (HEN eq. 7: the decoded latent state)
    t_label: str = "iteration t"  # the energy plot's x axis

    def beta_line(self) -> str:
        """β in both forms, as the app writes it (absolute, and relative to the calibration)."""
        if self.beta is None:
            return "β = ?"
        rel = "" if self.beta_relative is None else f" = {self.beta_relative:.3g} × calibrated"
        return f"β = {self.beta:.4g}{rel}"

    def setup_line(self) -> str:
        """dataset · encoder · similarity · β both ways · N (β left out where a network has none: Hebbian)."""
        beta = [] if self.beta is None and self.beta_relative is None else [self.beta_line()]
        return " · ".join([self.dataset, self.encoder, self.similarity, *beta, f"N = {int(self.n):,}"])


@dataclass
class RunRecord:
    """A whole streamed retrieval: its query image, its frames in order, and its caption."""

    frames: list[FrameRecord]
    caption: RunCaption
    query: np.ndarray | None = None  # (H, W, 3) uint8, the (corrupted) query as it entered the network

    def __post_init__(self):
        if not self.frames:
            raise ValueError("There is nothing to export yet: run a retrieval first.")
        ts = [f.t for f in self.frames]
        if any(b <= a for a, b in zip(ts, ts[1:])):
            raise ValueError(f"A run's frames must come in increasing iteration order; got t = {ts}.")
        if self.query is not None:
            self.query = FrameRecord(0, self.query, 0.0).image

    @property
    def final_image(self) -> np.ndarray:
        return self.frames[-1].image


def _hist(hist) -> tuple[np.ndarray | None, np.ndarray | None]:
    if hist is None:
        return None, None
    return np.asarray(hist.counts, dtype=float), np.asarray(hist.edges, dtype=float)


def record_from_frames(frames: Sequence, caption: RunCaption, query: np.ndarray | None = None) -> RunRecord:
    """A :class:`RunRecord` from ``hen_demo.pipeline.HENFrame`` objects (the last one carries the result).

    The caption's β and verdict are filled in from the last frame's result when it has one.
    """
    records = []
    for f in frames:
        counts, edges = _hist(getattr(f, "similarity_histogram", None))
        records.append(FrameRecord(t=int(f.t), image=f.image, energy=float(f.energies[-1]), n_eff=float(f.n_eff),
                                   top_index=int(f.topk_indices[0]) if f.topk_indices else None,
                                   top_weight=float(f.topk_weights[0]) if f.topk_weights else None,
                                   hist_counts=counts, hist_edges=edges))
    result = getattr(frames[-1], "result", None) if frames else None
    if result is not None:
        caption.beta = float(result.beta)
        caption.beta_relative = None if result.beta_relative is None else float(result.beta_relative)
        caption.verdict_kind, caption.verdict_text = result.verdict.kind, result.verdict.text
    return RunRecord(records, caption, query)


def record_from_replay(frames: Sequence[Mapping], caption: RunCaption, details: Mapping | None = None,
                       query: np.ndarray | None = None) -> RunRecord:
    """A :class:`RunRecord` from the Explore tab's Replay dictionaries (``hen_demo.ui.explore.replay_frame``)
    and its details JSON (verdict, beta, beta_relative, top_index, target)."""
    records = []
    for d in frames or []:
        hist = d.get("hist")
        records.append(FrameRecord(
            t=int(d["t"]), image=np.asarray(d["image"], dtype=np.uint8), energy=float(d["energies"][-1]),
            n_eff=float(d.get("n_eff", float("nan"))),
            top_index=int(d["topk_indices"][0]) if d.get("topk_indices") else None,
            top_weight=float(d["topk_weights"][0]) if d.get("topk_weights") else None,
            hist_counts=None if hist is None else np.asarray(hist[0], dtype=float),
            hist_edges=None if hist is None else np.asarray(hist[1], dtype=float)))
    if details:
        if details.get("beta") is not None:
            caption.beta = float(details["beta"])
        rel = details.get("beta_relative")
        caption.beta_relative = None if rel is None else float(rel)
        kind = details.get("verdict")
        if kind:
            caption.verdict_kind = str(kind)
            if not caption.verdict_text:
                caption.verdict_text = verdict_sentence(details)
    return RunRecord(records, caption, query)


def verdict_sentence(details: Mapping) -> str:
    """A verdict sentence from a details dictionary (kind, top_index, target, nn_index, nn_correct)."""
    kind = str(details.get("verdict") or "")
    top, target = details.get("top_index"), details.get("target")
    if kind == "retrieved":
        text = f"Retrieved memory #{top}."
    elif kind == "metastable":
        text = f"Metastable: a mixture of {details.get('memories_in_mixture', 'several')} memories."
    elif kind == "wrong":
        text = f"Wrong memory: #{top}" + ("" if target is None else f" instead of #{target}") + "."
    else:
        text = ""
    nn = details.get("nn_index")
    if nn is not None and nn >= 0:
        mark = "" if details.get("nn_correct") is None else (" ✓" if details["nn_correct"] else " ✗")
        text += f" NN ceiling: #{nn}{mark}."
    return text.strip()
