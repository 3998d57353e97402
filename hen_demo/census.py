"""Attractor census: where do the wrong retrievals go, and what do the memories that capture them share?

For a batch of retrievals (each query's final nearest memory and its intended memory), the census counts
the wrong answers, how many distinct memories capture them, the top attractors (index, count, share of the
wrong answers) and the mean brightness of the hidden region of those attractors beside the bank's mean
over the same region. Under black occlusion with L2, the distance to a zeroed half is smallest for memories
whose hidden half is dark, so a few dark-bottomed memories capture most wrong answers: the census makes that
visible (issue 9). A metric over retrieval outputs; nothing here changes the retrieval itself.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from hen_demo.metrics import nearest_memory


@dataclass
class Attractor:
    """A memory that captured wrong retrievals: its index in the bank, how many, and their share of all wrong."""

    index: int
    count: int
    share: float  # count / number of wrong retrievals
    hidden_brightness: float  # mean grey level of this memory over the hidden region of the queries it captured


@dataclass
class AttractorCensus:
    """The census of one batch (see ``attractor_census``). Brightness = mean grey level in [0, 1]."""

    n_queries: int
    n_wrong: int
    n_distinct: int  # distinct memories that captured the wrong retrievals
    top: list[Attractor] = field(default_factory=list)  # largest counts first
    top_capture: float = float("nan")  # share of the wrong retrievals captured by the listed top attractors
    top_hidden_brightness: float = float("nan")  # hidden region of the top attractors (count-weighted)
    wrong_hidden_brightness: float = float("nan")  # hidden region of every wrong answer (one per wrong retrieval)
    target_hidden_brightness: float = float("nan")  # hidden region of the intended memories of the wrong ones
    bank_hidden_brightness: float = float("nan")  # hidden region averaged over the whole bank

    @property
    def wrong_fraction(self) -> float:
        return self.n_wrong / self.n_queries if self.n_queries else float("nan")

    @property
    def top_share(self) -> float:
        """Share of the wrong retrievals captured by the single largest attractor (nan when none is wrong)."""
        return self.top[0].share if self.top else float("nan")

    def row(self) -> dict:
        """The scalar numbers as one CSV row."""
        return dict(n_wrong=self.n_wrong, wrong_fraction=self.wrong_fraction, distinct_attractors=self.n_distinct,
                    top_share=self.top_share, top_capture=self.top_capture,
                    top_hidden_brightness=self.top_hidden_brightness,
                    wrong_hidden_brightness=self.wrong_hidden_brightness,
                    target_hidden_brightness=self.target_hidden_brightness,
                    bank_hidden_brightness=self.bank_hidden_brightness)

    def summary(self) -> str:
        """One plain sentence for the UI and the reports."""
        if self.n_wrong == 0:
            return f"All {self.n_queries} retrievals landed on their own memory: no attractors to count."
        k = len(self.top)
        return (f"{self.n_wrong} of {self.n_queries} retrievals went wrong; {self.n_distinct} distinct memories "
                f"captured them, the top {k} took {self.top_capture:.0%} (largest: memory {self.top[0].index}, "
                f"{self.top[0].count} {'time' if self.top[0].count == 1 else 'times'}). Hidden region brightness: top attractors "
                f"{self.top_hidden_brightness:.2f}, all wrong answers {self.wrong_hidden_brightness:.2f}, "
                f"the intended memories {self.target_hidden_brightness:.2f}, bank mean "
                f"{self.bank_hidden_brightness:.2f}.")


def _grey(images) -> np.ndarray:
    """Bank images -> (N, H, W) float grey levels in [0, 1]; uint8 (N, H, W, 3) or float (N, 3, H, W)/(N, H, W, 3)."""
    a = np.asarray(images.detach().cpu() if hasattr(images, "detach") else images)
    if a.ndim != 4:
        raise ValueError(f"bank images must be (N, H, W, 3) or (N, 3, H, W); got shape {a.shape}")
    scale = 255.0 if a.dtype == np.uint8 else 1.0
    a = a.astype(np.float64) / scale
    return a.mean(-1) if a.shape[-1] == 3 else a.mean(1)


def attractor_census(final_indices, targets, bank_images, hidden, top: int = 8) -> AttractorCensus:
    """Count where the wrong retrievals went.

    Args:
        final_indices: (B,) int, each query's final nearest memory (e.g. ``metrics.nearest_memory(states, Xi)``).
        targets: (B,) int, the intended memory of each query.
        bank_images: the bank's N images, uint8 (N, H, W, 3) or float (N, 3, H, W) in [0, 1].
        hidden: bool (H, W) or (B, H, W), True where the query's pixels were hidden.
        top: how many attractors to list.
    Returns:
        :class:`AttractorCensus`.
    """
    idx = np.asarray(final_indices).astype(np.int64).reshape(-1)
    tgt = np.asarray(targets).astype(np.int64).reshape(-1)
    if idx.shape != tgt.shape:
        raise ValueError(f"got {len(idx)} final indices but {len(tgt)} targets.")
    grey = _grey(bank_images)  # (N, H, W)
    n, h, w = grey.shape
    if len(idx) and (idx.min() < 0 or idx.max() >= n or tgt.min() < 0 or tgt.max() >= n):
        raise ValueError(f"indices must name memories of the bank (0..{n - 1}).")
    m = np.asarray(hidden.detach().cpu() if hasattr(hidden, "detach") else hidden).astype(bool)
    if m.shape == (h, w):
        m = np.broadcast_to(m, (len(idx), h, w))
    if m.shape != (len(idx), h, w):
        raise ValueError(f"hidden must be a bool mask ({h}, {w}) or ({len(idx)}, {h}, {w}); got {m.shape}.")
    area = m.reshape(len(idx), -1).sum(1).astype(np.float64)  # (B,)

    def region(mem: np.ndarray, rows: np.ndarray) -> np.ndarray:
        """Mean grey of memories mem (k,) over the hidden region of queries rows (k,); nan where none hidden."""
        tot = (grey[mem] * m[rows]).reshape(len(rows), -1).sum(1)
        return np.where(area[rows] > 0, tot / np.maximum(area[rows], 1), np.nan)

    wrong = np.flatnonzero(idx != tgt)
    census = AttractorCensus(n_queries=len(idx), n_wrong=len(wrong), n_distinct=len(np.unique(idx[wrong])))
    mean_img = grey.mean(0)  # (H, W)
    bank = (mean_img[None] * m).reshape(len(idx), -1).sum(1) / np.maximum(area, 1)
    census.bank_hidden_brightness = float(np.nanmean(np.where(area > 0, bank, np.nan))) if area.any() else float("nan")
    if not len(wrong):
        return census
    wb = region(idx[wrong], wrong)
    census.wrong_hidden_brightness = float(np.nanmean(wb)) if np.isfinite(wb).any() else float("nan")
    tb = region(tgt[wrong], wrong)
    census.target_hidden_brightness = float(np.nanmean(tb)) if np.isfinite(tb).any() else float("nan")
    mem, counts = np.unique(idx[wrong], return_counts=True)
    order = np.lexsort((mem, -counts))[:top]  # largest count first, ties by index
    captured = []
    for j in order:
        rows = wrong[idx[wrong] == mem[j]]
        b = region(idx[rows], rows)
        census.top.append(Attractor(int(mem[j]), int(counts[j]), float(counts[j] / len(wrong)),
                                    float(np.nanmean(b)) if np.isfinite(b).any() else float("nan")))
        captured.append(b)
    allb = np.concatenate(captured)
    census.top_capture = float(counts[order].sum() / len(wrong))
    census.top_hidden_brightness = float(np.nanmean(allb)) if np.isfinite(allb).any() else float("nan")
    return census


def census_of_states(states, patterns, targets, bank_images, hidden, top: int = 8) -> AttractorCensus:
    """``attractor_census`` from retrieved states (B, K): each state's final memory is its L2-nearest pattern
    (the identity criterion of ``metrics.identity_accuracy``). patterns (N, K) are the bank's codes."""
    return attractor_census(nearest_memory(states, patterns), targets, bank_images, hidden, top=top)


__all__ = ["Attractor", "AttractorCensus", "attractor_census", "census_of_states"]
