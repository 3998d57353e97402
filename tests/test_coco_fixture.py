"""COCO as the world serves it: the hub parquet of ``lmms-lab/COCO-Caption2017`` (its real schema, shard names and
split layout) and the official val2017 folder layout for ``HEN_COCO_DIR`` — small fixtures, no network."""

import io
import json

import numpy as np
import pytest

from hen_demo.data import load_dataset, online

pa = pytest.importorskip("pyarrow")
pq = pytest.importorskip("pyarrow.parquet")

# The hub dataset's features (its dataset card / viewer): images are {"bytes", "path"} structs, captions a list of
# strings ("answer"), "id" the COCO image id.
SCHEMA = pa.schema([
    ("question_id", pa.string()), ("image", pa.struct([("bytes", pa.binary()), ("path", pa.string())])),
    ("question", pa.string()), ("answer", pa.list_(pa.string())), ("id", pa.int64()), ("license", pa.int8()),
    ("file_name", pa.string()), ("coco_url", pa.string()), ("height", pa.int32()), ("width", pa.int32()),
    ("date_captured", pa.string()),
])


def _jpeg(seed: int, h: int = 60, w: int = 90) -> bytes:
    from PIL import Image
    rng = np.random.default_rng(seed)
    arr = np.zeros((h, w, 3), np.uint8)
    arr[..., seed % 3] = 200  # a distinct dominant colour per image
    arr += rng.integers(0, 40, size=arr.shape, dtype=np.uint8)
    buf = io.BytesIO()
    Image.fromarray(arr).save(buf, format="JPEG", quality=95)
    return buf.getvalue()


def _rows(ids):
    return [{"question_id": f"{i:012d}.jpg", "image": {"bytes": _jpeg(i), "path": f"{i:012d}.jpg"},
             "question": "Please carefully observe the image and come up with a caption for the image.",
             "answer": [f"Caption one of image {i}.", f" Caption two of image {i}. "], "id": i, "license": 3,
             "file_name": f"{i:012d}.jpg", "coco_url": f"http://images.cocodataset.org/val2017/{i:012d}.jpg",
             "height": 60, "width": 90, "date_captured": "2013-11-14 17:02:52"} for i in ids]


@pytest.fixture
def hub(tmp_path, monkeypatch):
    """A local stand-in for the hub repo: data/val-0000{0,1}-of-00002.parquet and a test shard."""
    repo = tmp_path / "repo"
    (repo / "data").mkdir(parents=True)
    shards = {"data/val-00000-of-00002.parquet": [139, 285, 632], "data/val-00001-of-00002.parquet": [724, 776],
              "data/test-00000-of-00001.parquet": [1, 2]}
    for name, ids in shards.items():
        pq.write_table(pa.Table.from_pylist(_rows(ids), schema=SCHEMA), repo / name)
    downloads = []

    def list_repo_files(repo_id, repo_type=None, **kw):
        assert repo_id == "lmms-lab/COCO-Caption2017" and repo_type == "dataset"
        return [".gitattributes", "README.md", *shards]

    def hf_hub_download(repo_id, filename, repo_type=None, **kw):
        downloads.append(filename)
        return str(repo / filename)

    import huggingface_hub
    monkeypatch.setattr(huggingface_hub, "list_repo_files", list_repo_files)
    monkeypatch.setattr(huggingface_hub, "hf_hub_download", hf_hub_download)
    monkeypatch.setattr(online, "hub_unavailable_reason", lambda: "")
    monkeypatch.delenv("HEN_COCO_DIR", raising=False)
    return downloads


def test_hub_parquet_with_the_real_schema(hub):
    ds = load_dataset("coco", n=4)
    assert hub == ["data/val-00000-of-00002.parquet", "data/val-00001-of-00002.parquet"]  # val only, in order
    assert ds.images.shape == (4, 128, 128, 3) and ds.images.dtype == np.uint8
    assert ds.ids == ["coco/139", "coco/285", "coco/632", "coco/724"]
    # an image's captions joined into one sentence (HEN §3.2), stripped
    assert ds.captions[0] == "Caption one of image 139. Caption two of image 139."
    assert ds.images[0][..., 139 % 3].mean() > 150 and ds.images[3][..., 724 % 3].mean() > 150
    assert ds.labels is None


def test_hub_parquet_reads_only_the_first_shard_when_it_suffices(hub):
    ds = load_dataset("coco", n=2)
    assert hub == ["data/val-00000-of-00002.parquet"] and len(ds.ids) == 2


def test_hub_parquet_too_few_rows_and_missing_image_bytes(hub, tmp_path):
    with pytest.raises(ValueError, match="only 5 items"):
        online.load_hub_parquet("coco", 6, 64)
    import pandas as pd
    frame = pd.DataFrame(_rows([5]))
    frame.at[0, "image"] = {"bytes": None, "path": None}
    with pytest.raises(ValueError, match="no image bytes"):
        online.rows_to_items(frame, "coco", 64)


def _val2017(root, ids):
    """The official layout: val2017/<12-digit id>.jpg + annotations/captions_val2017.json."""
    (root / "val2017").mkdir(parents=True)
    (root / "annotations").mkdir()
    images, anns = [], []
    for k, i in enumerate(ids):
        (root / "val2017" / f"{i:012d}.jpg").write_bytes(_jpeg(i))
        images.append({"license": 4, "file_name": f"{i:012d}.jpg",
                       "coco_url": f"http://images.cocodataset.org/val2017/{i:012d}.jpg", "height": 60, "width": 90,
                       "date_captured": "2013-11-14 17:02:52", "flickr_url": "http://farm7.staticflickr.com/x.jpg",
                       "id": i})
        for j in range(2):
            anns.append({"image_id": i, "id": 1000 * k + j, "caption": f"Image {i} caption {j}. "})
    data = {"info": {"description": "COCO 2017 Dataset"}, "licenses": [], "images": images, "annotations": anns}
    (root / "annotations" / "captions_val2017.json").write_text(json.dumps(data))


def test_hen_coco_dir_in_the_official_val2017_layout(tmp_path, monkeypatch):
    root = tmp_path / "coco"
    _val2017(root, [632, 139, 285])  # the JSON lists images in any order; the reader sorts by image id
    monkeypatch.setenv("HEN_COCO_DIR", str(root))
    assert online.probe("coco") == ""
    ds = load_dataset("coco", n=2)
    assert ds.ids == ["coco/139", "coco/285"]
    assert ds.captions[0] == "Image 139 caption 0. Image 139 caption 1."
    assert ds.images.shape == (2, 128, 128, 3)
    assert ds.images[1][..., 285 % 3].mean() > 150
    with pytest.raises(ValueError, match="has 3 images"):
        load_dataset("coco", n=4)


def test_hen_coco_dir_without_annotations_is_a_sentence(tmp_path, monkeypatch):
    (tmp_path / "coco" / "val2017").mkdir(parents=True)
    monkeypatch.setenv("HEN_COCO_DIR", str(tmp_path / "coco"))
    with pytest.raises(ValueError, match="captions_val2017.json"):
        online.load_coco_folder(tmp_path / "coco", 1)
