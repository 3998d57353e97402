"""Registry hooks for the project's own small encoders (vq-small, kl-small, dvae-small)."""

from __future__ import annotations

from hen_demo.encoders.base import EncoderUnavailable
from hen_demo.data.offline import assets_dir


def weights_paths(name: str):
    d = assets_dir() / "encoders"
    return d / f"{name}.safetensors", d / f"{name}.json"


def probe(name: str) -> str:
    st, js = weights_paths(name)
    if not (st.is_file() and js.is_file()):
        return f"weights not found at {st} (train them with: python -m hen_demo train-encoder --kind {name.split('-')[0]})"
    return ""


def load(name: str, **kwargs):
    reason = probe(name)
    if reason:
        raise EncoderUnavailable(f"{name} is unavailable: {reason}")
    raise EncoderUnavailable(f"{name} is unavailable: the model code is not written yet")
