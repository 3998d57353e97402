"""hen_demo.memory.calibrated_beta: scale free, nearest-neighbour sharp at relative = 1, plain errors."""

import numpy as np
import pytest
import torch

from hen_demo import metrics
from hen_demo.memory import HopfieldMemory, calibrated_beta
from hen_demo.memory.calibration import CALIBRATION_C, score_gaps


def _random_bank(n=200, k=32, seed=0):
    g = torch.Generator().manual_seed(seed)
    xi = torch.rand(n, k, generator=g)
    q = xi + 0.35 * torch.randn(n, k, generator=g)  # noisy queries, some land nearer a wrong memory
    return xi, q


def _identity(xi, q, beta, sim="l2"):
    out = HopfieldMemory(xi, sim, beta=beta).retrieve(q, steps=50, topk=1)
    return float((out.top_index.numpy() == np.arange(len(xi))).mean())


def test_gaps_match_brute_force_for_every_similarity():
    xi = torch.randn(40, 6, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    d2 = torch.cdist(xi, xi) ** 2
    d1 = torch.cdist(xi, xi, p=1)
    dot = xi @ xi.T
    u = xi / xi.norm(dim=1, keepdim=True)
    cos = u @ u.T
    eye = torch.eye(40, dtype=torch.bool)
    refs = {"l2": d2.masked_fill(eye, np.inf).min(1).values, "manhattan": d1.masked_fill(eye, np.inf).min(1).values,
            "dot": dot.diagonal() - dot.masked_fill(eye, -np.inf).max(1).values,
            "cosine": 1 - cos.masked_fill(eye, -np.inf).max(1).values}
    for sim, ref in refs.items():
        torch.testing.assert_close(score_gaps(xi, sim), ref, rtol=1e-9, atol=1e-9)
        pos = ref[ref > 0]
        assert calibrated_beta(xi, 2.0, sim) == pytest.approx(2.0 * CALIBRATION_C / float(pos.median()), rel=1e-9)


def test_scaling_patterns_and_queries_leaves_relative_beta_retrieval_unchanged():
    xi, q = _random_bank()
    rel = 0.02  # soft enough that the outcome depends on beta
    a = _identity(xi, q, calibrated_beta(xi, rel))
    b = _identity(10 * xi, 10 * q, calibrated_beta(10 * xi, rel))
    assert calibrated_beta(10 * xi, rel) == pytest.approx(calibrated_beta(xi, rel) / 100, rel=1e-6)
    assert a == b
    beta = calibrated_beta(xi, rel)  # the same absolute beta is 100x sharper on the scaled bank
    assert _identity(10 * xi, 10 * q, beta) != a


def test_large_beta_equals_nearest_neighbour_identity_on_random_data():
    xi, q = _random_bank(n=300, k=24, seed=2)
    nn = (metrics.nearest_memory(q, xi) == np.arange(300)).mean()
    assert 0.2 < nn < 0.95  # a real test: some queries are closer to a wrong memory
    assert _identity(xi, q, calibrated_beta(xi, 20.0)) == pytest.approx(nn, abs=1e-9)


@pytest.mark.parametrize("bad", [0.0, -1.0, float("nan"), float("inf"), "x"])
def test_bad_relative_beta_is_refused(bad):
    xi, _ = _random_bank(n=20)
    with pytest.raises(ValueError, match="relative beta"):
        calibrated_beta(xi, bad)


def test_beta_over_the_engine_range_and_degenerate_banks_are_refused():
    xi, _ = _random_bank(n=20)
    with pytest.raises(ValueError, match="engine's limit"):
        calibrated_beta(xi * 1e-6, 1.0)
    with pytest.raises(ValueError, match="differ"):
        calibrated_beta(torch.ones(5, 3), 1.0)
    with pytest.raises(ValueError, match="similarit"):
        calibrated_beta(xi, 1.0, "kernel")
    with pytest.raises(ValueError, match="two memories"):
        calibrated_beta(xi[:1], 1.0)


@pytest.mark.slow
@pytest.mark.parametrize("dataset,n", [("tiles", 300), ("photos", None)])
def test_relative_one_reaches_the_nearest_neighbour_ceiling_on_offline_data(dataset, n):
    """Tiles / photos x {pixels, kl-small} x {noise 0.3, 30 % masked, bottom half black}: within 5 points."""
    from hen_demo.data import build_bank
    from hen_demo.data.corruptions import encode_corrupted
    from hen_demo.encoders import get_image_encoder, list_image_encoders

    names = [i.name for i in list_image_encoders() if i.available and i.name in ("pixels", "kl-small")]
    for name in names:
        enc = get_image_encoder(name)
        bank = build_bank(dataset, enc, n=n)
        xi = bank.codes.float()
        tg = np.arange(len(xi))
        beta = calibrated_beta(xi, 1.0)
        for kind, amount in (("noise", 0.3), ("mask-random", 0.3), ("occlude-bottom", 0.5)):
            q = encode_corrupted(enc, np.asarray(bank.images), kind, amount, seed=1)
            ceiling = (metrics.nearest_memory(q, xi) == tg).mean()
            got = _identity(xi, q, beta)
            assert got >= ceiling - 0.05, (name, kind, got, ceiling)


def test_a_learned_kernel_is_calibrated_on_its_features():
    """K(u, v) = <Wu, Wv> (U-Hop eq. 2.1): the gaps are the dot gaps of the features W xi; W = I is plain dot,
    and a kernel 3x larger scales the scores by 9, so beta by 1/9."""
    from hen_demo.memory.similarity import LinearKernel

    g = torch.Generator().manual_seed(7)
    x = torch.rand(60, 10, generator=g, dtype=torch.float64)
    W = torch.randn(14, 10, generator=g, dtype=torch.float64)
    assert calibrated_beta(x, 1.0, LinearKernel(W)) == pytest.approx(calibrated_beta(x @ W.T, 1.0, "dot"), rel=1e-9)
    assert calibrated_beta(x, 1.0, LinearKernel(torch.eye(10))) == pytest.approx(calibrated_beta(x, 1.0, "dot"))
    assert calibrated_beta(x, 2.0, LinearKernel(3 * W)) == pytest.approx(2 * calibrated_beta(x, 1.0, LinearKernel(W)) / 9)
    with pytest.raises(ValueError, match="expects 10-dimensional"):
        calibrated_beta(x[:, :8], 1.0, LinearKernel(W))
