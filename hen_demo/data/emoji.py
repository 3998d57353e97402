"""The ``emoji`` dataset: Noto Color Emoji glyphs at 64×64 on white, named by their CLDR short names.

Pictures everyone recognises, with a one-line name each ("cat face", "red apple", "flag: Japan") that a text
encoder can match, and families of near-identical glyphs (the smileys) that give natural metastable mixtures
in a Hopfield memory.

Source data (both read only by ``python -m hen_demo build-emoji``; loading needs neither):

* the glyphs: Noto Color Emoji (Debian package ``fonts-noto-color-emoji``), rendered by Pillow with raqm
  layout at the font's bitmap size (109 px, ``embedded_color=True``), centred on a square, composited onto
  white and shrunk to 64×64 with a Lanczos filter;
* the list, names and groups: Unicode's ``emoji-test.txt`` (Debian package ``unicode-data``, UTS #51). Every
  *fully-qualified* emoji outside the "Component" group is taken, except sequences that carry a skin-tone
  modifier (U+1F3FB..U+1F3FF) or a hair component (U+1F9B0..U+1F9B3), so each picture is a distinct emoji.

Glyphs the font lacks are detected and dropped: a sequence the font does not ligate lays out as several glyphs
(its advance is wider than one glyph), a missing single code point draws the font's empty ``.notdef`` (no
ink), a flag it does not know draws a "?" flag (compared with the rendering of the non-region "ZZ"), and of
several identical renderings (one flag for several regions) only the shortest name is kept.

The shipped atlas (``assets/emoji/``): ``atlas.png``, one sheet of ``COLUMNS`` tiles per row in the order of
``emoji.json``, which holds per emoji its code points, name, group and subgroup, plus the SHA-256 of the
sheet's decoded pixels (checked on load, so a damaged sheet is refused with a message). The images are
Apache-2.0 (see ``assets/emoji/LICENSE`` and ``ATTRIBUTION.md``).
"""

from __future__ import annotations

import argparse
import functools
import hashlib
import json
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from hen_demo.atomic import atomic_write, atomic_write_text
from hen_demo.data.offline import SIDE, assets_dir

FONT_PATH = Path("/usr/share/fonts/truetype/noto/NotoColorEmoji.ttf")  # Debian: fonts-noto-color-emoji
EMOJI_TEST_PATH = Path("/usr/share/unicode/emoji/emoji-test.txt")  # Debian: unicode-data
FONT_SIZE = 109  # the only size of Noto Color Emoji's CBDT bitmaps (136×128 px glyphs)
COLUMNS = 48  # tiles per row of the atlas sheet
ATLAS_VERSION = 1  # bump when the rendering or selection rule changes
SKIN_TONES = range(0x1F3FB, 0x1F400)  # Fitzpatrick modifiers
HAIR = range(0x1F9B0, 0x1F9B4)  # red, curly, white hair, bald
REBUILD = ("rebuild it with `python -m hen_demo build-emoji` (needs the Debian packages fonts-noto-color-emoji "
           "and unicode-data)")


@dataclass(frozen=True)
class EmojiEntry:
    """One emoji of the atlas."""

    codepoints: str  # hex code points separated by spaces, as in emoji-test.txt: "1F1EF 1F1F5"
    name: str  # CLDR short name: "flag: Japan"
    group: str  # emoji-test.txt group: "Flags"
    subgroup: str  # emoji-test.txt subgroup: "country-flag"

    @property
    def text(self) -> str:
        return "".join(chr(int(c, 16)) for c in self.codepoints.split())

    @property
    def id(self) -> str:
        return "emoji/" + self.codepoints.replace(" ", "-")


def atlas_dir() -> Path:
    return assets_dir() / "emoji"


def atlas_paths() -> tuple[Path, Path]:
    """(sheet PNG, index JSON) of the shipped atlas."""
    d = atlas_dir()
    return d / "atlas.png", d / "emoji.json"


# ---- parsing the Unicode list ----------------------------------------------------------------------------
def parse_emoji_test(path: str | Path = EMOJI_TEST_PATH) -> list[EmojiEntry]:
    """Fully-qualified emoji of ``emoji-test.txt`` in its (CLDR) order, without components, skin tones, hair."""
    path = Path(path)
    if not path.is_file():
        raise ValueError(f"Unicode's emoji list {path} was not found; install the Debian package unicode-data "
                         "or pass --emoji-test PATH.")
    out, group, subgroup = [], "", ""
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.startswith("# group:"):
            group = line.split(":", 1)[1].strip()
            continue
        if line.startswith("# subgroup:"):
            subgroup = line.split(":", 1)[1].strip()
            continue
        if not line.strip() or line.startswith("#"):
            continue
        fields, _, comment = line.partition("#")
        cps, _, status = fields.partition(";")
        if status.strip() != "fully-qualified" or group == "Component":
            continue
        codes = [int(c, 16) for c in cps.split()]
        if any(c in SKIN_TONES or c in HAIR for c in codes):
            continue
        # comment: "<emoji> E<version> <name>"
        name = comment.strip().split(" ", 2)[2]
        out.append(EmojiEntry(" ".join(f"{c:04X}" for c in codes), name, group, subgroup))
    if not out:
        raise ValueError(f"{path} holds no fully-qualified emoji; is it Unicode's emoji-test.txt?")
    return out


# ---- rendering ---------------------------------------------------------------------------------------------
def open_font(path: str | Path = FONT_PATH):
    from PIL import ImageFont, features

    path = Path(path)
    if not path.is_file():
        raise ValueError(f"The emoji font {path} was not found; install the Debian package fonts-noto-color-emoji "
                         "or pass --font PATH.")
    if not features.check("raqm"):  # without raqm, ZWJ sequences and flags are not ligated into one glyph
        raise ValueError("Pillow was built without raqm (libraqm) text layout, which emoji sequences need.")
    return ImageFont.truetype(str(path), FONT_SIZE, layout_engine=ImageFont.Layout.RAQM)


UNKNOWN_FLAG = "\U0001F1FF\U0001F1FF"  # regional indicators "ZZ": no region; the font draws its "?" flag


def render_glyph(font, text: str) -> np.ndarray | None:
    """uint8 (64, 64, 3): ``text`` drawn as one colour glyph, centred, on white; None if the font lacks it."""
    img = _draw(font, text)
    if not hasattr(font, "_hen_unknown_flag"):
        font._hen_unknown_flag = _draw(font, UNKNOWN_FLAG)
    if img is not None and text != UNKNOWN_FLAG and np.array_equal(img, font._hen_unknown_flag):
        return None  # a flag the font does not know: its "?" placeholder
    return img


def _draw(font, text: str) -> np.ndarray | None:
    from PIL import ImageDraw

    one = font.getlength("\U0001F600")  # advance of a single glyph
    if font.getlength(text) > 1.5 * one:  # not ligated: the font draws the sequence as several glyphs
        return None
    left, top, right, bottom = font.getbbox(text)
    w, h = right - left, bottom - top
    side = max(w, h)
    layer = Image.new("RGBA", (side, side), (255, 255, 255, 0))
    ImageDraw.Draw(layer).text(((side - w) // 2 - left, (side - h) // 2 - top), text, font=font,
                               embedded_color=True)
    if layer.getchannel("A").getbbox() is None:  # .notdef of a colour font: no ink
        return None
    white = Image.new("RGBA", layer.size, (255, 255, 255, 255))
    rgb = Image.alpha_composite(white, layer).convert("RGB")
    return np.asarray(rgb.resize((SIDE, SIDE), Image.LANCZOS), dtype=np.uint8)


def _pixels_sha256(sheet: np.ndarray) -> str:
    return hashlib.sha256(np.ascontiguousarray(sheet).tobytes()).hexdigest()


def _sheet(images: np.ndarray) -> np.ndarray:
    """uint8 (N, 64, 64, 3) -> uint8 (rows·64, COLUMNS·64, 3), white where no tile."""
    n = len(images)
    rows = -(-n // COLUMNS)
    padded = np.full((rows * COLUMNS, SIDE, SIDE, 3), 255, np.uint8)
    padded[:n] = images
    return padded.reshape(rows, COLUMNS, SIDE, SIDE, 3).transpose(0, 2, 1, 3, 4).reshape(rows * SIDE,
                                                                                         COLUMNS * SIDE, 3)


def _unsheet(sheet: np.ndarray, n: int) -> np.ndarray:
    rows = sheet.shape[0] // SIDE
    tiles = sheet.reshape(rows, SIDE, COLUMNS, SIDE, 3).transpose(0, 2, 1, 3, 4).reshape(-1, SIDE, SIDE, 3)
    return np.ascontiguousarray(tiles[:n])


def render_all(font_path=FONT_PATH, emoji_test=EMOJI_TEST_PATH, progress: bool = False):
    """Render every listed emoji the font has. Returns (images uint8 (N, 64, 64, 3), entries, dropped) where
    ``dropped`` maps a reason ("not in the font", "duplicate picture") to the names dropped for it."""
    entries = parse_emoji_test(emoji_test)
    font = open_font(font_path)
    it = entries
    if progress:
        from tqdm import tqdm
        it = tqdm(entries, desc="rendering emoji", unit="glyph")
    rendered = []  # (entry, image, digest) for the glyphs the font has
    dropped: dict[str, list[str]] = {"not in the font": [], "duplicate picture": []}
    for e in it:
        img = render_glyph(font, e.text)
        if img is None:
            dropped["not in the font"].append(e.name)
        else:
            rendered.append((e, img, hashlib.sha256(img.tobytes()).digest()))
    # identical pictures (a flag shared by several regions, "family" = "family: man, man, boy"): keep the
    # shortest name ("flag: France", not "flag: Clipperton Island"), the first listed on a tie
    winner: dict[bytes, EmojiEntry] = {}
    for e, _, digest in rendered:
        if digest not in winner or len(e.name) < len(winner[digest].name):
            winner[digest] = e
    images, kept = [], []
    for e, img, digest in rendered:
        if winner[digest] is e:
            images.append(img)
            kept.append(e)
        else:
            dropped["duplicate picture"].append(e.name)
    return np.stack(images), kept, dropped


def encode_png(sheet: np.ndarray, path: str) -> None:
    """PNG with no metadata chunks (no time stamp), so the same pixels give the same bytes with one zlib."""
    Image.fromarray(sheet).save(path, format="PNG", optimize=True)


def build_atlas(out_dir: str | Path | None = None, font_path=FONT_PATH, emoji_test=EMOJI_TEST_PATH,
                progress: bool = False) -> dict:
    """Render the atlas and write ``atlas.png`` + ``emoji.json`` into ``out_dir`` (default assets/emoji),
    each atomically, sheet first (the index names the sheet's pixel hash). Returns the index's summary."""
    out_dir = Path(out_dir) if out_dir is not None else atlas_dir()
    images, entries, dropped = render_all(font_path, emoji_test, progress)
    sheet = _sheet(images)
    font_name = " ".join(open_font(font_path).getname())
    index = {
        "version": ATLAS_VERSION,
        "side": SIDE,
        "columns": COLUMNS,
        "count": len(entries),
        "pixels_sha256": _pixels_sha256(sheet),
        "font": f"{font_name} ({Path(font_path).name})",
        "font_sha256": hashlib.sha256(Path(font_path).read_bytes()).hexdigest(),
        "emoji_list": _list_version(emoji_test),
        "dropped": dropped,
        "emoji": [asdict(e) for e in entries],
    }
    atlas_write(out_dir, sheet, index)
    return {k: v for k, v in index.items() if k != "emoji"}


def atlas_write(out_dir: Path, sheet: np.ndarray, index: dict) -> None:
    atomic_write(out_dir / "atlas.png", lambda tmp: encode_png(sheet, tmp))
    atomic_write_text(out_dir / "emoji.json", json.dumps(index, ensure_ascii=False, indent=1) + "\n")


def _list_version(emoji_test) -> str:
    for line in Path(emoji_test).read_text(encoding="utf-8").splitlines()[:20]:
        if line.startswith("# Version:"):
            return f"emoji-test.txt {line.split(':', 1)[1].strip()} (Unicode UTS #51)"
    return "emoji-test.txt"


# ---- loading the shipped atlas ----------------------------------------------------------------------------
def load_atlas() -> tuple[np.ndarray, list[EmojiEntry]]:
    """(images uint8 (N, 64, 64, 3), entries) from the shipped atlas; ValueError naming the file if it is
    missing or damaged. Needs neither the font nor the network."""
    png, index = atlas_paths()
    stamps = tuple((str(p), p.stat().st_mtime_ns, p.stat().st_size) if p.is_file() else (str(p), None, None)
                   for p in (png, index))
    return _load_atlas_cached(stamps)


@functools.lru_cache(maxsize=2)
def _load_atlas_cached(stamps) -> tuple[np.ndarray, list[EmojiEntry]]:
    (png, png_mtime, _), (index_path, index_mtime, _) = stamps
    for path, mtime in ((index_path, index_mtime), (png, png_mtime)):
        if mtime is None:
            raise ValueError(f"The emoji atlas file {path} is missing; {REBUILD}.")
    try:
        index = json.loads(Path(index_path).read_text(encoding="utf-8"))
        entries = [EmojiEntry(**e) for e in index["emoji"]]
        count, side, columns, digest = index["count"], index["side"], index["columns"], index["pixels_sha256"]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise ValueError(f"The emoji atlas index {index_path} is damaged ({type(exc).__name__}: {exc}); "
                         f"{REBUILD}.") from None
    if count != len(entries) or side != SIDE or columns != COLUMNS:
        raise ValueError(f"The emoji atlas index {index_path} does not match this version of hen_demo "
                         f"(count {count} for {len(entries)} entries, side {side}, columns {columns}); {REBUILD}.")
    try:
        with Image.open(png) as im:
            sheet = np.asarray(im.convert("RGB"), dtype=np.uint8)
    except Exception as exc:  # PIL raises several types for truncated or non-image files
        raise ValueError(f"The emoji atlas sheet {png} cannot be read ({type(exc).__name__}: {exc}); "
                         f"{REBUILD}.") from None
    if sheet.shape != (-(-count // COLUMNS) * SIDE, COLUMNS * SIDE, 3) or _pixels_sha256(sheet) != digest:
        raise ValueError(f"The emoji atlas sheet {png} does not match its index {index_path} "
                         f"(damaged or from another build); {REBUILD}.")
    images = _unsheet(sheet, count)
    images.setflags(write=False)  # shared by every caller through the cache
    return images, entries


def atlas_fingerprint() -> str:
    """SHA-256 of the atlas's pixels and names (part of a bank's cache key: a rebuilt atlas is a new dataset)."""
    images, entries = load_atlas()
    h = hashlib.sha256(images.tobytes())
    h.update(json.dumps([asdict(e) for e in entries]).encode())
    return h.hexdigest()


def emoji_count() -> int:
    return len(load_atlas()[1])


def groups() -> list[str]:
    """The groups present, in emoji-test.txt order; a dataset's ``labels`` index into this list."""
    out: list[str] = []
    for e in load_atlas()[1]:
        if e.group not in out:
            out.append(e.group)
    return out


def load_emoji():
    """(images uint8 (N, 64, 64, 3), captions = CLDR names, ids "emoji/1F600", labels = group index)."""
    images, entries = load_atlas()
    names = groups()
    return (np.array(images), [e.name for e in entries], [e.id for e in entries],
            [names.index(e.group) for e in entries])


# ---- command line: python -m hen_demo build-emoji ------------------------------------------------------------
def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--font", default=str(FONT_PATH), help="Noto Color Emoji .ttf (default: %(default)s)")
    p.add_argument("--emoji-test", default=str(EMOJI_TEST_PATH),
                   help="Unicode's emoji-test.txt (default: %(default)s)")
    p.add_argument("--out", default=None, help="output folder (default: assets/emoji of this checkout)")


def run(args) -> int:
    summary = build_atlas(args.out, args.font, args.emoji_test, progress=True)
    out = Path(args.out) if args.out else atlas_dir()
    dropped = ", ".join(f"{len(v)} {k}" for k, v in summary["dropped"].items())
    print(f"wrote {summary['count']} emoji to {out / 'atlas.png'} and {out / 'emoji.json'} (dropped: {dropped})")
    return 0
