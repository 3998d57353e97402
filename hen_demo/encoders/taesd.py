"""TAESD (Ollin Boer Bohan's tiny autoencoder, diffusers ``AutoencoderTiny``, ``madebyollin/taesd``): trained to
reproduce Stable Diffusion's KL-f8 latent space with a few percent of its compute, so a free CPU Space can encode
real photographs into (approximately) the KL-f8 codes HEN §3 uses.

It is an *approximation* of KL-f8, labelled so in the app: its codes are close to, not equal to, KL-f8's posterior
means (TAESD's output is divided by SD's latent scaling factor 0.18215 to put it on KL-f8's unscaled latent scale),
and its decoder is a distilled one. Same f8 grid and 4 channels: K = 4·24·24 = 2,304 at the default 192 px.

Weights, in order: ``weights_dir=`` / ``$HEN_WEIGHTS_DIR/taesd`` (a diffusers folder: ``config.json`` +
``diffusion_pytorch_model.safetensors``), the local Hugging Face cache, the hub when online; otherwise the
registry lists it as unavailable with the reason. Loading is shared with the other diffusers autoencoders
(``pretrained.load``), which checks that a local folder really holds an ``AutoencoderTiny``.
"""

from __future__ import annotations

from hen_demo.encoders import pretrained

REPO = "madebyollin/taesd"


def probe(name: str = "taesd", weights_dir=None, cache_dir=None) -> str:
    """"" when TAESD can be loaded, else why not (never raises)."""
    return pretrained.probe("taesd", weights_dir=weights_dir, cache_dir=cache_dir)


def load(name: str = "taesd", **kwargs) -> pretrained.DiffusersAutoencoder:
    """Load TAESD (see ``pretrained.load`` for ``weights_dir``, ``image_size``, ``cache_dir``, ``dtype``)."""
    return pretrained.load("taesd", **kwargs)
