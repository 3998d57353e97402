"""Classical associative memories for teaching (slides 002), in one import.

The concepts live in their own files:

* :mod:`hen_demo.memory.classical_hopfield` -- Hebbian Hopfield network ``W = Xi^T Xi``, energy, asynchronous and
  synchronous updates (:class:`HebbianHopfield`, :class:`HopfieldTrace`, :func:`flip_bits`).
* :mod:`hen_demo.memory.correlation` -- correlation-matrix memories ``f(x) = g(C^T A x)``, Kohonen (g = identity)
  vs Amari (g = sgn) (:class:`CorrelationMemory`).
* :mod:`hen_demo.memory.dense` -- dense associative memory ``E = -sum_mu F_n(xi_mu . s)``, ``F_n = x^n/n``
  (n = 4 with its cubic update is Minerva 2 as the slides write it), the modern Hopfield lse energy and its
  one-step update as attention (:class:`DenseAssociativeMemory`, :func:`lse_energy`,
  :func:`modern_hopfield_step`, :func:`attention_step`, :func:`dam_capacity_estimate`).
* :mod:`hen_demo.memory.capacity` -- empirical capacity and spurious states (:func:`recall_fraction`,
  :func:`capacity_curve`, :func:`measure_recall`, :func:`classify_state`).

Example::

    from hen_demo.memory.classical import HebbianHopfield, flip_bits, random_bipolar
    xi = random_bipolar(5, 100, seed=0)            # (P, D)
    net = HebbianHopfield(xi)
    trace = net.run_async(flip_bits(xi[0], 0.2, seed=1), sweeps=5, seed=0)
    assert (trace.final == xi[0]).all() and (trace.energies[1:] <= trace.energies[:-1] + 1e-9).all()
"""

from hen_demo.memory.capacity import (
    CLASSICAL_CAPACITY,
    CapacityCurve,
    CapacityPoint,
    StateVerdict,
    capacity_curve,
    classify_state,
    measure_recall,
    random_bipolar,
    recall_fraction,
)
from hen_demo.memory.classical_hopfield import HebbianHopfield, HopfieldTrace, as_bipolar, flip_bits
from hen_demo.memory.correlation import CorrelationMemory
from hen_demo.memory.dense import (
    DenseAssociativeMemory,
    attention_step,
    dam_capacity_estimate,
    lse_energy,
    modern_hopfield_step,
)

__all__ = [
    "CLASSICAL_CAPACITY", "CapacityCurve", "CapacityPoint", "CorrelationMemory", "DenseAssociativeMemory",
    "HebbianHopfield", "HopfieldTrace", "StateVerdict", "as_bipolar", "attention_step", "capacity_curve",
    "classify_state", "dam_capacity_estimate", "flip_bits", "lse_energy", "measure_recall",
    "modern_hopfield_step", "random_bipolar", "recall_fraction",
]
