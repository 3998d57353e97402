"""Command line: ``python -m hen_demo {serve,bench,experiment,report,train-encoder,build-bank}``.

Each sub-command lives in the module that owns its work; that module exposes
``add_arguments(parser)`` and ``run(args) -> int``. Modules are imported only when their
command runs, so ``python -m hen_demo --help`` is instant.
"""

from __future__ import annotations

import argparse
import importlib
import sys

# command name -> (module implementing it, one-line help)
COMMANDS: dict[str, tuple[str, str]] = {
    "serve": ("hen_demo.ui.app", "start the Gradio app"),
    "bench": ("hen_demo.bench", "time the retrieval engine (and the app with --ui)"),
    "experiment": ("hen_demo.experiments.cli", "run one of the papers' experiments"),
    "report": ("hen_demo.experiments.report", "build REPRODUCTION.md from experiment outputs"),
    "train-encoder": ("hen_demo.encoders.train", "train a small offline encoder and save it as safetensors"),
    "build-bank": ("hen_demo.data.banks", "encode a dataset into a cached memory bank"),
    "build-emoji": ("hen_demo.data.emoji", "render the emoji atlas (assets/emoji) from the Noto Color Emoji font"),
    "convert": ("hen_demo.encoders.convert", "convert a paper checkpoint (LDM .ckpt, DALL-E pickles) to safetensors"),
}


def build_parser(argv: list[str]) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m hen_demo", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, (module_name, help_text) in COMMANDS.items():
        p = sub.add_parser(name, help=help_text)
        # only the chosen command's module is imported
        if len(argv) > 0 and argv[0] == name:
            importlib.import_module(module_name).add_arguments(p)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser(argv)
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 0
    module = importlib.import_module(COMMANDS[args.command][0])
    return int(module.run(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
