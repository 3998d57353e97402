"""Mask-aware L2 on raw pixels: scores against explicit loops, retrieval = masked nearest neighbour, refusals."""

import numpy as np
import pytest
import torch

from hen_demo.data.corruptions import corrupt
from hen_demo.memory.masked import MaskAwareMemory, check_mask_aware, masked_l2_scores, pixel_mask_to_code


def _data(seed=0, n=12, b=5, k=20):
    g = np.random.default_rng(seed)
    return g.random((n, k)), g.random((b, k)), g.random((b, k)) < 0.6


def test_scores_equal_l2_on_the_visible_dims_by_explicit_loops():
    xi, s, vis = _data()
    vis[0] = True  # one query fully visible
    ref = np.zeros((len(s), len(xi)))
    for b in range(len(s)):
        for n in range(len(xi)):
            ref[b, n] = -sum((xi[n, i] - s[b, i]) ** 2 for i in range(xi.shape[1]) if vis[b, i])
    got = masked_l2_scores(torch.tensor(xi), torch.tensor(s), torch.tensor(vis))
    np.testing.assert_allclose(got.numpy(), ref, rtol=1e-10, atol=1e-10)
    full = -((xi[None] - s[:1, None]) ** 2).sum(-1)  # fully visible row = plain L2
    np.testing.assert_allclose(got[0].numpy(), full[0], rtol=1e-10)
    mem = MaskAwareMemory(xi, beta=1.0)
    np.testing.assert_allclose(mem.scores(s, vis).numpy(), ref, rtol=1e-4, atol=1e-4)


def test_hidden_values_do_not_matter_and_large_beta_finds_the_masked_nearest_neighbour():
    xi, s, vis = _data(1, n=30, b=8, k=40)
    mem = MaskAwareMemory(xi, beta=1e4)
    out = mem.retrieve(s, vis, steps=20)
    nn = np.array([np.argmin((((xi - s[b]) ** 2) * vis[b]).sum(1)) for b in range(len(s))])
    assert np.array_equal(out.top_index.numpy(), nn)
    s2 = np.where(vis, s, 0.0)  # another fill of the hidden dims: same weights
    assert torch.allclose(mem.retrieve(s2, vis, steps=20).weights, out.weights)
    assert torch.allclose(out.states[torch.as_tensor(vis)], torch.tensor(s, dtype=torch.float32)[torch.as_tensor(vis)])
    assert out.states.shape == (8, 40) and out.weights.shape == (8, 30) and out.topk_indices.shape == (8, 5)
    assert out.energies.shape[1] == 8 and bool(out.converged.all()) and out.steps <= 2


def test_occluded_pixels_recover_the_right_memory_where_plain_l2_fails():
    g = np.random.default_rng(2)
    imgs = torch.tensor(g.random((20, 3, 6, 6)), dtype=torch.float32)
    imgs[1:, :, 3:] *= 0.1  # every other memory has a dark bottom half: black occlusion lures plain L2
    q, hidden = corrupt(imgs[:1], "occlude-bottom", 0.5, return_mask=True)
    xi = imgs.reshape(20, -1)
    vis = pixel_mask_to_code(~hidden)  # (1, K)
    assert vis.shape == (1, 108) and int(vis.sum()) == 54
    mem = MaskAwareMemory(xi, beta=100.0, separation="sparsemax")
    assert int(mem.retrieve(q.reshape(1, -1), vis).top_index[0]) == 0
    plain = ((xi - q.reshape(1, -1)) ** 2).sum(1)
    assert int(plain.argmin()) != 0


def test_energy_is_reported_and_softmax_weights_sum_to_one():
    xi, s, vis = _data(3)
    mem = MaskAwareMemory(xi, beta=2.0)
    out = mem.retrieve(s, vis, steps=5)
    assert torch.allclose(out.weights.sum(1), torch.ones(5), atol=1e-5)
    z = masked_l2_scores(torch.tensor(xi), torch.tensor(s), torch.tensor(vis))
    e0 = -torch.logsumexp(2.0 * z, 1) / 2.0
    assert torch.allclose(out.energies[0], e0.float(), atol=1e-4)
    assert torch.allclose(mem.energy(s, vis), e0.float(), atol=1e-4)


def test_refusals_are_plain_sentences():
    check_mask_aware("pixels")
    check_mask_aware("pixels-32")
    with pytest.raises(ValueError, match="raw pixels only"):
        check_mask_aware("kl-small")
    xi, s, vis = _data()
    mem = MaskAwareMemory(xi)
    with pytest.raises(ValueError, match="shape"):
        mem.retrieve(s, vis[:, :3])
    vis[0] = False
    with pytest.raises(ValueError, match="at least one visible"):
        mem.retrieve(s, vis)
    with pytest.raises(ValueError, match="softmax"):
        MaskAwareMemory(xi, separation="poly:3")
    with pytest.raises(ValueError):
        MaskAwareMemory(xi, beta=-1)


def test_masked_calibrated_beta_uses_the_visible_dims_scale():
    from hen_demo.memory import calibrated_beta
    from hen_demo.memory.masked import masked_calibrated_beta

    g = np.random.default_rng(4)
    xi = g.random((40, 30)).astype(np.float32)
    vis = np.zeros(30, bool)
    vis[:10] = True
    shared = masked_calibrated_beta(xi, np.tile(vis, (5, 1)))
    assert shared == pytest.approx(calibrated_beta(xi[:, :10]), rel=1e-6)
    assert masked_calibrated_beta(xi, vis, relative=2.0) == pytest.approx(2 * shared, rel=1e-6)
    per_query = g.random((5, 30)) < 0.5
    want = calibrated_beta(xi) / per_query.mean()
    assert masked_calibrated_beta(xi, per_query) == pytest.approx(want, rel=1e-6)
    with pytest.raises(ValueError, match="visible"):
        masked_calibrated_beta(xi, np.zeros(30, bool))
    with pytest.raises(ValueError):
        masked_calibrated_beta(xi, vis, relative=0)
