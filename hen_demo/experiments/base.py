"""What every experiment returns, and how it is written to disk.

An experiment module (one per figure/table of the papers) exposes ``NAME``, ``TITLE``, a ``Config``
dataclass with ``quick()`` and ``tiny()`` presets, and ``run(config, progress=None) -> ExperimentResult``.
``write_outputs`` turns a result into the files the report and the app read:

    <out>/<name>.csv    the table (one row per measured point)
    <out>/<name>.png    static plot (matplotlib)
    <out>/<name>.html   interactive plot (plotly, plotly.js from the CDN to keep the file small)
    <out>/section.md    the markdown section REPRODUCTION.md is built from
    <out>/meta.json     config, stand-ins, timings, version, and the sha256 of every shipped encoder weight
                        file the run used (``weight_fingerprints``), so ``report`` can mark a section stale
                        when those weights change later
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import platform
import time
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from hen_demo.assets import assets_dir
from hen_demo.atomic import atomic_write, atomic_write_text
from hen_demo.experiments.plotting import write_html

# which offline stand-in played which of the papers' models / datasets
PAPER_ENCODER_FOR = {
    "pixels": "raw image (the papers' 'Image' baseline)",
    "vq-small": "VQ-f8 / VQ-f16 (Rombach et al.)",
    "kl-small": "KL-f8 / KL-f16 (Rombach et al.)",
    "dvae-small": "D-VAE (Ramesh et al.)",
    "vq-f8": "VQ-f8", "vq-f16": "VQ-f16", "kl-f8": "KL-f8", "kl-f16": "KL-f16", "dvae": "D-VAE",
}
PAPER_DATASET_FOR = {
    "tiles": "MS-COCO (HEN)", "photos": "MS-COCO (HEN)", "coco": "MS-COCO (HEN)",
    "digits": "MNIST (U-Hop)", "mnist": "MNIST (U-Hop)",
    "faces": "CIFAR-10 (U-Hop)", "cifar10": "CIFAR-10 (U-Hop)",
}
ONLINE_NAMES = {"coco", "mnist", "cifar10", "vq-f8", "vq-f16", "kl-f8", "kl-f16", "dvae", "clip", "clip-openclip"}


def stand_in_note(kind: str, name: str) -> str:
    """One line saying what ``name`` (a dataset or encoder) stands for in the papers."""
    table = PAPER_ENCODER_FOR if kind == "encoder" else PAPER_DATASET_FOR
    paper = table.get(name)
    if paper is None:
        return f"{kind} `{name}`: no counterpart in the papers."
    if name in ONLINE_NAMES:
        return f"{kind} `{name}`: the papers' own ({paper})."
    return f"{kind} `{name}` stood in for {paper}."


def null_progress(fraction: float, desc: str = "") -> None:
    """Progress callback (fraction in [0, 1], description) that ignores everything."""


@dataclass
class ExperimentResult:
    """One experiment's outcome.

    table: one row per measured point; figure: plotly figure; mpl_figure: matplotlib figure (PNG);
    findings: markdown sentences about our numbers (including where they differ from the paper and why);
    paper: markdown with the paper's numbers/claims; stand_ins: what stood in for what; config: the
    settings used (JSON-able); extra_tables: further named tables written as <name>_<key>.csv.
    """

    name: str
    title: str
    table: pd.DataFrame
    figure: object
    mpl_figure: object
    findings: str
    paper: str
    stand_ins: list[str]
    config: dict
    seconds: float = 0.0
    extra_tables: dict[str, pd.DataFrame] = field(default_factory=dict)
    encoders_used: list[str] | None = None  # None: found in the config and the table (``encoders_of``)
    summary: pd.DataFrame | None = None  # the table section.md shows (None: ``table``); the CSV keeps every row


def shipped_weight_files() -> dict[str, Path]:
    """Shipped encoder name -> its weight file (``assets/encoders/<name>.safetensors``) for those present."""
    folder = assets_dir() / "encoders"
    return {p.stem: p for p in sorted(folder.glob("*.safetensors"))} if folder.is_dir() else {}


def file_sha256(path: str | os.PathLike) -> str:
    """sha256 hex digest of a file, read in 1 MiB blocks."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def weight_fingerprints(names) -> dict[str, str]:
    """{encoder name: sha256 of its shipped weight file} for the names among ``names`` that ship weights."""
    files = shipped_weight_files()
    return {n: file_sha256(files[n]) for n in sorted(set(names)) if n in files}


def encoders_of(result: "ExperimentResult") -> list[str]:
    """Encoder names a result used: ``result.encoders_used`` when set, else every string in its config and in
    the table's encoder / model columns (only names that ship weights matter to ``weight_fingerprints``)."""
    if result.encoders_used is not None:
        return list(result.encoders_used)
    found: set[str] = set()

    def walk(v) -> None:
        if isinstance(v, str):
            found.update(part.strip() for part in v.split(","))
        elif isinstance(v, dict):
            for x in v.values():
                walk(x)
        elif isinstance(v, (list, tuple)):
            for x in v:
                walk(x)

    walk(result.config)
    for col in ("encoder", "encoders", "model", "image_encoder"):
        if isinstance(result.table, pd.DataFrame) and col in result.table:
            walk([str(x) for x in result.table[col].dropna().unique()])
    return sorted(found)


def config_dict(config) -> dict:
    """A dataclass config as a JSON-able dict."""
    d = dataclasses.asdict(config)
    return json.loads(json.dumps(d, default=str))




def markdown_table(df: pd.DataFrame, digits: int = 4, max_rows: int = 60) -> str:
    """A DataFrame as a GitHub markdown table (numbers rounded), without optional dependencies."""
    df = df.head(max_rows)
    cols = list(df.columns)

    def fmt(v) -> str:
        if isinstance(v, float):
            if v != v:
                return "nan"
            return f"{v:.{digits}g}" if abs(v) >= 1e4 or (0 < abs(v) < 1e-3) else f"{round(v, digits)}"
        return str(v)

    lines = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    for _, row in df.iterrows():
        lines.append("| " + " | ".join(fmt(row[c]) for c in cols) + " |")
    return "\n".join(lines)


def _where(config: dict) -> str:
    """Where the run happened, in words."""
    dev = str(config.get("device") or "cpu")
    if dev.startswith("cuda"):
        import torch  # here: the registry (and the app's experiments tab) import this module without torch (~4 s)

        name = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "a CUDA GPU"
        return f"{name} (retrieval), {os.cpu_count()} CPU threads"
    return f"{platform.machine()} CPU, {os.cpu_count()} threads"


def section_markdown(result: ExperimentResult, summary_table: pd.DataFrame | None = None,
                     folder: str | None = None) -> str:
    """The markdown section for REPRODUCTION.md (paths relative to the results folder's parent; ``folder``: the
    results sub-folder when it is not the experiment's name, e.g. a variant "scale-out-at-scale")."""
    name = result.name
    where = folder or name
    table = summary_table if summary_table is not None else (
        result.summary if result.summary is not None else result.table)
    cfg = ", ".join(f"{k}={v}" for k, v in result.config.items() if k not in ("out",))
    parts = [
        f"## {result.title} (`{name}`)",
        "",
        "**The paper:** " + result.paper.strip(),
        "",
        "**What stood in:** " + (" ".join(result.stand_ins) if result.stand_ins else "nothing (same setting)."),
        "",
        f"**Ours** (config: {cfg}; {result.seconds:.0f} s on {_where(result.config)}):",
        "",
        markdown_table(table),
        "",
        f"![{name}](results/{where}/{name}.png) · [interactive plot](results/{where}/{name}.html) · "
        f"[CSV](results/{where}/{name}.csv)",
        "",
        "**Reading:** " + result.findings.strip(),
        "",
    ]
    return "\n".join(parts)


def write_outputs(result: ExperimentResult, out_dir: str | os.PathLike) -> dict[str, Path]:
    """Write CSV, PNG, HTML, section.md and meta.json for ``result`` into ``out_dir`` (atomically)."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    name = result.name
    paths = {
        "csv": out / f"{name}.csv",
        "png": out / f"{name}.png",
        "html": out / f"{name}.html",
        "md": out / "section.md",
        "meta": out / "meta.json",
    }
    atomic_write(paths["csv"], lambda tmp: result.table.to_csv(tmp, index=False))
    if result.summary is not None:
        result.extra_tables = {"summary": result.summary, **result.extra_tables}
    for key, df in result.extra_tables.items():
        p = out / f"{name}_{key}.csv"
        atomic_write(p, lambda tmp, df=df: df.to_csv(tmp, index=False))
        paths[f"csv_{key}"] = p
    if result.mpl_figure is not None:
        atomic_write(paths["png"], lambda tmp: result.mpl_figure.savefig(tmp, dpi=110, bbox_inches="tight",
                                                                          format="png"))
    if result.figure is not None:
        write_html(result.figure, paths["html"])
    atomic_write_text(paths["md"], section_markdown(result, folder=out.name))
    meta = {
        "name": name,
        "title": result.title,
        "config": result.config,
        "stand_ins": result.stand_ins,
        "seconds": round(result.seconds, 2),
        "written": time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime()),
        "machine": f"{platform.machine()} {platform.processor() or ''}".strip(),
        # sha256 of the shipped weights this run used: `report` marks the section stale when they change
        "weight_fingerprints": weight_fingerprints(encoders_of(result)),
    }
    atomic_write_text(paths["meta"], json.dumps(meta, indent=2))
    return paths
