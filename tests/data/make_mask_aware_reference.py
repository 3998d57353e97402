"""Outputs of the old mask-aware path (MaskAwareMemory, pipeline.masked) on the fixtures of tests/test_masked.py.

Provenance only: run once at commit fe1bafe, before that path was removed (issue 24 item 2); it no longer imports.
"""
from types import SimpleNamespace

import numpy as np
import torch

from hen_demo.data.corruptions import corrupt
from hen_demo.data.images import to_float_tensor, to_uint8
from hen_demo.encoders import get_image_encoder
from hen_demo.memory.masked import MaskAwareMemory, pixel_mask_to_code
from hen_demo.pipeline import (
    HENPipeline,
    MemoryConfig,
    RunOptions,
    corrupt_query,
    mask_aware_run,
    mask_aware_stream,
)


def _data(seed=0, n=12, b=5, k=20):
    g = np.random.default_rng(seed)
    return g.random((n, k)), g.random((b, k)), g.random((b, k)) < 0.6
out = {}
xi, s, vis = _data(1, n=30, b=8, k=40)
r = MaskAwareMemory(xi, beta=1e4).retrieve(s, vis, steps=20)
out.update(a_states=r.states.numpy(), a_weights=r.weights.numpy(), a_top=r.top_index.numpy(), a_steps=r.steps,
           a_energies=r.energies.numpy())
xi, s, vis = _data(3)
r = MaskAwareMemory(xi, beta=2.0).retrieve(s, vis, steps=5)
out.update(b_states=r.states.numpy(), b_weights=r.weights.numpy(), b_energies=r.energies.numpy(), b_steps=r.steps)
g = np.random.default_rng(2)
imgs = torch.tensor(g.random((20, 3, 6, 6)), dtype=torch.float32)
imgs[1:, :, 3:] *= 0.1
q, hidden = corrupt(imgs[:1], "occlude-bottom", 0.5, return_mask=True)
r = MaskAwareMemory(imgs.reshape(20, -1), beta=100.0, separation="sparsemax").retrieve(q.reshape(1, -1), pixel_mask_to_code(~hidden))
out.update(c_states=r.states.numpy(), c_weights=r.weights.numpy(), c_top=r.top_index.numpy())
# pipeline level: a synthetic raw-pixel bank, occluded and randomly masked queries, calibrated beta
pixels = get_image_encoder("pixels")
rng = np.random.default_rng(5)
side = pixels.image_size
blocks = rng.integers(0, 256, size=(16, 4, 4, 3), dtype=np.uint8)
images = blocks.repeat(side // 4, axis=1).repeat(side // 4, axis=2)
codes = pixels.encode(to_float_tensor(images))
recon = (pixels.decode(codes).permute(0, 2, 3, 1).numpy() * 255).round().astype(np.uint8)
bank = SimpleNamespace(codes=codes, recon=recon, images=images, captions=None, ids=[str(i) for i in range(16)], text_codes=None)
pipe = HENPipeline(MemoryConfig(bank, pixels, similarity="l2"))
x, hid = corrupt(to_float_tensor(images[:10]), kind="mask-random", amount=0.5, seed=3, return_mask=True)

qs = pipe.encode_images(to_uint8(x))
bt = mask_aware_run(pipe, qs, hid, RunOptions(steps=20), targets=np.arange(10), relative=None, beta=0.02)
out.update(p_states=bt.states.numpy(), p_winner=bt.winner, p_top=bt.top_weight, p_mse=bt.mse, p_nn=bt.nn_index,
           p_steps=bt.steps, p_oms=bt.one_minus_ssim, p_neff=bt.n_eff, p_hidden=hid.numpy(), p_images=images,
           p_kinds=np.array([v.kind for v in bt.verdicts]))
qi, h1 = corrupt_query(images[4], side, "occlude-bottom", 0.5, return_mask=True)
frames = list(mask_aware_stream(pipe, pipe.encode_image(qi), h1[None], RunOptions(steps=20), target=4, relative=1.0))
f = frames[-1]
out.update(s_image=f.image, s_energies=np.array(f.energies), s_topk=np.array(f.topk_indices), s_topw=np.array(f.topk_weights),
           s_beta=f.result.beta, s_mse=f.result.mse, s_winner=f.result.winner, s_nn=f.result.nn_index, s_t=f.t,
           s_nframes=len(frames), s_query=qi, s_hidden=h1)
np.savez_compressed("tests/data/mask_aware_reference.npz", **out)
print({k: (v.shape if hasattr(v, 'shape') else v) for k, v in out.items() if k.startswith(('s_', 'p_steps', 'a_steps', 'b_steps'))})
print(bt.winner, bt.nn_index, f.result.winner, f.t, len(frames), f.result.beta)
