"""Explore's retrieval map (issue 21): one path point per streamed frame, the last one the projection of the final
state, memories and path on the same PCA map."""

import json
from types import SimpleNamespace

import numpy as np
import pytest
import torch

from hen_demo.data.images import to_float_tensor
from hen_demo.encoders import get_image_encoder
from hen_demo.memory.projection import fit_pca
from hen_demo.pipeline import HENPipeline, MemoryConfig, RunOptions, corrupt_query
from hen_demo.ui.retrieval_map import RetrievalMap


@pytest.fixture(scope="module")
def pipe():
    enc = get_image_encoder("pixels")
    rng = np.random.default_rng(3)
    s = enc.image_size
    images = rng.integers(0, 256, size=(16, 4, 4, 3), dtype=np.uint8).repeat(s // 4, 1).repeat(s // 4, 2)
    codes = enc.encode(to_float_tensor(images))
    bank = SimpleNamespace(codes=codes, recon=images, images=images, captions=[""] * 16, ids=[str(i) for i in range(16)],
                           text_codes=None, key="")
    return HENPipeline(MemoryConfig(bank, enc, similarity="l2", beta=0.05))


def test_the_path_has_one_point_per_frame_and_ends_at_the_final_state(pipe, one_thread):
    q = pipe.encode_image(corrupt_query(pipe.bank.images[4], pipe.image_size, "occlude-bottom", 0.5))
    rmap = RetrievalMap(pipe.bank, pipe.image_dims)
    frames = list(pipe.stream(q, RunOptions(steps=30, tol=1e-7, topk=5, every=2), target=4))
    for f in frames:
        rmap.add(f)
    assert len(frames) > 2 and len(rmap.path) == len(frames)
    # independent references: the engine's own final state, and a PCA fitted here on the bank's codes
    final = pipe.memory.retrieve(q, steps=30, tol=1e-7).states  # (1, K)
    pca = fit_pca(pipe.bank.codes)
    np.testing.assert_allclose(rmap.path[-1], pca.project(final)[0].numpy(), atol=1e-4)
    np.testing.assert_allclose(rmap.path[0], pca.project(q)[0].numpy(), atol=1e-4)
    spec = json.loads(rmap.plot(frames[-1], target=4).plot)
    path = [t for t in spec["data"] if t["name"] == "state path"][0]
    assert len(path["x"]) == len(frames) and path["x"][-1] == pytest.approx(float(rmap.path[-1][0]))
    memories = [t for t in spec["data"] if t["name"] == "memories"][0]
    np.testing.assert_allclose(np.c_[memories["x"], memories["y"]], pca.project(pipe.bank.codes).numpy(), atol=1e-3)
    assert len(spec["layout"]["images"]) == len(frames[-1].topk_indices)  # a thumbnail per top-k memory
    assert spec["layout"]["font"]["size"] >= 16 and spec["layout"]["xaxis"]["title"]["font"]["size"] >= 16
    assert spec["layout"]["xaxis"]["title"]["text"].startswith("PC 1 (")


def test_pca_is_the_leading_principal_directions_and_deterministic():
    g = torch.Generator().manual_seed(0)
    x = torch.randn(300, 40, generator=g) * torch.linspace(6.0, 0.2, 40)
    a, b = fit_pca(x), fit_pca(x)
    assert torch.equal(a.components, b.components)
    _, s, vh = torch.linalg.svd(x - x.mean(0), full_matrices=False)
    assert (a.components @ vh[:2].T).abs().diag().min() > 0.999
    assert a.explained.tolist() == pytest.approx((s[:2] ** 2 / (s ** 2).sum()).tolist(), rel=1e-3)
    with pytest.raises(ValueError, match="40 dimensions"):
        a.project(torch.zeros(3, 41))
    with pytest.raises(ValueError, match="at least two"):
        fit_pca(torch.zeros(1, 5))


def _no_progress(*args, **kwargs):
    pass


@pytest.mark.slow
def test_explore_streams_the_map_with_one_point_per_frame(one_thread, res):
    from hen_demo.ui import explore_run

    kw = dict(dataset="photos", encoder="pixels", similarity="l2", separation="softmax", beta=0.003, n=27, steps=12,
              tol=0.0, source="stored memory", index=2, editor=None, caption="", text_encoder="pixelized",
              corruption="noise", amount=0.2, seed=0, beta_mode="absolute", fps=0, progress=_no_progress)
    out = list(explore_run.retrieve.__wrapped__(res, **kw))  # one message per streamed frame
    spec = json.loads(out[-1][-1].plot)  # the map is the last output; the last message carries it
    path = [t for t in spec["data"] if t["name"] == "state path"][0]
    assert len(path["x"]) == len(out) >= 3
