"""Memory banks: codes match the encoder, cache round-trips, keys change with inputs, writes are atomic."""

import gc
import json

import numpy as np
import pytest
import torch

from hen_demo.data import build_bank, load_dataset
from hen_demo.data.banks import bank_cache_key
from hen_demo.data.images import to_float_tensor
from hen_demo.encoders import get_image_encoder


def test_bank_codes_are_the_encoder_codes_and_cache_reloads(tmp_path):
    calls = []
    bank = build_bank("digits", "pixels", n=40, seed=2, cache_dir=tmp_path,
                      progress=lambda f, d: calls.append((f, d)))
    ds = load_dataset("digits", n=40, seed=2)
    enc = get_image_encoder("pixels")
    expected = enc.encode(to_float_tensor(ds.images))
    assert bank.codes.shape == (40, 2352) and bank.codes.dtype == torch.float32
    assert torch.allclose(bank.codes, expected)
    assert bank.recon.shape == (40, 28, 28, 3) and bank.recon.dtype == np.uint8
    assert bank.ids == ds.ids and bank.captions == ds.captions and bank.images.shape == (40, 64, 64, 3)
    fr = [f for f, _ in calls]
    assert fr == sorted(fr) and fr[-1] == 1.0 and all(0 <= f <= 1 for f in fr)
    assert not bank.meta["from_cache"]

    again = build_bank("digits", "pixels", n=40, seed=2, cache_dir=tmp_path)
    assert again.meta["from_cache"]
    assert torch.equal(again.codes, bank.codes) and np.array_equal(again.recon, bank.recon)
    assert again.captions == bank.captions
    files = sorted(p.name for p in (tmp_path / "banks").iterdir())
    prefix = bank.meta["prefix_key"]  # one entry per dataset × encoder: the bank of n is its first n rows
    assert files == [f"{prefix}.json", f"{prefix}.safetensors"]  # no temporary files left


def test_cache_key_changes_with_everything_that_matters():
    k = bank_cache_key("tiles", "pixels:28:v1", 100, 0, None)
    assert k == bank_cache_key("tiles", "pixels:28:v1", 100, 0, None)
    others = {bank_cache_key("tiles", "pixels:28:v1", 101, 0, None), bank_cache_key("tiles", "pixels:28:v1", 100, 1, None),
              bank_cache_key("photos", "pixels:28:v1", 100, 0, None), bank_cache_key("tiles", "x", 100, 0, None),
              bank_cache_key("tiles", "pixels:28:v1", 100, 0, "minilm")}
    assert k not in others and len(others) == 5


def test_interrupted_build_leaves_no_cache_entry(tmp_path):
    def boom(frac, desc):
        if frac > 0.5:
            raise KeyboardInterrupt
    with pytest.raises(KeyboardInterrupt):
        build_bank("faces", "pixels", n=30, cache_dir=tmp_path, progress=boom)
    folder = tmp_path / "banks"
    # no bank entry (JSON) and no temporary file; only finished chunks may remain for a resume
    assert not folder.exists() or all(p.suffix == ".part" for p in folder.iterdir())


def test_interrupted_build_resumes_from_its_chunks(tmp_path):
    """A crash after the first chunk: the next build reuses that chunk and the bank equals an uninterrupted one."""
    def crash_after_first_chunk(frac, desc):
        if desc.startswith("encoding 16/"):  # the second chunk's first batch is done
            raise RuntimeError("tab closed")

    kw = dict(n=30, seed=1, cache_dir=tmp_path, batch_size=8, chunk_size=8)
    with pytest.raises(RuntimeError):
        build_bank("faces", "pixels", progress=crash_after_first_chunk, **kw)
    parts = list((tmp_path / "banks").glob("*.part/chunk-*.safetensors"))
    assert [p.name for p in parts] == ["chunk-0000000-0000008.safetensors"]
    descs = []
    bank = build_bank("faces", "pixels", progress=lambda f, d: descs.append(d), **kw)
    assert bank.meta["resumed_items"] == 8 and not bank.meta["from_cache"]
    assert any(d.startswith("resuming after 8 images") for d in descs)
    ref = build_bank("faces", "pixels", n=30, seed=1, use_cache=False, batch_size=8)
    assert torch.equal(bank.codes, ref.codes) and np.array_equal(bank.recon, ref.recon)
    assert not list((tmp_path / "banks").glob("*.part"))  # merged, chunks removed


def test_build_reports_an_estimated_time_before_encoding(tmp_path):
    from hen_demo.data.bank_build import estimate_build_seconds, known_cost
    descs = []
    build_bank("faces", "pixels", n=40, cache_dir=tmp_path, batch_size=4, progress=lambda f, d: descs.append(d))
    first_encode = next(i for i, d in enumerate(descs) if d.startswith("encoding 4/"))
    # faces is small: the whole dataset (200) is encoded at once, and the estimate says so
    assert any(d.startswith("about ") and "for 200 images" in d for d in descs[:first_encode])
    enc = get_image_encoder("pixels")
    cost = known_cost(enc, tmp_path)  # recorded by the build, per image
    assert cost is not None and cost > 0
    assert estimate_build_seconds(enc, 1000, tmp_path, measure=False) == pytest.approx(1000 * cost)


def test_batch_size_fits_the_memory_budget(monkeypatch):
    from hen_demo.data import bank_build
    enc = get_image_encoder("pixels")
    enc.activation_bytes_per_image = 100 * 1024 ** 2  # 100 MiB per image
    monkeypatch.setattr(bank_build, "_available_ram", lambda: 8 * 1024 ** 3)  # 1 GiB budget (1/8)
    assert bank_build.choose_batch_size(enc) == 10
    assert bank_build.choose_batch_size(enc, 3) == 3
    with pytest.raises(ValueError, match="at least 1"):
        bank_build.choose_batch_size(enc, -2)
    enc.activation_bytes_per_image = 64 * 1024 ** 3  # bigger than the budget: one image at a time
    assert bank_build.choose_batch_size(enc) == 1


def test_cache_is_bounded_by_bytes_oldest_first(tmp_path, monkeypatch):
    import os
    import time
    banks = tmp_path / "banks"

    def entry(seed):  # one disk entry per dataset × seed × encoder (the prefix bank); not kept alive here
        return build_bank("faces", "pixels", n=10, seed=seed, cache_dir=tmp_path).meta["prefix_key"]

    a = entry(0)
    size_one = sum(p.stat().st_size for p in banks.iterdir())
    b = entry(1)
    old = time.time() - 100
    os.utime(banks / f"{a}.json", (old, old))
    os.utime(banks / f"{a}.safetensors", (old, old))
    entry(1)  # a cache hit refreshes b's age
    monkeypatch.setenv("HEN_BANK_CACHE_BYTES", str(int(2.5 * size_one)))
    c = entry(2)
    keys = {p.name.split(".")[0] for p in banks.iterdir()}
    assert keys == {b, c}  # the least recently used (a) went first
    monkeypatch.setenv("HEN_BANK_CACHE_BYTES", "1")  # smaller than any bank: only the newest stays
    d = entry(3)
    assert {p.name.split(".")[0] for p in banks.iterdir()} == {d}
    monkeypatch.setenv("HEN_BANK_CACHE_BYTES", "lots")
    with pytest.raises(ValueError, match="number of bytes"):
        build_bank("faces", "pixels", n=14, cache_dir=tmp_path)


def test_damaged_cache_is_rebuilt(tmp_path):
    bank = build_bank("faces", "pixels", n=10, cache_dir=tmp_path)
    codes, prefix = bank.codes.clone(), bank.meta["prefix_key"]
    del bank  # nothing in this process holds the bank any more: the next build reads the disk
    gc.collect()
    (tmp_path / "banks" / f"{prefix}.safetensors").write_bytes(b"broken")
    again = build_bank("faces", "pixels", n=10, cache_dir=tmp_path)
    assert not again.meta["from_cache"] and torch.equal(again.codes, codes)
    meta = json.loads((tmp_path / "banks" / f"{prefix}.json").read_text())
    assert meta["n"] == 200  # faces is small: its whole prefix bank was rebuilt


def test_bad_bank_inputs(tmp_path):
    with pytest.raises(ValueError, match="unknown image encoder"):
        build_bank("faces", "vq-huge", n=5, cache_dir=tmp_path)
    with pytest.raises(ValueError, match="unknown dataset"):
        build_bank("nope", "pixels", n=5, cache_dir=tmp_path)
    with pytest.raises(ValueError, match="200 items"):
        build_bank("faces", "pixels", n=500, cache_dir=tmp_path)


def test_bank_from_user_images(tmp_path):
    ds = load_dataset("photos", n=5)
    bank = build_bank(ds, "pixels", cache_dir=tmp_path)
    assert bank.n == 5 and bank.dataset == "photos"
    assert build_bank(ds, "pixels", cache_dir=tmp_path).meta["from_cache"]


def test_bank_with_text_codes(tmp_path):
    bank = build_bank("photos", "pixels", n=4, text_encoder="pixelized", cache_dir=tmp_path)
    assert bank.text_codes is not None and bank.text_codes.shape == (4, 2352)
    assert bank.text_encoder == "pixelized"
    plain = build_bank("photos", "pixels", n=4, cache_dir=tmp_path)
    assert plain.key != bank.key and plain.text_codes is None
    again = build_bank("photos", "pixels", n=4, text_encoder="pixelized", cache_dir=tmp_path)
    assert again.meta["from_cache"] and torch.equal(again.text_codes, bank.text_codes)


def test_build_bank_cli(tmp_path, capsys):
    from hen_demo.__main__ import main
    rc = main(["build-bank", "--dataset", "faces", "--encoder", "pixels", "--n", "8", "--cache-dir", str(tmp_path)])
    assert rc == 0 and "8 memories" in capsys.readouterr().out
    rc = main(["build-bank", "--dataset", "faces", "--encoder", "pixels", "--n", "999", "--cache-dir", str(tmp_path)])
    assert rc == 2


def test_bench_bank_function_reports_build_and_cached_load():
    from hen_demo.data.bench_bank import bench_bank
    res = bench_bank(n=12, encoder="pixels", dataset="faces")
    assert res["n"] == 12 and res["code_dim"] == 2352
    assert res["build_s"] > 0 and res["cached_load_s"] >= 0 and isinstance(res["ok"], bool)


def test_build_time_note_before_loading_anything(tmp_path):
    from hen_demo.data.bank_build import build_time_note, record_cost
    note = build_time_note("kl-f8", 1000, cache_root=tmp_path)
    assert "1000 images with kl-f8 takes about 33 min" in note and "2-core CPU" in note
    assert build_time_note("pixels", 1000, cache_root=tmp_path) == ""  # too fast to matter
    enc = get_image_encoder("pixels")
    enc.name = "kl-f8"  # pretend this machine measured kl-f8 at 0.5 s per image
    record_cost(enc, tmp_path, 0.5)
    assert "about 8 min" in build_time_note("kl-f8", 1000, cache_root=tmp_path)
    assert "measured on this machine" in build_time_note("kl-f8", 1000, cache_root=tmp_path)
