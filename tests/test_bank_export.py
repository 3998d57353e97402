"""Precomputed banks: `build-bank --export`, found in $HEN_BANKS_DIR / $HEN_BANKS_REPO, refused when they do not
fit the encoder, damaged or of another version — each a sentence, nothing written, everything else still served."""

import json

import numpy as np
import pytest
import torch

from hen_demo.__main__ import main
from hen_demo.data import bank_export, build_bank
from hen_demo.encoders import get_image_encoder


@pytest.fixture
def exported(tmp_path, monkeypatch, capsys):
    monkeypatch.delenv("HEN_BANKS_DIR", raising=False)
    monkeypatch.delenv("HEN_BANKS_REPO", raising=False)
    out = tmp_path / "export"
    rc = main(["build-bank", "--dataset", "faces", "--encoder", "pixels", "--n", "6", "--seed", "3",
               "--cache-dir", str(tmp_path / "cache-a"), "--export", str(out)])
    assert rc == 0 and "exported to" in capsys.readouterr().out
    assert sorted(p.name for p in out.iterdir()) == ["faces-pixels-n6-s3.json", "faces-pixels-n6-s3.safetensors"]
    return out


def _no_bank_files(folder):
    banks = folder / "banks"
    return not banks.exists() or not [p for p in banks.iterdir() if p.suffix in (".json", ".safetensors")]


def test_exported_bank_is_served_from_hen_banks_dir(exported, tmp_path, monkeypatch):
    monkeypatch.setenv("HEN_BANKS_DIR", str(exported))
    descs = []
    bank = build_bank("faces", "pixels", n=6, seed=3, cache_dir=tmp_path / "cache-b",
                      progress=lambda f, d: descs.append(d))
    assert bank.meta["precomputed"].endswith("faces-pixels-n6-s3.json")
    assert not any(d.startswith("encoding") for d in descs)  # nothing was encoded
    ref = build_bank("faces", "pixels", n=6, seed=3, use_cache=False, precomputed=False)
    assert torch.equal(bank.codes, ref.codes) and np.array_equal(bank.recon, ref.recon)
    assert np.array_equal(bank.images, ref.images) and bank.captions == ref.captions and bank.ids == ref.ids
    # another request (other n) is not served from it, and builds as usual
    other = build_bank("faces", "pixels", n=5, seed=3, cache_dir=tmp_path / "cache-b")
    assert "precomputed" not in other.meta and other.n == 5


def test_bank_of_other_weights_is_refused_with_a_sentence(exported, tmp_path, monkeypatch):
    monkeypatch.setenv("HEN_BANKS_DIR", str(exported))
    enc = get_image_encoder("pixels")
    enc.fingerprint = "pixels:28:v2"  # another version of the encoder
    with pytest.raises(ValueError, match="made with other pixels weights or settings"):
        build_bank("faces", enc, n=6, seed=3, cache_dir=tmp_path / "cache-c")
    assert _no_bank_files(tmp_path / "cache-c")
    # the app keeps serving everything else
    assert build_bank("faces", "pixels", n=4, seed=3, cache_dir=tmp_path / "cache-c").n == 4


def test_truncated_or_other_version_or_mismatched_files_are_refused(exported, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("HEN_BANKS_DIR", str(exported))
    st, js = exported / "faces-pixels-n6-s3.safetensors", exported / "faces-pixels-n6-s3.json"
    data = st.read_bytes()
    st.write_bytes(data[: len(data) // 2])
    with pytest.raises(ValueError, match="truncated or damaged"):
        build_bank("faces", "pixels", n=6, seed=3, cache_dir=tmp_path / "c1")
    rc = main(["build-bank", "--dataset", "faces", "--encoder", "pixels", "--n", "6", "--seed", "3",
               "--cache-dir", str(tmp_path / "c1")])
    out = capsys.readouterr().out
    assert rc == 2 and "error: the precomputed bank file faces-pixels-n6-s3.safetensors is truncated" in out
    assert "Traceback" not in out and _no_bank_files(tmp_path / "c1")
    st.write_bytes(data)
    meta = json.loads(js.read_text())
    js.write_text(json.dumps(dict(meta, version=99)))
    with pytest.raises(ValueError, match="another version of the bank format"):
        build_bank("faces", "pixels", n=6, seed=3, cache_dir=tmp_path / "c2")
    js.write_text(json.dumps(dict(meta, kind="something-else")))
    with pytest.raises(ValueError, match="not a bank written by"):
        build_bank("faces", "pixels", n=6, seed=3, cache_dir=tmp_path / "c2")
    js.write_text("{not json")
    with pytest.raises(ValueError, match="cannot be read"):
        build_bank("faces", "pixels", n=6, seed=3, cache_dir=tmp_path / "c2")
    js.write_text(json.dumps(dict(meta, n=7)))
    with pytest.raises(ValueError, match="does not hold the 7 codes"):
        build_bank("faces", "pixels", n=6, seed=3, cache_dir=tmp_path / "c2")
    assert _no_bank_files(tmp_path / "c2")


def test_codes_only_export_reloads_the_images_from_the_dataset(tmp_path, monkeypatch, capsys):
    monkeypatch.delenv("HEN_BANKS_REPO", raising=False)
    out = tmp_path / "export"
    assert main(["build-bank", "--dataset", "digits", "--encoder", "pixels", "--n", "5", "--cache-dir",
                 str(tmp_path / "a"), "--export", str(out), "--no-images"]) == 0
    monkeypatch.setenv("HEN_BANKS_DIR", str(out))
    bank = build_bank("digits", "pixels", n=5, cache_dir=tmp_path / "b")
    ref = build_bank("digits", "pixels", n=5, use_cache=False, precomputed=False)
    assert "precomputed" in bank.meta and np.array_equal(bank.images, ref.images)


def test_hub_repo_with_banks_and_without(exported, tmp_path, monkeypatch):
    import huggingface_hub
    empty = tmp_path / "empty-snapshot"
    empty.mkdir()
    (empty / "README.md").write_text("no banks here")
    folders = {"me/hen-banks": exported, "me/empty": empty}
    calls = []

    def snapshot_download(repo_id, repo_type=None, local_files_only=False, **kw):
        calls.append((repo_id, repo_type, local_files_only))
        return str(folders[repo_id])

    monkeypatch.setattr(huggingface_hub, "snapshot_download", snapshot_download)
    monkeypatch.setenv("HEN_BANKS_REPO", "me/hen-banks")
    bank = build_bank("faces", "pixels", n=6, seed=3, cache_dir=tmp_path / "c3")
    assert "precomputed" in bank.meta and calls[0] == ("me/hen-banks", "dataset", True)  # the local cache first
    monkeypatch.setenv("HEN_BANKS_REPO", "me/empty")
    bank = build_bank("faces", "pixels", n=6, seed=3, cache_dir=tmp_path / "c4")  # built here instead
    assert "precomputed" not in bank.meta and not bank.meta["from_cache"]
    assert "HEN_BANKS_REPO=me/empty has no exported banks" in bank_export.precomputed_status()


def test_hub_repo_offline_and_not_cached_is_a_status_not_a_failure(tmp_path, monkeypatch):
    import huggingface_hub

    def snapshot_download(repo_id, **kw):
        raise huggingface_hub.errors.LocalEntryNotFoundError("not cached")

    monkeypatch.setattr(huggingface_hub, "snapshot_download", snapshot_download)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HEN_BANKS_REPO", "me/hen-banks")
    monkeypatch.delenv("HEN_BANKS_DIR", raising=False)
    assert build_bank("faces", "pixels", n=3, cache_dir=tmp_path / "c5").n == 3
    assert "not in the local cache and HF_HUB_OFFLINE is set" in bank_export.precomputed_status()


def test_uploads_and_folders_cannot_be_exported(tmp_path):
    from hen_demo.data import load_dataset
    from hen_demo.data.datasets import ImageDataset
    ds = load_dataset("photos", n=2)
    folder_ds = ImageDataset(ds.images, ds.captions, ds.ids, "folder:/somewhere", None)
    bank = build_bank(folder_ds, "pixels", cache_dir=tmp_path)
    with pytest.raises(ValueError, match="only banks of named datasets"):
        bank_export.export_bank(bank, "pixels:28:v1", tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_whole_dataset_request_n_none_is_looked_up_by_the_dataset_size(tmp_path, monkeypatch):
    """build_bank(..., n=None) with a banks folder set (was: TypeError from int(None) in export_name)."""
    monkeypatch.setenv("HEN_BANKS_DIR", str(tmp_path / "export"))
    (tmp_path / "export").mkdir()
    whole = build_bank("faces", "pixels", n=None, cache_dir=tmp_path / "cache", precomputed=True)
    assert whole.n == 200 and whole.codes.shape[0] == 200
    bank_export.export_bank(whole, "pixels", tmp_path / "export")
    enc = get_image_encoder("pixels")
    monkeypatch.setattr(enc, "fingerprint", "pixels", raising=False)
    found = bank_export.find_precomputed("faces", enc, None, 0)
    assert found is not None and found.n == 200
    with pytest.raises(ValueError, match="number of memories"):
        bank_export.export_name("faces", "pixels", None, 0, None)
