"""Bad input raises ValueError with a sentence; numerics stay finite at the extremes."""

import numpy as np
import pytest
import torch

from hen_demo.memory import HopfieldMemory, LinearKernel, pick_device

XI = torch.randn(12, 6, generator=torch.Generator().manual_seed(0))
ALL_SIMS = ["dot", "l2", "manhattan", "cosine", "kernel"]
ALL_SEPS = ["softmax", "sparsemax", "entmax:1.5", "entmax:1.2", "poly:10"]


def _mem(sim, sep, beta, xi=XI):
    if sim == "kernel":
        sim = LinearKernel(torch.eye(xi.shape[1]) * 1.5)
    return HopfieldMemory(xi, sim, sep, beta=beta)


@pytest.mark.parametrize(
    "kwargs, words",
    [
        (dict(patterns=torch.zeros(5)), "2-D"),
        (dict(patterns=torch.zeros(0, 4)), "2-D"),
        (dict(patterns=torch.tensor([[1.0, float("nan")]])), "NaN"),
        (dict(patterns=torch.tensor([[1.0, float("inf")]])), "NaN or infinite"),
        (dict(patterns=XI, similarity="euclid"), "Unknown similarity"),
        (dict(patterns=XI, separation="softermax"), "Unknown separation"),
        (dict(patterns=XI, separation="entmax:1"), "alpha must be in (1, 2]"),
        (dict(patterns=XI, separation="entmax:2.5"), "alpha must be in (1, 2]"),
        (dict(patterns=XI, separation="entmax:abc"), "alpha"),
        (dict(patterns=XI, separation="poly:1"), "order"),
        (dict(patterns=XI, separation="poly:x"), "order"),
        (dict(patterns=XI, similarity="l2", separation="poly:3"), "positive"),
        (dict(patterns=XI, beta=0.0), "beta"),
        (dict(patterns=XI, beta=-1.0), "beta"),
        (dict(patterns=XI, beta=float("inf")), "beta"),
        (dict(patterns=XI, beta="hot"), "beta"),
        (dict(patterns=XI, similarity=LinearKernel(torch.eye(5))), "columns"),
        (dict(patterns=XI, dtype=torch.float16, device="cpu"), "GPU"),
        (dict(patterns=XI, dtype="int8"), "dtype"),
        (dict(patterns=XI, device="tpu"), "device"),
    ],
)
def test_constructor_rejects_bad_input(kwargs, words):
    with pytest.raises(ValueError, match=words.replace("(", r"\(").replace(")", r"\)").replace("]", r"\]")):
        HopfieldMemory(**kwargs)


@pytest.mark.parametrize(
    "call_kwargs, words",
    [
        (dict(queries=torch.zeros(2, 5)), "shape"),
        (dict(queries=torch.zeros(2, 3, 6)), "shape"),
        (dict(queries=torch.zeros(0, 6)), "empty"),
        (dict(queries=torch.full((1, 6), float("nan"))), "NaN"),
        (dict(queries=torch.zeros(1, 6), steps=0), "steps"),
        (dict(queries=torch.zeros(1, 6), steps=2.5), "steps"),
        (dict(queries=torch.zeros(1, 6), tol=-1.0), "tol"),
        (dict(queries=torch.zeros(1, 6), topk=-1), "topk"),
        (dict(queries=torch.zeros(1, 6), clamp=torch.ones(5, dtype=torch.bool)), "clamp"),
        (dict(queries=torch.zeros(1, 6), clamp=torch.ones(6)), "clamp"),
    ],
)
def test_retrieve_and_stream_reject_bad_input(call_kwargs, words):
    mem = HopfieldMemory(XI)
    with pytest.raises(ValueError, match=words):
        mem.retrieve(**call_kwargs)
    kw = dict(call_kwargs)
    query = kw.pop("queries")
    with pytest.raises(ValueError, match=words):
        next(iter(mem.stream(query, **kw)))


def test_bad_inputs_to_helpers():
    with pytest.raises(ValueError, match="W"):
        LinearKernel(torch.zeros(3))
    with pytest.raises(ValueError, match="NaN"):
        LinearKernel(torch.tensor([[float("nan")]]))
    with pytest.raises(ValueError):
        HopfieldMemory(XI).energy(torch.zeros(3, 2))
    with pytest.raises(ValueError):
        pick_device("quantum")


@pytest.mark.parametrize("sim", ALL_SIMS)
@pytest.mark.parametrize("sep", ALL_SEPS)
def test_finite_for_extreme_beta_zero_queries_and_duplicates(sim, sep):
    if sep.startswith("poly") and sim in ("l2", "manhattan"):
        # distances are never positive, so F_n has nothing to act on: refused up front with a sentence
        with pytest.raises(ValueError, match=r"(?i)poly"):
            _mem(sim, sep, 1.0, XI)
        return
    xi = torch.cat([XI, XI[:3]])  # duplicate memories
    queries = torch.cat([torch.zeros(1, 6), XI[:2] * 1e3, XI[3:5] + 0.1])  # zero query, huge query
    for beta in (1e-6, 1e-2, 1.0, 1e3, 1e6):
        mem = _mem(sim, sep, beta, xi)
        out = mem.retrieve(queries, steps=5)
        for name in ("states", "energies", "weights", "topk_weights"):
            assert torch.isfinite(getattr(out, name)).all(), f"{name} not finite at beta={beta}"
        torch.testing.assert_close(out.weights.sum(-1), torch.ones(len(queries)), rtol=1e-4, atol=1e-4)
        assert (out.weights >= 0).all()
        frames = list(mem.stream(queries[:1], steps=2))
        assert torch.isfinite(frames[-1].energy).all() and torch.isfinite(frames[-1].state).all()


def test_pixel_scale_patterns_finite():
    g = torch.Generator().manual_seed(0)
    xi = torch.randint(0, 256, (20, 300), generator=g).float()
    for sim in ("dot", "l2"):
        out = HopfieldMemory(xi, sim, "softmax", beta=1e6).retrieve(xi[:3] * 0.5, steps=3)
        assert torch.isfinite(out.states).all() and torch.isfinite(out.energies).all()


def test_deterministic_on_cpu():
    g = torch.Generator().manual_seed(0)
    xi = torch.randn(200, 40, generator=g)
    q = torch.randn(16, 40, generator=g)
    for sim, sep in (("dot", "softmax"), ("l2", "softmax"), ("dot", "entmax:1.3"), ("manhattan", "sparsemax")):
        a = HopfieldMemory(xi, sim, sep, beta=0.2).retrieve(q, steps=10)
        b = HopfieldMemory(xi, sim, sep, beta=0.2).retrieve(q, steps=10)
        assert torch.equal(a.states, b.states) and torch.equal(a.energies, b.energies)


def test_integer_and_numpy_inputs_become_float32():
    mem = HopfieldMemory(np.eye(4, dtype=np.int64), beta=10.0)
    assert mem.patterns.dtype == torch.float32
    out = mem.retrieve(np.array([1, 0, 0, 0]))
    assert out.states.dtype == torch.float32 and out.topk_indices[0, 0] == 0


def test_pick_device_cpu():
    assert pick_device("cpu") == torch.device("cpu")
    expected = "cuda" if torch.cuda.is_available() else "cpu"
    assert pick_device().type == expected


@pytest.mark.parametrize("method", ["matmul", "sdpa"])
def test_half_precision_paths_stay_finite(monkeypatch, method):
    """bfloat16 is refused on CPU for users, but its code path (used on GPUs) is exercised here on CPU:
    scores, weights and energies are computed in float32 so beta * z and ||s||^2 cannot overflow."""
    import hen_demo.memory.hopfield as hop
    monkeypatch.setattr(hop, "resolve_device_dtype", lambda device, dtype: (torch.device("cpu"), torch.bfloat16))
    xi = torch.randint(0, 256, (30, 64), generator=torch.Generator().manual_seed(0)).float()  # pixel scale
    q = xi[:3].clone()
    q[:, 32:] = 0
    for sim in ("dot", "l2", "kernel"):
        for sep in ("softmax", "sparsemax"):
            for beta in (1e-6, 1.0, 1e6):
                sim_arg = LinearKernel(torch.eye(64)) if sim == "kernel" else sim
                mem = HopfieldMemory(xi, sim_arg, sep, beta=beta, fast_method=method)
                assert mem.dtype == torch.bfloat16
                out = mem.retrieve(q, steps=3)
                assert out.energies.dtype == torch.float32
                for name in ("states", "energies", "weights"):
                    assert torch.isfinite(getattr(out, name)).all(), (sim, sep, beta, name)


def test_unknown_fast_method_is_refused_even_without_a_fast_path():
    with pytest.raises(ValueError, match="fast-path method"):
        HopfieldMemory(XI, separation="sparsemax", fast_method="bogus")
