"""Image helpers and file loading: documented conversions and clear errors for bad files."""

import io

import numpy as np
import pytest
import torch
from PIL import Image

from hen_demo.data.images import MAX_SIDE, load_image_file, to_float_tensor, to_uint8


def test_round_trip_uint8_float():
    rng = np.random.default_rng(0)
    x = rng.integers(0, 256, size=(3, 5, 7, 3), dtype=np.uint8)
    t = to_float_tensor(x)
    assert t.shape == (3, 3, 5, 7) and t.dtype == torch.float32
    assert float(t.min()) >= 0 and float(t.max()) <= 1
    np.testing.assert_array_equal(to_uint8(t), x)


def test_to_uint8_clips_and_handles_nan():
    t = torch.tensor([[-1.0, 0.5, 2.0, float("nan")]]).reshape(1, 1, 1, 4).expand(1, 3, 1, 4)
    out = to_uint8(t)
    assert out.tolist()[0][0] == [[0, 0, 0], [128, 128, 128], [255, 255, 255], [0, 0, 0]]


def test_to_float_tensor_rejects_wrong_input():
    with pytest.raises(ValueError):
        to_float_tensor(np.zeros((2, 4, 4), np.uint8))
    with pytest.raises(ValueError):
        to_float_tensor(np.zeros((1, 4, 4, 3), np.float32))


def _png_bytes(img: Image.Image) -> bytes:
    buf = io.BytesIO()
    img.save(buf, format="PNG")
    return buf.getvalue()


def test_grayscale_rgba_palette_16bit_become_rgb_uint8(tmp_path):
    gray = Image.fromarray(np.full((4, 6), 100, np.uint8), mode="L")
    out = load_image_file(_png_bytes(gray))
    assert out.shape == (4, 6, 3) and out.dtype == np.uint8 and (out == 100).all()

    rgba = np.zeros((4, 4, 4), np.uint8)
    rgba[..., 0] = 200
    rgba[..., 3] = 0  # fully transparent -> white
    rgba[0, 0, 3] = 255  # one opaque red pixel
    out = load_image_file(Image.fromarray(rgba, mode="RGBA"))
    assert out[0, 0].tolist() == [200, 0, 0] and out[1, 1].tolist() == [255, 255, 255]

    pal = Image.fromarray(np.full((3, 3, 3), (10, 20, 30), np.uint8)).convert("P", palette=Image.ADAPTIVE)
    assert load_image_file(_png_bytes(pal))[1, 1].tolist() == [10, 20, 30]

    sixteen = Image.fromarray(np.full((5, 5), 65535, np.uint16))
    p = tmp_path / "deep.png"
    sixteen.save(p)
    out = load_image_file(p)
    assert out.dtype == np.uint8 and out.shape == (5, 5, 3) and (out == 255).all()
    mid = np.full((2, 2), 257 * 40, np.uint16)
    assert (load_image_file(mid) == 40).all()  # numpy 16-bit path: value / 257


def test_corrupt_and_missing_files_raise_value_error(tmp_path):
    bad = tmp_path / "bad.png"
    bad.write_bytes(b"this is not a png")
    with pytest.raises(ValueError, match="not an image"):
        load_image_file(bad)
    good = _png_bytes(Image.fromarray(np.random.default_rng(0).integers(0, 255, (64, 64, 3), dtype=np.uint8)))
    truncated = tmp_path / "trunc.png"
    truncated.write_bytes(good[: len(good) // 2])
    with pytest.raises(ValueError, match="corrupt|truncated|not an image"):
        load_image_file(truncated)
    with pytest.raises(ValueError, match="not found"):
        load_image_file(tmp_path / "nope.jpg")


def test_too_wide_image_is_rejected_with_readable_message(tmp_path):
    wide = Image.new("L", (8000, 2))
    p = tmp_path / "wide.png"
    wide.save(p)
    with pytest.raises(ValueError, match=str(MAX_SIDE)):
        load_image_file(p)
    ok = Image.new("RGB", (MAX_SIDE, 1))
    assert load_image_file(ok).shape == (1, MAX_SIDE, 3)
