"""The classical (binary) Hopfield network with Hebbian weights (slides 002, "Hebbian Learning" and
"Energy Minimization").

Patterns are bipolar, ``xi_mu in {-1, +1}^D``, stacked as the rows of ``Xi`` (P, D).

* Hebbian storage (slides 002, "Correlation Matrix Memories are Hebbian"): ``W = sum_mu xi_mu xi_mu^T = Xi^T Xi``,
  optionally with a zero diagonal (no self-coupling), as in Hopfield (1982).
* Energy (slides 002, "Hopfield energy"): ``E(s) = -1/2 sum_ij W_ij s_i s_j``. With ``W = Xi^T Xi`` this equals
  ``-1/2 sum_mu (xi_mu . s)^2``; zeroing the diagonal shifts it by the constant ``P * D / 2``.
* Asynchronous update (slides 002, "Asynchronous Hopfield update rule"): one neuron at a time, in random order,
  ``s_i <- sgn(sum_j W_ij s_j)``; a zero field keeps the current value. For ``s_i^2 = 1`` this is the slides' rule
  ``s_i = argmin_b E(s with s_i = b)`` (with a zero diagonal exactly; with a positive diagonal the self-coupling
  only makes flips rarer). Either way the energy never rises: flipping s_i changes E by ``-2 s_i' h_i`` with
  ``h_i = sum_{j != i} W_ij s_j``, and a flip happens only when ``s_i' h_i > W_ii >= 0``.
* Synchronous update: all neurons at once, ``s <- sgn(W s)``; the energy may rise and 2-cycles can occur
  (that is the point of showing it next to the asynchronous rule).

Everything here is small-D teaching code in numpy (D up to a few thousand); no torch needed.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


def as_bipolar(x, name: str = "patterns", ndim: int | tuple[int, ...] = 2, dim: int | None = None) -> np.ndarray:
    """Check that ``x`` holds only -1 and +1 and return it as an int8 numpy array.

    Args:
        x: array-like (numpy array, torch tensor or nested lists).
        name: how the argument is called in error messages.
        ndim: allowed number of dimensions (an int or a tuple of ints).
        dim: if given, the required length D of the last axis (a state checked against stored patterns).
    """
    if hasattr(x, "detach"):  # torch tensor
        x = x.detach().cpu().numpy()
    arr = np.asarray(x)
    allowed = (ndim,) if isinstance(ndim, int) else tuple(ndim)
    if arr.ndim not in allowed:
        raise ValueError(f"{name} must have {' or '.join(map(str, allowed))} dimensions, got shape {arr.shape}.")
    if arr.size == 0:
        raise ValueError(f"{name} is empty.")
    if not np.issubdtype(arr.dtype, np.number) and arr.dtype != bool:
        raise ValueError(f"{name} must be numeric with values -1 and +1.")
    if not np.all((arr == 1) | (arr == -1)):
        bad = arr[(arr != 1) & (arr != -1)].ravel()[:3]
        raise ValueError(f"{name} must contain only -1 and +1 (bipolar), found values such as {bad.tolist()}.")
    if dim is not None and arr.shape[-1] != dim:
        raise ValueError(f"The {name} has {arr.shape[-1]} entries but the stored patterns have D = {dim}.")
    return arr.astype(np.int8)


def flip_bits(pattern, fraction: float, seed: int = 0) -> np.ndarray:
    """Return a copy of a bipolar pattern (D,) or batch (B, D) with ``round(fraction * D)`` randomly chosen
    entries of each row negated (the same count in every row, different positions)."""
    p = as_bipolar(pattern, "pattern", (1, 2))
    if not 0.0 <= fraction <= 1.0:
        raise ValueError(f"The flip fraction must be between 0 and 1, got {fraction}.")
    rng = np.random.default_rng(seed)
    out = np.atleast_2d(p).copy()  # (B, D)
    k = int(round(fraction * out.shape[1]))
    for row in out:
        idx = rng.choice(out.shape[1], size=k, replace=False)
        row[idx] *= -1
    return out.reshape(p.shape)


@dataclass
class HopfieldTrace:
    """The path of a Hopfield run, for plotting and animation.

    states: (T+1, D) int8, the state before any update (row 0) and after each recorded update.
    energies: (T+1,) float64, the energy of each recorded state.
    neurons: (T,) int, the neuron updated at each recorded step (asynchronous), -1 for a synchronous step.
    flipped: (T,) bool, whether that update changed the state.
    update_index: (T+1,) int, how many single-neuron updates (or synchronous steps) had happened at each row.
    converged: True when a full sweep (or a synchronous step) changed nothing, i.e. a fixed point was reached.
    cycle: True when synchronous updates fell into a 2-cycle (s_{t+1} == s_{t-1} != s_t).
    mode: "async" or "sync".
    """

    states: np.ndarray
    energies: np.ndarray
    neurons: np.ndarray
    flipped: np.ndarray
    update_index: np.ndarray
    converged: bool
    cycle: bool
    mode: str

    @property
    def final(self) -> np.ndarray:
        """The last state (D,)."""
        return self.states[-1]


class AsyncRecorder:
    """Collects the rows of an asynchronous :class:`HopfieldTrace` (HebbianHopfield and DenseAssociativeMemory)."""

    def __init__(self, state: np.ndarray, energy: float):
        self.states, self.energies, self.neurons, self.flipped, self.index = [state.copy()], [energy], [], [], [0]

    def record(self, state: np.ndarray, energy: float, neuron: int, flipped: bool, n_updates: int) -> None:
        self.states.append(state.copy())
        self.energies.append(energy)
        self.neurons.append(neuron)
        self.flipped.append(flipped)
        self.index.append(n_updates)

    def trace(self, state: np.ndarray, energy: float, n_updates: int, converged: bool) -> HopfieldTrace:
        """The trace, with the final state appended (neuron -1) unless the last update was recorded."""
        if self.index[-1] != n_updates:
            self.record(state, energy, -1, False, n_updates)
        return HopfieldTrace(np.stack(self.states), np.asarray(self.energies), np.asarray(self.neurons, dtype=np.int64),
                             np.asarray(self.flipped, dtype=bool), np.asarray(self.index, dtype=np.int64),
                             converged, False, "async")


def sync_trace(state: np.ndarray, update, energy, steps: int) -> HopfieldTrace:
    """Synchronous steps ``s <- update(s)`` from ``state`` (D,) until a fixed point, a 2-cycle or ``steps``,
    with ``energy(s)`` recorded after every step (HebbianHopfield and DenseAssociativeMemory)."""
    states, energies = [state.copy()], [energy(state)]
    converged = cycle = False
    for _ in range(steps):
        new = update(states[-1])
        if np.array_equal(new, states[-1]):
            converged = True
            break
        states.append(new)
        energies.append(energy(new))
        if len(states) >= 3 and np.array_equal(states[-1], states[-3]):
            cycle = True
            break
    t = len(states) - 1
    return HopfieldTrace(np.stack(states), np.asarray(energies), np.full(t, -1, dtype=np.int64),
                         np.ones(t, dtype=bool), np.arange(t + 1), converged, cycle, "sync")


class HebbianHopfield:
    """Binary Hopfield network storing bipolar patterns with the Hebbian rule ``W = Xi^T Xi`` (slides 002).

    Args:
        patterns: (P, D) array-like with entries in {-1, +1}; each row is one memory xi_mu.
        zero_diagonal: set ``W_ii = 0`` (no self-coupling). Default True, as in Hopfield (1982).
    """

    def __init__(self, patterns, zero_diagonal: bool = True):
        self.patterns = as_bipolar(patterns, "patterns", 2)  # (P, D) int8
        xi = self.patterns.astype(np.float64)
        w = xi.T @ xi  # (D, D), W = Xi^T Xi
        if zero_diagonal:
            np.fill_diagonal(w, 0.0)
        self.zero_diagonal = bool(zero_diagonal)
        self.weights = w  # (D, D) float64, symmetric

    @property
    def dim(self) -> int:
        return self.patterns.shape[1]

    @property
    def num_patterns(self) -> int:
        return self.patterns.shape[0]

    def _state(self, s) -> np.ndarray:
        return as_bipolar(s, "state", (1, 2), dim=self.dim)

    def energy(self, s) -> np.ndarray | float:
        """E(s) = -1/2 s^T W s (slides 002, Hopfield energy). s (D,) -> float, or (B, D) -> (B,)."""
        arr = self._state(s).astype(np.float64)
        e = -0.5 * np.einsum("...i,ij,...j->...", arr, self.weights, arr)
        return float(e) if arr.ndim == 1 else e

    def local_field(self, s) -> np.ndarray:
        """h = W s, (D,) or (B, D)."""
        return self._state(s).astype(np.float64) @ self.weights  # W symmetric

    def is_fixed_point(self, s) -> np.ndarray | bool:
        """True where no single asynchronous update would change s (sgn(W s) == s, ties count as stable)."""
        arr = self._state(s)
        h = arr.astype(np.float64) @ self.weights
        stable = np.all((h * arr) >= 0, axis=-1)
        return bool(stable) if arr.ndim == 1 else stable

    def run_async(self, s, sweeps: int = 5, seed: int = 0, record_every: int = 1,
                  stop_when_stable: bool = True) -> HopfieldTrace:
        """Asynchronous dynamics: ``sweeps`` passes over the neurons, each pass in a fresh random order,
        ``s_i <- sgn(sum_j W_ij s_j)`` (a zero field keeps s_i). The state and energy are recorded after every
        ``record_every`` single-neuron updates (1 = every update, for a neuron-by-neuron animation) and always
        after the last one. Stops early after a sweep that changed nothing when ``stop_when_stable``.

        s: (D,) bipolar start state. Returns a :class:`HopfieldTrace`.
        """
        if sweeps < 1 or record_every < 1:
            raise ValueError("sweeps and record_every must be at least 1.")
        state = self._state(s).copy()
        if state.ndim != 1:
            raise ValueError("run_async takes a single state of shape (D,).")
        rng = np.random.default_rng(seed)
        w = self.weights
        h = w @ state.astype(np.float64)  # (D,) local fields, kept up to date incrementally
        energy = -0.5 * float(state @ h)
        rec = AsyncRecorder(state, energy)
        n_updates, converged = 0, False
        for _ in range(sweeps):
            changed = False
            for i in rng.permutation(self.dim):
                old = int(state[i])
                new = old if h[i] == 0 else (1 if h[i] > 0 else -1)
                n_updates += 1
                if new != old:
                    delta = new - old  # +-2
                    energy = energy - delta * h[i] - 0.5 * delta * delta * w[i, i]  # exact E(s + delta e_i)
                    h += delta * w[:, i]
                    state[i] = new
                    changed = True
                if n_updates % record_every == 0:
                    rec.record(state, energy, int(i), new != old, n_updates)
            if not changed:
                converged = True
                if stop_when_stable:
                    break
        return rec.trace(state, energy, n_updates, converged)

    def run_sync(self, s, steps: int = 20) -> HopfieldTrace:
        """Synchronous dynamics: ``s <- sgn(W s)`` for all neurons at once (a zero field keeps s_i), at most
        ``steps`` times; stops at a fixed point or a 2-cycle. s: (D,). Returns a :class:`HopfieldTrace`."""
        if steps < 1:
            raise ValueError("steps must be at least 1.")
        state = self._state(s).copy()
        if state.ndim != 1:
            raise ValueError("run_sync takes a single state of shape (D,).")
        def update(s):
            h = self.weights @ s.astype(np.float64)
            return np.where(h > 0, 1, np.where(h < 0, -1, s)).astype(np.int8)

        return sync_trace(state, update, self.energy, steps)
