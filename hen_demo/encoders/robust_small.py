"""robust-small: an autoencoder whose codes of damaged images land near the codes of the clean ones.

Our extension, not the papers': HEN (Kashyap et al.) keeps a frozen pretrained autoencoder and names
better latent spaces for corrupted cues as future work. Here the encoder is trained on damaged → clean
pairs (black and grey halves, random pixel masks, brush strokes, Gaussian noise), so that a corrupted
query's code ``Φ_enc(x̃)`` (HEN eq. 5) has the stored memory ``Φ_enc(x)`` as its nearest neighbour.

Architecture: the f4 body of the other small autoencoders (``small_blocks``) plus two pre-norm
transformer layers over the 8×8 grid, so every grid position sees the whole image (a conv encoder of
this size cannot infer the code of a hidden half from the visible one). Code = the 32×8×8 latent
(K = 2,048), decoded by the shared ``small_blocks.Decoder``.

Objective per batch of clean images x (B) and damaged copies x̃ (B), z = Φ_enc(x), z̃ = Φ_enc(x̃):

    L = MSE(dec(z), x) + w_inp · MSE(dec(z̃), x) + w_nce · InfoNCE(z̃ → z)

    InfoNCE: logits_ij = −‖z̃_i − z_j‖² / (τ · mean_ij ‖z̃_i − z_j‖²)   (mean detached), target j = i.

Dividing by the batch's mean squared distance makes the alignment term blind to the code's scale, so
it cannot be satisfied by shrinking all codes (collapse) or by inflating them; the other images of the
batch are the negatives, exactly the rivals a query meets in a memory bank.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from hen_demo.encoders.small_blocks import Decoder, ResBlock, SmallConfig

DAMAGES = ("black-half", "grey-half", "pixel-mask", "brush", "noise", "none")


class RobustEncoder(nn.Module):
    """(B, 3, s, s) in [0, 1] -> (B, latent_channels, s/4, s/4); conv f4 body + global attention at the grid."""

    def __init__(self, cfg: SmallConfig, layers: int = 2, heads: int = 4) -> None:
        super().__init__()
        c = cfg.channels
        self.stem = nn.Sequential(
            nn.Conv2d(3, c, 4, stride=2, padding=1),  # (B, c, s/2, s/2)
            nn.SiLU(),
            nn.Conv2d(c, 2 * c, 4, stride=2, padding=1),  # (B, 2c, s/4, s/4)
            *[ResBlock(2 * c) for _ in range(cfg.num_res)],
        )
        g = cfg.grid
        self.pos = nn.Parameter(torch.randn(1, g * g, 2 * c) * 0.02)  # learned position embedding (1, g², 2c)
        self.mix = nn.ModuleList([
            nn.TransformerEncoderLayer(2 * c, heads, dim_feedforward=4 * c, dropout=0.0, activation="gelu",
                                       batch_first=True, norm_first=True) for _ in range(layers)])
        self.head = nn.Sequential(nn.GroupNorm(8, 2 * c), nn.SiLU(), nn.Conv2d(2 * c, cfg.latent_channels, 1))

    def forward(self, x):
        h = self.stem(x * 2.0 - 1.0)  # (B, 2c, g, g)
        B, C, g, _ = h.shape
        t = h.flatten(2).transpose(1, 2) + self.pos  # (B, g², 2c)
        for layer in self.mix:
            t = layer(t)
        h = t.transpose(1, 2).reshape(B, C, g, g)
        return self.head(h)  # (B, d, g, g)


class SmallRobustAE(nn.Module):
    """The robust-small autoencoder (see module docstring). ``cfg.kind == "robust"``.


    Args:
        cfg: the shared small-autoencoder config (kind "robust").
        nce_weight, nce_tau: weight and temperature of the scale-free InfoNCE alignment term.
        inpaint_weight: weight of MSE(dec(Φ_enc(x̃)), x), the decoder completing damaged inputs.
    """

    def __init__(self, cfg: SmallConfig, nce_weight: float = 0.05, nce_tau: float = 0.1,
                 inpaint_weight: float = 0.5) -> None:
        super().__init__()
        self.cfg = cfg
        self.nce_weight, self.nce_tau, self.inpaint_weight = nce_weight, nce_tau, inpaint_weight
        self.encoder = RobustEncoder(cfg)
        self.decoder = Decoder(cfg, cfg.latent_channels)

    def encode_latent(self, x: torch.Tensor) -> torch.Tensor:  # (B, d, g, g)
        return self.encoder(x)

    def decode_latent(self, z: torch.Tensor) -> torch.Tensor:
        return self.decoder(z)

    def training_loss(self, x: torch.Tensor, progress: float, damaged: torch.Tensor | None = None):
        """x (B, 3, s, s) clean, damaged (B, 3, s, s) its damaged copies (made here when None)."""
        if damaged is None:
            damaged = damage(x, torch.Generator().manual_seed(int(torch.randint(0, 2**31 - 1, ()))))
        B = x.shape[0]
        q = max(1, B // 4)  # the decoder completes only a quarter of the damaged images (CPU budget)
        z = self.encoder(torch.cat([x, damaged]))  # (2B, d, g, g)
        zc, zd = z[:B], z[B:]
        rec = self.decoder(z[:B + q])  # (B + q, 3, s, s)
        mse = F.mse_loss(rec[:B], x)
        inp = F.mse_loss(rec[B:], x[:q])
        a, b = zd.flatten(1), zc.flatten(1)  # (B, K)
        d2 = (a.pow(2).sum(1, keepdim=True) - 2 * a @ b.T + b.pow(2).sum(1)[None]).clamp(min=0)  # (B, B)
        logits = -d2 / (self.nce_tau * d2.mean().detach().clamp(min=1e-8))
        target = torch.arange(B, device=x.device)
        nce = F.cross_entropy(logits, target)
        with torch.no_grad():
            top1 = (logits.argmax(1) == target).float().mean()
            pos_ratio = d2.diag().mean() / d2.mean()  # < 1: damaged codes nearer their own clean code
        loss = mse + self.inpaint_weight * inp + self.nce_weight * nce
        return loss, {"mse": mse.item(), "inp": inp.item(), "nce": nce.item(), "top1": top1.item(),
                      "pos/mean": pos_ratio.item(), "code_rms": b.pow(2).mean().sqrt().item()}


# ---- damage: what a query may suffer (training only) ------------------------------------------------------
def _half_mask(B, H, W, gen) -> torch.Tensor:
    """(B, 1, H, W) bool: a random side (top/bottom/left/right), a fraction in [0.25, 0.6] of it hidden."""
    m = torch.zeros(B, 1, H, W, dtype=torch.bool)
    sides = torch.randint(0, 4, (B,), generator=gen)
    frac = 0.25 + 0.35 * torch.rand(B, generator=gen)
    frac = torch.where(torch.rand(B, generator=gen) < 0.5, torch.full_like(frac, 0.5), frac)  # half the time 0.5
    for i in range(B):
        r = int(round(float(frac[i]) * H))
        s = int(sides[i])
        if s == 0:
            m[i, :, :r] = True
        elif s == 1:
            m[i, :, H - r:] = True
        elif s == 2:
            m[i, :, :, :r] = True
        else:
            m[i, :, :, W - r:] = True
    return m


def _brush_mask(B, H, W, gen) -> torch.Tensor:
    """(B, 1, H, W) bool: 2-5 thick random strokes (polylines of round dabs), about 15-40 % of the image."""
    yy, xx = torch.meshgrid(torch.arange(H).float(), torch.arange(W).float(), indexing="ij")
    m = torch.zeros(B, 1, H, W, dtype=torch.bool)
    for i in range(B):
        for _ in range(int(torch.randint(2, 6, (), generator=gen))):
            y, x = float(torch.rand((), generator=gen)) * H, float(torch.rand((), generator=gen)) * W
            radius = (0.04 + 0.06 * float(torch.rand((), generator=gen))) * H
            ang = float(torch.rand((), generator=gen)) * 2 * math.pi
            for _ in range(int(torch.randint(3, 8, (), generator=gen))):
                ang += float(torch.randn((), generator=gen)) * 0.8
                step = 0.15 * H
                for t in range(4):
                    cy, cx = y + math.sin(ang) * step * t / 4, x + math.cos(ang) * step * t / 4
                    m[i, 0] |= (yy - cy) ** 2 + (xx - cx) ** 2 <= radius ** 2
                y, x = y + math.sin(ang) * step, x + math.cos(ang) * step
    return m


_BRUSHES: dict = {}


def _brushes(n, H, W, gen) -> torch.Tensor:
    """n brush masks (n, 1, H, W), drawn from a bank of 256 strokes per size (flipped and rotated at random)."""
    if (H, W) not in _BRUSHES:
        _BRUSHES[(H, W)] = _brush_mask(256, H, W, torch.Generator().manual_seed(1234))
    bank = _BRUSHES[(H, W)]
    m = bank[torch.randint(0, bank.shape[0], (n,), generator=gen)]
    flip = torch.rand(n, generator=gen) < 0.5
    m[flip] = m[flip].flip(-1)
    if H == W and torch.rand((), generator=gen) < 0.5:
        m = m.transpose(-1, -2)
    return m


def damage(x: torch.Tensor, gen: torch.Generator, grey: float = 0.45,
           probs=(0.35, 0.15, 0.15, 0.1, 0.2, 0.05)) -> torch.Tensor:
    """Damaged copy of clean images x (B, 3, H, W) in [0, 1]; each image gets one of ``DAMAGES`` (``probs``).

    black-half / grey-half: one side hidden (fill 0, or ``grey`` ± 0.1, the tiles' mean level);
    pixel-mask: each pixel hidden (fill 0) with p in [0.1, 0.6]; brush: random thick strokes (fill 0);
    noise: Gaussian, sigma in [0.05, 0.35], clipped; none: unchanged.
    """
    B, _, H, W = x.shape
    kind = torch.multinomial(torch.tensor(probs, dtype=torch.float), B, replacement=True, generator=gen)  # (B,)
    out = x.clone()
    half = _half_mask(B, H, W, gen)
    fill = torch.where(kind == 1, grey + 0.2 * (torch.rand(B, generator=gen) - 0.5), torch.zeros(B))
    sel = (kind == 0) | (kind == 1)
    out = torch.where(sel[:, None, None, None] & half, fill[:, None, None, None].expand_as(out), out)
    p = 0.1 + 0.5 * torch.rand(B, 1, 1, 1, generator=gen)
    pix = torch.rand(B, 1, H, W, generator=gen) < p
    out = out.masked_fill((kind == 2)[:, None, None, None] & pix, 0.0)
    nb = int((kind == 3).sum())
    if nb:
        out[kind == 3] = out[kind == 3].masked_fill(_brushes(nb, H, W, gen), 0.0)
    sigma = 0.05 + 0.3 * torch.rand(B, 1, 1, 1, generator=gen)
    noisy = (x + torch.randn(x.shape, generator=gen) * sigma).clamp(0.0, 1.0)
    out = torch.where((kind == 4)[:, None, None, None], noisy, out)
    return out
