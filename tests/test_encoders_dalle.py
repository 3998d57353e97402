"""D-VAE: the rebuilt DALL-E modules load converted weights; pickles convert without running their code."""

import pickle
import sys
import types

import pytest
import torch

from hen_demo.encoders import EncoderUnavailable, get_image_encoder
from hen_demo.encoders.convert import convert_dalle
from hen_demo.encoders.dalle import DalleDecoder, DalleEncoder, map_pixels
from hen_demo.encoders.safe_unpickle import load_restricted


def _pickle_like_openai(tmp_path):
    """Whole-module pickles whose classes live in a module ('dall_e.*') that is absent when loading."""
    torch.manual_seed(0)
    enc = DalleEncoder(n_hid=16, n_blk=1, vocab=32).eval()
    dec = DalleDecoder(n_init=8, n_hid=16, n_blk=1, vocab=32).eval()
    fake = types.ModuleType("dall_e.encoder")
    sys.modules["dall_e"] = types.ModuleType("dall_e")
    sys.modules["dall_e.encoder"] = fake
    originals = {}
    try:
        for cls in (DalleEncoder, DalleDecoder):
            originals[cls] = (cls.__module__, cls.__qualname__)
            cls.__module__ = "dall_e.encoder"
            setattr(fake, cls.__name__, cls)
        torch.save(enc, tmp_path / "encoder.pkl")
        torch.save(dec, tmp_path / "decoder.pkl")
    finally:
        for cls, (mod, _) in originals.items():
            cls.__module__ = mod
        del sys.modules["dall_e.encoder"], sys.modules["dall_e"]
    return enc, dec


def test_convert_and_load_matches_the_original_modules(tmp_path, monkeypatch):
    enc, dec = _pickle_like_openai(tmp_path)
    out = convert_dalle(tmp_path / "encoder.pkl", tmp_path / "decoder.pkl", tmp_path / "dvae")
    assert (out / "encoder.safetensors").is_file() and (out / "decoder.safetensors").is_file()
    monkeypatch.setenv("HEN_WEIGHTS_DIR", str(tmp_path))
    d = get_image_encoder("dvae", image_size=32, embed_dims=3)
    assert d.latent_shape == (3, 4, 4) and d.code_dim == 48
    x = torch.rand(2, 3, 32, 32)
    with torch.no_grad():
        tokens = enc(map_pixels(x)).argmax(1)  # the original module's tokens
        onehot = torch.nn.functional.one_hot(tokens, 32).permute(0, 3, 1, 2).float()
        ref = ((torch.sigmoid(dec(onehot)[:, :3]) - 0.1) / 0.8).clamp(0, 1)
    assert torch.equal(d.tokens(x), tokens)
    z = d.encode(x)
    assert torch.allclose(d.decode(z), ref, atol=1e-5)  # exact code -> exact reconstruction
    assert torch.equal(d.snap(z.reshape(2, 3, 4, 4)), tokens)


def test_malicious_pickle_is_not_executed(tmp_path):
    class Evil:
        def __reduce__(self):
            import os
            return (os.system, (f"touch {tmp_path / 'pwned'}",))

    with open(tmp_path / "evil.pkl", "wb") as f:
        pickle.dump({"blocks.input.w": Evil()}, f)
    with pytest.raises(Exception):
        load_restricted(tmp_path / "evil.pkl")
    assert not (tmp_path / "pwned").exists()


def test_missing_dvae_weights_are_explained(tmp_path, monkeypatch):
    monkeypatch.setenv("HEN_WEIGHTS_DIR", str(tmp_path))
    with pytest.raises(EncoderUnavailable, match="convert dalle"):
        get_image_encoder("dvae")


def test_convert_cli_reports_missing_inputs(monkeypatch, capsys):
    from hen_demo.__main__ import main
    monkeypatch.delenv("HEN_WEIGHTS_DIR", raising=False)
    assert main(["convert", "dalle"]) == 2
    assert "error" in capsys.readouterr().out
    assert main(["convert", "ldm", "--ckpt", "/nonexistent.ckpt", "--config", "/nonexistent.yaml",
                 "--out", "/tmp/never-written"]) == 2


def test_converted_weights_of_another_model_are_refused(tmp_path, monkeypatch):
    """Encoder and decoder files swapped (or another network's weights): a sentence, never random weights."""
    from safetensors.torch import save_file
    torch.manual_seed(0)
    enc = DalleEncoder(n_hid=16, n_blk=1, vocab=32)
    dec = DalleDecoder(n_init=8, n_hid=16, n_blk=1, vocab=32)
    folder = tmp_path / "dvae"
    folder.mkdir()
    save_file(dec.state_dict(), str(folder / "encoder.safetensors"))
    save_file(enc.state_dict(), str(folder / "decoder.safetensors"))
    monkeypatch.setenv("HEN_WEIGHTS_DIR", str(tmp_path))
    with pytest.raises(EncoderUnavailable, match="do not fit the D-VAE"):
        get_image_encoder("dvae", image_size=32)
    save_file({"conv.weight": torch.zeros(3, 3)}, str(folder / "encoder.safetensors"))
    with pytest.raises(EncoderUnavailable, match="do not fit the D-VAE"):
        get_image_encoder("dvae", image_size=32)
