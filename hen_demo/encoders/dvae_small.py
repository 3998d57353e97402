"""Small discrete VAE with a Gumbel-softmax relaxation (Ramesh et al. 2021 dVAE; Jang et al. 2017).

The encoder gives logits over a vocabulary of V tokens for each of ``groups`` tokens at each of the 8×8
grid positions (256 tokens per 32×32 image). Training samples a
relaxed one-hot with the Gumbel-softmax at temperature τ, annealed exponentially from ``tau_start`` to
``tau_end`` (straight-through hard samples in the last 30 % of steps, so training matches inference),
plus a small KL to the uniform prior. The decoder first maps (soft) one-hots to a d-dimensional token
embedding (a bias-free 1×1 convolution, i.e. an embedding table E (V, dg) shared by the groups).

Memory code (documented choice): a continuous per-position code, the embedding of the argmax token,
E[argmax] for every token, giving K = 8·8·groups·dg. One-hot codes would be V·256 = 131,072 long; embeddings keep K near the
paper's 2,352 and make dot/L2 similarity meaningful between tokens. ``decode_latent`` snaps every
position to its nearest token embedding before decoding, so retrieving a stored code exactly gives
exactly the stored reconstruction.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from hen_demo.encoders.base import squared_distances
from hen_demo.encoders.small_blocks import Decoder, Encoder, SmallConfig


class SmallDVAE(nn.Module):
    def __init__(self, cfg: SmallConfig) -> None:
        super().__init__()
        self.cfg = cfg
        self.encoder = Encoder(cfg, cfg.groups * cfg.codebook_size)  # logits (B, G·V, g, g)
        self.embed = nn.Conv2d(cfg.codebook_size, cfg.group_dim, 1, bias=False)  # E: V -> dg
        self.decoder = Decoder(cfg, cfg.latent_channels)

    @property
    def table(self) -> torch.Tensor:  # (V, dg) token embeddings
        return self.embed.weight[:, :, 0, 0].T

    def _logits(self, x: torch.Tensor) -> torch.Tensor:  # (B, 3, s, s) -> (B·G, V, g, g)
        lg = self.encoder(x)
        return lg.reshape(lg.shape[0] * self.cfg.groups, self.cfg.codebook_size, lg.shape[2], lg.shape[3])

    def _embed_tokens(self, idx: torch.Tensor) -> torch.Tensor:  # (B·G, g, g) -> (B, G·dg, g, g)
        e = self.table[idx].permute(0, 3, 1, 2)  # (B·G, dg, g, g)
        return e.reshape(-1, self.cfg.latent_channels, idx.shape[1], idx.shape[2]).contiguous()

    def tokens(self, x: torch.Tensor) -> torch.Tensor:  # (B, 3, s, s) -> (B·G, g, g) int
        return self._logits(x).argmax(1)

    def encode_latent(self, x: torch.Tensor) -> torch.Tensor:  # (B, G·dg, g, g) = E[argmax]
        return self._embed_tokens(self.tokens(x))

    def snap(self, z: torch.Tensor) -> torch.Tensor:
        """Nearest token per group and position: z (B, G·dg, g, g) -> token ids (B·G, g, g)."""
        B, _, h, w = z.shape
        zg = z.reshape(B * self.cfg.groups, self.cfg.group_dim, h, w)
        flat = zg.permute(0, 2, 3, 1).reshape(-1, self.cfg.group_dim)  # (M, dg)
        return squared_distances(flat, self.table).argmin(1).reshape(B * self.cfg.groups, h, w)

    def decode_latent(self, z: torch.Tensor) -> torch.Tensor:
        return self.decoder(self._embed_tokens(self.snap(z)))

    def training_loss(self, x: torch.Tensor, progress: float):
        cfg = self.cfg
        tau = cfg.tau_start * (cfg.tau_end / cfg.tau_start) ** min(max(progress, 0.0), 1.0)
        logits = self._logits(x)  # (B·G, V, g, g)
        soft = F.gumbel_softmax(logits, tau=tau, hard=progress > 0.7, dim=1)
        e = self.embed(soft)  # (B·G, dg, g, g)
        rec = self.decoder(e.reshape(x.shape[0], self.cfg.latent_channels, e.shape[2], e.shape[3]))
        mse = F.mse_loss(rec, x)
        logq = F.log_softmax(logits, dim=1)
        kl = (logq.exp() * (logq + math.log(cfg.codebook_size))).sum(1).mean()  # KL(q || uniform) per position
        return mse + cfg.kl_weight * kl, {"mse": mse.item(), "kl": kl.item(), "tau": tau}
