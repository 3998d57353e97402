"""Small VQ-VAE (van den Oord et al. 2017; the VQ-f* autoencoders of Rombach et al. 2022 scaled down).

Straight-through vector quantisation with a commitment loss; the codebook is learned by exponential
moving averages (EMA) of the encoder outputs assigned to each entry, initialised from encoder outputs
(a k-means++-like random draw) and with dead entries restarted from random encoder outputs, so codes
do not die. Each grid position holds ``groups`` tokens (grouped / product quantisation: the latent's
channels are split into groups quantised with one shared codebook), so an 8×8 grid carries 256 tokens. As with diffusers' ``VQModel``, the *memory code* is the pre-quantisation latent
(``encode_latent``) and decoding quantises first (``decode_latent``): a retrieved state that lands
anywhere in an entry's Voronoi cell decodes to the same picture.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from hen_demo.encoders.base import squared_distances
from hen_demo.encoders.small_blocks import Decoder, Encoder, SmallConfig


class EMAQuantizer(nn.Module):
    """Nearest-entry quantiser with an EMA-updated codebook ``(codebook_size, d)``."""

    def __init__(self, num: int, dim: int, decay: float = 0.99, eps: float = 1e-5) -> None:
        super().__init__()
        self.decay, self.eps = decay, eps
        self.register_buffer("codebook", torch.randn(num, dim) * 0.1)
        self.register_buffer("cluster_size", torch.ones(num))  # EMA of assignments per step
        self.register_buffer("embed_sum", self.codebook.clone())
        self.register_buffer("initialised", torch.tensor(False))

    def indices(self, z: torch.Tensor) -> torch.Tensor:
        """z (B, d, g, g) -> nearest entry index (B, g, g)."""
        flat = z.permute(0, 2, 3, 1).reshape(-1, z.shape[1])  # (B·g·g, d)
        d2 = squared_distances(flat, self.codebook)  # (B·g·g, num)
        return d2.argmin(1).reshape(z.shape[0], z.shape[2], z.shape[3])

    def lookup(self, idx: torch.Tensor) -> torch.Tensor:
        """idx (B, g, g) -> quantised latents (B, d, g, g)."""
        return self.codebook[idx].permute(0, 3, 1, 2).contiguous()

    def forward(self, z: torch.Tensor):
        """Training pass: returns (straight-through z_q, commitment loss, perplexity)."""
        flat = z.detach().permute(0, 2, 3, 1).reshape(-1, z.shape[1])
        if self.training and not bool(self.initialised):
            pick = torch.randperm(flat.shape[0])[: self.codebook.shape[0]]
            self.codebook.copy_(flat[pick])
            self.embed_sum.copy_(flat[pick])
            self.cluster_size.fill_(flat.shape[0] / self.codebook.shape[0])  # expected use per step
            self.initialised.fill_(True)
        idx = self.indices(z)
        zq = self.lookup(idx)
        if self.training:
            onehot = F.one_hot(idx.reshape(-1), self.codebook.shape[0]).float()  # (M, num)
            counts = onehot.sum(0)
            self.cluster_size.mul_(self.decay).add_(counts, alpha=1 - self.decay)
            self.embed_sum.mul_(self.decay).add_(onehot.T @ flat, alpha=1 - self.decay)
            n = self.cluster_size.sum()
            size = (self.cluster_size + self.eps) / (n + self.codebook.shape[0] * self.eps) * n
            self.codebook.copy_(self.embed_sum / size[:, None])
            # restart entries used less than ~once per 10 steps with random current encoder outputs
            dead = self.cluster_size < 0.1
            if dead.any():
                k = int(dead.sum())
                pick = torch.randint(0, flat.shape[0], (k,))
                self.codebook[dead] = flat[pick]
                self.embed_sum[dead] = flat[pick]
                self.cluster_size[dead] = 1.0
        commit = F.mse_loss(z, zq.detach())
        probs = torch.bincount(idx.reshape(-1), minlength=self.codebook.shape[0]).float()
        probs = probs / probs.sum()
        perplexity = torch.exp(-(probs * (probs + 1e-10).log()).sum())
        return z + (zq - z).detach(), commit, perplexity


class SmallVQVAE(nn.Module):
    """32×32 RGB -> (d, 8, 8) pre-quantisation latent -> quantise -> image. K = d·8·8."""

    def __init__(self, cfg: SmallConfig) -> None:
        super().__init__()
        self.cfg = cfg
        self.encoder = Encoder(cfg, cfg.latent_channels)
        self.quantizer = EMAQuantizer(cfg.codebook_size, cfg.group_dim, cfg.ema_decay)
        self.decoder = Decoder(cfg, cfg.latent_channels)

    def _split(self, z: torch.Tensor) -> torch.Tensor:  # (B, G·dg, g, g) -> (B·G, dg, g, g)
        B, _, h, w = z.shape
        return z.reshape(B * self.cfg.groups, self.cfg.group_dim, h, w)

    def _merge(self, z: torch.Tensor) -> torch.Tensor:  # (B·G, dg, g, g) -> (B, G·dg, g, g)
        _, _, h, w = z.shape
        return z.reshape(-1, self.cfg.latent_channels, h, w)

    def encode_latent(self, x: torch.Tensor) -> torch.Tensor:  # (B, 3, s, s) -> (B, d, g, g)
        return self.encoder(x)

    def decode_latent(self, z: torch.Tensor) -> torch.Tensor:  # (B, d, g, g) -> (B, 3, s, s)
        q = self.quantizer
        return self.decoder(self._merge(q.lookup(q.indices(self._split(z)))))

    def training_loss(self, x: torch.Tensor, progress: float):
        z = self.encoder(x)
        zq, commit, ppl = self.quantizer(self._split(z))
        zq = self._merge(zq)
        rec = self.decoder(zq)
        mse = F.mse_loss(rec, x)
        return mse + self.cfg.beta_commit * commit, {"mse": mse.item(), "commit": commit.item(),
                                                      "perplexity": ppl.item()}
