"""The energy landscape of a modern Hopfield network in the plane: energy map, basins of attraction, paths.

Memories xi_1..xi_N are points in R^2. Everything here is read off the engine itself (``HopfieldMemory``), never
a copy of its formulas, so a picture drawn from these arrays shows exactly what the engine computes:

* the **energy map** is ``HopfieldMemory.energy`` on a grid (HEN eq. 1, see ``energy.py``):
  dot:  E(x) = 1/2 ||x||^2 - (1/beta) log sum_n exp(beta xi_n . x);
  l2:   E(x) = -(1/beta) log sum_n exp(-beta ||xi_n - x||^2)   (the -||x||^2 inside the score plays the
  role of the quadratic term, so none is added);
* the **basin map** runs ``HopfieldMemory.retrieve`` (HEN eq. 2, x <- Xi^T softmax(beta sim(Xi, x))) from
  every grid point at once and labels the point by where the dynamics end: memory n when its final weight is
  at least ``RETRIEVED_WEIGHT`` (0.9, the app's verdict threshold, ``metrics.verdict_from``), else
  :data:`MIXTURE` -- a metastable state shared by several memories (HEN sec. 1 "spurious meta-stable states";
  a tie between memories (``memory.ties``, the engine's ``tied`` flag) is a mixture too);
* a **trajectory** is ``HopfieldMemory.stream`` from one start, every step.

Small beta merges basins. Two memories at +-a (on a line through the origin for dot) attract to their midpoint
when the midpoint is a stable fixed point: the update along the line is x' = a tanh(c beta a x), with slope
c beta a^2 at x = 0 (c = 1 for dot, 2 for l2, whose score is 2 xi.x - ||xi||^2 - ||x||^2), so the mixture
x = 0 is stable below beta_c = 1 / (c a^2) (:func:`symmetric_pair_critical_beta`) and the two basins split
above it. This is the continuous counterpart of the classical Hopfield network's spurious mixture states
sgn(xi_1 + xi_2 + xi_3) (Amit, Gutfreund & Sompolinsky 1985), which the Classroom's step 4 counts.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from .hopfield import HopfieldMemory

MIXTURE = -1  # basin label of a grid point whose dynamics end in a mixture (no memory holds >= 0.9)
RETRIEVED_WEIGHT = 0.9  # a state "is" memory n when n's final weight reaches this (metrics.verdict_from)
LANDSCAPE_SIMILARITIES = ("dot", "l2")


@dataclass(frozen=True)
class LandscapeConfig:
    """How a landscape is computed.

    Args:
        similarity: "dot" or "l2" (HEN eq. 1 with f_sim = xi.x or -||xi - x||^2).
        beta: inverse temperature (> 0).
        extent: (x_min, x_max, y_min, y_max) of the square shown.
        resolution: grid points per side (the grid has resolution^2 points).
        steps: most updates run from each grid point.
        tol: a state stops when its update moves less than tol * max(1, ||x||) (``HopfieldMemory.retrieve``).
    """

    similarity: str = "l2"
    beta: float = 8.0
    extent: tuple[float, float, float, float] = (-3.0, 3.0, -3.0, 3.0)
    resolution: int = 200
    steps: int = 100  # near a merger (beta close to beta_c) the dynamics slow down; the rest settle in < 30
    tol: float = 1e-5  # far below the grid spacing (6 / 199 = 0.03)

    def validate(self) -> None:
        if self.similarity not in LANDSCAPE_SIMILARITIES:
            raise ValueError(f"The landscape draws the dot or l2 similarity; got {self.similarity!r}.")
        x0, x1, y0, y1 = (float(v) for v in self.extent)
        if not (x1 > x0 and y1 > y0):
            raise ValueError(f"The extent must have x_max > x_min and y_max > y_min; got {self.extent}.")
        if isinstance(self.resolution, bool) or int(self.resolution) != self.resolution or not 2 <= self.resolution <= 1000:
            raise ValueError(f"The grid resolution must be a whole number from 2 to 1000; got {self.resolution!r}.")


@dataclass
class Grid:
    """A regular grid over the extent. ``points`` (H*W, 2) are row-major with y along rows: point
    ``i * W + j`` is (xs[j], ys[i]), so a (H*W,) value reshaped to (H, W) is ``z[i][j]`` as plotly draws it."""

    xs: torch.Tensor  # (W,) float64
    ys: torch.Tensor  # (H,) float64
    points: torch.Tensor  # (H*W, 2) float64

    @property
    def shape(self) -> tuple[int, int]:
        return int(self.ys.shape[0]), int(self.xs.shape[0])


@dataclass
class Landscape:
    """Energy and basins on one grid (all CPU tensors, (H, W) arranged as :class:`Grid` says)."""

    grid: Grid
    memories: torch.Tensor  # (N, 2) float64
    energy: torch.Tensor  # (H, W) E at each grid point (HopfieldMemory.energy)
    labels: torch.Tensor  # (H, W) int64 memory index reached, or MIXTURE
    top_weight: torch.Tensor  # (H, W) the largest final weight
    n_eff: torch.Tensor  # (H, W) 1 / sum p^2 of the final weights
    final_states: torch.Tensor  # (H, W, 2) where the dynamics from each grid point stopped
    converged: torch.Tensor  # (H, W) bool
    config: LandscapeConfig

    @property
    def mixture_fraction(self) -> float:
        """Fraction of the grid whose dynamics end in a mixture."""
        return float((self.labels == MIXTURE).double().mean())

    def basin_sizes(self) -> dict[int, int]:
        """Grid points per label (memory index or MIXTURE), labels with no point left out."""
        values, counts = torch.unique(self.labels, return_counts=True)
        return {int(v): int(c) for v, c in zip(values, counts)}


@dataclass
class Trajectory:
    """The dynamics from one start, every step (``HopfieldMemory.stream``)."""

    states: torch.Tensor  # (T+1, 2) x_0 (the start) .. x_T
    energies: torch.Tensor  # (T+1,) E(x_t)
    label: int  # memory reached (top weight >= RETRIEVED_WEIGHT) or MIXTURE
    top_index: int  # argmax of the final weights
    top_weight: float  # its weight
    converged: bool


def as_memories(points) -> torch.Tensor:
    """Memories (N, 2) float64 from anything table-like; ValueError for an empty, ragged or non-finite table."""
    try:
        xi = torch.as_tensor(points, dtype=torch.float64)
    except (TypeError, ValueError, RuntimeError):
        raise ValueError("The memories must be a table of numbers with two columns, x and y.") from None
    if xi.numel() == 0:
        raise ValueError("Add at least one memory (a row x, y, or a click on the map).")
    if xi.ndim != 2 or xi.shape[1] != 2:
        raise ValueError(f"The memories must be a table with two columns, x and y; got shape {tuple(xi.shape)}.")
    if xi.shape[0] < 1:
        raise ValueError("Add at least one memory (a row x, y, or a click on the map).")
    if not torch.isfinite(xi).all():
        raise ValueError("Every memory needs a finite x and y (an empty cell is not a number).")
    return xi


def make_grid(extent, resolution: int) -> Grid:
    """The (resolution x resolution) grid over extent = (x_min, x_max, y_min, y_max), corners included."""
    x0, x1, y0, y1 = (float(v) for v in extent)
    xs = torch.linspace(x0, x1, int(resolution), dtype=torch.float64)
    ys = torch.linspace(y0, y1, int(resolution), dtype=torch.float64)
    yy, xx = torch.meshgrid(ys, xs, indexing="ij")  # (H, W) each: row i is y = ys[i]
    return Grid(xs, ys, torch.stack([xx.reshape(-1), yy.reshape(-1)], dim=1))


def landscape_memory(memories, config: LandscapeConfig) -> HopfieldMemory:
    """The engine the pictures are read from: softmax, float64 on the CPU (2-D states are tiny, and float64 keeps
    the symmetric configurations of the tests exact)."""
    config.validate()
    return HopfieldMemory(as_memories(memories), similarity=config.similarity, separation="softmax",
                          beta=config.beta, device="cpu", dtype=torch.float64)


def labels_from(top_index: torch.Tensor, top_weight: torch.Tensor, tied: torch.Tensor | None = None) -> torch.Tensor:
    """Basin label per state: the winner when it holds >= RETRIEVED_WEIGHT of the weight and no other memory ties
    with it (``memory.ties``), else MIXTURE. (B,)"""
    one = top_weight >= RETRIEVED_WEIGHT
    if tied is not None:
        one = one & ~tied
    return torch.where(one, top_index, torch.full_like(top_index, MIXTURE))


def energy_at(memory: HopfieldMemory, points: torch.Tensor) -> torch.Tensor:
    """HopfieldMemory.energy at points (B, 2) -> (B,) (HEN eq. 1)."""
    return memory.energy(points).to(torch.float64).cpu()


def retrieve_labels(memory: HopfieldMemory, points: torch.Tensor, steps: int, tol: float):
    """Run the engine's dynamics from every point (B, 2) at once: (labels (B,), RetrievalResult)."""
    result = memory.retrieve(points, steps=steps, tol=tol, topk=0, keep_weights=False)
    return labels_from(result.top_index, result.top_weight, result.tied), result


def compute_landscape(memories, config: LandscapeConfig | None = None) -> Landscape:
    """Energy map and basin map of ``memories`` (N, 2) on the config's grid (module docstring).

    One batched ``HopfieldMemory.retrieve`` over all resolution^2 grid points gives the basins; one
    ``HopfieldMemory.energy`` call gives the energy map.
    """
    config = config or LandscapeConfig()
    memory = landscape_memory(memories, config)
    grid = make_grid(config.extent, config.resolution)
    h, w = grid.shape
    labels, r = retrieve_labels(memory, grid.points, config.steps, config.tol)
    return Landscape(
        grid=grid, memories=memory.patterns.to(torch.float64).cpu(),
        energy=energy_at(memory, grid.points).reshape(h, w),
        labels=labels.reshape(h, w), top_weight=r.top_weight.to(torch.float64).reshape(h, w),
        n_eff=r.n_eff.to(torch.float64).reshape(h, w), final_states=r.states.to(torch.float64).reshape(h, w, 2),
        converged=r.converged.reshape(h, w), config=config)


def trajectory(memories, start, config: LandscapeConfig | None = None) -> Trajectory:
    """The dynamics from ``start`` (2,) step by step: every state and its energy (``HopfieldMemory.stream``)."""
    config = config or LandscapeConfig()
    memory = landscape_memory(memories, config)
    x0 = torch.as_tensor(start, dtype=torch.float64).reshape(1, -1)
    if x0.shape[1] != 2 or not torch.isfinite(x0).all():
        raise ValueError("The start must be a point (x, y) of finite numbers.")
    states, energies, step = [], [], None
    for step in memory.stream(x0, steps=config.steps, tol=config.tol, topk=0, every=1):
        states.append(step.state[0].to(torch.float64))
        energies.append(float(step.energy[0]))
    top_i, top_w = step.top_index[:1], step.top_weight[:1]
    tied = None if step.tied is None else step.tied[:1]
    return Trajectory(states=torch.stack(states), energies=torch.tensor(energies, dtype=torch.float64),
                      label=int(labels_from(top_i, top_w, tied)[0]), top_index=int(top_i[0]), top_weight=float(top_w[0]),
                      converged=bool(step.converged[0]))


def symmetric_pair_critical_beta(half_distance: float, similarity: str) -> float:
    """beta_c = 1 / (c a^2) below which two memories at +-a share one mixture basin (module docstring): c = 1 for
    dot (the pair symmetric about the origin), c = 2 for l2."""
    if similarity not in LANDSCAPE_SIMILARITIES:
        raise ValueError(f"symmetric_pair_critical_beta knows dot and l2; got {similarity!r}.")
    a = float(half_distance)
    if not a > 0:
        raise ValueError(f"The half distance a must be > 0; got {half_distance!r}.")
    return 1.0 / ((1.0 if similarity == "dot" else 2.0) * a * a)


@dataclass
class Attractor:
    """A place where the dynamics from some grid points stopped: a memory's fixed point or a mixture."""

    point: torch.Tensor  # (2,) float64
    label: int  # memory index or MIXTURE
    count: int  # grid points that end here


def attractors(landscape: Landscape, decimals: int = 3) -> list[Attractor]:
    """The distinct final states of the grid (rounded to ``decimals``), most visited first."""
    finals = landscape.final_states.reshape(-1, 2)
    labels = landscape.labels.reshape(-1)
    keys = torch.round(finals * 10 ** decimals)  # (H*W, 2) final states on a fine lattice
    uniq, inverse, counts = torch.unique(keys, dim=0, return_inverse=True, return_counts=True)
    first = torch.full((uniq.shape[0],), labels.numel(), dtype=torch.long)
    first.scatter_reduce_(0, inverse, torch.arange(labels.numel()), reduce="amin")  # one member of each
    out = [Attractor(finals[i].clone(), int(labels[i]), int(c)) for i, c in zip(first.tolist(), counts.tolist())]
    return sorted(out, key=lambda a: -a.count)


def closest_pair(memories) -> tuple[int, int, float]:
    """(i, j, ||xi_i - xi_j||) of the two closest memories (i < j); ValueError for fewer than two."""
    xi = as_memories(memories)
    if xi.shape[0] < 2:
        raise ValueError("closest_pair needs at least two memories.")
    d = torch.cdist(xi, xi)  # (N, N)
    d.fill_diagonal_(float("inf"))
    k = int(torch.argmin(d))
    i, j = sorted(divmod(k, xi.shape[0]))
    return i, j, float(d[i, j])
