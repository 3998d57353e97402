"""OpenAI's DALL-E discrete VAE (Ramesh et al. 2021), the paper's best encoder (HEN §3, "D-VAE"), rebuilt in
plain torch so its weights load from safetensors (the ``dall_e`` package fetches pickled modules, needs
torchvision and fails on torch >= 2.6).

Architecture (as published in openai/DALL-E, re-written here from its description; parameter names match
its state dict, e.g. ``blocks.group_1.block_1.res_path.conv_1.w``): encoder = 7×7 conv to 256 channels,
4 groups of 2 bottleneck residual blocks (256, 512, 1024, 2048 channels; max-pool after groups 1-3, so f8),
ReLU + 1×1 conv to logits over 8,192 tokens. Decoder = 1×1 conv from one-hot tokens to 128 channels,
4 groups of 2 blocks (2048, 1024, 512, 256; nearest ×2 upsampling after groups 1-3), ReLU + 1×1 conv to 6
channels (a logit-Laplace distribution); the image is the sigmoid of the first 3. Pixels are mapped from
[0, 1] to [0.1, 0.9] before encoding and back after decoding.

Memory code (documented choice, same idea as ``dvae-small``): each position's argmax token is represented by
its decoder embedding (the 8,192 × 128 first decoder convolution) projected on the table's top principal
axes (``embed_dims``, default 3); decode snaps each position to the nearest projected token and decodes its
one-hot. With the default 224-px input (28×28 tokens) K = 28·28·3 = 2,352, the paper's K.

Weights: ``$HEN_WEIGHTS_DIR/dvae/{encoder,decoder}.safetensors`` (or ``weights_dir=``), produced once by
``python -m hen_demo convert dalle --encoder encoder.pkl --decoder decoder.pkl`` (see ``convert.py``).
"""

from __future__ import annotations

from collections import OrderedDict

import torch
import torch.nn.functional as F
from safetensors.torch import load_file
from torch import nn

from hen_demo.encoders.base import EncoderUnavailable, ImageEncoder, squared_distances
from hen_demo.encoders.weights import local_folder, weights_digest

LOGIT_LAPLACE_EPS = 0.1
VOCAB = 8192


class Conv(nn.Module):
    """DALL-E's conv with parameters named ``w`` and ``b`` and 'same' padding."""

    def __init__(self, n_in: int, n_out: int, kw: int) -> None:
        super().__init__()
        self.w = nn.Parameter(torch.zeros(n_out, n_in, kw, kw))
        self.b = nn.Parameter(torch.zeros(n_out))
        nn.init.normal_(self.w, std=1 / (n_in * kw * kw) ** 0.5)
        self.kw = kw

    def forward(self, x):
        return F.conv2d(x, self.w, self.b, padding=(self.kw - 1) // 2)


class _Block(nn.Module):
    """DALL-E's bottleneck residual block: ``id_path(x) + post_gain · res_path(x)``, res_path = 4 × (ReLU, conv)
    through ``n_out / 4`` channels. Encoder and decoder blocks differ only in the kernels of those 4 convs."""

    kernels: tuple[int, int, int, int] = (3, 3, 3, 3)

    def __init__(self, n_in: int, n_out: int, n_layers: int) -> None:
        super().__init__()
        h = n_out // 4
        k1, k2, k3, k4 = self.kernels
        self.post_gain = 1 / n_layers ** 2
        self.id_path = Conv(n_in, n_out, 1) if n_in != n_out else nn.Identity()
        self.res_path = nn.Sequential(OrderedDict([
            ("relu_1", nn.ReLU()), ("conv_1", Conv(n_in, h, k1)), ("relu_2", nn.ReLU()), ("conv_2", Conv(h, h, k2)),
            ("relu_3", nn.ReLU()), ("conv_3", Conv(h, h, k3)), ("relu_4", nn.ReLU()), ("conv_4", Conv(h, n_out, k4))]))

    def forward(self, x):
        return self.id_path(x) + self.post_gain * self.res_path(x)


class EncoderBlock(_Block):
    kernels = (3, 3, 3, 1)


class DecoderBlock(_Block):
    kernels = (1, 3, 3, 3)


class DalleEncoder(nn.Module):
    """(B, 3, s, s) in [0.1, 0.9] -> logits (B, vocab, s/8, s/8)."""

    def __init__(self, n_hid: int = 256, n_blk: int = 2, vocab: int = VOCAB) -> None:
        super().__init__()
        L = 4 * n_blk
        chans = [n_hid, 2 * n_hid, 4 * n_hid, 8 * n_hid]
        groups = [("input", Conv(3, n_hid, 7))]
        prev = n_hid
        for g, c in enumerate(chans, start=1):
            layers = []
            for i in range(n_blk):
                layers.append((f"block_{i + 1}", EncoderBlock(prev if i == 0 else c, c, L)))
            if g < 4:
                layers.append(("pool", nn.MaxPool2d(kernel_size=2)))
            groups.append((f"group_{g}", nn.Sequential(OrderedDict(layers))))
            prev = c
        groups.append(("output", nn.Sequential(OrderedDict([("relu", nn.ReLU()), ("conv", Conv(8 * n_hid, vocab, 1))]))))
        self.blocks = nn.Sequential(OrderedDict(groups))

    def forward(self, x):
        return self.blocks(x)


class DalleDecoder(nn.Module):
    """one-hot (B, vocab, g, g) -> (B, 6, 8g, 8g) logit-Laplace statistics."""

    def __init__(self, n_init: int = 128, n_hid: int = 256, n_blk: int = 2, vocab: int = VOCAB) -> None:
        super().__init__()
        L = 4 * n_blk
        chans = [8 * n_hid, 4 * n_hid, 2 * n_hid, n_hid]
        groups = [("input", Conv(vocab, n_init, 1))]
        prev = n_init
        for g, c in enumerate(chans, start=1):
            layers = [(f"block_{i + 1}", DecoderBlock(prev if i == 0 else c, c, L)) for i in range(n_blk)]
            if g < 4:
                layers.append(("upsample", nn.Upsample(scale_factor=2, mode="nearest")))
            groups.append((f"group_{g}", nn.Sequential(OrderedDict(layers))))
            prev = c
        groups.append(("output", nn.Sequential(OrderedDict([("relu", nn.ReLU()), ("conv", Conv(n_hid, 6, 1))]))))
        self.blocks = nn.Sequential(OrderedDict(groups))

    def forward(self, z):
        return self.blocks(z)


def modules_from_state_dicts(enc_sd: dict, dec_sd: dict) -> tuple[DalleEncoder, DalleDecoder]:
    """A DalleEncoder and DalleDecoder sized from their state dicts, with those weights loaded strictly (as float32).

    Raises ValueError when the state dicts are not a DALL-E dVAE encoder / decoder pair.
    """
    try:
        n_blk = len({k.split(".")[2] for k in enc_sd if k.startswith("blocks.group_1.block_")})
        vocab = enc_sd["blocks.output.conv.w"].shape[0]
        enc = DalleEncoder(n_hid=enc_sd["blocks.input.w"].shape[0], n_blk=n_blk, vocab=vocab)
        dec = DalleDecoder(n_init=dec_sd["blocks.input.w"].shape[0], n_hid=dec_sd["blocks.output.conv.w"].shape[1],
                           n_blk=n_blk, vocab=vocab)
        enc.load_state_dict({k: v.float() for k, v in enc_sd.items()})
        dec.load_state_dict({k: v.float() for k, v in dec_sd.items()})
    except (KeyError, RuntimeError) as exc:
        raise ValueError(f"these weights do not fit the D-VAE ({type(exc).__name__}: {exc})") from exc
    return enc, dec


def map_pixels(x: torch.Tensor) -> torch.Tensor:
    return (1 - 2 * LOGIT_LAPLACE_EPS) * x + LOGIT_LAPLACE_EPS


def unmap_pixels(x: torch.Tensor) -> torch.Tensor:
    return ((x - LOGIT_LAPLACE_EPS) / (1 - 2 * LOGIT_LAPLACE_EPS)).clamp(0, 1)


class DalleDVAE(ImageEncoder):
    """ImageEncoder over the DALL-E dVAE (see module docstring for the code).

    Args:
        encoder, decoder: DalleEncoder / DalleDecoder with weights loaded.
        image_size: input side (multiple of 8; default 224 -> 28×28 tokens).
        embed_dims: principal axes of the token embedding kept per position (K = (s/8)² · embed_dims).
    """

    def __init__(self, encoder: DalleEncoder, decoder: DalleDecoder, image_size: int = 224, embed_dims: int = 3,
                 name: str = "dvae", fingerprint: str = "dvae") -> None:
        super().__init__()
        if image_size % 8:
            raise ValueError(f"the D-VAE needs an image size divisible by 8; got {image_size}")
        self.enc, self.dec = encoder.eval(), decoder.eval()
        self.name, self.label = name, "D-VAE (DALL-E dVAE)"
        self.image_size = int(image_size)
        g = image_size // 8
        table = self.dec.blocks.input.w.detach()[:, :, 0, 0].T.double()  # (vocab, n_init): token embeddings
        centred = table - table.mean(0, keepdim=True)
        _, _, vh = torch.linalg.svd(centred, full_matrices=False)
        self.proj = vh[:embed_dims].T.float()  # (n_init, embed_dims)
        self.points = (centred @ vh[:embed_dims].T).float()  # (vocab, embed_dims): each token's code
        self.latent_shape = (embed_dims, g, g)
        self.code_dim = embed_dims * g * g
        self.fingerprint = f"{fingerprint}:{image_size}:{embed_dims}"
        # peak activations of one image (~8 live float maps of the widest level; for bank batch sizes)
        n_hid = self.enc.blocks.input.w.shape[0]
        self.activation_bytes_per_image = 8 * 4 * max(n_hid * (2 ** i) * (image_size // 2 ** i) ** 2
                                                      for i in range(4))

    def _modules(self):
        return [self.enc, self.dec]

    def to(self, device):
        super().to(device)
        self.points = self.points.to(self.device)
        return self

    def tokens(self, x):  # (B, 3, s, s) in [0, 1] -> (B, g, g)
        return self.enc(map_pixels(x)).argmax(1)

    def _encode(self, x):
        idx = self.tokens(x)
        return self.points[idx].permute(0, 3, 1, 2).contiguous()  # (B, embed_dims, g, g)

    def snap(self, z):  # (B, e, g, g) -> nearest token ids (B, g, g)
        flat = z.permute(0, 2, 3, 1).reshape(-1, z.shape[1])
        return squared_distances(flat, self.points).argmin(1).reshape(z.shape[0], z.shape[2], z.shape[3])

    def _decode(self, z):
        idx = self.snap(z)
        onehot = F.one_hot(idx, self.points.shape[0]).permute(0, 3, 1, 2).float()  # (B, vocab, g, g)
        stats = self.dec(onehot)
        return unmap_pixels(torch.sigmoid(stats[:, :3]))


def probe(name: str, weights_dir=None) -> str:
    if local_folder(name, weights_dir, marker="encoder.safetensors") is None:
        return ("no converted weights: run `python -m hen_demo convert dalle --encoder encoder.pkl --decoder "
                "decoder.pkl --out $HEN_WEIGHTS_DIR/dvae` once (pickles from cdn.openai.com/dall-e)")
    return ""


def load(name: str, weights_dir=None, image_size: int = 224, embed_dims: int = 3, **kwargs) -> DalleDVAE:
    folder = local_folder(name, weights_dir, marker="encoder.safetensors")
    if folder is None or not (folder / "decoder.safetensors").is_file():
        raise EncoderUnavailable(f"{name} is unavailable: {probe(name, weights_dir)}")
    enc_sd, dec_sd = load_file(str(folder / "encoder.safetensors")), load_file(str(folder / "decoder.safetensors"))
    try:
        enc, dec = modules_from_state_dicts(enc_sd, dec_sd)
    except ValueError as exc:
        raise EncoderUnavailable(f"{name} is unavailable: {exc} (weights in {folder})") from exc
    return DalleDVAE(enc, dec, image_size=image_size, embed_dims=embed_dims, name=name,
                     fingerprint=f"dvae:{weights_digest([enc, dec])}")  # the weights, not their path
