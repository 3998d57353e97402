"""ShardedMemory (torch.distributed, gloo on CPU) equals HopfieldMemory on the whole bank: states, energies, steps
(early stopping), top-k and the verdict's statistics, for dot and L2, with 2 and 3 ranks spawned here."""

import socket

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp

from hen_demo.memory import HopfieldMemory
from hen_demo.memory.sharded import ShardedMemory, rank_slice

N, K, B = 61, 6, 9  # 61 memories: uneven shares over 2 and 3 ranks
CASES = {"dot": 1.5, "l2": 0.4}  # similarity -> beta (several steps to converge, queries stop at different steps)
STEPS, TOL = 60, 1e-9


def _problem():
    g = torch.Generator().manual_seed(3)
    bank = torch.randn(N, K, generator=g, dtype=torch.float64)
    queries = bank[:B] + 0.6 * torch.randn(B, K, generator=g, dtype=torch.float64)
    return bank, queries


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _worker(rank: int, world: int, port: int, out: str) -> None:
    torch.set_num_threads(1)
    dist.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{port}", rank=rank, world_size=world)
    try:
        bank, queries = _problem()
        a, b = rank_slice(N, rank, world)
        results = {}
        for sim, beta in CASES.items():
            mem = ShardedMemory(bank[a:b], offset=a, similarity=sim, beta=beta, dtype=torch.float64,
                                chunk_rows=7)  # several chunks per rank: the online merge inside a rank too
            results[sim] = (mem.retrieve(queries, steps=STEPS, tol=TOL, topk=4), mem.nearest, mem.n_memories)
        twin = bank.clone()
        twin[N - 5] = twin[2]  # an exact duplicate on another rank: a tie (memory.ties), the lowest index wins
        mem = ShardedMemory(twin[a:b], offset=a, similarity="l2", beta=2.0, dtype=torch.float64, chunk_rows=7)
        results["tie"] = (mem.retrieve(twin[2:4] + 0.01, steps=STEPS, tol=TOL, topk=2), mem.nearest, mem.n_memories)
        if rank == 0:
            torch.save(results, out)
    finally:
        dist.destroy_process_group()


def _reference(sim: str, beta: float):
    bank, queries = _problem()
    mem = HopfieldMemory(bank, sim, beta=beta, dtype=torch.float64, fast=False)
    ref = mem.retrieve(queries, steps=STEPS, tol=TOL, topk=4)
    nearest = mem.similarity_scores(queries).argmax(-1)
    return ref, nearest


@pytest.mark.parametrize("world", [2, 3])
def test_sharded_equals_one_process(tmp_path, world):
    out = str(tmp_path / "rank0.pt")
    mp.spawn(_worker, args=(world, _free_port(), out), nprocs=world, join=True)
    results = torch.load(out, weights_only=False)
    for sim, beta in CASES.items():
        got, nearest, n = results[sim]
        ref, ref_nearest = _reference(sim, beta)
        assert n == N
        assert torch.equal(got.n_steps, ref.n_steps), sim
        assert 1 < int(ref.n_steps.min()) and int(ref.n_steps.max()) < STEPS  # early stopping, at different steps
        assert len(set(ref.n_steps.tolist())) > 1
        assert got.steps == ref.steps and torch.equal(got.converged, ref.converged)
        torch.testing.assert_close(got.states, ref.states, rtol=1e-5, atol=1e-5)
        torch.testing.assert_close(got.energies, ref.energies, rtol=1e-5, atol=1e-5)
        assert torch.equal(got.topk_indices, ref.topk_indices)
        torch.testing.assert_close(got.topk_weights, ref.topk_weights, rtol=1e-5, atol=1e-6)
        assert torch.equal(got.top_index, ref.top_index) and torch.equal(got.n_above, ref.n_above)
        assert torch.equal(got.tied, ref.tied)
        torch.testing.assert_close(got.top_weight, ref.top_weight, rtol=1e-5, atol=1e-6)
        torch.testing.assert_close(got.n_eff, ref.n_eff, rtol=1e-5, atol=1e-5)
        assert torch.equal(nearest, ref_nearest)
    got = results["tie"][0]
    twin, _ = _problem()
    twin[N - 5] = twin[2]
    ref = HopfieldMemory(twin, "l2", beta=2.0, dtype=torch.float64, fast=False).retrieve(
        twin[2:4] + 0.01, steps=STEPS, tol=TOL, topk=2)
    assert ref.tied.tolist() == [True, False] and int(ref.top_index[0]) == 2
    assert torch.equal(got.tied, ref.tied) and torch.equal(got.top_index, ref.top_index)
    torch.testing.assert_close(got.states, ref.states, rtol=1e-5, atol=1e-5)


def test_one_process_chunks_equal_the_whole_bank():
    """Without a process group the shard is the whole bank, streamed in chunks (the out-of-core engine)."""
    bank, queries = _problem()
    for sim, beta in CASES.items():
        got = ShardedMemory(bank, similarity=sim, beta=beta, dtype=torch.float64, chunk_rows=5).retrieve(
            queries, steps=STEPS, tol=TOL, topk=3)
        ref, _ = _reference(sim, beta)
        assert torch.equal(got.n_steps, ref.n_steps)
        torch.testing.assert_close(got.states, ref.states, rtol=1e-5, atol=1e-5)
        torch.testing.assert_close(got.energies, ref.energies, rtol=1e-5, atol=1e-5)
        assert torch.equal(got.topk_indices, ref.topk_indices[:, :3])


@pytest.mark.parametrize("kwargs, words", [
    ({"separation": "sparsemax"}, "threshold over all N"),
    ({"separation": "entmax:1.5"}, "threshold over all N"),
    ({"similarity": "cosine"}, "supports the similarities"),
    ({"beta": -1.0}, "beta"),
    ({"offset": -3}, "offset"),
])
def test_bad_options_are_refused_with_a_sentence(kwargs, words):
    with pytest.raises(ValueError, match=words):
        ShardedMemory(torch.eye(3), **kwargs)
