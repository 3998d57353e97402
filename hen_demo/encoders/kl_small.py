"""Small KL-regularised VAE (Kingma & Welling 2014; the KL-f* autoencoders of Rombach et al. 2022, scaled down).

The encoder gives a diagonal Gaussian posterior q(z|x) = N(μ, σ²) on a (d, 8, 8) grid; training
minimises MSE(x, dec(z)) + w·KL(q || N(0, I)) with a small weight w (as latent diffusion does, so the
latent stays detailed). The *memory code* is the posterior mean μ (as with ``latent_dist.mean`` for
diffusers' ``AutoencoderKL``), and decoding runs the decoder on it directly.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from hen_demo.encoders.small_blocks import Decoder, Encoder, SmallConfig


class SmallKLVAE(nn.Module):
    def __init__(self, cfg: SmallConfig) -> None:
        super().__init__()
        self.cfg = cfg
        self.encoder = Encoder(cfg, 2 * cfg.latent_channels)  # mean and log-variance
        self.decoder = Decoder(cfg, cfg.latent_channels)

    def encode_latent(self, x: torch.Tensor) -> torch.Tensor:  # posterior mean (B, d, g, g)
        return self.encoder(x).chunk(2, dim=1)[0]

    def decode_latent(self, z: torch.Tensor) -> torch.Tensor:
        return self.decoder(z)

    def training_loss(self, x: torch.Tensor, progress: float):
        mean, logvar = self.encoder(x).chunk(2, dim=1)
        logvar = logvar.clamp(-20.0, 10.0)
        z = mean + torch.randn_like(mean) * torch.exp(0.5 * logvar)
        rec = self.decoder(z)
        mse = F.mse_loss(rec, x)
        kl = 0.5 * (mean.pow(2) + logvar.exp() - 1.0 - logvar).mean()  # per latent element
        return mse + self.cfg.kl_weight * kl, {"mse": mse.item(), "kl": kl.item()}
