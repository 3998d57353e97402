"""Mask-aware L2 on raw pixels: scores against explicit loops, retrieval = masked nearest neighbour, refusals, and
the one pipeline's mask-aware option equal to the old parallel path on these fixtures (tests/data)."""

from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import torch

from hen_demo.data.corruptions import corrupt
from hen_demo.data.images import to_float_tensor, to_uint8
from hen_demo.encoders import get_image_encoder
from hen_demo.memory.masked import (
    check_mask_aware,
    mask_aware_memory,
    masked_l2_scores,
    pixel_mask_to_code,
    visible_groups,
)
from hen_demo.pipeline import MASK_AWARE, HENPipeline, MemoryConfig, RunOptions, corrupt_query

# outputs of the old mask-aware path (memory.masked.MaskAwareMemory + pipeline.masked.mask_aware_run / _stream,
# removed in issue 24) on the fixtures below, written by tests/data/make_mask_aware_reference.py at fe1bafe
OLD = np.load(Path(__file__).parent / "data" / "mask_aware_reference.npz")


class MaskAware:
    """The test's handle on the one engine with the mask-aware similarity: a memory per visibility mask."""

    def __init__(self, xi, beta=1.0, separation="softmax"):
        self.xi, self.beta, self.separation = torch.as_tensor(xi), beta, separation
        mask_aware_memory(self.xi, torch.ones(self.xi.shape[1], dtype=torch.bool), beta, separation)  # refusals

    def scores(self, s, vis):
        s, v = torch.as_tensor(s), torch.as_tensor(vis)
        out = torch.zeros(s.shape[0], self.xi.shape[0], dtype=torch.float64)
        for mask, rows in visible_groups(v):
            out[rows] = mask_aware_memory(self.xi, mask, self.beta, self.separation).similarity_scores(s[rows]).double()
        return out

    def energy(self, s, vis):
        s, v = torch.as_tensor(s), torch.as_tensor(vis)
        out = torch.zeros(s.shape[0])
        for mask, rows in visible_groups(v):
            out[rows] = mask_aware_memory(self.xi, mask, self.beta, self.separation).energy(s[rows]).float()
        return out

    def retrieve(self, q, vis, steps=100, tol=1e-6, topk=5):
        q, v = torch.as_tensor(q), torch.as_tensor(vis)
        if not bool(v.any(1).all()):
            raise ValueError("every query needs at least one visible pixel for the mask-aware similarity.")
        if v.shape != q.shape:
            raise ValueError(f"visible must have the queries' shape {tuple(q.shape)}; got {tuple(v.shape)}")
        parts = [(rows, mask_aware_memory(self.xi, mask, self.beta, self.separation).retrieve(
            q[rows], steps=steps, tol=tol, clamp=mask, topk=topk)) for mask, rows in visible_groups(v)]
        out = SimpleNamespace(states=torch.zeros(q.shape, dtype=torch.float32),
                              weights=torch.zeros(q.shape[0], self.xi.shape[0]),
                              top_index=torch.zeros(q.shape[0], dtype=torch.long), converged=torch.zeros(q.shape[0], dtype=torch.bool),
                              topk_indices=torch.zeros(q.shape[0], topk, dtype=torch.long),
                              energies=torch.zeros(max(r.energies.shape[0] for _, r in parts), q.shape[0]),
                              steps=max(r.steps for _, r in parts))
        for rows, r in parts:
            out.states[rows], out.weights[rows], out.top_index[rows] = r.states, r.weights, r.top_index
            out.converged[rows], out.topk_indices[rows] = r.converged, r.topk_indices
            e = torch.cat([r.energies, r.energies[-1:].expand(out.energies.shape[0] - r.energies.shape[0], -1)])
            out.energies[:, rows] = e
        return out


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
    mem = MaskAware(xi, beta=1.0)
    np.testing.assert_allclose(mem.scores(s, vis).numpy(), ref, rtol=1e-4, atol=1e-4)


def test_hidden_values_do_not_matter_and_large_beta_finds_the_masked_nearest_neighbour():
    xi, s, vis = _data(1, n=30, b=8, k=40)
    mem = MaskAware(xi, beta=1e4)
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
    mem = MaskAware(xi, beta=100.0, separation="sparsemax")
    assert int(mem.retrieve(q.reshape(1, -1), vis).top_index[0]) == 0
    plain = ((xi - q.reshape(1, -1)) ** 2).sum(1)
    assert int(plain.argmin()) != 0


def test_energy_is_reported_and_softmax_weights_sum_to_one():
    xi, s, vis = _data(3)
    mem = MaskAware(xi, beta=2.0)
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
    mem = MaskAware(xi)
    with pytest.raises(ValueError, match="shape"):
        mem.retrieve(s, vis[:, :3])
    with pytest.raises(ValueError, match="visible"):
        mask_aware_memory(xi, np.zeros(xi.shape[1], bool), 1.0)
    vis[0] = False
    with pytest.raises(ValueError, match="at least one visible"):
        mem.retrieve(s, vis)
    with pytest.raises(ValueError, match="softmax"):
        MaskAware(xi, separation="poly:3")
    with pytest.raises(ValueError):
        MaskAware(xi, beta=-1)


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


def test_the_engine_equals_the_old_mask_aware_memory_on_its_fixtures():
    xi, s, vis = _data(1, n=30, b=8, k=40)
    out = MaskAware(xi, beta=1e4).retrieve(s, vis, steps=20)
    np.testing.assert_allclose(out.states.numpy(), OLD["a_states"], atol=1e-5)
    np.testing.assert_allclose(out.weights.numpy(), OLD["a_weights"], atol=1e-4)
    assert out.top_index.tolist() == OLD["a_top"].tolist() and out.steps == int(OLD["a_steps"])
    np.testing.assert_allclose(out.energies.numpy(), OLD["a_energies"], rtol=1e-4, atol=1e-4)
    xi, s, vis = _data(3)
    out = MaskAware(xi, beta=2.0).retrieve(s, vis, steps=5)
    np.testing.assert_allclose(out.states.numpy(), OLD["b_states"], atol=1e-5)
    np.testing.assert_allclose(out.weights.numpy(), OLD["b_weights"], atol=1e-5)
    np.testing.assert_allclose(out.energies.numpy(), OLD["b_energies"], rtol=1e-5, atol=1e-5)
    g = np.random.default_rng(2)
    imgs = torch.tensor(g.random((20, 3, 6, 6)), dtype=torch.float32)
    imgs[1:, :, 3:] *= 0.1
    q, hidden = corrupt(imgs[:1], "occlude-bottom", 0.5, return_mask=True)
    out = MaskAware(imgs.reshape(20, -1), beta=100.0, separation="sparsemax").retrieve(
        q.reshape(1, -1), pixel_mask_to_code(~hidden))
    np.testing.assert_allclose(out.states.numpy(), OLD["c_states"], atol=1e-5)
    np.testing.assert_allclose(out.weights.numpy(), OLD["c_weights"], atol=1e-5)


def _pixel_bank():
    """The old reference's synthetic raw-pixel bank: 16 blocky images at the encoder's size."""
    pixels = get_image_encoder("pixels")
    images = OLD["p_images"]
    codes = pixels.encode(to_float_tensor(images))
    recon = (pixels.decode(codes).permute(0, 2, 3, 1).numpy() * 255).round().astype(np.uint8)
    return pixels, SimpleNamespace(codes=codes, recon=recon, images=images, captions=None,
                                   ids=[str(i) for i in range(16)], text_codes=None)


def test_the_pipelines_mask_aware_option_equals_the_old_parallel_path():
    pixels, bank = _pixel_bank()
    images = bank.images
    pipe = HENPipeline(MemoryConfig(bank, pixels, similarity=MASK_AWARE, beta=0.02))  # the old run's absolute beta
    x, hid = corrupt(to_float_tensor(images[:10]), kind="mask-random", amount=0.5, seed=3, return_mask=True)
    assert np.array_equal(hid.numpy(), OLD["p_hidden"])
    batch = pipe.run(pipe.encode_images(to_uint8(x)), RunOptions(steps=20, visible=pipe.visible_dims(hid)),
                     targets=np.arange(10))
    np.testing.assert_allclose(batch.states.numpy(), OLD["p_states"], atol=1e-5)
    np.testing.assert_allclose(batch.top_weight, OLD["p_top"], atol=1e-4)
    np.testing.assert_allclose(batch.n_eff, OLD["p_neff"], rtol=1e-4)
    np.testing.assert_allclose(batch.mse, OLD["p_mse"], atol=1e-6)
    np.testing.assert_allclose(batch.one_minus_ssim, OLD["p_oms"], atol=1e-5)
    assert batch.winner.tolist() == OLD["p_winner"].tolist() and batch.nn_index.tolist() == OLD["p_nn"].tolist()
    assert [v.kind for v in batch.verdicts] == OLD["p_kinds"].tolist() and batch.steps == int(OLD["p_steps"])
    # one query streamed at calibrated beta (relative 1): the last frame is the old stream's last frame
    pipe = HENPipeline(MemoryConfig(bank, pixels, similarity=MASK_AWARE, beta_relative=1.0))
    q, h = corrupt_query(images[4], pixels.image_size, "occlude-bottom", 0.5, return_mask=True)
    assert np.array_equal(q, OLD["s_query"]) and np.array_equal(h, OLD["s_hidden"])
    opts = RunOptions(steps=20, visible=pipe.visible_dims(h))
    frames = list(pipe.stream(pipe.encode_image(q), opts, target=4))
    last = frames[-1]
    assert last.t == int(OLD["s_t"]) and np.array_equal(last.image, OLD["s_image"])
    assert last.topk_indices == OLD["s_topk"].tolist()
    np.testing.assert_allclose(last.topk_weights, OLD["s_topw"], atol=1e-5)
    np.testing.assert_allclose([last.energies[0], last.energies[-1]], OLD["s_energies"], rtol=1e-5)
    r = last.result
    assert r.beta == pytest.approx(float(OLD["s_beta"]), rel=1e-6) and r.beta_relative == 1.0
    assert r.winner == int(OLD["s_winner"]) and r.nn_index == int(OLD["s_nn"]) and r.correct and r.nn_correct
    assert r.mse == pytest.approx(float(OLD["s_mse"]), abs=1e-6)
    # a batch of one equals the stream's last frame
    one = pipe.run(pipe.encode_image(q), opts, targets=[4])
    assert int(one.winner[0]) == r.winner and np.array_equal(one.images[0], last.image)


def test_mask_aware_refuses_encoders_captions_poly_and_missing_masks():
    pixels, bank = _pixel_bank()
    with pytest.raises(ValueError, match="raw pixels only"):
        MemoryConfig(bank, SimpleNamespace(name="kl-small"), similarity=MASK_AWARE)
    with pytest.raises(ValueError, match="softmax"):
        MemoryConfig(bank, pixels, similarity=MASK_AWARE, separation="poly:3")
    pipe = HENPipeline(MemoryConfig(bank, pixels, similarity=MASK_AWARE))
    with pytest.raises(ValueError, match="visible pixels"):
        pipe.run(pipe.encode_images(bank.images[:2]), RunOptions())
    with pytest.raises(ValueError, match="hidden"):
        RunOptions(visible=torch.zeros(3, dtype=torch.bool))
