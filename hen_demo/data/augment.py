"""Many memories from the offline images: augmented copies (crops, flips, colour jitter) of tiles and emoji.

Scale-out at 10^4-10^7 memories needs more distinct images than ship offline (20,870 tiles + 1,849 emoji). Memory
i is base image i mod M (M = the tiles, then the emoji); the first M memories are the bases themselves, every
later one an augmented copy: a random square crop (0.6-1 of the side, anywhere inside), a horizontal flip (half of
them), and colour jitter (brightness and contrast x0.75-1.25, saturation x0.7-1.3). The representation is raw
pixels at ``side`` x ``side`` x 3 (8 x 8 x 3 = 192 numbers, K = 192 as the papers' f8 latents at 64 px), so a
million memories are encoded in seconds. Augmented copies are near-duplicates of their base by construction:
they are what makes a big bank crowded, and they are labelled as such wherever they are used.

Row i's augmentation depends on (seed, i) only, not on the range it is built in, so an interrupted bank build resumes
with the same memories (``bank_shards.build_disk_bank``).
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from hen_demo.data.datasets import dataset_size, load_dataset

AUGMENTED_LABEL = ("tiles + emoji, augmented (random crops 0.6-1 of the side, horizontal flips, colour jitter); "
                   "memory i is an augmented copy of base image i mod {m} (the first {m} are the bases)")
SOURCE_SIDE = 32  # bases are kept at 32 x 32 (2 x 2 means of the 64 x 64 originals)


def base_images(datasets=("tiles", "emoji")) -> torch.Tensor:
    """The bases (M, 3, SOURCE_SIDE, SOURCE_SIDE) float32 in [0, 1], in a fixed order (each dataset whole)."""
    parts = []
    for name in datasets:
        imgs = load_dataset(name, n=dataset_size(name), seed=0).images  # (m, 64, 64, 3) uint8
        x = torch.from_numpy(np.ascontiguousarray(imgs)).permute(0, 3, 1, 2).float().div_(255.0)
        parts.append(F.adaptive_avg_pool2d(x, SOURCE_SIDE))
    return torch.cat(parts)


PARAM_BLOCK = 1024  # augmentation draws come in aligned blocks of rows: row i's draw never depends on the chunking


def _draws(start: int, end: int, seed: int) -> torch.Tensor:
    """(end - start, 7) uniform draws for rows [start, end): scale, shift x / y, flip, brightness, contrast,
    saturation; row i's come from block i // PARAM_BLOCK's generator, whatever range is asked for."""
    out = []
    for k in range(start // PARAM_BLOCK, (end - 1) // PARAM_BLOCK + 1):
        g = torch.Generator().manual_seed(int(seed) * 1_000_003 + k)
        block = torch.rand(PARAM_BLOCK, 7, generator=g)
        lo, hi = max(start, k * PARAM_BLOCK) - k * PARAM_BLOCK, min(end, (k + 1) * PARAM_BLOCK) - k * PARAM_BLOCK
        out.append(block[lo:hi])
    return torch.cat(out)


def _jitter(x: torch.Tensor, u: torch.Tensor) -> torch.Tensor:
    """Colour jitter of images x (b, 3, h, w) in [0, 1] from draws u (b, 3): brightness, contrast, saturation."""
    u = u[:, :, None, None, None]
    bright, contrast, sat = 0.75 + 0.5 * u[:, 0], 0.75 + 0.5 * u[:, 1], 0.7 + 0.6 * u[:, 2]  # (b, 1, 1, 1)
    x = x * bright
    mean = x.mean(dim=(1, 2, 3), keepdim=True)
    x = (x - mean) * contrast + mean
    grey = (0.299 * x[:, :1] + 0.587 * x[:, 1:2] + 0.114 * x[:, 2:3])  # (b, 1, h, w)
    return ((x - grey) * sat + grey).clamp_(0.0, 1.0)


def augmented_pixels(bases: torch.Tensor, start: int, end: int, side: int = 8, seed: int = 0) -> torch.Tensor:
    """Memories [start, end) as (end - start, 3 * side * side) pixels in [0, 1] (module docstring); row i is the
    same whatever range it is asked in."""
    m = bases.shape[0]
    idx = torch.arange(start, end)
    src = bases[idx % m]  # (b, 3, S, S)
    b = src.shape[0]
    u = _draws(start, end, seed)  # (b, 7)
    scale = 0.6 + 0.4 * u[:, 0]  # crop side / image side
    shift = (1.0 - scale)[:, None] * (2.0 * u[:, 1:3] - 1.0)  # centre inside the image
    flip = torch.where(u[:, 3] < 0.5, -1.0, 1.0)
    plain = idx < m  # the bases themselves: identity transform, no jitter
    scale, flip = torch.where(plain, 1.0, scale), torch.where(plain, 1.0, flip)
    shift[plain] = 0.0
    theta = torch.zeros(b, 2, 3)
    theta[:, 0, 0], theta[:, 1, 1] = scale * flip, scale
    theta[:, :, 2] = shift
    grid = F.affine_grid(theta, (b, 3, 2 * side, 2 * side), align_corners=False)
    x = F.avg_pool2d(F.grid_sample(src, grid, mode="bilinear", align_corners=False), 2)  # (b, 3, side, side)
    x = torch.where(plain[:, None, None, None], x, _jitter(x, u[:, 4:7]))
    return x.reshape(b, -1)


def occlude_bottom(codes: torch.Tensor, side: int = 8) -> torch.Tensor:
    """Queries: the bottom half of each (b, 3 * side * side) pixel memory set to black (HEN's occlusion)."""
    x = codes.reshape(codes.shape[0], 3, side, side).clone()
    x[:, :, side // 2 :] = 0.0
    return x.reshape(codes.shape[0], -1)
