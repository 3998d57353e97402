"""Your own memories through the real app (issue 20), driven with gradio_client like a browser's clicks.

Two sessions never see each other's images; a closed session's images are deleted (waited on as an event, the
store's condition, never a sleep) and Gradio's copies of the uploaded files are gone once read; every bad file of a
mixed upload comes back with its sentence while the good ones are stored; the public caps hold; and a retrieval on
an uploaded bank equals the same retrieval on ``load_dataset("folder:...")`` of those files.
"""

import io
import os
import zipfile
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

pytestmark = pytest.mark.slow

gradio_client = pytest.importorskip("gradio_client")
from gradio.utils import get_upload_folder  # noqa: E402
from gradio_client import Client, handle_file  # noqa: E402
from gradio_client.exceptions import AppError  # noqa: E402
from ui_server import running_app  # noqa: E402

from hen_demo.data import build_bank  # noqa: E402
from hen_demo.encoders import get_image_encoder  # noqa: E402
from hen_demo.pipeline import HENPipeline, MemoryConfig, RunOptions, corrupt_query  # noqa: E402
from hen_demo.ui import sessions, state  # noqa: E402

STATUS, THUMBS, TABLE = 0, 1, 2
OUT_DETAILS, OUT_RETRIEVED = 10, 8


@pytest.fixture(scope="module")
def app(tmp_path_factory):
    mp = pytest.MonkeyPatch()
    mp.setenv("HEN_CACHE_DIR", str(tmp_path_factory.mktemp("hen_cache")))
    mp.setenv("GRADIO_HEARTBEAT_INTERVAL", "1")  # a closed client is noticed within a second or two
    with running_app() as url:
        yield url
    mp.undo()


def client(url, **kw) -> Client:
    return Client(url, verbose=False, **kw)


def pictures(folder: Path, names, seed: int, sizes=None) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    out = []
    for k, name in enumerate(names):
        h, w = sizes[k] if sizes else (40, 52)
        Image.fromarray(rng.integers(0, 256, (h, w, 3), dtype=np.uint8)).save(folder / name)
        out.append(folder / name)
    return out


def add(c: Client, paths, encoder="pixels"):
    return c.predict([handle_file(str(p)) for p in paths], encoder, api_name="/add_memories")


def rows(result) -> list:
    table = result[TABLE]
    return table["data"] if isinstance(table, dict) else table


def retrieve_args(n, index, **over):
    args = dict(dataset=sessions.MINE, encoder="pixels", similarity="l2", separation="softmax", beta=1.0, n=n,
                steps=30, tol=1e-6, source="stored memory", index=index, editor=None, caption="",
                text_encoder=state.default_text_encoder(), corruption="occlude-bottom", amount=0.5, seed=0, fps=0,
                beta_mode="relative")
    args.update(over)
    return list(args.values())


def error_of(fn) -> str:
    with pytest.raises(AppError) as info:
        fn()
    return str(info.value)


def test_two_sessions_never_see_each_other_and_a_closed_one_is_deleted(app, tmp_path):
    a, b = client(app, download_files=False), client(app)  # A sees the server's own file paths
    a_files = pictures(tmp_path / "a", [f"alice{i}.png" for i in range(4)], seed=1)
    b_files = pictures(tmp_path / "b", ["bob0.png", "bob1.png"], seed=2)
    ra = add(a, a_files)
    assert [r[1] for r in rows(ra)] == [p.name for p in a_files]
    assert rows(b.predict(api_name="/my_memories")) == []  # B sees nothing of A's
    msg = error_of(lambda: b.predict(*retrieve_args(10, 0), api_name="/retrieve"))
    assert "not stored any images" in msg
    rb = add(b, b_files)
    assert [r[1] for r in rows(rb)] == ["bob0.png", "bob1.png"] and "alice" not in str(rb)
    assert [r[1] for r in rows(a.predict(api_name="/my_memories"))] == [p.name for p in a_files]

    # each retrieval runs on its own session's bank: B's result is B's picture, A's is A's
    res_b = b.predict(*retrieve_args(10, 1), api_name="/retrieve")
    res_a = a.predict(*retrieve_args(10, 3), api_name="/retrieve")
    assert res_b[OUT_DETAILS]["nn_index"] == 1 and res_a[OUT_DETAILS]["nn_index"] == 3
    assert sessions.STORE.get(b.session_hash).bank(get_image_encoder("pixels")).n == 2

    # Gradio's copies of the uploads are deleted once read: the pictures live only in the session's memory
    # (Gradio's upload folder is read once per process: a test must not move it, later apps would refuse files)
    left = [p.name for p in Path(get_upload_folder()).rglob("*") if p.name.startswith(("alice", "bob"))]
    assert left == []

    a_id = a.session_hash
    a_shown = [res_a[OUT_RETRIEVED]["path"], res_a[6]["path"]]  # A's retrieved picture and original in Gradio's cache
    assert all(os.path.exists(p) for p in a_shown)
    a.close()  # the tab closes: Gradio's heartbeat ends and demo.unload deletes the session's images
    assert sessions.STORE.wait_dropped(a_id, timeout=60)
    assert not any(os.path.exists(p) for p in a_shown)  # and the files its retrievals showed
    assert sessions.STORE.holds(b.session_hash) and len(sessions.STORE.get(b.session_hash)) == 2
    b.close()


def zip_bytes(members: dict) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        for name, data in members.items():
            z.writestr(name, data)
    return buf.getvalue()


def png(arr) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(arr).save(buf, "PNG")
    return buf.getvalue()


def test_every_bad_file_of_a_mixed_upload_gets_its_sentence_and_the_good_ones_are_stored(app, tmp_path):
    c = client(app)
    good = pictures(tmp_path, [f"good{i}.png" for i in range(5)], seed=3)
    bad = {"renamed.png": b"plain text, not a picture\n" * 4, "truncated.png": good[0].read_bytes()[:150],
           "dot.png": png(np.zeros((1, 1, 3), np.uint8)),
           "safe.zip": zip_bytes({"../up.png": png(np.full((20, 20, 3), 9, np.uint8)),
                                  "inside.png": png(np.full((20, 20, 3), 77, np.uint8))}),
           "bomb.zip": zip_bytes({"z.png": b"\0" * (8 * 1024 ** 2)})}
    for name, data in bad.items():
        (tmp_path / name).write_bytes(data)
    Image.new("1", (30000, 8)).save(tmp_path / "wide.png")
    frames = [Image.fromarray(np.full((16, 16, 3), v, np.uint8)) for v in (200, 10)]
    frames[0].save(tmp_path / "anim.gif", save_all=True, append_images=frames[1:])
    (tmp_path / "copy.png").write_bytes(good[1].read_bytes())
    files = good[:2] + [tmp_path / n for n in bad] + [tmp_path / "wide.png", tmp_path / "anim.gif",
                                                        tmp_path / "copy.png"] + good[2:]
    r = add(c, files)
    status = r[STATUS]
    stored = [row[1] for row in rows(r)]
    assert stored == ["good0.png", "good1.png", "inside.png", "anim.gif", "good2.png", "good3.png", "good4.png"]
    for name, words in [("renamed.png", "not an image"), ("truncated.png", "truncated"), ("dot.png", "1 × 1 px"),
                        ("safe.zip/../up.png", "leaves the archive"), ("bomb.zip", "zip bomb"),
                        ("wide.png", "30,000"), ("copy.png", "duplicate")]:
        line = next((ln for ln in status.splitlines() if f"**{name}**" in ln), "")
        assert words in line, (name, status)
    assert "first frame" in status and "Stored 7 images" in status
    # the endpoint's own arguments: refused with a sentence
    assert "Choose one or more image files" in error_of(lambda: c.predict(None, "pixels", api_name="/add_memories"))
    assert "encoder" in error_of(lambda: add(c, good[:1], encoder="no-such-encoder")).lower()
    c.close()


def test_public_caps_hold_through_the_app(app, tmp_path, monkeypatch):
    monkeypatch.setenv("HEN_PUBLIC", "1")  # read when a session starts
    c = client(app)
    rng = np.random.default_rng(5)
    members = {f"m{i:03d}.png": png(rng.integers(0, 256, (8, 8, 3), dtype=np.uint8)) for i in range(203)}
    (tmp_path / "many.zip").write_bytes(zip_bytes(members))
    big = tmp_path / "big.bmp"
    Image.fromarray(rng.integers(0, 256, (1300, 1400, 3), dtype=np.uint8)).save(big)  # 5.5 MB
    r = add(c, [big, tmp_path / "many.zip"])
    assert len(rows(r)) == 200
    assert "largest accepted is 5 MB" in r[STATUS] and r[STATUS].count("full (200 images at most)") == 3
    c.close()


def test_a_retrieval_on_an_uploaded_bank_equals_the_folder_dataset(app, tmp_path):
    folder = tmp_path / "class"
    sizes = [(40 + 7 * k, 70 - 4 * k) for k in range(8)]  # not square: the same centre crop must be taken
    files = pictures(folder, [f"p{k}.png" for k in range(8)], seed=7, sizes=sizes)
    c = client(app)
    add(c, files)
    got = c.predict(*retrieve_args(10, 3), api_name="/retrieve")

    enc = get_image_encoder("pixels")
    bank = build_bank(f"folder:{folder}", enc, n=None, use_cache=False, precomputed=False)
    pipe = HENPipeline(MemoryConfig(bank, enc, similarity="l2", beta_relative=1.0, device="cpu"))
    query_img = corrupt_query(bank.images[3], pipe.image_size, "occlude-bottom", 0.5, 0, None, fill="black")
    frames = list(pipe.stream(pipe.encode_image(query_img), RunOptions(steps=30, tol=1e-6), target=3))
    ref = frames[-1].result
    d = got[OUT_DETAILS]
    assert d["top_index"] == ref.nearest == 3 and d["nn_index"] == ref.nn_index
    assert ref.verdict.kind == "retrieved"  # a clear winner: no tie decides this comparison
    np.testing.assert_allclose(d["energies"], frames[-1].energies, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(d["beta"], ref.beta, rtol=1e-5)
    shown = np.asarray(Image.open(got[OUT_RETRIEVED]).convert("RGB")).astype(int)
    expected = np.asarray(Image.fromarray(ref.retrieved).resize(shown.shape[1::-1], Image.NEAREST)).astype(int)
    assert np.abs(shown - expected).max() <= 1
    c.close()


def test_the_readme_session_example_runs_against_the_app(app, tmp_path):
    """README "Your images": its script (add to the session's bank, retrieve from it) as written, on stand-in files."""
    import re

    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text(encoding="utf-8")
    block = re.search(r"```python session\n(.*?)```", readme, flags=re.S).group(1)
    cat = pictures(tmp_path, ["cat.jpg"], seed=11)[0]
    members = {p.name: p.read_bytes() for p in pictures(tmp_path / "z", [f"k{i}.png" for i in range(3)], seed=12)}
    (tmp_path / "class.zip").write_bytes(zip_bytes(members))
    block = (block.replace("http://127.0.0.1:7860/", app).replace('"cat.jpg"', repr(str(cat)))
             .replace('"class.zip"', repr(str(tmp_path / "class.zip"))))
    ns: dict = {}
    exec(compile("\n".join(line[2:] for line in block.splitlines()), "README session example", "exec"), ns)
    assert "Stored 4 images" in ns["status"] and ns["out"][OUT_DETAILS]["nn_index"] == 0
    ns["client"].close()
