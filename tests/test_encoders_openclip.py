"""open_clip text backend: unavailable-with-reason when open_clip cannot import; the loading and encoding code
runs against a stand-in module with open_clip's API (create_model_and_transforms, get_tokenizer, encode_text)."""

import sys
import types

import pytest
import torch

from hen_demo.encoders import EncoderUnavailable, get_text_encoder, list_text_encoders


class _TinyClip(torch.nn.Module):
    def __init__(self, dim=16):
        super().__init__()
        self.emb = torch.nn.EmbeddingBag(1000, dim)

    def encode_text(self, tokens):  # tokens (B, 77) -> (B, dim)
        return self.emb(tokens)


def _fake_open_clip(calls):
    mod = types.ModuleType("open_clip")

    def create_model_and_transforms(arch, pretrained=None):
        calls.append((arch, pretrained))
        torch.manual_seed(0)
        return _TinyClip(), None, None

    def get_tokenizer(arch):
        def tok(texts):
            out = torch.zeros(len(texts), 77, dtype=torch.long)
            for i, t in enumerate(texts):
                ids = [(ord(c) * 7) % 1000 for c in t][:77]
                out[i, :len(ids)] = torch.tensor(ids)
            return out
        return tok

    mod.create_model_and_transforms = create_model_and_transforms
    mod.get_tokenizer = get_tokenizer
    return mod


def test_listed_unavailable_with_reason_when_open_clip_cannot_import(monkeypatch):
    monkeypatch.setitem(sys.modules, "open_clip", None)  # import open_clip -> ImportError
    info = {i.name: i for i in list_text_encoders()}["clip-openclip"]
    assert not info.available and "open_clip" in info.reason
    with pytest.raises(EncoderUnavailable, match="open_clip"):
        get_text_encoder("clip-openclip")


def test_loads_and_encodes_through_open_clip_api(monkeypatch, tmp_path):
    calls = []
    monkeypatch.setitem(sys.modules, "open_clip", _fake_open_clip(calls))
    assert {i.name: i for i in list_text_encoders()}["clip-openclip"].available
    enc = get_text_encoder("clip-openclip")
    assert calls == [("ViT-B-32", "openai")]  # online default: open_clip's own 'openai' weights
    codes = enc.encode(["a red motorcycle", "a cat on a sofa", "a red motorcycle"])
    assert codes.shape == (3, enc.code_dim) == (3, 16)
    torch.testing.assert_close(codes.norm(dim=1), torch.ones(3))
    torch.testing.assert_close(codes[0], codes[2])
    assert not torch.allclose(codes[0], codes[1])
    with pytest.raises(ValueError):
        enc.encode(["   "])
    # a local checkpoint under $HEN_WEIGHTS_DIR is preferred to the download
    ckpt = tmp_path / "clip-openclip" / "open_clip_model.safetensors"
    ckpt.parent.mkdir()
    ckpt.write_bytes(b"x")
    monkeypatch.setenv("HEN_WEIGHTS_DIR", str(tmp_path))
    get_text_encoder("clip-openclip")
    assert calls[-1] == ("ViT-B-32", str(ckpt))
