"""Empirical capacity of classical and dense associative memories (slides 002, "Capacity"), and spurious states.

The experiment: draw P random bipolar patterns of dimension D, store them, start the asynchronous dynamics from
each stored pattern with a fraction ``flip`` of its bits negated, and look at where it ends:

* recalled exactly (the final state equals the target pattern);
* the overlap ``m = xi_target . s / D`` (1 = perfect, ~0 = unrelated);
* a *spurious* state: a stable state that is neither a stored pattern nor its negation (mixtures such as
  ``sgn(xi_1 + xi_2 + xi_3)`` and "spin-glass" states are the classical examples).

For n = 2 (Hebbian Hopfield) the overlap collapses near P ~ 0.138 D (Amit, Gutfreund & Sompolinsky 1985; the
slides' "~0.14 D"); error-free recall of all bits holds only up to about D / (2 ln D). Dense associative memories
with F_n store about D^(n-1) patterns (slides 002, "Capacity scaling laws").
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from hen_demo.memory.classical_hopfield import as_bipolar, flip_bits
from hen_demo.memory.dense import DenseAssociativeMemory, _check_order

CLASSICAL_CAPACITY = 0.138  # critical load P/D of the Hebbian Hopfield network (Amit et al. 1985)


@dataclass
class StateVerdict:
    """What a (final) state is, relative to the stored patterns.

    kind: "stored" | "negated" (a stored pattern with every sign flipped) | "mixture" (sgn of a signed sum of three
      stored patterns) | "spurious" (anything else).
    indices: the stored patterns involved (one for stored/negated, three for a mixture, () otherwise).
    overlaps: (P,) overlaps m_mu = xi_mu . s / D.
    text: one plain sentence for the UI.
    """

    kind: str
    indices: tuple[int, ...]
    overlaps: np.ndarray
    text: str

    @property
    def is_spurious(self) -> bool:
        return self.kind in ("mixture", "spurious")


def classify_state(state, patterns) -> StateVerdict:
    """Classify a bipolar state (D,) against stored patterns (P, D): stored, negated, 3-mixture or spurious.
    The mixture test uses the three patterns with the largest |overlap| and the signs of those overlaps."""
    xi = as_bipolar(patterns, "patterns", 2)
    s = as_bipolar(state, "state", 1, dim=xi.shape[1])
    d = xi.shape[1]
    overlaps = xi.astype(np.float64) @ s / d  # (P,)
    for mu in range(xi.shape[0]):
        if overlaps[mu] == 1.0:
            return StateVerdict("stored", (mu,), overlaps, f"stored pattern #{mu}")
        if overlaps[mu] == -1.0:
            return StateVerdict("negated", (mu,), overlaps, f"the negation of stored pattern #{mu} (also a minimum)")
    if xi.shape[0] >= 3:
        top = np.argsort(-np.abs(overlaps))[:3]
        mix = (np.sign(overlaps[top])[:, None] * xi[top]).sum(axis=0)  # odd sum of +-1: never 0
        if np.array_equal(np.sign(mix).astype(np.int8), s):
            names = ", ".join(f"{'+' if overlaps[t] > 0 else '-'}#{t}" for t in top)
            return StateVerdict("mixture", tuple(int(t) for t in top), overlaps,
                                f"a spurious mixture state sgn({names})")
    best = int(np.argmax(np.abs(overlaps)))
    return StateVerdict("spurious", (), overlaps,
                        f"a spurious state (closest memory #{best}, overlap {overlaps[best]:+.2f})")


@dataclass
class CapacityPoint:
    """Recall statistics for one (D, P, n, flip) setting, averaged over trials and stored patterns."""

    D: int
    P: int
    n: int
    flip: float
    recall_fraction: float  # fraction of cues that ended exactly on their target
    mean_overlap: float  # mean overlap m = xi_target . s_final / D
    spurious_fraction: float  # fraction of cues that ended on neither a stored pattern nor its negation

    @property
    def load(self) -> float:
        return self.P / self.D


@dataclass
class CapacityCurve:
    """capacity_curve's result: arrays over P_values."""

    D: int
    n: int
    flip: float
    P_values: np.ndarray  # (L,) int
    recall_fraction: np.ndarray  # (L,)
    mean_overlap: np.ndarray  # (L,)
    spurious_fraction: np.ndarray  # (L,)

    @property
    def load(self) -> np.ndarray:
        return self.P_values / self.D


def random_bipolar(P: int, D: int, seed: int = 0) -> np.ndarray:
    """P random bipolar patterns (P, D) int8, each bit +-1 with probability 1/2."""
    if P < 1 or D < 1:
        raise ValueError(f"P and D must be positive, got P={P}, D={D}.")
    rng = np.random.default_rng(seed)
    return (rng.integers(0, 2, size=(P, D), dtype=np.int8) * 2 - 1).astype(np.int8)


def measure_recall(D: int, P: int, n: int = 2, flip: float = 0.0, trials: int = 3, seed: int = 0,
                   sweeps: int = 5, max_cues: int | None = None) -> CapacityPoint:
    """Store P random bipolar patterns of dimension D in a memory with F_n (n = 2: Hebbian Hopfield with zero
    diagonal), cue with each stored pattern (``flip`` fraction of bits negated), run asynchronous dynamics for
    at most ``sweeps`` sweeps and report recall statistics. ``max_cues`` caps the cues per trial (speed)."""
    n = _check_order(n)
    if D < 2 or P < 1:
        raise ValueError(f"Need D >= 2 and P >= 1, got D={D}, P={P}.")
    if trials < 1:
        raise ValueError("trials must be at least 1.")
    if not 0.0 <= flip <= 1.0:
        raise ValueError(f"The flip fraction must be between 0 and 1, got {flip}.")
    recalled, overlap, spurious, count = 0, 0.0, 0, 0
    for trial in range(trials):
        xi = random_bipolar(P, D, seed=int(np.random.SeedSequence([seed, D, P, trial]).generate_state(1)[0]))
        mem = DenseAssociativeMemory(xi, n=n)
        cue_idx = np.arange(P) if max_cues is None else np.arange(min(P, max_cues))
        targets = xi[cue_idx]  # (B, D)
        cues = flip_bits(targets, flip, seed=seed + trial) if flip > 0 else targets.copy()
        final, _ = mem.run_async_batch(cues, sweeps=sweeps, seed=seed + trial)
        m = (final.astype(np.float64) * targets).sum(axis=1) / D  # (B,)
        recalled += int(np.sum(m == 1.0))
        overlap += float(m.sum())
        all_m = np.abs(final.astype(np.float64) @ xi.T.astype(np.float64)) / D  # (B, P)
        spurious += int(np.sum(~np.any(all_m == 1.0, axis=1)))
        count += len(cue_idx)
    return CapacityPoint(D, P, n, flip, recalled / count, overlap / count, spurious / count)


def recall_fraction(D: int, P: int, n: int = 2, flip: float = 0.0, trials: int = 3, seed: int = 0,
                    sweeps: int = 5) -> float:
    """Fraction of stored patterns recalled exactly (see :func:`measure_recall`). With ``flip = 0`` this is the
    fraction of stored patterns that are fixed points of the asynchronous dynamics."""
    return measure_recall(D, P, n=n, flip=flip, trials=trials, seed=seed, sweeps=sweeps).recall_fraction


def capacity_curve(D: int, P_values, n: int = 2, flip: float = 0.0, trials: int = 3, seed: int = 0,
                   sweeps: int = 5, max_cues: int | None = None, progress=None) -> CapacityCurve:
    """Recall statistics against the number of stored patterns. P_values: iterable of ints.
    progress: optional callable(fraction, desc)."""
    n = _check_order(n)
    p_values = np.asarray(list(P_values), dtype=np.int64)
    if p_values.size == 0 or np.any(p_values < 1):
        raise ValueError("P_values must be a non-empty list of positive pattern counts.")
    points = []
    for k, P in enumerate(p_values):
        points.append(measure_recall(D, int(P), n=n, flip=flip, trials=trials, seed=seed, sweeps=sweeps,
                                     max_cues=max_cues))
        if progress is not None:
            progress((k + 1) / len(p_values), f"P = {P}")
    return CapacityCurve(D, n, flip, p_values,
                         np.array([p.recall_fraction for p in points]),
                         np.array([p.mean_overlap for p in points]),
                         np.array([p.spurious_fraction for p in points]))
