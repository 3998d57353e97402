"""Text encoders: MiniLM offline, CLIP through its loader on a tiny model, pixelized captions; caption checks."""

import pytest
import torch

from hen_demo.encoders import EncoderUnavailable, get_image_encoder, get_text_encoder, list_text_encoders
from hen_demo.encoders.text_pixelized import MAX_CHARS, render_caption


@pytest.fixture(scope="module")
def minilm():
    infos = {i.name: i for i in list_text_encoders()}
    if not infos["minilm"].available:
        pytest.skip(infos["minilm"].reason)
    return get_text_encoder("minilm")


def test_minilm_unit_vectors_and_meaning(minilm):
    e = minilm.encode(["A cat sleeps on a mat.", "A kitten naps on a rug.", "Interest rates rose in March."])
    assert e.shape == (3, 384) and minilm.code_dim == 384
    assert torch.allclose(e.norm(dim=1), torch.ones(3), atol=1e-5)
    sim = e @ e.T
    assert sim[0, 1] > sim[0, 2] + 0.3  # paraphrases closer than unrelated text


def test_minilm_long_caption_is_truncated_not_an_error(minilm):
    long = "cat " * 5000  # 20,000 characters
    a = minilm.encode([long])
    b = minilm.encode(["cat " * 300])  # also beyond 256 tokens: same truncated input
    assert a.shape == (1, 384) and torch.allclose(a, b, atol=1e-5)


def test_empty_captions_raise(minilm):
    for enc in (minilm, get_text_encoder("pixelized", image_encoder="pixels")):
        with pytest.raises(ValueError, match="empty"):
            enc.encode(["fine", "   "])
        with pytest.raises(ValueError):
            enc.encode([""])


def test_pixelized_uses_the_image_encoder_and_the_hash_separates_captions():
    pix = get_image_encoder("pixels")
    enc = get_text_encoder("pixelized", image_encoder=pix)
    assert enc.code_dim == pix.code_dim == 2352
    a, b, a2 = enc.encode(["a red car", "a red car.", "a red car"])
    assert torch.equal(a, a2) and not torch.allclose(a, b)
    # captions identical in their first MAX_CHARS characters still differ through the hash pattern
    base = "x" * MAX_CHARS
    img1, img2 = render_caption(base + " one"), render_caption(base + " two")
    assert (img1 != img2).any()
    same1, same2 = render_caption(base + " one", hash_pattern=False), render_caption(base + " two", hash_pattern=False)
    assert (same1 == same2).all()
    img = render_caption("word " * 2000)  # 10,000 characters: drawn up to MAX_CHARS, no error
    assert img.shape == (128, 128, 3)
    with pytest.raises(ValueError):
        get_text_encoder("pixelized")  # needs an image encoder


def test_clip_loader_on_a_tiny_random_model(tmp_path, monkeypatch):
    transformers = pytest.importorskip("transformers")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    vocab = {"<|startoftext|>": 0, "<|endoftext|>": 1, "a</w>": 2, "cat</w>": 3, "dog</w>": 4, "a": 5, "c": 6,
             "t</w>": 7, "!</w>": 8}
    import json
    (tmp_path / "vocab.json").write_text(json.dumps(vocab))
    (tmp_path / "merges.txt").write_text("#version: 0.2\n")
    tok = transformers.CLIPTokenizer(str(tmp_path / "vocab.json"), str(tmp_path / "merges.txt"))
    cfg = transformers.CLIPTextConfig(vocab_size=len(vocab), hidden_size=16, intermediate_size=32, num_hidden_layers=1,
                                      num_attention_heads=2, max_position_embeddings=77, projection_dim=12,
                                      bos_token_id=0, eos_token_id=1, pad_token_id=1)
    torch.manual_seed(0)
    model = transformers.CLIPTextModelWithProjection(cfg).eval()
    folder = tmp_path / "clip"
    tok.save_pretrained(folder)
    model.save_pretrained(folder)
    monkeypatch.setenv("HEN_WEIGHTS_DIR", str(tmp_path))
    assert {i.name: i for i in list_text_encoders()}["clip"].available
    clip = get_text_encoder("clip")
    codes = clip.encode(["a cat", "a dog", "a cat " * 500])
    assert codes.shape == (3, 12) and clip.code_dim == 12
    assert torch.allclose(codes.norm(dim=1), torch.ones(3), atol=1e-5)
    with torch.no_grad():
        ids = tok(["a cat"], return_tensors="pt")
        ref = model(**ids).text_embeds
    assert torch.allclose(codes[0], ref[0] / ref[0].norm(), atol=1e-5)


def test_clip_unavailable_offline(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HEN_WEIGHTS_DIR", str(tmp_path))
    with pytest.raises(EncoderUnavailable):
        get_text_encoder("clip", cache_dir=tmp_path)
