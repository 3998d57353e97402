"""Bipolar teaching patterns for the classroom tab: letters and digits on a square grid, sklearn's handwritten
digits binarised, drawings binarised, and the pictures that show a bipolar state on screen.

Convention: a pattern is a flat int8 vector of length side*side with +1 = ink ("on") and -1 = background.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
from PIL import Image, ImageDraw, ImageFilter, ImageFont

SIDE = 16  # default grid side: D = 256 neurons

# colours for the projector: ink = dark blue, background = white, masked/unknown = mid grey
_INK = np.array([22, 45, 110], dtype=np.float64)
_PAPER = np.array([250, 250, 250], dtype=np.float64)
_HIGHLIGHT = np.array([230, 40, 40], dtype=np.uint8)


@lru_cache(maxsize=256)
def _glyph(char: str, side: int) -> tuple:
    # Render large with Pillow's bundled font, crop to the ink, pad to a square, blur, box-filter down to side x side,
    # then binarise at the median: every glyph gets half its cells "on". Balanced patterns matter for the Hebbian
    # rule: glyphs that are mostly background share a large common component (cross-talk) and the network then
    # falls into one blended state instead of recalling the letters.
    font = ImageFont.load_default(size=96)
    canvas = Image.new("L", (160, 160), 0)
    draw = ImageDraw.Draw(canvas)
    draw.text((20, 10), char, fill=255, font=font, stroke_width=6, stroke_fill=255)
    box = canvas.getbbox()
    if box is None:
        raise ValueError(f"The character {char!r} cannot be drawn with the bundled font.")
    glyph = canvas.crop(box)
    w, h = glyph.size
    size = int(max(w, h) * 1.05)  # small margin
    square = Image.new("L", (size, size), 0)
    square.paste(glyph, ((size - w) // 2, (size - h) // 2))
    square = square.filter(ImageFilter.GaussianBlur(size / 16))
    small = np.asarray(square.resize((side, side), Image.Resampling.BOX), dtype=np.float64)
    return tuple(_balanced(small).tolist())


def _balanced(values: np.ndarray) -> np.ndarray:
    """Binarise at the median: about half the cells +1. values (side, side) -> (side*side,) int8."""
    flat = values.ravel()
    return np.where(flat > np.quantile(flat, 0.5), 1, -1).astype(np.int8)


def letter_pattern(char: str, side: int = SIDE) -> np.ndarray:
    """One character (letter or digit) as a bipolar vector (side*side,) int8."""
    if not isinstance(char, str) or len(char) != 1 or char.isspace():
        raise ValueError(f"Give exactly one visible character, got {char!r}.")
    if side < 6:
        raise ValueError("The grid side must be at least 6.")
    return np.asarray(_glyph(char, side), dtype=np.int8)


def text_patterns(chars: str, side: int = SIDE) -> np.ndarray:
    """Several characters, e.g. "HOPFIELD" -> (P, side*side) int8. Spaces and commas are ignored; repeated
    characters are stored once."""
    seen = []
    for c in chars:
        if c.isspace() or c == "," or c in seen:
            continue
        seen.append(c)
    if not seen:
        raise ValueError("Type at least one character to store.")
    return np.stack([letter_pattern(c, side) for c in seen])


@lru_cache(maxsize=4)
def _sklearn_digits():
    from sklearn.datasets import load_digits

    d = load_digits()
    return d.images, d.target  # (1797, 8, 8) in 0..16, (1797,)


def sklearn_digit_patterns(count: int = 10, side: int = SIDE, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """``count`` handwritten digits from scikit-learn (first one of each class 0-9 first, then random ones),
    upscaled to side x side and binarised at the median (half the cells on). Returns (patterns (count, side*side) int8, labels)."""
    images, target = _sklearn_digits()
    if not 1 <= count <= len(images):
        raise ValueError(f"count must be between 1 and {len(images)}, got {count}.")
    first = [int(np.flatnonzero(target == k)[0]) for k in range(10)]
    rng = np.random.default_rng(seed)
    rest = [int(i) for i in rng.permutation(len(images)) if int(i) not in first]
    idx = (first + rest)[:count]
    out = []
    for i in idx:
        img = Image.fromarray((images[i] * (255.0 / 16.0)).astype(np.uint8))
        big = np.asarray(img.resize((side, side), Image.Resampling.BILINEAR), dtype=np.float64)
        out.append(_balanced(big))
    return np.stack(out), target[idx]


def binarise_drawing(image, side: int = SIDE, threshold: float = 0.25) -> np.ndarray:
    """A drawing (numpy (H, W), (H, W, 3) or (H, W, 4), a PIL image, or a Gradio ImageEditor value dict) ->
    bipolar (side*side,) int8. Ink = opaque dark strokes: with an alpha channel, ink is alpha * darkness;
    without one, ink is darkness (1 - grey level). Cells whose average ink exceeds ``threshold`` become +1."""
    if isinstance(image, dict):  # gr.ImageEditor / gr.Sketchpad value
        image = image.get("composite") if image.get("composite") is not None else image.get("background")
    if image is None:
        raise ValueError("Draw something first.")
    arr = np.asarray(image.convert("RGBA") if isinstance(image, Image.Image) else image, dtype=np.float64)
    if arr.ndim == 2:
        arr = arr[:, :, None]
    if arr.ndim != 3 or arr.shape[2] not in (1, 3, 4) or arr.shape[0] < 2 or arr.shape[1] < 2:
        raise ValueError(f"The drawing must be an image, got an array of shape {arr.shape}.")
    if arr.max() > 1.0:
        arr = arr / 255.0
    grey = arr[:, :, :3].mean(axis=2) if arr.shape[2] >= 3 else arr[:, :, 0]
    ink = 1.0 - grey
    if arr.shape[2] == 4:
        ink = ink * arr[:, :, 3]
    small = np.asarray(Image.fromarray((ink * 255).astype(np.uint8)).resize((side, side), Image.Resampling.BOX),
                       dtype=np.float64) / 255.0
    return np.where(small > threshold, 1, -1).astype(np.int8).ravel()


def state_image(state, side: int | None = None, scale: int = 16, highlight: int | None = None,
                grid: bool = True) -> np.ndarray:
    """Picture of a state for gr.Image: uint8 (side*scale, side*scale, 3).

    state: (D,) with D = side^2. Bipolar values draw as ink/paper; 0 (masked) as grey; any real values (a Kohonen
    output) are scaled by their largest magnitude onto the same ink-paper ramp. ``highlight``: index of a neuron to
    outline in red (the one the asynchronous dynamics just visited)."""
    v = np.asarray(state, dtype=np.float64).ravel()
    side = int(round(np.sqrt(v.size))) if side is None else side
    if side * side != v.size:
        raise ValueError(f"A state of length {v.size} is not a square grid.")
    peak = np.abs(v).max()
    t = (v / peak if peak > 0 else v).reshape(side, side)  # in [-1, 1]
    frac = (t + 1.0) / 2.0  # 1 = ink, 0 = paper, 0.5 = grey
    rgb = _PAPER + (_INK - _PAPER) * frac[:, :, None]
    rgb = np.where(np.isclose(t, 0.0)[:, :, None], np.array([170.0, 170.0, 170.0]), rgb)
    img = np.repeat(np.repeat(rgb, scale, axis=0), scale, axis=1).astype(np.uint8)
    if grid and scale >= 6:
        img[::scale, :, :] = 205
        img[:, ::scale, :] = 205
    if highlight is not None and 0 <= highlight < v.size:
        r, c = divmod(int(highlight), side)
        y0, x0, w = r * scale, c * scale, max(2, scale // 4)
        img[y0:y0 + scale, x0:x0 + w] = _HIGHLIGHT
        img[y0:y0 + scale, x0 + scale - w:x0 + scale] = _HIGHLIGHT
        img[y0:y0 + w, x0:x0 + scale] = _HIGHLIGHT
        img[y0 + scale - w:y0 + scale, x0:x0 + scale] = _HIGHLIGHT
    return img


def gallery_strip(patterns, side: int | None = None, scale: int = 6, gap: int = 4) -> np.ndarray:
    """Several states side by side in one picture (uint8), e.g. the stored memories."""
    pats = np.atleast_2d(np.asarray(patterns))
    tiles = [state_image(p, side, scale=scale, grid=False) for p in pats]
    h = tiles[0].shape[0]
    spacer = np.full((h, gap, 3), 255, dtype=np.uint8)
    row = []
    for k, t in enumerate(tiles):
        if k:
            row.append(spacer)
        row.append(t)
    return np.concatenate(row, axis=1)


def labelled_grid(tiles: list[np.ndarray], labels: list[str], columns: int = 2, gap: int = 14,
                  font_size: int = 20) -> np.ndarray:
    """Tiles (uint8 (h, w, 3), all the same size) in a grid, each with a caption above it; one uint8 picture.
    Used instead of a gallery so wide tiles (target | final) stay large and readable on a projector."""
    if not tiles:
        raise ValueError("Nothing to show.")
    h, w = tiles[0].shape[:2]
    font = ImageFont.load_default(size=font_size)
    cap = font_size + 8
    rows = (len(tiles) + columns - 1) // columns
    canvas = Image.new("RGB", (columns * w + (columns - 1) * gap, rows * (h + cap + gap)), (255, 255, 255))
    draw = ImageDraw.Draw(canvas)
    for k, (tile, label) in enumerate(zip(tiles, labels)):
        r, c = divmod(k, columns)
        x, y = c * (w + gap), r * (h + cap + gap)
        draw.text((x + 2, y + 2), label, fill=(20, 20, 20), font=font)
        canvas.paste(Image.fromarray(np.ascontiguousarray(tile)), (x, y + cap))
    return np.asarray(canvas)
