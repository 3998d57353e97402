"""robust-small: the occlusion-trained encoder (our extension) loads offline and rescues occluded recall.

A quality check, not a timed test: on 100 held-out lfw_subset images (never trained on) with the bottom
half black, the one-shot nearest-neighbour identity and the HEN retrieval identity at calibrated β of
robust-small beat raw pixels measured at the same protocol (each at its own calibrated β).
"""

import numpy as np
import pytest
import torch

from hen_demo.data import offline
from hen_demo.encoders import get_image_encoder, list_image_encoders
from hen_demo.encoders.robust_small import DAMAGES, SmallRobustAE, damage
from hen_demo.encoders.small_blocks import SmallConfig
from hen_demo.training.robust import identity_cell


def _available() -> bool:
    return {i.name: i for i in list_image_encoders()}["robust-small"].available


def test_robust_small_is_a_shipped_offline_encoder():
    info = {i.name: i for i in list_image_encoders()}["robust-small"]
    assert info.shipped and not info.pretrained and info.code_dim == 2048 and info.image_size == 32
    if not info.available:
        pytest.skip(f"robust-small weights not present: {info.reason}")
    enc = get_image_encoder("robust-small")
    assert enc.code_dim == 2048 and enc.latent_shape == (32, 8, 8)
    assert enc.meta["training"]["train_data"].startswith("tiles only")
    x = torch.rand(4, 3, 64, 64)
    z = enc.encode(x)
    assert z.shape == (4, 2048) and torch.isfinite(z).all()
    rec = enc.decode(z)
    assert rec.shape == (4, 3, 32, 32) and float(rec.min()) >= 0 and float(rec.max()) <= 1


def test_robust_small_beats_raw_pixels_under_black_bottom_half():
    if not _available():
        pytest.skip("robust-small weights not present")
    faces = offline.load_faces()[0][::2]  # 100 held-out images (50 faces, 50 non-faces)
    robust = identity_cell(get_image_encoder("robust-small"), faces, "occlude-bottom", 0.5)
    pixels = identity_cell(get_image_encoder("pixels"), faces, "occlude-bottom", 0.5)
    assert robust["nn"] >= 2 * pixels["nn"] + 5, (robust, pixels)
    assert robust["identity"] >= 2 * pixels["identity"] + 5, (robust, pixels)


def test_damage_keeps_shape_range_and_changes_images():
    g = torch.Generator().manual_seed(0)
    x = torch.rand(64, 3, 64, 64) * 0.8 + 0.1  # no pixel is 0 before damage
    d = damage(x, g)
    assert d.shape == x.shape and float(d.min()) >= 0 and float(d.max()) <= 1
    changed = (d != x).flatten(1).any(1).float().mean()
    assert changed > 0.8  # "none" is drawn for only ~5 %
    assert len(DAMAGES) == 6


def test_training_loss_is_finite_and_scale_free():
    torch.manual_seed(0)
    m = SmallRobustAE(SmallConfig(kind="robust", channels=16))
    x = torch.rand(8, 3, 32, 32)
    d = damage(x, torch.Generator().manual_seed(1))
    loss, logs = m.training_loss(x, 0.0, damaged=d)
    assert torch.isfinite(loss) and np.isfinite(list(logs.values())).all()
    # the InfoNCE term divides by the batch's mean distance: scaling the code head leaves it unchanged
    with torch.no_grad():
        head = m.encoder.head[-1]
        _, before = m.training_loss(x, 0.0, damaged=d)
        head.weight.mul_(10.0)
        head.bias.mul_(10.0)
        z1 = m.encoder(torch.cat([x, d]))
    assert abs(_nce(z1, 8, m.nce_tau) - before["nce"]) < 1e-3


def _nce(z, B, tau):
    import torch.nn.functional as F
    a, b = z[B:].flatten(1), z[:B].flatten(1)
    d2 = torch.cdist(a.double(), b.double()).pow(2)
    return float(F.cross_entropy(-d2 / (tau * d2.mean()), torch.arange(B)))
