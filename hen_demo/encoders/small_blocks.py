"""Convolutional encoder/decoder bodies shared by the project's small VQ, KL and discrete VAEs.

Both are f4: a 32×32 image becomes an 8×8 grid (two stride-2 convolutions), in the style of the latent
diffusion autoencoders (Rombach et al. 2022) scaled down to train in minutes on a CPU.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn


@dataclass
class SmallConfig:
    """Configuration of one small autoencoder (saved next to its weights as JSON)."""

    kind: str = "vq"  # "vq" | "kl" | "dvae"
    image_size: int = 32  # square input side (32: trains in minutes on a shared CPU)
    channels: int = 48  # width at the first (half-resolution) stage; doubled at the grid stage
    latent_channels: int = 32  # code channels per grid position (VQ/KL); dVAE: token embedding size
    num_res: int = 1  # residual blocks at the grid resolution (encoder and decoder each)
    codebook_size: int = 512  # VQ codebook entries / dVAE vocabulary
    groups: int = 4  # VQ/dVAE: tokens per grid position; each covers latent_channels/groups channels
    # training-only settings (kept for the model card)
    beta_commit: float = 0.25  # VQ commitment weight
    ema_decay: float = 0.99  # VQ codebook EMA decay
    kl_weight: float = 1e-4  # KL-VAE / dVAE KL weight (per element, relative to MSE)
    tau_start: float = 1.0  # dVAE Gumbel-softmax temperature at step 0
    tau_end: float = 0.1  # ... at the last step (exponential annealing)

    @property
    def grid(self) -> int:
        return self.image_size // 4

    @property
    def group_dim(self) -> int:
        return self.latent_channels // self.groups

    @property
    def code_dim(self) -> int:
        return self.latent_channels * self.grid * self.grid


class ResBlock(nn.Module):
    def __init__(self, c: int) -> None:
        super().__init__()
        self.body = nn.Sequential(nn.GroupNorm(8, c), nn.SiLU(), nn.Conv2d(c, c, 3, padding=1),
                                  nn.GroupNorm(8, c), nn.SiLU(), nn.Conv2d(c, c, 3, padding=1))

    def forward(self, x):
        return x + self.body(x)


class Encoder(nn.Module):
    """(B, 3, s, s) in [0, 1] -> (B, out_channels, s/4, s/4)."""

    def __init__(self, cfg: SmallConfig, out_channels: int) -> None:
        super().__init__()
        c = cfg.channels
        self.net = nn.Sequential(
            nn.Conv2d(3, c, 4, stride=2, padding=1),  # (B, c, s/2, s/2)
            nn.SiLU(),
            nn.Conv2d(c, 2 * c, 4, stride=2, padding=1),  # (B, 2c, s/4, s/4)
            *[ResBlock(2 * c) for _ in range(cfg.num_res)],
            nn.GroupNorm(8, 2 * c), nn.SiLU(),
            nn.Conv2d(2 * c, out_channels, 1),
        )

    def forward(self, x):
        return self.net(x * 2.0 - 1.0)  # inputs centred to [-1, 1]


class Decoder(nn.Module):
    """(B, in_channels, s/4, s/4) -> (B, 3, s, s) in [0, 1] (sigmoid output)."""

    def __init__(self, cfg: SmallConfig, in_channels: int) -> None:
        super().__init__()
        c = cfg.channels
        self.net = nn.Sequential(
            nn.Conv2d(in_channels, 2 * c, 3, padding=1),
            *[ResBlock(2 * c) for _ in range(cfg.num_res)],
            nn.GroupNorm(8, 2 * c), nn.SiLU(),
            nn.ConvTranspose2d(2 * c, c, 4, stride=2, padding=1),  # (B, c, s/2, s/2)
            ResBlock(c),
            nn.GroupNorm(8, c), nn.SiLU(),
            nn.Conv2d(c, 3 * 4, 3, padding=1),  # (B, 12, s/2, s/2)
            nn.PixelShuffle(2),  # (B, 3, s, s): cheaper than a full-resolution convolution on a CPU
        )

    def forward(self, z):
        return torch.sigmoid(self.net(z))
