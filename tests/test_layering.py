"""Layering rules (issue 12, DESIGN "Data flows one way"), checked on the source with ast:

* hen_demo.encoders never imports hen_demo.data (data -> encoders only: banks call encoders, not back);
* no module under hen_demo/ui does math: no ``@`` matmul, no np.linalg / torch.linalg, no mm / einsum / matmul.
  The math lives in hen_demo/memory, hen_demo/metrics.py and hen_demo/pipeline; the tabs wire and present.
"""

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1] / "hen_demo"
MATH_PREFIXES = ("np.linalg", "numpy.linalg", "torch.linalg", "scipy.linalg")
MATH_CALLS = {"torch.mm", "torch.bmm", "torch.matmul", "torch.einsum", "torch.cdist", "torch.tensordot",
              "np.einsum", "np.matmul", "np.dot", "np.tensordot", "numpy.einsum", "numpy.matmul", "numpy.dot"}


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imported_modules(source: str, module: str, is_package: bool = False) -> set[str]:
    """Absolute names of every module ``source`` (the text of ``module``) imports, relative imports resolved."""
    package = module if is_package else module.rpartition(".")[0]
    out = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            out.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - (node.level - 1)]
                name = ".".join(base + ([node.module] if node.module else []))
            else:
                name = node.module or ""
            out.add(name)
            out.update(f"{name}.{a.name}" for a in node.names)  # `from hen_demo import data`
    return out


def math_in(source: str) -> list[str]:
    """'line: what' for each matmul / linear-algebra call in ``source``."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, (ast.BinOp, ast.AugAssign)) and isinstance(node.op, ast.MatMult):
            found.append(f"{node.lineno}: @")
        elif isinstance(node, ast.Attribute):
            name = ast.unparse(node)
            if name in MATH_CALLS or any(name == p or name.startswith(p + ".") for p in MATH_PREFIXES):
                found.append(f"{node.lineno}: {name}")
    return found


def _sources(folder: str):
    files = sorted((ROOT / folder).rglob("*.py"))
    assert files, f"no sources under hen_demo/{folder}"
    return [(p, p.read_text(encoding="utf-8")) for p in files]


def test_the_scanners_find_what_they_look_for():
    # each rule can fail: the scanners see a matmul, a linalg call and an import of hen_demo.data
    assert math_in("y = a @ b\n")
    assert math_in("import numpy as np\nq = np.linalg.qr(x)[0]\n")
    assert math_in("import torch\nz = torch.einsum('ij,j->i', a, b)\n")
    assert not math_in("s = f'{a:.3f}'\nb = a * 2 + c.mean()\n")
    assert "hen_demo.data" in imported_modules("from ..data import corrupt\n", "hen_demo.encoders.x")
    assert "hen_demo.data.banks" in imported_modules("from hen_demo.data.banks import b\n", "hen_demo.encoders.x")
    assert "hen_demo.data" in imported_modules("from hen_demo import data\n", "hen_demo.encoders.x")
    assert "hen_demo.data" in imported_modules("from .. import data\n", "hen_demo.encoders", is_package=True)
    assert "hen_demo.images" in imported_modules("from ..images import to_uint8\n", "hen_demo.encoders.x")


def test_encoders_never_import_data():
    bad = []
    for path, text in _sources("encoders"):
        mods = imported_modules(text, _module_name(path), is_package=path.name == "__init__.py")
        bad += [f"{path.relative_to(ROOT.parent)} imports {m}" for m in sorted(mods)
                if m == "hen_demo.data" or m.startswith("hen_demo.data.")]
    assert not bad, "hen_demo.encoders must not import hen_demo.data:\n" + "\n".join(bad)


@pytest.mark.parametrize("path", sorted((ROOT / "ui").glob("*.py")), ids=lambda p: p.name)
def test_no_math_in_the_ui(path):
    found = math_in(path.read_text(encoding="utf-8"))
    assert not found, (f"hen_demo/ui/{path.name} does math (move it to hen_demo/memory, metrics or the "
                       "pipeline): " + ", ".join(found))
