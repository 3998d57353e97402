"""Encoder registry and the pixel baseline (contract §2)."""

import pytest
import torch

from hen_demo.encoders import (
    EncoderUnavailable,
    get_image_encoder,
    get_text_encoder,
    list_image_encoders,
    list_text_encoders,
)

IMAGE_NAMES = {"pixels", "vq-small", "kl-small", "dvae-small", "robust-small", "kl-f8", "vq-f8", "vq-f16", "kl-f16", "taesd", "dvae"}


def test_registry_lists_every_encoder_with_a_reason_when_unavailable():
    infos = list_image_encoders()
    assert {i.name for i in infos} == IMAGE_NAMES
    for i in infos:
        assert i.available or i.reason, i
    assert {i.name for i in list_text_encoders()} == {"minilm", "clip", "clip-openclip", "pixelized"}
    by = {i.name: i for i in infos}
    assert by["pixels"].available and by["pixels"].code_dim == 2352


def test_pixels_round_trip_and_resize():
    enc = get_image_encoder("pixels")
    assert enc.code_dim == 2352 and enc.image_size == 28 and enc.latent_shape == (3, 28, 28)
    x = torch.rand(4, 3, 28, 28)
    z = enc.encode(x)
    assert z.shape == (4, 2352)
    assert torch.allclose(enc.decode(z), x)
    big = torch.rand(2, 3, 100, 60)  # any size is resized
    assert enc.encode(big).shape == (2, 2352)
    small = torch.rand(1, 3, 8, 8)  # smaller than the input: upscaled
    assert enc.decode(enc.encode(small)).shape == (1, 3, 28, 28)


def test_unknown_names_and_bad_shapes():
    with pytest.raises(ValueError, match="unknown image encoder"):
        get_image_encoder("resnet")
    with pytest.raises(ValueError, match="unknown text encoder"):
        get_text_encoder("bert")
    enc = get_image_encoder("pixels")
    with pytest.raises(ValueError):
        enc.encode(torch.rand(2, 1, 28, 28))
    with pytest.raises(ValueError):
        enc.decode(torch.rand(2, 100))
    with pytest.raises(ValueError):
        enc.encode(torch.full((1, 3, 28, 28), float("nan")))


def test_unavailable_encoder_raises_encoder_unavailable(monkeypatch, tmp_path):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HOME", str(tmp_path))
    monkeypatch.setenv("HEN_WEIGHTS_DIR", str(tmp_path / "none"))
    for info in list_image_encoders():
        if not info.available:
            with pytest.raises(EncoderUnavailable):
                get_image_encoder(info.name)
            assert issubclass(EncoderUnavailable, ValueError)
