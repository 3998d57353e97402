"""The README's Python examples run as written (on small stand-in patterns)."""

import re
from pathlib import Path

import pytest
import torch

README = Path(__file__).resolve().parents[1] / "README.md"
BLOCKS = re.findall(r"```python\n(.*?)```", README.read_text(encoding="utf-8"), flags=re.S)


def test_readme_has_python_examples():
    assert len(BLOCKS) >= 4


@pytest.mark.slow
@pytest.mark.parametrize("index", range(len(BLOCKS)))
def test_readme_example_runs(index, tmp_path, monkeypatch):
    monkeypatch.setenv("HEN_CACHE_DIR", str(tmp_path))
    g = torch.Generator().manual_seed(0)
    patterns = torch.rand(40, 64, generator=g)  # (N, K) stand-in memories
    queries = patterns[:4] + 0.05 * torch.randn(4, 64, generator=g)  # (B, K) noisy cues
    namespace = {"patterns": patterns, "queries": queries}
    exec(compile(BLOCKS[index], f"README block {index}", "exec"), namespace)
    if "out" in namespace and hasattr(namespace["out"], "states"):
        assert torch.isfinite(namespace["out"].states).all()
