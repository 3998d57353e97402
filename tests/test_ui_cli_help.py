"""`python -m hen_demo ... --help`: every command listed, options read without importing heavy modules."""

import subprocess
import sys

import pytest

from hen_demo.__main__ import COMMANDS, build_parser, light_add_arguments


def _help(argv: list[str]) -> str:
    parser = build_parser(argv)
    sub = next(a for a in parser._actions if a.dest == "command")
    return sub.choices[argv[0]].format_help() if argv else parser.format_help()


def test_top_level_help_lists_every_command_without_rst_markup():
    text = _help([])
    for name in COMMANDS:
        assert name in text, name
    assert "``" not in text


@pytest.mark.parametrize("name", list(COMMANDS))
def test_help_from_source_equals_help_from_the_imported_module(name, monkeypatch):
    """The fast path (add_arguments read from source) must print exactly what the real module would."""
    fast = _help([name, "--help"])
    monkeypatch.setattr("hen_demo.__main__.light_add_arguments", lambda module_name: None)
    real = _help([name, "--help"])
    assert fast == real
    assert "``" not in fast


def test_most_commands_take_the_fast_path():
    fast = [n for n, (m, _) in COMMANDS.items() if light_add_arguments(m) is not None]
    assert {"serve", "bench", "report", "experiment"} <= set(fast), fast


def test_help_does_not_import_torch_or_gradio():
    code = ("import sys, runpy; sys.argv = ['hen_demo', 'serve', '--help']\n"
            "try:\n    runpy.run_module('hen_demo', run_name='__main__')\nexcept SystemExit:\n    pass\n"
            "print('HEAVY', sorted(m for m in ('torch', 'gradio', 'numpy') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60).stdout
    assert "--port" in out and "(default:" in out  # serve --port says its default
    assert "HEAVY []" in out, out
