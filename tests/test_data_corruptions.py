"""Query corruptions: each kind hides exactly what it promises."""

import numpy as np
import pytest
import torch

from hen_demo.data.corruptions import CORRUPTIONS, corrupt


@pytest.fixture
def ones():
    return torch.ones(2, 3, 10, 8)


@pytest.mark.parametrize("kind,region", [
    ("occlude-top", (slice(0, 5), slice(None))), ("occlude-bottom", (slice(5, 10), slice(None))),
    ("occlude-left", (slice(None), slice(0, 4))), ("occlude-right", (slice(None), slice(4, 8))),
])
def test_occlusions_hide_the_named_half(ones, kind, region):
    x = corrupt(ones, kind=kind, amount=0.5)
    expected = torch.ones(10, 8)
    expected[region] = 0
    for b in range(2):
        for c in range(3):
            assert torch.equal(x[b, c], expected)
    assert torch.equal(ones, torch.ones(2, 3, 10, 8))  # input untouched


def test_random_mask_fraction_and_seed(ones):
    big = torch.ones(4, 3, 64, 64)
    x = corrupt(big, kind="mask-random", amount=0.3, seed=1)
    frac = float((x[:, 0] == 0).float().mean())
    assert abs(frac - 0.3) < 0.02
    assert torch.equal((x == 0).any(1), (x == 0).all(1))  # whole pixels, all channels
    assert torch.equal(x, corrupt(big, kind="mask-random", amount=0.3, seed=1))
    assert not torch.equal(x, corrupt(big, kind="mask-random", amount=0.3, seed=2))


def test_noise_sigma_and_clipping():
    x = torch.full((2, 3, 64, 64), 0.5)
    y = corrupt(x, kind="noise", amount=0.1, seed=0)
    assert abs(float((y - x).std()) - 0.1) < 0.01
    z = corrupt(x, kind="noise", amount=5.0, seed=0)
    assert float(z.min()) >= 0 and float(z.max()) <= 1


def test_user_mask_and_none(ones):
    m = np.zeros((10, 8), bool)
    m[2, 3] = True
    x = corrupt(ones, kind="mask", mask=m)
    assert float(x.sum()) == 2 * 3 * (80 - 1) and float(x[0, :, 2, 3].sum()) == 0
    assert torch.equal(corrupt(ones, kind="none"), ones)
    assert set(CORRUPTIONS) >= {"none", "occlude-top", "occlude-bottom", "occlude-left", "occlude-right",
                                "mask-random", "noise", "mask"}


def test_bad_arguments(ones):
    with pytest.raises(ValueError, match="unknown corruption"):
        corrupt(ones, kind="blur")
    with pytest.raises(ValueError):
        corrupt(ones, kind="occlude-top", amount=1.5)
    with pytest.raises(ValueError):
        corrupt(ones, kind="noise", amount=-1)
    with pytest.raises(ValueError, match="needs a mask"):
        corrupt(ones, kind="mask")
    with pytest.raises(ValueError, match="shape"):
        corrupt(ones, kind="mask", mask=np.zeros((3, 3), bool))
    with pytest.raises(ValueError):
        corrupt(torch.ones(3, 10, 8), kind="none")


def test_encode_corrupted_batches_match_one_pass_and_report_progress():
    from hen_demo.data.corruptions import encode_corrupted
    from hen_demo.data.images import to_float_tensor
    from hen_demo.encoders import get_image_encoder

    enc = get_image_encoder("pixels")
    images = np.random.default_rng(0).integers(0, 256, size=(7, 28, 28, 3), dtype=np.uint8)
    seen = []
    codes = encode_corrupted(enc, images, "occlude-left", 0.5, batch=3, progress=seen.append)
    ref = enc.encode(corrupt(to_float_tensor(images), "occlude-left", 0.5))
    assert torch.allclose(codes, ref)
    assert seen[-1] == 1.0 and len(seen) == 3
