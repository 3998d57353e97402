"""Fills of hidden pixels: each writes the right values, only where the corruption hides, and bad names fail."""

import numpy as np
import pytest
import torch

from hen_demo.data.corruptions import FILLS, FillStats, corrupt, corruption_mask, encode_corrupted, fill_stats


@pytest.fixture
def images():
    return torch.rand(3, 3, 8, 6, generator=torch.Generator().manual_seed(0)) * 0.5 + 0.25  # (B, 3, H, W)


@pytest.fixture
def stats():
    mean = torch.arange(3 * 8 * 6, dtype=torch.float32).reshape(3, 8, 6) / (3 * 8 * 6)
    return FillStats(grey=0.4, mean_image=mean)


@pytest.mark.parametrize("kind,amount", [("occlude-bottom", 0.5), ("occlude-left", 0.5), ("mask-random", 0.3)])
@pytest.mark.parametrize("fill", FILLS)
def test_each_fill_writes_the_right_pixels_and_only_those(images, stats, kind, amount, fill):
    x, hidden = corrupt(images, kind, amount, seed=3, fill=fill, stats=stats, return_mask=True)
    assert hidden.shape == (3, 8, 6) and hidden.dtype == torch.bool
    assert torch.equal(hidden, corruption_mask(images, kind, amount, seed=3))
    m = hidden.unsqueeze(1).expand_as(x)  # (B, 3, H, W)
    assert torch.equal(x[~m], images[~m])  # visible pixels untouched
    want = {"black": torch.zeros_like(x), "grey": torch.full_like(x, 0.4),
            "mean-image": stats.mean_image.expand_as(x)}
    if fill in want:
        assert torch.equal(x[m], want[fill][m])
    else:  # uniform noise in [0, 1], not the original, reproducible by seed
        v = x[m]
        assert float(v.min()) >= 0 and float(v.max()) <= 1 and float(v.std()) > 0.2
        assert torch.equal(x, corrupt(images, kind, amount, seed=3, fill=fill))
    if kind == "occlude-bottom":
        assert bool(hidden[:, 4:].all()) and not bool(hidden[:, :4].any())


def test_mask_random_with_black_fill_matches_the_old_behaviour(images):
    x = corrupt(images, "mask-random", 0.3, seed=1)
    hidden = corruption_mask(images, "mask-random", 0.3, seed=1)
    old = images.masked_fill((torch.rand(3, 1, 8, 6, generator=torch.Generator().manual_seed(1)) < 0.3), 0.0)
    assert torch.equal(x, old) and torch.equal((x == 0).all(1), hidden)


def test_noise_and_none_hide_nothing(images):
    assert not corruption_mask(images, "noise", 0.2).any()
    _, hidden = corrupt(images, "none", return_mask=True, fill="grey")  # a fill without stats is fine: nothing hidden
    assert not hidden.any()


def test_fill_stats_of_a_bank():
    a = np.zeros((2, 4, 4, 3), np.uint8)
    a[0] = 255
    s = fill_stats(a)
    assert s.grey == pytest.approx(0.5) and s.mean_image.shape == (3, 4, 4)
    assert torch.allclose(s.mean_image, torch.full((3, 4, 4), 0.5))
    assert fill_stats(torch.ones(2, 3, 4, 4)).grey == pytest.approx(1.0)


def test_bad_fills_are_plain_value_errors(images, stats):
    with pytest.raises(ValueError, match="unknown fill 'white'"):
        corrupt(images, "occlude-bottom", fill="white")
    with pytest.raises(ValueError, match="needs the dataset's statistics"):
        corrupt(images, "occlude-bottom", fill="grey")
    with pytest.raises(ValueError, match="mean image has shape"):
        corrupt(images, "occlude-bottom", fill="mean-image", stats=FillStats(0.5, torch.zeros(3, 2, 2)))
    with pytest.raises(ValueError, match="unknown fill"):
        encode_corrupted(None, np.zeros((2, 8, 6, 3), np.uint8), fill="nope")


def test_encode_corrupted_passes_the_fill_through():
    from hen_demo.encoders import get_image_encoder

    enc = get_image_encoder("pixels")
    imgs = np.full((2, 28, 28, 3), 200, np.uint8)
    st = fill_stats(imgs)
    codes = encode_corrupted(enc, imgs, "occlude-bottom", 0.5, fill="grey", stats=FillStats(0.25, st.mean_image))
    img = codes.reshape(2, 3, 28, 28)
    assert torch.allclose(img[:, :, 14:], torch.full_like(img[:, :, 14:], 0.25), atol=1e-6)
    assert torch.allclose(img[:, :, :14], torch.full_like(img[:, :, :14], 200 / 255), atol=1e-6)
