"""Experiments tab: run the papers' experiments at their --quick size (with a progress bar), or open the
committed offline results, and see the plot, the table and what it means next to the paper's claim.

Wiring only: the experiments live in hen_demo.experiments (the same code ``python -m hen_demo experiment``
runs).
"""

from __future__ import annotations

import importlib
import json
from pathlib import Path

import gradio as gr
import pandas as pd

from hen_demo.experiments.registry import EXPERIMENTS, run_experiment
from hen_demo.ui import limits
from hen_demo.ui.errors import user_errors
from hen_demo.ui.priority import low_priority

RESULTS = Path(__file__).resolve().parents[2] / "results"


def _title(name: str) -> str:
    try:
        return importlib.import_module(EXPERIMENTS[name]).TITLE
    except Exception:  # a module that fails to import still gets listed by name
        return name


def _choices() -> list[tuple[str, str]]:
    return [(f"{name} — {_title(name)}", name) for name in EXPERIMENTS]


def _about(name: str) -> str:
    mod = importlib.import_module(EXPERIMENTS[name])
    doc = (mod.__doc__ or "").strip().split("\n\n")[0].replace("\n", " ")
    paper = getattr(mod, "PAPER", "")
    return f"**{mod.TITLE}**\n\n{doc}\n\n**The paper:** {paper}"


def _round(df: pd.DataFrame) -> pd.DataFrame:
    out = df.copy()
    for c in out.select_dtypes("float").columns:
        out[c] = out[c].map(lambda v: float(f"{v:.4g}") if pd.notna(v) else v)
    return out


def _available_encoders() -> list[str]:
    from hen_demo.encoders import list_image_encoders

    return [i.name for i in list_image_encoders() if i.available]


# The tab's "tiny" size: the experiments' tiny presets (made for tests: raw pixels, N ≈ 20) showed flat lines,
# so the tab adds a shipped encoder and a few hundred memories. make_config ignores fields an experiment lacks.
FIRST_LOOK = {"encoders": ["pixels", "kl-small"], "n": 200, "sizes": [50, 200], "n_queries": 100, "steps": 20}


@low_priority  # a heavy event: the cores go to other visitors' requests first
@user_errors
def _run(name: str, size: str, encoders: list[str], seed: float, progress=gr.Progress()):
    # make_config ignores "encoders" for the experiments that have no such field (U-Hop, classical)
    overrides = {"seed": int(seed), "encoders": list(encoders) if encoders else None}
    if size == "tiny":  # the tab's "first look": still seconds, but an encoder beside pixels and a real trend
        overrides = {**FIRST_LOOK, **{k: v for k, v in overrides.items() if v is not None}}
    limits.check_encoders(encoders)
    out = limits.run_folder(name)  # one folder for the UI's runs; only the newest few are kept
    progress(0.0, desc=f"starting {name}")
    result, paths = run_experiment(name, size, overrides, out=out,
                                   progress=lambda f, d="": progress(float(f), desc=d or name))
    md = (f"**Ours ({size}, {result.seconds:.0f} s):** {result.findings}\n\n"
          f"**What stood in:** {' '.join(result.stand_ins)}")
    # only the panels that have something to show are visible (no empty boxes after a run)
    return (gr.update(value=result.figure, visible=result.figure is not None), _round(result.table), md,
            gr.update(value=None, visible=False), str(paths["csv"]))


@user_errors
def _load(name: str):
    folder = RESULTS / name
    csv = folder / f"{name}.csv"
    if not csv.exists():
        raise gr.Error(f"No committed results for {name} yet; press Run.")
    meta = json.loads((folder / "meta.json").read_text()) if (folder / "meta.json").exists() else {}
    section = (folder / "section.md").read_text() if (folder / "section.md").exists() else ""
    reading = section.split("**Reading:**", 1)[-1].strip() if "**Reading:**" in section else ""
    stand = section.split("**What stood in:**", 1)[-1].split("\n")[0].strip() if "**What stood in:**" in section else ""
    md = (f"**Committed offline result** ({meta.get('config', {}).get('size', '?')} run, "
          f"{meta.get('seconds', 0):.0f} s, {meta.get('written', '')}): {reading}\n\n**What stood in:** {stand}")
    png = folder / f"{name}.png"
    return (gr.update(value=None, visible=False), _round(pd.read_csv(csv)), md,
            gr.update(value=str(png) if png.exists() else None, visible=png.exists()), str(csv))


def build_tab() -> None:
    """The Experiments tab (called inside ``with gr.Tab("Experiments"):``)."""
    gr.Markdown(
        "Each experiment re-creates a figure or table of the HEN or U-Hop papers (or the capacity slide of the "
        "lecture). **Run** computes the small `--quick` version here (about a minute or a few on a laptop CPU); "
        "**Show committed results** opens the offline run shipped in `results/`. The full-size runs are "
        "`python -m hen_demo experiment NAME`; `REPRODUCTION.md` compares all of them with the papers.")
    with gr.Row():
        name = gr.Dropdown(_choices(), value="beta-sweep", label="Experiment", scale=3)
        size = gr.Radio(["quick", "tiny"], value="quick", label="Size", info="tiny: a first look in about a minute (pixels and kl-small, up to 200 memories)",
                        scale=1)
    about = gr.Markdown(_about("beta-sweep"))
    with gr.Row():
        encoders = gr.CheckboxGroup(_available_encoders(), value=None, label="Image encoders (empty = defaults)",
                                    info="used by the HEN experiments; U-Hop and classical ones ignore it")
        seed = gr.Number(value=0, precision=0, label="Seed")
    with gr.Row():
        run_btn = gr.Button("Run", variant="primary")
        load_btn = gr.Button("Show committed results")
    findings = gr.Markdown()
    plot = gr.Plot(label="Plot (interactive)", visible=False)  # shown once a run has a figure
    image = gr.Image(label="Committed plot", type="filepath", interactive=False, visible=False, buttons=["fullscreen"])
    table = gr.Dataframe(label="Table", wrap=True, interactive=False, elem_classes="hen-table")
    csv = gr.File(label="CSV", interactive=False)

    name.change(_about, name, about)
    run_btn.click(_run, [name, size, encoders, seed], [plot, table, findings, image, csv],
                  **limits.heavy_events())  # one heavy job at a time, app-wide
    load_btn.click(_load, name, [plot, table, findings, image, csv])
