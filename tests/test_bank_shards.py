"""Out-of-core banks: shards written incrementally and resumed; streamed retrieval equals in-memory retrieval."""

import pytest
import torch

from hen_demo.data.augment import augmented_pixels, occlude_bottom
from hen_demo.data.bank_shards import DiskBank, build_disk_bank
from hen_demo.memory import HopfieldMemory
from hen_demo.memory.sharded import ShardedMemory

N, K = 50, 12


def _codes(a, b):
    g = torch.Generator().manual_seed(a)  # deterministic in (a, b): a resumed build writes the same memories
    return torch.rand(b - a, K, generator=g)


class Stop(Exception):
    pass


def test_an_interrupted_build_resumes_after_its_last_complete_shard(tmp_path):
    calls = []

    def failing(a, b):
        calls.append(a)
        if len(calls) == 3:
            raise Stop
        return _codes(a, b)

    with pytest.raises(Stop):
        build_disk_bank(tmp_path / "bank", N, failing, dtype="float32", shard_rows=8, description="rand")
    with pytest.raises(ValueError, match="no complete bank"):
        DiskBank(tmp_path / "bank")
    calls.clear()
    seen = []
    bank = build_disk_bank(tmp_path / "bank", N, lambda a, b: seen.append(a) or _codes(a, b), dtype="float32",
                           shard_rows=8, description="rand")
    assert seen == [16, 24, 32, 40, 48]  # the two complete shards were kept
    whole = torch.cat([_codes(a, min(N, a + 8)) for a in range(0, N, 8)])
    assert torch.equal(bank.read(), whole)
    assert torch.equal(DiskBank(tmp_path / "bank", 5, 29).read(), whole[5:29])  # a slice across shards
    parts = [bank.split(r, 3) for r in range(3)]
    assert torch.equal(torch.cat([p.read() for p in parts]), whole)
    # already complete: nothing is recomputed
    again = build_disk_bank(tmp_path / "bank", 20, lambda a, b: pytest.fail("rebuilt"), dtype="float32",
                            shard_rows=8, description="rand")
    assert again.n_memories == 20


@pytest.mark.parametrize("sim, beta", [("dot", 6.0), ("l2", 3.0)])
def test_out_of_core_equals_in_memory(tmp_path, sim, beta):
    disk = build_disk_bank(tmp_path / "bank", N, _codes, dtype="float16", shard_rows=16, description="rand16")
    assert len(disk.files) == 4 and disk.nbytes == N * K * 2
    bank = disk.read()  # the float16-rounded memories, as float32
    queries = bank[:8] + 0.05 * torch.randn(8, K, generator=torch.Generator().manual_seed(1))
    got = ShardedMemory(disk, similarity=sim, beta=beta, dtype=torch.float64, chunk_rows=6).retrieve(
        queries, steps=30, tol=1e-8, topk=3)
    ref = HopfieldMemory(bank, sim, beta=beta, dtype=torch.float64, fast=False).retrieve(
        queries, steps=30, tol=1e-8, topk=3)
    assert torch.equal(got.n_steps, ref.n_steps)
    torch.testing.assert_close(got.states, ref.states, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(got.energies, ref.energies, rtol=1e-5, atol=1e-5)
    assert torch.equal(got.topk_indices, ref.topk_indices)
    torch.testing.assert_close(got.n_eff, ref.n_eff, rtol=1e-5, atol=1e-5)


def test_augmented_memories_are_deterministic_and_start_with_the_bases():
    bases = torch.rand(5, 3, 32, 32, generator=torch.Generator().manual_seed(0))
    a = augmented_pixels(bases, 0, 12)
    assert a.shape == (12, 192) and float(a.min()) >= 0 and float(a.max()) <= 1
    assert torch.equal(a, augmented_pixels(bases, 0, 12))
    wide = augmented_pixels(bases, 0, 2100)  # rows do not depend on the range they are built in
    assert torch.equal(wide[1030:2050], augmented_pixels(bases, 1030, 2050)) and torch.equal(wide[:12], a)
    plain = torch.nn.functional.avg_pool2d(bases, 4).reshape(5, -1)  # identity crop = 2x2 means of 16 x 16 samples
    torch.testing.assert_close(a[:5], plain, rtol=1e-5, atol=1e-5)
    assert (a[5:10] - a[:5]).abs().amax() > 0.01  # copies differ from their bases
    q = occlude_bottom(a[:2])
    assert torch.equal(q.reshape(2, 3, 8, 8)[:, :, 4:], torch.zeros(2, 3, 4, 8))


def test_scale_out_at_scale_cli_reads_sizes_and_refuses_sharded_outside_torchrun(monkeypatch):
    from hen_demo.experiments import cli, scale_out

    assert cli._counts("1e4,1e5,1e6") == [10_000, 100_000, 1_000_000] and cli._counts("500") == 500
    monkeypatch.delenv("WORLD_SIZE", raising=False)
    with pytest.raises(ValueError, match="runs under torchrun"):
        scale_out.run(scale_out.Config(n=[1000], sharded=True))
    with pytest.raises(ValueError, match="give the bank sizes with --n"):
        scale_out.run(scale_out.Config(sharded=True))
