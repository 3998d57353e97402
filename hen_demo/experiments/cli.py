"""``python -m hen_demo experiment NAME [--quick] [--out DIR] [options]``.

Examples::

    python -m hen_demo experiment beta-sweep --quick
    python -m hen_demo experiment scale-out --quick --beta-relative 1 --fill grey
    python -m hen_demo experiment scale-out --encoders pixels,dvae-small --sizes 6000,8000
    python -m hen_demo experiment uhop-capacity --dataset digits --set repeats=5
    python -m hen_demo experiment all --quick          # every experiment, one after the other
"""

from __future__ import annotations

import argparse
import os
import sys

from tqdm import tqdm

from hen_demo.experiments.registry import (
    DEFAULT_RESULTS,
    EXPERIMENTS,
    make_config,
    parse_value,
    run_experiment,
)


def _floats(text: str) -> list[float]:
    return [float(x) for x in text.split(",") if x.strip()]


def _ints(text: str) -> list[int]:
    return [int(float(x)) for x in text.split(",") if x.strip()]


def _counts(text: str) -> int | list[int]:
    """'1000' -> 1000; '1e4,1e5,1e6' -> [10000, 100000, 1000000]."""
    values = [int(float(x)) for x in text.split(",") if x.strip()]
    return values[0] if len(values) == 1 else values


def _names(text: str) -> list[str]:
    return [x.strip() for x in text.split(",") if x.strip()]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.description = __doc__.splitlines()[0]
    parser.add_argument("name", choices=list(EXPERIMENTS) + ["all", "list"],
                        help="experiment to run ('all' runs every one, 'list' prints them)")
    size = parser.add_mutually_exclusive_group()
    size.add_argument("--quick", action="store_true", help="small sizes: finishes in a few minutes on a CPU")
    size.add_argument("--tiny", action="store_true", help=argparse.SUPPRESS)  # tests / smoke runs
    parser.add_argument("--out", default=None, help="output folder (default results/<name>/)")
    parser.add_argument("--dataset", default=None, help="dataset name (tiles, photos, digits, faces, coco, "
                                                         "mnist, cifar10, folder:<path>)")
    parser.add_argument("--encoders", type=_names, default=None, help="comma-separated image encoders")
    parser.add_argument("--text-encoder", dest="text_encoder", default=None,
                        help="text encoder for cross-modal runs (minilm, clip, pixelized)")
    parser.add_argument("--betas", type=_floats, default=None, help="comma-separated beta values")
    parser.add_argument("--beta", type=float, default=None, help="a single absolute beta (the paper's scale)")
    parser.add_argument("--beta-relative", dest="beta_relative", type=_floats, default=None,
                        help="beta relative to each bank's calibration (1 = calibrated sharpness), comma-separated "
                             "for the beta sweep; runs beside the absolute beta")
    parser.add_argument("--fill", default=None, help="what hidden pixels become: black, grey, mean-image, noise")
    parser.add_argument("--n", type=_counts, default=None,
                        help="number of memories (scale-out: comma-separated bank sizes, e.g. 1e4,1e5,1e6, streamed "
                             "from disk)")
    parser.add_argument("--sharded", action="store_true", default=None,
                        help="scale-out --n: split each bank over the torchrun ranks (run under torchrun)")
    parser.add_argument("--sizes", type=_ints, default=None, help="comma-separated memory-set sizes")
    parser.add_argument("--steps", type=int, default=None, help="retrieval update steps T_f")
    parser.add_argument("--seed", type=int, default=None)
    parser.add_argument("--device", default=None, help="torch device (default cpu; cuda when you ask)")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                        help="set any config field, e.g. --set repeats=5 (JSON values)")


def _overrides(args) -> dict:
    ov = {k: getattr(args, k) for k in ("dataset", "encoders", "text_encoder", "betas", "beta", "beta_relative",
                                         "fill", "n", "sizes", "steps", "seed", "device", "sharded")}
    for item in args.set:
        if "=" not in item:
            raise ValueError(f"--set expects KEY=VALUE, got {item!r}.")
        k, v = item.split("=", 1)
        ov[k.strip().replace("-", "_")] = parse_value(v)
    return {k: v for k, v in ov.items() if v is not None}


def run(args) -> int:
    if args.name == "list":
        for name in EXPERIMENTS:
            print(name)
        return 0
    size = "tiny" if args.tiny else "quick" if args.quick else "full"
    names = list(EXPERIMENTS) if args.name == "all" else [args.name]
    overrides = _overrides(args)
    failures = 0
    for name in names:
        try:  # a bad value (e.g. --beta-relative 0) is a sentence, not a traceback
            cfg = make_config(name, size, overrides)
        except ValueError as exc:
            print(f"[{name}] cannot run: {exc}", file=sys.stderr)
            failures += 1
            continue
        out = args.out if (args.out and len(names) == 1) else (
            f"{args.out}/{name}" if args.out else DEFAULT_RESULTS / name)
        if os.environ.get("RANK", "0") != "0":  # under torchrun only rank 0 writes the outputs
            out = False
        print(f"[{name}] {size} run: {cfg}", flush=True)
        bar = _bar(name)
        try:
            result, paths = run_experiment(name, size, overrides, out=out, progress=bar)
        except ValueError as exc:
            print(f"[{name}] cannot run: {exc}", file=sys.stderr)
            failures += 1
            continue
        finally:
            bar.close()
        print(f"[{name}] done in {result.seconds:.1f} s; wrote " + ", ".join(str(p) for p in paths.values()))
        print(result.table.to_string(max_rows=40))
        print(result.findings)
    return 1 if failures else 0


class _bar:
    """tqdm progress bar fed by progress(fraction, description) callbacks."""

    def __init__(self, name: str):
        self._t = tqdm(total=1000, desc=name, leave=False, file=sys.stderr)

    def __call__(self, fraction: float, desc: str = "") -> None:
        self._t.n = int(1000 * min(max(fraction, 0.0), 1.0))
        if desc:
            self._t.set_postfix_str(desc[:60])
        self._t.refresh()

    def close(self) -> None:
        self._t.close()
