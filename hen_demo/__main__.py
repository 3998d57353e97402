"""Command line of HEN Explorer: python -m hen_demo COMMAND [options] (COMMAND --help for its options).

Each sub-command lives in the module that owns its work; that module exposes
``add_arguments(parser)`` and ``run(args) -> int``. Modules are imported only when their
command runs. ``COMMAND --help`` does not import the module at all when it can avoid it: the module's
``add_arguments`` is read from its source (:func:`light_add_arguments`) and run with only its
module-level constants, so every ``--help`` answers in well under a second instead of waiting for torch
or gradio to import; when that is not possible the module is imported as usual.
"""

from __future__ import annotations

import argparse
import ast
import importlib
import sys
from pathlib import Path

# command name -> (module implementing it, one-line help)
COMMANDS: dict[str, tuple[str, str]] = {
    "serve": ("hen_demo.ui.app", "start the Gradio app"),
    "retrieve": ("hen_demo.ui.retrieve_cli", "run the Explore retrieval a link describes; write its figure / GIF / MP4"),
    "bench": ("hen_demo.bench", "time the retrieval engine (and the app with --ui)"),
    "experiment": ("hen_demo.experiments.cli", "run one of the papers' experiments"),
    "report": ("hen_demo.experiments.report", "build REPRODUCTION.md from experiment outputs"),
    "train-encoder": ("hen_demo.training.small", "train a small offline encoder and save it as safetensors"),
    "build-bank": ("hen_demo.data.banks", "encode a dataset into a cached memory bank"),
    "build-emoji": ("hen_demo.data.emoji", "render the emoji atlas (assets/emoji) from the Noto Color Emoji font"),
    "convert": ("hen_demo.encoders.convert", "convert a paper checkpoint (LDM .ckpt, DALL-E pickles) to safetensors"),
}


HELP_FLAGS = ("-h", "--help")
# the standard-library modules an add_arguments may use at help time (nothing heavy)
_LIGHT_IMPORTS = {"argparse", "os", "sys", "math", "json", "pathlib", "textwrap"}


def _source_tree(module_name: str):
    """(path, parsed AST) of a hen_demo module's file, found by path (no import), or (None, None)."""
    parts = module_name.split(".")
    origin = Path(__file__).resolve().parent.joinpath(*parts[1:]).with_suffix(".py")
    if parts[0] != "hen_demo" or not origin.is_file():
        return None, None
    return str(origin), ast.parse(origin.read_text(encoding="utf-8"), str(origin))


def _literal_constants(module_name: str, names: list[str]) -> dict:
    """The top-level ``NAME = <literal>`` values of ``names`` in a hen_demo module, read from its source."""
    _, tree = _source_tree(module_name)
    out: dict = {}
    for node in tree.body if tree is not None else []:
        targets = node.targets if isinstance(node, ast.Assign) else [node.target] if isinstance(node, ast.AnnAssign) else []
        for t in targets:
            if isinstance(t, ast.Name) and t.id in names and node.value is not None:
                try:
                    out[t.id] = ast.literal_eval(node.value)
                except ValueError:
                    pass
    return out


def light_add_arguments(module_name: str):
    """``add_arguments`` of ``module_name`` built from its source without importing the module, or None.

    The module's top-level literal constants, light standard-library imports and function definitions
    are executed in a fresh namespace (imports of the package or of torch/gradio are skipped); if
    ``add_arguments`` then needs anything missing, the caller falls back to a real import.
    """
    # the file is found by path: importlib's find_spec would import the parent packages (and torch with them)
    origin, tree = _source_tree(module_name)
    if tree is None:
        return None
    ns: dict = {"__name__": f"_help_{module_name}", "__doc__": ast.get_docstring(tree)}
    for node in tree.body:
        if isinstance(node, ast.Import):
            if not all(a.name.split(".")[0] in _LIGHT_IMPORTS for a in node.names):
                continue
        elif isinstance(node, ast.ImportFrom):
            if (node.module or "").startswith("hen_demo."):  # the package's literal constants, read from source
                ns.update(_literal_constants(node.module, [a.name for a in node.names]))
                continue
            if node.module == "__future__" or (node.module or "").split(".")[0] not in _LIGHT_IMPORTS:
                continue
        elif not isinstance(node, (ast.FunctionDef, ast.Assign, ast.AnnAssign)):
            continue
        try:
            exec(compile(ast.Module([node], []), origin, "exec"), ns)
        except Exception:  # a constant computed from a heavy import: add_arguments may not need it
            continue
    return ns.get("add_arguments")


def add_command_arguments(name: str, parser: argparse.ArgumentParser, help_only: bool) -> None:
    """Add the options of command ``name`` to ``parser`` (from the source only, for ``--help``)."""
    module_name = COMMANDS[name][0]
    if help_only:
        add = light_add_arguments(module_name)
        if add is not None:
            trial = argparse.ArgumentParser(prog=parser.prog, description=parser.description, add_help=False)
            try:
                add(trial)
            except Exception:  # NameError etc.: it needs the real module
                pass
            else:
                add(parser)
                return
    importlib.import_module(module_name).add_arguments(parser)


def _plain(text: str | None) -> str | None:
    """Help text without reStructuredText markup (``code`` -> code)."""
    return None if text is None else text.replace("``", "")


def build_parser(argv: list[str]) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m hen_demo", description=__doc__.splitlines()[0],
        epilog="Each command has its own options: python -m hen_demo COMMAND --help.")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", title="commands")
    help_only = any(a in HELP_FLAGS for a in argv[1:])
    for name, (module_name, help_text) in COMMANDS.items():
        p = sub.add_parser(name, help=help_text, description=help_text[:1].upper() + help_text[1:] + ".")
        # only the chosen command's module is imported (and for --help not even that, when avoidable)
        if len(argv) > 0 and argv[0] == name:
            add_command_arguments(name, p, help_only)
            p.description = _plain(p.description)
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
