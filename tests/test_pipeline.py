"""HEN end to end (hen_demo.pipeline) on a small synthetic bank with the raw-pixel encoder.

References are independent of the pipeline: the stored images themselves, hand-built cross-modal
memories, and the fixed points the dynamics must reach.
"""

from types import SimpleNamespace

import numpy as np
import pytest
import torch

from hen_demo.data.images import to_float_tensor
from hen_demo.encoders import get_image_encoder
from hen_demo.memory.hetero import hetero_patterns
from hen_demo.pipeline import (
    HENPipeline,
    RetrievalConfig,
    corrupt_query,
)


@pytest.fixture(scope="module")
def pixels():
    return get_image_encoder("pixels")


def _bank(encoder, n=12, seed=0, text_dim=None):
    """n random blocky images at the encoder's size, their codes and recon, optional random text codes."""
    rng = np.random.default_rng(seed)
    s = encoder.image_size
    blocks = rng.integers(0, 256, size=(n, 4, 4, 3), dtype=np.uint8)
    images = blocks.repeat(s // 4, axis=1).repeat(s // 4, axis=2)  # (n, s, s, 3)
    codes = encoder.encode(to_float_tensor(images))
    recon = (encoder.decode(codes).permute(0, 2, 3, 1).numpy() * 255).round().astype(np.uint8)
    text = None if text_dim is None else torch.randn(n, text_dim, generator=torch.Generator().manual_seed(seed))
    return SimpleNamespace(codes=codes, recon=recon, images=images, captions=[f"image {i}" for i in range(n)],
                           ids=[str(i) for i in range(n)], text_codes=text)


def test_config_rejects_bad_beta_and_steps():
    for beta in (0.0, -1.0, float("nan")):
        with pytest.raises(ValueError, match="beta"):
            RetrievalConfig(beta=beta).validate()
    with pytest.raises(ValueError, match="steps"):
        RetrievalConfig(steps=0).validate()


def test_corrupt_query_hides_bottom_half():
    img = np.full((64, 64, 3), 200, dtype=np.uint8)
    out = corrupt_query(img, 32, "occlude-bottom", 0.5)
    assert out.shape == (32, 32, 3)
    assert (out[16:] == 0).all() and (out[:16] == 200).all()


def test_brush_mask_is_applied_at_bank_size():
    img = np.full((64, 64, 3), 255, dtype=np.uint8)
    mask = np.zeros((256, 256), dtype=bool)
    mask[:, :128] = True  # left half painted on a 4x larger canvas
    out = corrupt_query(img, 64, "none", 0.0, brush_mask=mask)
    assert (out[:, :32] == 0).all() and (out[:, 32:] == 255).all()


def test_stored_image_is_a_fixed_point(pixels):
    """An uncorrupted stored image, sharp beta: retrieval returns that memory, exactly."""
    bank = _bank(pixels)
    cfg = RetrievalConfig(similarity="l2", beta=1.0, steps=20)
    pipe = HENPipeline.build(bank, pixels, cfg)
    frame = pipe.retrieve(pipe.encode_image(bank.images[5]), cfg, target=5)
    r = frame.result
    assert r.correct is True and r.nearest == 5 and r.verdict.kind == "retrieved"
    assert r.mse < 1e-4 and r.one_minus_ssim < 1e-3
    np.testing.assert_array_equal(r.original, bank.images[5])


def test_stream_frames_are_consecutive_and_energy_descends(pixels):
    bank = _bank(pixels, n=20, seed=1)
    cfg = RetrievalConfig(similarity="l2", beta=0.05, steps=30, tol=1e-7)
    pipe = HENPipeline.build(bank, pixels, cfg)
    q = corrupt_query(bank.images[3], pixels.image_size, "occlude-bottom", 0.5)
    frames = list(pipe.stream(pipe.encode_image(q), cfg, target=3))
    assert [f.t for f in frames] == list(range(len(frames)))
    assert frames[-1].result is not None and all(f.result is None for f in frames[:-1])
    e = np.array(frames[-1].energies)
    assert np.isfinite(e).all() and len(e) == len(frames)
    assert (np.diff(e) <= 1e-5 * max(1.0, abs(e[0]))).all()
    for f in frames:
        assert f.image.shape == (pixels.image_size, pixels.image_size, 3) and f.image.dtype == np.uint8
        assert 1.0 - 1e-6 <= f.n_eff <= 20 + 1e-6
        assert f.topk_weights == sorted(f.topk_weights, reverse=True)


def test_hetero_patterns_scale_and_bind():
    img = torch.randn(6, 10) * 5
    txt = torch.randn(6, 4)
    patterns, clamp, scale = hetero_patterns(img, txt, bind=(1, 4))
    assert patterns.shape == (6, 14) and clamp.tolist() == [False] * 10 + [True] * 4
    t = patterns[:, 10:]
    assert torch.allclose(t[4], t[1])  # memory 4 now carries memory 1's caption
    assert torch.allclose(patterns[:, :10], img)
    assert scale == pytest.approx(float(img.norm(dim=1).mean() / txt.norm(dim=1).mean()), rel=1e-5)


def test_caption_query_fills_in_the_image_half(pixels):
    """Query [0; text_i] with the text half clamped retrieves image i (HEN Fig. 4-5)."""
    bank = _bank(pixels, n=10, seed=2, text_dim=16)
    cfg = RetrievalConfig(similarity="dot", beta=5.0, steps=30)
    pipe = HENPipeline.build(bank, pixels, cfg, cross_modal=True)
    query, clamp = pipe.caption_query(bank.text_codes[6:7])
    frame = pipe.retrieve(query, cfg, target=6, clamp=clamp)
    assert frame.result.nearest == 6 and frame.result.correct
    assert frame.result.mse < 1e-3
    assert pipe.find_caption("  Image 6 ") == 6 and pipe.find_caption("nothing") is None


def test_two_images_bound_to_one_caption_give_a_mixture(pixels):
    """HEN Fig. 6: when memories 2 and 7 share a caption, the dot-product dynamics stay in a 50/50 mixture."""
    bank = _bank(pixels, n=10, seed=3, text_dim=16)
    cfg = RetrievalConfig(similarity="dot", beta=5.0, steps=30)
    pipe = HENPipeline.build(bank, pixels, cfg, cross_modal=True, bind=(2, 7))
    query, clamp = pipe.caption_query(bank.text_codes[2:3])
    # with the image half at 0, both memories score exactly the same on the first step
    frame = next(iter(pipe.stream(query, cfg, clamp=clamp)))  # t = 0: the weights of the query itself
    w = dict(zip(frame.topk_indices, frame.topk_weights))
    assert w[2] == pytest.approx(w[7], rel=1e-4) and w[2] + w[7] > 0.9
    assert frame.n_eff == pytest.approx(2.0, rel=0.1)
