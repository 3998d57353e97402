"""Datasets: offline ones load with captions; online ones are listed unavailable; folders and COCO folders load."""

import json

import numpy as np
import pytest
from PIL import Image

from hen_demo.data import list_datasets, load_dataset, online


def test_offline_datasets_shapes_and_captions():
    infos = {i.name: i for i in list_datasets()}
    for name in ("photos", "tiles", "digits", "faces"):
        assert infos[name].available, infos[name].reason
    assert 25 <= infos["photos"].size <= 35
    assert infos["tiles"].size >= 20000
    assert infos["digits"].size == 1797 and infos["faces"].size == 200
    for name in ("photos", "tiles", "digits", "faces"):
        ds = load_dataset(name, n=12, seed=3)
        assert ds.images.shape == (12, 64, 64, 3) and ds.images.dtype == np.uint8
        assert len(ds.captions) == len(ds.ids) == 12
        assert all(c.strip() for c in ds.captions)
        assert len(set(ds.ids)) == 12
        assert ds.images.std() > 5  # real pictures, not blank


def test_photos_captions_are_distinct_sentences():
    ds = load_dataset("photos")
    assert len(set(ds.captions)) == len(ds)
    assert all(c.endswith(".") and len(c.split()) >= 5 for c in ds.captions)


def test_tiles_are_distinct_and_seeded():
    a = load_dataset("tiles", n=300, seed=0)
    b = load_dataset("tiles", n=300, seed=0)
    c = load_dataset("tiles", n=300, seed=1)
    assert a.ids == b.ids and np.array_equal(a.images, b.images)
    assert a.ids != c.ids
    assert len(set(a.captions)) == 300
    flat = a.images.reshape(300, -1)
    assert len({row.tobytes() for row in flat}) == 300


def test_n_too_large_or_bad_and_unknown_names():
    with pytest.raises(ValueError, match="1797"):
        load_dataset("digits", n=1798)
    with pytest.raises(ValueError):
        load_dataset("faces", n=0)
    with pytest.raises(ValueError, match="unknown dataset"):
        load_dataset("imagenet", n=3)
    with pytest.raises(ValueError):
        load_dataset("folder:", n=3)


def test_online_datasets_listed_unavailable_with_reason(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.delenv("HEN_COCO_DIR", raising=False)
    infos = {i.name: i for i in list_datasets()}
    for name in ("coco", "cifar10", "mnist"):
        assert not infos[name].available and infos[name].reason
    with pytest.raises(ValueError, match="unavailable"):
        load_dataset("mnist", n=5)


def _save(path, arr):
    Image.fromarray(arr).save(path)


def test_folder_dataset_with_captions_and_a_corrupt_file(tmp_path):
    rng = np.random.default_rng(0)
    _save(tmp_path / "a.png", rng.integers(0, 255, (40, 30, 3), dtype=np.uint8))
    _save(tmp_path / "b.jpg", rng.integers(0, 255, (20, 20, 3), dtype=np.uint8))
    Image.fromarray(rng.integers(0, 255, (10, 10), dtype=np.uint8), mode="L").save(tmp_path / "c.png")
    (tmp_path / "d.png").write_bytes(b"garbage")
    (tmp_path / "captions.txt").write_text("a.png\tA red square.\nb.jpg\tA blue one.\n")
    ds = load_dataset(f"folder:{tmp_path}", side=32)
    assert ds.images.shape == (3, 32, 32, 3)
    assert ds.captions == ["A red square.", "A blue one.", "An image named c."]
    assert any("d.png" in note for note in ds.notes)
    with pytest.raises(ValueError, match="3 readable"):
        load_dataset(f"folder:{tmp_path}", n=4)
    with pytest.raises(ValueError, match="not found"):
        load_dataset(f"folder:{tmp_path / 'missing'}")


def test_local_coco_folder(tmp_path, monkeypatch):
    rng = np.random.default_rng(1)
    (tmp_path / "val2017").mkdir()
    (tmp_path / "annotations").mkdir()
    images, anns = [], []
    for k, img_id in enumerate([139, 285, 632]):
        fname = f"{img_id:012d}.jpg"
        _save(tmp_path / "val2017" / fname, rng.integers(0, 255, (48, 64, 3), dtype=np.uint8))
        images.append({"id": img_id, "file_name": fname})
        anns += [{"image_id": img_id, "id": 10 * k, "caption": f"first caption of {img_id}."},
                 {"image_id": img_id, "id": 10 * k + 1, "caption": f"second caption of {img_id}."}]
    (tmp_path / "annotations" / "captions_val2017.json").write_text(json.dumps({"images": images,
                                                                                "annotations": anns}))
    monkeypatch.setenv("HEN_COCO_DIR", str(tmp_path))
    assert {i.name: i for i in list_datasets()}["coco"].available
    ds = load_dataset("coco", n=2, side=32)
    assert ds.images.shape == (2, 32, 32, 3)
    assert ds.ids == ["coco/139", "coco/285"]
    assert ds.captions[0] == "first caption of 139. second caption of 139."
    with pytest.raises(ValueError, match="3 images"):
        load_dataset("coco", n=4)


def test_hub_rows_are_parsed_like_the_parquet_schema():
    """The parquet reader's row conversion, on a DataFrame shaped like the hub files (no pyarrow needed)."""
    import io

    import pandas as pd

    def png(v):
        buf = io.BytesIO()
        Image.fromarray(np.full((28, 28), v, np.uint8), mode="L").save(buf, format="PNG")
        return {"bytes": buf.getvalue(), "path": None}

    frame = pd.DataFrame({"image": [png(0), png(255)], "label": [7, 3]})
    imgs, caps, ids, labels = online.rows_to_items(frame, "mnist", side=64)
    assert imgs[0].shape == (64, 64, 3) and imgs[1].min() == 255
    assert labels == [7, 3] and "digit 7" in caps[0] and ids == ["mnist/00000", "mnist/00001"]
    coco = pd.DataFrame({"image": [png(9)], "answer": [["A cat.", "A sleepy cat."]], "id": [42]})
    imgs, caps, ids, labels = online.rows_to_items(coco, "coco", side=16)
    assert caps == ["A cat. A sleepy cat."] and ids == ["coco/42"] and labels is None


def test_tiny_parquet_file_round_trip(tmp_path):
    pytest.importorskip("pyarrow")
    import io

    import pandas as pd
    buf = io.BytesIO()
    Image.fromarray(np.zeros((32, 32, 3), np.uint8)).save(buf, format="PNG")
    pd.DataFrame({"img": [{"bytes": buf.getvalue(), "path": None}], "label": [3]}).to_parquet(tmp_path / "t.parquet")
    frame = pd.read_parquet(tmp_path / "t.parquet")
    imgs, caps, _, labels = online.rows_to_items(frame, "cifar10", side=64)
    assert labels == [3] and "cat" in caps[0]
