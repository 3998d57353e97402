"""Banks by prefix (issue 23 §4, hen_demo.data.bank_prefix): a dataset × encoder is encoded once, the bank of N
memories is a view of its first N rows (today's ids, in today's order), and changing N costs no encoding, no
disk and no memory."""

import gc
from pathlib import Path

import numpy as np
import pytest
import torch

from hen_demo.cache import sizeof
from hen_demo.data import bank_prefix, build_bank, load_dataset
from hen_demo.data.bank_build import record_cost
from hen_demo.encoders import get_image_encoder


def rss_bytes() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise AssertionError("no VmRSS in /proc/self/status")


def counting_encoder(cache_dir):
    """The pixels encoder, counting the images it encodes (its cost recorded, so nothing is measured)."""
    enc = get_image_encoder("pixels")
    record_cost(enc, cache_dir, 1e-4)
    enc.encoded = 0
    encode = enc.encode

    def counted(x, *args, **kwargs):
        enc.encoded += int(x.shape[0])
        return encode(x, *args, **kwargs)

    enc.encode = counted
    return enc


def entries(cache_dir) -> set[str]:
    return {p.name.split(".")[0] for p in (Path(cache_dir) / "banks").iterdir()}


@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="RSS is read from /proc")
def test_changing_n_to_the_dataset_size_costs_one_bank(tmp_path):
    enc = counting_encoder(tmp_path)
    size = 1797  # digits
    ns = [int(round(v)) for v in np.linspace(10, size, 10)]
    banks = [build_bank("digits", enc, n=ns[0], cache_dir=tmp_path)]
    gc.collect()
    warm = rss_bytes()
    banks += [build_bank("digits", enc, n=n, cache_dir=tmp_path) for n in ns[1:]]  # a cache keeps them all
    gc.collect()
    assert enc.encoded == size  # every image encoded once (the first request encoded the whole, cheap dataset)
    assert rss_bytes() <= 1.3 * warm
    assert len(entries(tmp_path)) == 1  # the bank cache: one bank, of the whole dataset
    assert all(sizeof(b.codes) == sizeof(banks[-1].codes) for b in banks)  # one buffer behind every view
    assert sizeof(banks) <= 1.05 * sizeof(banks[-1])  # ten banks weigh one in the app's byte-bounded cache
    for n, bank in zip(ns, banks):
        assert bank.n == n == bank.codes.shape[0] == len(bank.ids) == bank.images.shape[0]
        assert bank.ids == load_dataset("digits", n=n).ids  # the same memories, in the same order, as before


def test_a_view_equals_a_bank_built_for_exactly_n(tmp_path):
    enc = counting_encoder(tmp_path)
    view = build_bank("faces", enc, n=37, seed=3, cache_dir=tmp_path)
    alone = build_bank("faces", "pixels", n=37, seed=3, use_cache=False)  # encodes exactly these 37 itself
    assert torch.equal(view.codes, alone.codes) and np.array_equal(view.recon, alone.recon)
    assert view.ids == alone.ids and view.captions == alone.captions and view.labels == alone.labels
    assert view.key == alone.key and view.base is not None and view.base.n == 200


def test_an_expensive_dataset_grows_by_what_is_missing(tmp_path, monkeypatch):
    monkeypatch.setattr(bank_prefix, "FULL_BANK_SECONDS", 0.0)  # as for a large encoder: never all at once
    enc = counting_encoder(tmp_path)
    small = build_bank("faces", enc, n=50, cache_dir=tmp_path)
    assert enc.encoded == 50
    large = build_bank("faces", enc, n=90, cache_dir=tmp_path)
    assert enc.encoded == 90  # only items 50 .. 89 were encoded
    assert torch.equal(large.codes[:50], small.codes) and large.ids[:50] == small.ids
    again = build_bank("faces", enc, n=30, cache_dir=tmp_path)
    assert enc.encoded == 90 and again.meta["from_cache"] and again.ids == large.ids[:30]
    assert len(entries(tmp_path)) == 1  # the longer prefix replaced the shorter one on disk
    del small, large, again
    gc.collect()  # nothing alive: the next one reads the disk entry (90 items) and encodes nothing
    fresh = build_bank("faces", enc, n=80, cache_dir=tmp_path)
    assert enc.encoded == 90 and fresh.meta["from_cache"] and fresh.base.n == 90


def test_extend_target():
    # whole dataset when cheap in time and bytes; else what was asked
    assert bank_prefix.extend_target(0, 10, 1849, 0.005, 25_000) == 1849  # 9 s
    assert bank_prefix.extend_target(0, 10, 1849, 0.012, 25_000) == 10  # 22 s
    assert bank_prefix.extend_target(0, 1000, 1849, 0.012, 25_000) == 1849  # at most twice what was asked
    assert bank_prefix.extend_target(0, 10, 20_870, 0.0001, 25_000) == 10  # 500 MB: too large to keep whole
    assert bank_prefix.extend_target(0, 1000, 20_870, 1.97, 25_000) == 1000  # 11 h of kl-f8
    assert bank_prefix.extend_target(0, 10, 1849, None, 25_000) == 10  # unknown cost: no promise
    assert bank_prefix.extend_target(500, 2000, 1849, 1.0, 25_000) == 1849
    with pytest.raises(ValueError, match="no prefix of 300"):
        bank_prefix.prefix_view(build_bank("faces", "pixels", n=200, use_cache=False), 300, "k")
