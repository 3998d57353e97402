"""The emoji dataset: the shipped atlas loads offline (no font, no network) with a name and a group per image;
a missing or damaged atlas is refused with a message naming the file; the builder filters Unicode's list and
drops glyphs the font lacks; rebuilding from the font gives the shipped pixels."""

import hashlib
import json
import shutil
import socket
from pathlib import Path

import numpy as np
import pytest

from hen_demo.data import emoji, list_datasets, load_dataset

ASSETS = Path(__file__).resolve().parents[1] / "assets" / "emoji"
HAS_FONT = emoji.FONT_PATH.is_file() and emoji.EMOJI_TEST_PATH.is_file()
needs_font = pytest.mark.skipif(not HAS_FONT, reason="needs fonts-noto-color-emoji and unicode-data")


@pytest.fixture
def fresh_cache():
    emoji._load_atlas_cached.cache_clear()
    yield
    emoji._load_atlas_cached.cache_clear()


@pytest.fixture
def atlas_copy(tmp_path, monkeypatch, fresh_cache):
    """A copy of the shipped atlas in tmp_path/emoji that the loader reads instead."""
    d = tmp_path / "emoji"
    shutil.copytree(ASSETS, d)
    monkeypatch.setattr(emoji, "atlas_dir", lambda: d)
    return d


def test_count_captions_groups_and_distinct_pictures():
    ds = load_dataset("emoji")
    n = len(ds)
    assert n >= 1500
    assert ds.images.shape == (n, 64, 64, 3) and ds.images.dtype == np.uint8
    assert len(ds.captions) == len(ds.ids) == len(ds.labels) == n
    assert all(c.strip() for c in ds.captions)
    assert len(set(ds.captions)) == n and len(set(ds.ids)) == n
    assert len({im.tobytes() for im in ds.images}) == n  # every picture distinct
    names = emoji.groups()
    assert {"Smileys & Emotion", "Animals & Nature", "Food & Drink", "Flags"} <= set(names)
    assert "Component" not in names
    assert all(0 <= lab < len(names) for lab in ds.labels)
    by_name = dict(zip(ds.captions, (names[lab] for lab in ds.labels)))
    assert by_name["cat face"] == "Animals & Nature"
    assert by_name["red apple"] == "Food & Drink"
    assert by_name["flag: Japan"] == "Flags"
    # no skin-tone or hair-component variants (code points and names)
    codes = [int(c, 16) for e in emoji.load_atlas()[1] for c in e.codepoints.split()]
    assert not any(0x1F3FB <= c <= 0x1F3FF or 0x1F9B0 <= c <= 0x1F9B3 for c in codes)
    assert not any(("skin tone" in c) or c.endswith((": red hair", ": curly hair", ": white hair", ": bald"))
                   for c in ds.captions)
    # white background, coloured glyph: corners white, some strongly coloured pixels
    assert (ds.images[:, 0, 0] == 255).all(axis=1).mean() > 0.9
    assert ds.images.std() > 40
    info = {i.name: i for i in list_datasets()}["emoji"]
    assert info.available and info.size == n


def test_seeded_subset_and_bad_n():
    a = load_dataset("emoji", n=50, seed=4)
    b = load_dataset("emoji", n=50, seed=4)
    assert a.ids == b.ids and np.array_equal(a.images, b.images)
    assert a.ids != load_dataset("emoji", n=50, seed=5).ids
    a.images[:] = 0  # a caller's copy: the cached atlas is untouched
    assert load_dataset("emoji", n=50, seed=4).images.std() > 0
    with pytest.raises(ValueError, match="emoji"):
        load_dataset("emoji", n=len(load_dataset("emoji")) + 1)


def test_licence_and_attribution_present():
    licence = (ASSETS / "LICENSE").read_text(encoding="utf-8")
    assert "Apache License" in licence and "Version 2.0" in licence
    assert "Unicode" in (ASSETS / "LICENSE-UNICODE.txt").read_text(encoding="utf-8")
    attribution = (ASSETS / "ATTRIBUTION.md").read_text(encoding="utf-8")
    assert "Noto Color Emoji" in attribution and "Apache" in attribution
    size = sum(p.stat().st_size for p in ASSETS.iterdir())
    assert size <= 15 * 1024 ** 2


def test_loads_without_network_or_font(monkeypatch, fresh_cache, tmp_path):
    def no_network(*args, **kwargs):
        raise AssertionError("the emoji dataset tried to open a network connection")

    monkeypatch.setattr(socket.socket, "connect", no_network)
    monkeypatch.setattr(socket, "create_connection", no_network)
    monkeypatch.setattr(emoji, "FONT_PATH", tmp_path / "no-font.ttf")
    monkeypatch.setattr(emoji, "EMOJI_TEST_PATH", tmp_path / "no-emoji-test.txt")
    import PIL.ImageFont

    def no_font(*args, **kwargs):
        raise AssertionError("loading the atlas must not open a font")

    monkeypatch.setattr(PIL.ImageFont, "truetype", no_font)
    ds = load_dataset("emoji", n=20, seed=0)
    assert ds.images.shape == (20, 64, 64, 3) and ds.images.std() > 20


def _assert_refused_and_others_work(match):
    with pytest.raises(ValueError, match=match) as err:
        load_dataset("emoji", n=3)
    assert "build-emoji" in str(err.value)
    infos = {i.name: i for i in list_datasets()}
    assert not infos["emoji"].available and "build-emoji" in infos["emoji"].reason
    for name in ("photos", "digits", "faces", "tiles"):
        assert infos[name].available
    assert load_dataset("digits", n=3).images.shape == (3, 64, 64, 3)


def test_missing_atlas_is_refused_with_the_file_name(atlas_copy):
    (atlas_copy / "atlas.png").unlink()
    _assert_refused_and_others_work("atlas.png is missing")


def test_missing_index_is_refused(atlas_copy):
    (atlas_copy / "emoji.json").unlink()
    _assert_refused_and_others_work("emoji.json is missing")


def test_truncated_sheet_is_refused(atlas_copy):
    png = atlas_copy / "atlas.png"
    png.write_bytes(png.read_bytes()[:100_000])
    _assert_refused_and_others_work("atlas.png")


def test_altered_pixels_are_refused(atlas_copy):
    from PIL import Image

    png = atlas_copy / "atlas.png"
    sheet = np.array(Image.open(png).convert("RGB"))
    sheet[10, 10] ^= 1  # one pixel of one glyph: a valid PNG that is no longer the indexed atlas
    Image.fromarray(sheet).save(png)
    _assert_refused_and_others_work("does not match its index")


def test_damaged_index_is_refused(atlas_copy):
    index = atlas_copy / "emoji.json"
    index.write_text(index.read_text(encoding="utf-8")[:5000], encoding="utf-8")
    _assert_refused_and_others_work("emoji.json is damaged")
    data = json.loads((ASSETS / "emoji.json").read_text(encoding="utf-8"))
    data["emoji"] = data["emoji"][:-1]  # one name fewer than tiles
    index.write_text(json.dumps(data), encoding="utf-8")
    _assert_refused_and_others_work("does not match")


def test_parse_emoji_test_keeps_only_base_fully_qualified(tmp_path):
    text = """# Version: 15.0
# group: Smileys & Emotion
# subgroup: face-smiling
1F600                                                  ; fully-qualified     # 😀 E1.0 grinning face
263A FE0F                                              ; fully-qualified     # ☺️ E0.6 smiling face
263A                                                   ; unqualified         # ☺ E0.6 smiling face
# group: People & Body
# subgroup: hand-fingers-open
1F44B                                                  ; fully-qualified     # 👋 E0.6 waving hand
1F44B 1F3FB                                            ; fully-qualified     # 👋🏻 E1.0 waving hand: light skin tone
# subgroup: person
1F468 200D 1F9B0                                       ; fully-qualified     # 👨‍🦰 E11.0 man: red hair
# group: Component
# subgroup: skin-tone
1F3FB                                                  ; component           # 🏻 E1.0 light skin tone
1F9B0                                                  ; component           # 🦰 E11.0 red hair
# group: Flags
# subgroup: country-flag
1F1EF 1F1F5                                            ; fully-qualified     # 🇯🇵 E0.6 flag: Japan
"""
    path = tmp_path / "emoji-test.txt"
    path.write_text(text, encoding="utf-8")
    entries = emoji.parse_emoji_test(path)
    assert [e.name for e in entries] == ["grinning face", "smiling face", "waving hand", "flag: Japan"]
    assert [e.group for e in entries] == ["Smileys & Emotion", "Smileys & Emotion", "People & Body", "Flags"]
    assert entries[1].text == "\u263a\ufe0f" and entries[3].id == "emoji/1F1EF-1F1F5"
    with pytest.raises(ValueError, match="unicode-data"):
        emoji.parse_emoji_test(tmp_path / "missing.txt")
    with pytest.raises(ValueError, match="no fully-qualified"):
        (tmp_path / "empty.txt").write_text("# nothing\n", encoding="utf-8")
        emoji.parse_emoji_test(tmp_path / "empty.txt")


def test_png_encoding_is_deterministic(tmp_path):
    rng = np.random.default_rng(0)
    sheet = emoji._sheet(rng.integers(0, 256, (50, 64, 64, 3), dtype=np.uint8))
    assert sheet.shape == (128, emoji.COLUMNS * 64, 3)
    emoji.encode_png(sheet, str(tmp_path / "a.png"))
    emoji.encode_png(sheet, str(tmp_path / "b.png"))
    assert (tmp_path / "a.png").read_bytes() == (tmp_path / "b.png").read_bytes()
    back = emoji._unsheet(np.asarray(__import__("PIL.Image").Image.open(tmp_path / "a.png")), 50)
    assert np.array_equal(back, emoji._unsheet(sheet, 50))


def test_missing_font_is_a_clear_error(tmp_path):
    with pytest.raises(ValueError, match="fonts-noto-color-emoji"):
        emoji.open_font(tmp_path / "none.ttf")


@needs_font
def test_glyphs_the_font_lacks_are_dropped():
    font = emoji.open_font()
    assert emoji.render_glyph(font, "\U0001F431") is not None  # cat face
    assert emoji.render_glyph(font, "\U0001F431\u200d\U0001F34E") is None  # cat ZWJ apple: no such ligature
    assert emoji.render_glyph(font, "\ue000") is None  # private use: .notdef, no ink
    assert emoji.render_glyph(font, "A") is None  # not in the emoji font
    assert emoji.render_glyph(font, "\U0001F1EF\U0001F1EF") is None  # region "JJ": the "?" flag


@needs_font
@pytest.mark.slow
def test_rebuild_from_the_font_gives_the_shipped_atlas(tmp_path):
    shipped = json.loads((ASSETS / "emoji.json").read_text(encoding="utf-8"))
    if hashlib.sha256(emoji.FONT_PATH.read_bytes()).hexdigest() != shipped["font_sha256"]:
        pytest.skip("this machine's Noto Color Emoji is another version than the one the atlas was built from")
    summary = emoji.build_atlas(tmp_path)
    assert summary["pixels_sha256"] == shipped["pixels_sha256"]
    rebuilt = json.loads((tmp_path / "emoji.json").read_text(encoding="utf-8"))
    assert rebuilt["emoji"] == shipped["emoji"]
    assert not list(tmp_path.glob(".*"))  # atomic writes leave no temporary files


@pytest.mark.slow
@pytest.mark.parametrize("encoder", ["pixels", "kl-small"])
def test_build_bank_on_emoji(encoder, tmp_path):
    from hen_demo.data import build_bank

    bank = build_bank("emoji", encoder, n=40, seed=0, cache_dir=tmp_path, precomputed=False)
    assert bank.codes.shape[0] == 40 and len(bank.captions) == 40
    assert bank.recon.dtype == np.uint8 and bank.recon.shape[0] == 40
    again = build_bank("emoji", encoder, n=40, seed=0, cache_dir=tmp_path, precomputed=False)
    assert again.key == bank.key and again.ids == bank.ids
