"""A visitor's own images (issue 20): every bad file gets its sentence and the good ones are kept; zips are unpacked
safely; the session bank equals the folder dataset of the same files; the session store is bounded and forgets."""

import io
import json
import zipfile

import numpy as np
import pytest
from PIL import Image

from hen_demo.data import load_dataset
from hen_demo.data.session_bank import SessionImages, SessionStore
from hen_demo.data.uploads import SIDE, UploadCaps, read_uploads
from hen_demo.encoders import get_image_encoder

RNG = np.random.default_rng(0)


def img(h=40, w=50, seed=None):
    r = np.random.default_rng(seed) if seed is not None else RNG
    return r.integers(0, 256, (h, w, 3), dtype=np.uint8)


def encode(pil_or_arr, fmt="PNG", **kw) -> bytes:
    im = pil_or_arr if isinstance(pil_or_arr, Image.Image) else Image.fromarray(pil_or_arr)
    buf = io.BytesIO()
    im.save(buf, fmt, **kw)
    return buf.getvalue()


def zip_of(members: dict[str, bytes], compression=zipfile.ZIP_DEFLATED) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression) as z:
        for name, data in members.items():
            z.writestr(name, data)
    return buf.getvalue()


def skipped(result) -> dict:
    return dict(result.skipped)


def test_each_bad_file_gets_its_sentence_and_the_good_ones_are_stored():
    good = [(f"good{i:02d}.png", encode(img(seed=i))) for i in range(46)]
    bad = {
        "renamed.png": b"this is a text file renamed to .png\n" * 5,
        "truncated.png": good[0][1][: len(good[0][1]) // 2],
        "tiny.png": encode(np.zeros((1, 1, 3), np.uint8)),
        "huge.png": encode(Image.new("1", (30000, 10))),  # 30,000 px wide, a few hundred bytes
    }
    files = good[:20] + list(bad.items()) + good[20:]  # one bad file among 50 stops nothing
    r = read_uploads(files)
    assert len(r.images) == 46 and [im.name for im in r.images] == [g[0] for g in good]
    s = skipped(r)
    assert set(s) == set(bad)
    assert "not an image" in s["renamed.png"]
    assert "truncated" in s["truncated.png"]
    assert "1 × 1 px" in s["tiny.png"] and "8 px" in s["tiny.png"]
    assert "30,000" in s["huge.png"] and "4,096" in s["huge.png"]
    assert r.images[0].image.shape == (SIDE, SIDE, 3) and r.images[0].image.dtype == np.uint8
    assert "skipped **huge.png**" in r.report()


def test_conversions_cmyk_16bit_palette_alpha_and_exif_rotation():
    cmyk = Image.new("CMYK", (20, 20), (0, 255, 255, 0))  # pure red in CMYK
    g16 = Image.fromarray(np.full((20, 20), 65535, np.uint16))  # 16-bit white
    pal = Image.new("P", (20, 20))
    pal.putpalette([0, 0, 255] * 256)  # every index is blue
    rgba = np.zeros((20, 20, 4), np.uint8)
    rgba[..., 0], rgba[..., 3] = 255, 128  # half-transparent red: composited onto white -> pink
    r = read_uploads([("cmyk.jpg", encode(cmyk, "JPEG", quality=100)), ("g16.png", encode(g16)),
                      ("pal.png", encode(pal)), ("alpha.png", encode(rgba))])
    assert not r.skipped, r.skipped
    px = {im.name: im.image[SIDE // 2, SIDE // 2].astype(int) for im in r.images}
    assert px["cmyk.jpg"][0] > 200 and px["cmyk.jpg"][1:].max() < 60
    assert (px["g16.png"] == 255).all() and list(px["pal.png"]) == [0, 0, 255] and px["alpha.png"][0] == 255
    assert 120 <= px["alpha.png"][1] == px["alpha.png"][2] <= 135

    # a camera JPEG stored sideways with EXIF orientation 6 (rotate 90° clockwise to view): tall once applied
    wide = np.zeros((40, 80, 3), np.uint8)
    wide[:, :40] = 255  # left half white: after the rotation the top half is white
    exif = Image.Exif()
    exif[0x0112] = 6
    r = read_uploads([("phone.jpg", encode(Image.fromarray(wide), "JPEG", exif=exif, quality=95))])
    out = r.images[0].image.astype(int)
    assert out[: SIDE // 2 - 8].mean() > 200 and out[SIDE // 2 + 8:].mean() < 50


def test_animated_gif_keeps_the_first_frame_and_says_so():
    frames = [Image.fromarray(np.full((16, 16, 3), v, np.uint8)) for v in (255, 0, 128)]
    buf = io.BytesIO()
    frames[0].save(buf, "GIF", save_all=True, append_images=frames[1:], duration=50)
    r = read_uploads([("anim.gif", buf.getvalue())])
    assert len(r.images) == 1 and r.images[0].image.min() > 200  # the first (white) frame
    assert r.notes and "first frame" in r.notes[0][1] and "3 frames" in r.notes[0][1]


def test_duplicates_by_content_within_an_upload_and_against_the_session():
    a = img(seed=1)
    r = read_uploads([("a.png", encode(a)), ("a_again.bmp", encode(a, "BMP"))])
    assert len(r.images) == 1 and "duplicate" in skipped(r)["a_again.bmp"]
    r2 = read_uploads([("later.png", encode(a))], held_digests={r.images[0].digest})
    assert not r2.images and "duplicate" in skipped(r2)["later.png"]


def test_zip_members_captions_and_unsafe_paths():
    data = zip_of({"class/b.png": encode(img(seed=2)), "class/a.png": encode(img(seed=3)),
                   "class/captions.txt": b"a.png\tOur class cat.\n", "../escape.png": encode(img(seed=4)),
                   "/etc/abs.png": encode(img(seed=5)), "__MACOSX/._a.png": b"junk", "notes.txt": b"hello",
                   "inner.zip": zip_of({"x.png": encode(img(seed=6))})})
    r = read_uploads([("class.zip", data)])
    assert [im.name for im in r.images] == ["a.png", "b.png"]  # sorted by file name, like a folder
    assert r.images[0].caption == "Our class cat." and r.images[1].caption == "An image named b."
    s = skipped(r)
    assert "leaves the archive" in s["class.zip/../escape.png"] and "leaves the archive" in s["class.zip//etc/abs.png"]
    assert "zip inside a zip" in s["class.zip/inner.zip"] and "not an image type" in s["class.zip/notes.txt"]
    assert not any("__MACOSX" in k for k in s)


def test_zip_bombs_are_refused_whole():
    bomb = zip_of({"zeros.png": b"\0" * (20 * 1024 ** 2), "ok.png": encode(img(seed=7))})  # ratio ~1000 : 1
    r = read_uploads([("bomb.zip", bomb)])
    assert not r.images and "zip bomb" in skipped(r)["bomb.zip"]
    big = zip_of({f"f{i}.png": encode(img(seed=i)) for i in range(3)}, zipfile.ZIP_STORED)
    r = read_uploads([("big.zip", big)], UploadCaps(max_zip_bytes=len(big) // 2))
    assert not r.images and "unpack to" in skipped(r)["big.zip"]


def test_caps_count_bytes_per_image_and_per_session():
    files = [(f"f{i}.png", encode(img(seed=10 + i))) for i in range(5)]
    r = read_uploads(files, UploadCaps(max_images=3))
    assert len(r.images) == 3 and all("full (3 images" in s for _, s in r.skipped[-2:])
    size = len(files[0][1])
    r = read_uploads(files, UploadCaps(max_image_bytes=size - 1))
    assert len(r.images) < 5 and "largest accepted" in skipped(r)["f0.png"]
    r = read_uploads(files, UploadCaps(max_session_bytes=int(2.5 * size)), held=0)
    assert len(r.images) == 2 and "used its" in r.skipped[0][1]


def test_session_bank_equals_the_folder_dataset_of_the_same_files(tmp_path):
    for i in range(7):
        Image.fromarray(img(30 + 9 * i, 64 - 3 * i, seed=20 + i)).save(tmp_path / f"p{i}.png")
    (tmp_path / "captions.json").write_text(json.dumps({"p3.png": "number three"}))
    mine = SessionImages()
    r = mine.add(sorted(p for p in tmp_path.iterdir()))
    assert len(r.images) == 7 and not r.skipped
    ds = load_dataset(f"folder:{tmp_path}")
    np.testing.assert_array_equal(mine.dataset().images, ds.images)  # uint8, exactly the same pixels
    assert mine.dataset().captions == ds.captions and "number three" in ds.captions
    enc = get_image_encoder("pixels")
    bank = mine.bank(enc)
    assert bank.codes.shape == (7, enc.code_dim) and bank.meta["session"]
    from hen_demo.data import build_bank

    ref = build_bank(f"folder:{tmp_path}", enc, n=None, use_cache=False, precomputed=False)
    np.testing.assert_allclose(bank.codes.numpy(), ref.codes.numpy(), atol=1e-6)

    # adding encodes only the new image; removing drops its row; the order stays the bank order
    mine.add([("new.png", encode(img(seed=99)))])
    assert len(mine.bank(enc)) == 8
    mine.remove([0])
    b2 = mine.bank(enc)
    np.testing.assert_allclose(b2.codes[:6].numpy(), ref.codes[1:].numpy(), atol=1e-6)
    with pytest.raises(ValueError, match="no image 9"):
        mine.remove([9])


def test_session_store_isolates_evicts_with_a_reason_and_forgets_idle_sessions():
    now = [0.0]
    store = SessionStore(max_sessions=2, idle_s=60, clock=lambda: now[0])
    a = store.get("A")
    a.add([("a.png", encode(img(seed=30)))])
    assert len(store.get("B")) == 0  # B never sees A's images
    store.get("C")  # a third session: A, the least recently used, is dropped
    assert not store.holds("A") and len(a) == 0
    back = store.get("A")
    assert len(back) == 0 and "holds the images of 2 sessions" in back.notice
    assert store.holds("A") and not store.holds("B")  # A's return dropped B, now the least recently used
    now[0] = 61.0
    store.get("C")  # used now; A is idle past 60 s
    assert store.sweep() == ["A"] and store.holds("C")
    assert store.drop("C") and store.wait_dropped("C", timeout=0)
    with pytest.raises(ValueError, match="browser session"):
        store.get(None)
