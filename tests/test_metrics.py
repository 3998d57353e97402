"""hen_demo.metrics against independent references and known cases."""

import numpy as np
import pytest
import torch

from hen_demo import metrics as M


def _imgs(b=4, h=16, w=16, seed=0):
    return np.random.default_rng(seed).random((b, 3, h, w))


def test_mse_matches_numpy_and_layouts_agree():
    a, b = _imgs(seed=0), _imgs(seed=1)
    ref = ((a - b) ** 2).mean(axis=(1, 2, 3))
    np.testing.assert_allclose(M.mse(a, b), ref, rtol=1e-12)
    np.testing.assert_allclose(M.mse(torch.tensor(a), torch.tensor(b)), ref, rtol=1e-6)
    a8 = (np.transpose(a, (0, 2, 3, 1)) * 255).round().astype(np.uint8)
    b8 = (np.transpose(b, (0, 2, 3, 1)) * 255).round().astype(np.uint8)
    np.testing.assert_allclose(M.mse(a8, b8), ref, atol=5e-3)


def _skimage_ssim(x, y):
    """scikit-image SSIM with the device metric's window: Gaussian sigma 1.5, 11 px, population covariance."""
    from skimage.metrics import structural_similarity

    return structural_similarity(x, y, channel_axis=-1, data_range=1.0, gaussian_weights=True, sigma=1.5,
                                 use_sample_covariance=False)


def test_ssim_identity_zero_and_reference():
    a, b = _imgs(seed=0), _imgs(seed=2)
    np.testing.assert_allclose(M.one_minus_ssim(a, a), 0.0, atol=1e-6)
    got = M.one_minus_ssim(a, b)
    ref = 1 - _skimage_ssim(np.transpose(a[1], (1, 2, 0)), np.transpose(b[1], (1, 2, 0)))
    assert got[1] == pytest.approx(ref, abs=1e-3)
    assert np.all(got > 0.5)  # unrelated noise images are dissimilar


def test_device_ssim_agrees_with_scikit_image_on_real_images():
    """Photographs and their damaged copies (noise, blur, shift): batched torch SSIM vs scikit-image within 1e-3."""
    from skimage import data, filters, transform

    imgs = [transform.resize(f(), (64, 64, 3), anti_aliasing=True) for f in (data.astronaut, data.coffee, data.chelsea)]
    rng = np.random.default_rng(0)
    pairs = []
    for x in imgs:
        pairs.append((x, np.clip(x + rng.normal(0, 0.1, x.shape), 0, 1)))
        pairs.append((x, filters.gaussian(x, sigma=1.5, channel_axis=-1)))
        pairs.append((x, np.roll(x, 3, axis=1)))
    pairs.append((imgs[0], imgs[1]))
    a = np.stack([p[0] for p in pairs]).transpose(0, 3, 1, 2)
    b = np.stack([p[1] for p in pairs]).transpose(0, 3, 1, 2)
    got = M.one_minus_ssim(a, b)
    ref = np.array([1 - _skimage_ssim(x, y) for x, y in pairs])
    np.testing.assert_allclose(got, ref, atol=1e-3)
    assert got.min() > 0.01 and np.ptp(ref) > 0.3  # the pairs span a real range of damage
    mse, oms = M.image_scores(torch.tensor(a), torch.tensor(b))
    np.testing.assert_allclose(oms, got, atol=1e-6)
    np.testing.assert_allclose(mse, ((a - b) ** 2).mean(axis=(1, 2, 3)), rtol=1e-5)


def test_verdict_from_device_stats_matches_weights():
    rng = np.random.default_rng(3)
    for _ in range(50):
        w = rng.dirichlet(np.full(12, rng.choice([0.05, 0.5, 5.0])))
        t = int(rng.integers(12))
        v = M.verdict(w[None], target=t)
        top = int(w.argmax())
        assert v.top_index == top
        assert (v.kind == "retrieved") == (top == t and w[top] >= 0.9)
        assert (v.kind == "wrong") == (top != t and w[top] >= 0.9)


def test_image_shape_mismatch_raises():
    with pytest.raises(ValueError, match="same size"):
        M.mse(_imgs(h=16), _imgs(h=8))


def test_nearest_memory_and_identity_accuracy():
    rng = np.random.default_rng(0)
    pats = rng.normal(size=(50, 20))
    states = pats[[3, 7, 7, 49]] + 1e-3 * rng.normal(size=(4, 20))
    ref = np.argmin(((states[:, None] - pats[None]) ** 2).sum(-1), axis=1)
    np.testing.assert_array_equal(M.nearest_memory(states, pats), ref)
    assert M.identity_accuracy(states, pats, [3, 7, 7, 49]) == 1.0
    assert M.identity_accuracy(states, pats, [3, 7, 8, 0]) == 0.5


def test_effective_memories_and_metastable_fraction():
    w = np.array([[1.0, 0, 0, 0], [0.5, 0.5, 0, 0], [0.25] * 4])
    np.testing.assert_allclose(M.effective_memories(w), [1, 2, 4])
    assert M.metastable_fraction(w, 0.9) == pytest.approx(2 / 3)
    assert M.metastable_fraction(w, 0.25) == 0.0


def test_rank_collapse():
    rng = np.random.default_rng(0)
    pats = rng.normal(size=(10, 64))
    assert M.rank_collapse(pats, reference=pats) == 0.0
    collapsed = np.repeat(pats[:2], 5, axis=0) + 1e-7 * rng.normal(size=(10, 64))
    assert M.rank_collapse(collapsed, reference=pats) == pytest.approx(0.8)
    assert M.rank_collapse(collapsed) == pytest.approx(0.8)  # min(B, K) = 10


def test_separability_well_separated_vs_overlapping():
    rng = np.random.default_rng(0)
    pats = np.eye(30)
    good = M.separability(pats + 0.01 * rng.normal(size=pats.shape), pats, np.arange(30))
    assert good.overlap == 0.0 and good.margin_fraction == 1.0 and good.d_prime > 10
    assert len(good.self_cos) == 30 and len(good.cross_cos) == 30 * 29
    # queries unrelated to their "own" memory: self and cross distributions coincide
    rand = rng.normal(size=(200, 16))
    bad = M.separability(rng.normal(size=(200, 16)), rand, np.arange(200), bins=10, max_cross=5000)
    assert bad.overlap > 0.7 and abs(bad.d_prime) < 0.5
    assert 4000 < len(bad.cross_cos) < 6000
    # independent reference for one self cosine
    q = rng.normal(size=(3, 5))
    p = rng.normal(size=(4, 5))
    st = M.separability(q, p, [2, 0, 1])
    ref = q[0] @ p[2] / np.linalg.norm(q[0]) / np.linalg.norm(p[2])
    assert st.self_cos[0] == pytest.approx(ref)


def test_verdict_kinds():
    assert M.verdict([0.01, 0.97, 0.02], target=1).kind == "retrieved"
    v = M.verdict(np.array([[0.97, 0.01, 0.02]]), target=1)
    assert v.kind == "wrong" and "#0" in v.text and "#1" in v.text
    v = M.verdict([0.4, 0.35, 0.25], target=0)
    assert v.kind == "metastable" and v.k == 3 and "mixture" in v.text
    with pytest.raises(ValueError):
        M.verdict(np.ones((2, 3)))


def test_verdict_counts_a_thin_mixture_by_participation():
    # 1,000 equal weights: nothing passes 5 %, but this is a mixture of ~1,000 memories, not "about 0"
    v = M.verdict(np.full(1000, 1e-3), target=3)
    assert v.kind == "metastable"
    assert v.k == 1000
    assert "about 1000 memories" in v.text
