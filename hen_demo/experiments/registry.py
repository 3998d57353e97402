"""Experiment names -> modules (imported lazily so listing is instant), and the one way to run one."""

from __future__ import annotations

import dataclasses
import importlib
import json
import time
from pathlib import Path

from hen_demo.experiments.base import ExperimentResult, write_outputs

# name -> module; order = order of sections in REPRODUCTION.md
EXPERIMENTS: dict[str, str] = {
    "beta-sweep": "hen_demo.experiments.beta_sweep",
    "scale-out": "hen_demo.experiments.scale_out",
    "separability": "hen_demo.experiments.separability",
    "rank-collapse": "hen_demo.experiments.rank_collapse",
    "cross-modal": "hen_demo.experiments.cross_modal",
    "uniqueness": "hen_demo.experiments.uniqueness",
    "uhop-capacity": "hen_demo.experiments.uhop_capacity",
    "uhop-noise": "hen_demo.experiments.uhop_noise",
    "uhop-stage1": "hen_demo.experiments.uhop_stage1",
    "classical-capacity": "hen_demo.experiments.classical_capacity",
    "speed": "hen_demo.experiments.speed",
    "attractor-census": "hen_demo.experiments.attractor_census",
}

DEFAULT_RESULTS = Path("results")


def module(name: str):
    """The module implementing experiment ``name`` (ValueError for unknown names)."""
    if name not in EXPERIMENTS:
        raise ValueError(f"unknown experiment {name!r}; choose one of: {', '.join(EXPERIMENTS)}.")
    return importlib.import_module(EXPERIMENTS[name])


def make_config(name: str, size: str = "full", overrides: dict | None = None):
    """The experiment's Config at ``size`` ("full", "quick" or "tiny") with ``overrides`` applied.

    Overrides naming fields the experiment does not have are ignored."""
    mod = module(name)
    if size == "quick":
        cfg = mod.Config.quick()
    elif size == "tiny":
        cfg = mod.Config.tiny()
    elif size == "full":
        cfg = mod.Config()
    else:
        raise ValueError(f"size must be 'full', 'quick' or 'tiny'; got {size!r}.")
    fields = {f.name for f in dataclasses.fields(cfg)}
    overrides = dict(overrides or {})
    # singular options map onto list fields: --dataset mnist -> datasets=["mnist"], --beta 5 -> betas=[5.0]
    for one, many in (("dataset", "datasets"), ("beta", "betas"), ("text_encoder", "text_encoders"),
                      ("fill", "fills")):
        if overrides.get(one) is not None and one not in fields and many in fields and overrides.get(many) is None:
            overrides[many] = [overrides.pop(one)]
    # --beta-relative gives a list (the sweep's beta_relatives); a single-beta experiment takes its one value
    rel = overrides.pop("beta_relative", None)
    if rel is not None:
        # a plain ValueError for <= 0, NaN, text. Imported here: hen_demo.memory brings torch (~4 s), and listing
        # or configuring experiments (CLI, the app's tab) imports this module without it
        from hen_demo.memory.calibration import check_relative

        rels = [check_relative(r) for r in (list(rel) if isinstance(rel, (list, tuple)) else [rel])]
        if "beta_relatives" in fields and overrides.get("beta_relatives") is None:
            overrides["beta_relatives"] = [float(r) for r in rels]
        elif "beta_relative" in fields:
            if len(rels) != 1:
                raise ValueError(f"experiment {name!r} takes one relative beta; got {len(rels)}.")
            overrides["beta_relative"] = float(rels[0])
        elif "relative_beta" in fields and len(rels) == 1:  # attractor-census
            overrides["relative_beta"] = float(rels[0])
    applied = {k: v for k, v in overrides.items() if k in fields and v is not None}
    return dataclasses.replace(cfg, **applied)


def run_experiment(name: str, size: str = "full", overrides: dict | None = None,
                   out: str | Path | bool | None = None, progress=None) -> tuple[ExperimentResult, dict]:
    """Run experiment ``name`` and write its outputs to ``out`` (None: results/<name>/; False: write nothing,
    keep the result in memory). Returns (result, written paths)."""
    cfg = make_config(name, size, overrides)
    t0 = time.perf_counter()
    result = module(name).run(cfg, progress=progress)
    result.seconds = time.perf_counter() - t0
    result.config["size"] = size
    paths = {}
    if out is not False:
        paths = write_outputs(result, out if out is not None else DEFAULT_RESULTS / name)
    return result, paths


def parse_value(text: str):
    """A command-line value: JSON when it parses (numbers, lists, true/false/null), else the string."""
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return text
