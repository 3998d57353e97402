"""Dense associative memory with polynomial Lagrangian F_n, and its modern (log-sum-exp) limit
(slides 002, "Generalized Energy Function", "Minerva2", "Modern Hopfield Networks").

* Energy (Krotov & Hopfield 2016): ``E_Fn(s) = -sum_mu F_n(xi_mu . s)`` with ``F_n(x) = x^n / n``.
  n = 2 is the classical Hopfield energy ``-1/2 sum_mu (xi_mu . s)^2``.
* Update rule on the slides (Demircigil et al. 2017; Krotov 2021):
  ``s_i <- sgn( sum_mu xi_mu,i F_n'( sum_{j != i} xi_mu,j s_j ) )``, i.e. ``s <- sgn(Xi^T F_n'(Xi s))`` when the
  self-term is kept. ``F_n'(x) = x^(n-1)``: n = 2 gives ``sgn(Xi^T Xi s)``.
* Minerva 2 (Hintzman 1984), as the slides map it: ``E_Minerva2 = E_F4 = -1/4 sum_mu (xi_mu . s)^4`` with the
  **cubic** update ``s <- sgn(Xi^T (Xi s)^3)`` -- the cube is F_4' (Minerva 2's "echo" cubes each trace's
  similarity). So "Minerva 2" here is ``n = 4``; ``n = 3`` (F_3 = x^3/3, a quadratic update) is simply the next
  polynomial model.
* Capacity (Krotov & Hopfield 2016; Demircigil et al. 2017): N_max grows like D^(n-1); for error-free recall of
  random patterns about ``D^(n-1) / (2 (2n-3)!! ln D)``.
* Modern Hopfield (Ramsauer et al. 2021): Lagrangian ``lse(beta, x) = 1/beta log sum exp(beta x)`` and the one-step
  update ``s <- Xi^T softmax(beta Xi s)``, which is exactly attention with query s, keys = values = Xi, scale beta.

Asynchronous updates here use the slides' energy-descent rule ``s_i = argmin_b E(s with s_i = b)``, computed from
the exact energy difference (Krotov & Hopfield 2016, eq. 3), so the energy never rises for any n.
"""

from __future__ import annotations

import math

import numpy as np
import torch

from hen_demo.memory.classical_hopfield import AsyncRecorder, HopfieldTrace, as_bipolar, sync_trace
from hen_demo.memory.hopfield import HopfieldMemory

MAX_ORDER = 30  # beyond this x^n overflows float64 for D in the thousands


def _check_order(n) -> int:
    if isinstance(n, bool) or not float(n).is_integer():
        raise ValueError(f"The order n of F_n(x) = x^n/n must be a whole number, got {n!r}.")
    n = int(n)
    if n < 2:
        raise ValueError(f"The order n of F_n(x) = x^n/n must be at least 2 (n = 2 is the classical Hopfield "
                         f"network), got {n}.")
    if n > MAX_ORDER:
        raise ValueError(f"Orders above n = {MAX_ORDER} overflow; got {n}.")
    return n


def dam_capacity_estimate(D: int, n: int) -> float:
    """Error-free capacity of a dense associative memory with F_n for random bipolar patterns,
    ``D^(n-1) / (2 (2n-3)!! ln D)`` (Krotov & Hopfield 2016). n = 2 gives D / (2 ln D)."""
    n = _check_order(n)
    if D < 2:
        raise ValueError("D must be at least 2.")
    double_fact = math.prod(range(2 * n - 3, 0, -2))
    return float(D) ** (n - 1) / (2.0 * double_fact * math.log(D))


class DenseAssociativeMemory:
    """Dense associative memory ``E = -sum_mu F_n(xi_mu . s)``, ``F_n(x) = x^n / n`` (slides 002).

    Args:
        patterns: (P, D) bipolar memories (entries -1/+1).
        n: order of the polynomial Lagrangian, integer >= 2 (2 = classical Hopfield, 4 = Minerva 2 per the slides).
    """

    def __init__(self, patterns, n: int = 2):
        self.patterns = as_bipolar(patterns, "patterns", 2)  # (P, D) int8
        self.n = _check_order(n)
        self._xi = self.patterns.astype(np.float64)  # (P, D)

    @property
    def dim(self) -> int:
        return self.patterns.shape[1]

    def _state(self, s) -> np.ndarray:
        return as_bipolar(s, "state", (1, 2), dim=self.dim)

    def F(self, x: np.ndarray) -> np.ndarray:
        """Lagrangian F_n(x) = x^n / n."""
        return np.power(x, self.n) / self.n

    def F_prime(self, x: np.ndarray) -> np.ndarray:
        """F_n'(x) = x^(n-1)."""
        return np.power(x, self.n - 1)

    def energy(self, s):
        """E_Fn(s) = -sum_mu F_n(xi_mu . s). s (D,) -> float or (B, D) -> (B,)."""
        arr = self._state(s).astype(np.float64)
        e = -self.F(arr @ self._xi.T).sum(axis=-1)
        return float(e) if arr.ndim == 1 else e

    def _async_choice(self, overlaps: np.ndarray, state: np.ndarray, i: int) -> np.ndarray:
        """Energy-minimising value of neuron i for a batch. overlaps (B, P) = S Xi^T, state (B, D)."""
        xi_i = self._xi[:, i]  # (P,)
        rest = overlaps - state[:, i:i + 1] * xi_i  # (B, P): sum_{j != i} xi_mu,j s_j
        # E(s_i=+1) - E(s_i=-1) = -sum_mu [F(rest + xi_mu,i) - F(rest - xi_mu,i)]
        gain = (self.F(rest + xi_i) - self.F(rest - xi_i)).sum(axis=1)  # (B,) > 0 favours +1
        return np.where(gain > 0, 1, np.where(gain < 0, -1, state[:, i])).astype(np.int8)

    def fixed_points(self, S) -> np.ndarray:
        """(B,) bool: True where no single asynchronous update would change the state (B, D)."""
        S = np.atleast_2d(self._state(S))
        overlaps = S.astype(np.float64) @ self._xi.T  # (B, P)
        stable = np.ones(S.shape[0], dtype=bool)
        for i in range(self.dim):
            stable &= self._async_choice(overlaps, S, i) == S[:, i]
        return stable

    def run_async_batch(self, S, sweeps: int = 5, seed: int = 0) -> tuple[np.ndarray, bool]:
        """Asynchronous energy descent on a batch (B, D); every sweep visits the neurons in one shared random
        order. Returns (final states (B, D) int8, whether the last sweep changed nothing)."""
        S = np.atleast_2d(self._state(S)).copy()
        rng = np.random.default_rng(seed)
        overlaps = S.astype(np.float64) @ self._xi.T  # (B, P)
        changed = True
        for _ in range(sweeps):
            changed = False
            for i in rng.permutation(self.dim):
                new = self._async_choice(overlaps, S, i)
                diff = new.astype(np.float64) - S[:, i]  # (B,) in {-2, 0, 2}
                if np.any(diff):
                    overlaps += diff[:, None] * self._xi[:, i][None, :]
                    S[:, i] = new
                    changed = True
            if not changed:
                break
        return S, not changed

    def run_async(self, s, sweeps: int = 5, seed: int = 0, record_every: int = 1) -> HopfieldTrace:
        """Asynchronous dynamics of one state (D,), recorded every ``record_every`` single-neuron updates."""
        state = self._state(s)
        if state.ndim != 1:
            raise ValueError("run_async takes a single state of shape (D,).")
        if sweeps < 1 or record_every < 1:
            raise ValueError("sweeps and record_every must be at least 1.")
        S = state[None, :].copy()
        rng = np.random.default_rng(seed)
        overlaps = S.astype(np.float64) @ self._xi.T
        rec = AsyncRecorder(S[0], self.energy(S[0]))
        n_updates, converged = 0, False
        for _ in range(sweeps):
            changed = False
            for i in rng.permutation(self.dim):
                new = self._async_choice(overlaps, S, i)
                did = bool(new[0] != S[0, i])
                if did:
                    overlaps += (float(new[0]) - S[0, i]) * self._xi[:, i][None, :]
                    S[0, i] = new[0]
                    changed = True
                n_updates += 1
                if n_updates % record_every == 0:
                    rec.record(S[0], float(-self.F(overlaps[0]).sum()), int(i), did, n_updates)
            if not changed:
                converged = True
                break
        return rec.trace(S[0], float(-self.F(overlaps[0]).sum()), n_updates, converged)

    def update_sync(self, s, exclude_self: bool = True) -> np.ndarray:
        """One synchronous step as written on the slides: ``s_i <- sgn(sum_mu xi_mu,i F'(sum_{j != i} xi_mu,j s_j))``
        (``exclude_self=False``: ``sgn(Xi^T F'(Xi s))``). A zero argument keeps s_i. s (D,) or (B, D)."""
        arr = self._state(s)
        S = np.atleast_2d(arr).astype(np.float64)  # (B, D)
        overlaps = S @ self._xi.T  # (B, P)
        if exclude_self:
            # (B, P, D): overlap without neuron i's own contribution
            rest = overlaps[:, :, None] - self._xi[None, :, :] * S[:, None, :]
            field = np.einsum("pd,bpd->bd", self._xi, self.F_prime(rest))
        else:
            field = self.F_prime(overlaps) @ self._xi  # (B, D)
        out = np.where(field > 0, 1, np.where(field < 0, -1, S)).astype(np.int8)
        return out.reshape(arr.shape)

    def run_sync(self, s, steps: int = 20, exclude_self: bool = True) -> HopfieldTrace:
        """Repeated synchronous steps (:meth:`update_sync`) from s (D,) until a fixed point, a 2-cycle or ``steps``.
        The energy may rise under synchronous updates; the trace records it after every step."""
        state = self._state(s)
        if state.ndim != 1:
            raise ValueError("run_sync takes a single state of shape (D,).")
        if steps < 1:
            raise ValueError("steps must be at least 1.")
        return sync_trace(state, lambda x: self.update_sync(x, exclude_self=exclude_self), self.energy, steps)


def lse_energy(patterns, state, beta: float) -> float:
    """Modern Hopfield energy (Ramsauer et al. 2021; slides 002 "Modern Hopfield"):
    ``E(s) = -lse(beta, Xi s) + 1/2 s^T s``, ``lse(beta, x) = 1/beta log sum_mu exp(beta x_mu)``.
    patterns (P, D), state (D,) real-valued. The engine's energy (HopfieldMemory, dot + softmax), in float64."""
    mem = HopfieldMemory(np.asarray(patterns), beta=beta, device="cpu", dtype=torch.float64)
    return float(mem.energy(np.asarray(state))[0])


def modern_hopfield_step(patterns, state, beta: float) -> tuple[np.ndarray, np.ndarray]:
    """One modern Hopfield update ``s_new = Xi^T softmax(beta Xi s)`` (slides 002; Ramsauer et al. 2021).
    patterns (P, D), state (D,). Returns (s_new (D,), attention weights p (P,)), from the engine's
    HopfieldMemory (dot + softmax, float32)."""
    mem = HopfieldMemory(np.asarray(patterns), beta=beta, device="cpu")
    p = mem.weights(np.asarray(state))[0]  # (P,)
    return (p @ mem.patterns).numpy(), p.numpy()


def attention_step(patterns, state, beta: float) -> np.ndarray:
    """The same update through ``torch.nn.functional.scaled_dot_product_attention`` with query s, keys = values =
    Xi and scale beta (instead of 1/sqrt(D)): the "Hopfield = attention" identity. Returns s_new (D,)."""
    xi = torch.as_tensor(np.asarray(patterns), dtype=torch.float32)
    s = torch.as_tensor(np.asarray(state), dtype=torch.float32)
    q = s.view(1, 1, 1, -1)  # (batch, heads, queries, D)
    kv = xi.view(1, 1, xi.shape[0], xi.shape[1])  # (batch, heads, P, D)
    out = torch.nn.functional.scaled_dot_product_attention(q, kv, kv, scale=float(beta))
    return out.view(-1).numpy()
