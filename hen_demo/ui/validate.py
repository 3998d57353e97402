"""One check at the entry of every event: each argument a browser or a script sends, read against its component.

Gradio turns a bad payload into its own text ("Could not preprocess input component at index 5 (a slider
component) … TypeError", "Value: 'nope' (type: <class 'str'>) is not in the list of choices", "1 validation
error for EditorData", "could not convert string to float") and prints a traceback for each. :func:`install`
puts one layer in front of Gradio's input processing of a Blocks app (``Blocks.preprocess_data``, the one place
every event's arguments pass, public endpoint or UI plumbing), so that:

* every argument is checked against its component before anything else reads it: numbers are numbers (not
  strings, lists or booleans) and finite, sliders within their range (the public caps' own sentence above a
  capped maximum), dropdowns and radios one of their choices (a list where several may be chosen, one value where
  not), checkboxes booleans, text text, files and images the structure their component takes;
* a refusal is a sentence that names the control by its label (what the page shows), raised as ``refuse`` (no
  traceback printed) and logged as one line;
* anything Gradio still fails to read becomes a sentence too, never its raw text (logged as one line with the
  error's type: the cause is the request, not the server).

Handlers keep their own domain checks (a stored memory's index against the bank's N, a caption, a model's
availability): those need the bank, which only the handler has.
"""

from __future__ import annotations

import math
import numbers
import os

import gradio as gr
import pydantic
from gradio_client import utils as client_utils

from hen_demo.ui.errors import log, refuse

API_HINT = "The API page (“Use via API” at the bottom of the app) lists what each input takes."


def _label(block) -> str:
    label = str(getattr(block, "label", "") or "").strip()
    return label or type(block).__name__.removeprefix("Checked").lower()


def _fmt(x) -> str:
    return f"{x:,}" if isinstance(x, int) or (isinstance(x, float) and x.is_integer()) else f"{x:g}"


def _shown(value) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _number(block, value, what: str) -> float:
    """``value`` as a finite float, or a refusal naming ``block``."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise refuse(f"{_label(block)} takes a number{what} ({_shown(value)} was sent).")
    if not math.isfinite(float(value)):
        shown = "NaN" if math.isnan(float(value)) else _shown(value)
        raise refuse(f"{_label(block)} takes a finite number{what} ({shown} was sent).")
    return float(value)


def _range_text(lo, hi) -> str:
    if lo is not None and hi is not None:
        return f" from {_fmt(lo)} to {_fmt(hi)}"
    if lo is not None:
        return f" of at least {_fmt(lo)}"
    if hi is not None:
        return f" of at most {_fmt(hi)}"
    return ""


def _check_bounds(block, x: float, lo, hi) -> None:
    cap = getattr(block, "_hen_cap", None)  # public mode: limits.guard_inputs lowered this slider's maximum
    if cap is not None and hi is not None and x > hi:
        raise refuse(cap(x))
    if (lo is not None and x < lo) or (hi is not None and x > hi):
        raise refuse(f"{_label(block)} takes a number{_range_text(lo, hi)} ({_fmt(x)} was sent).")


def check_slider(block, value) -> None:
    lo, hi = block.minimum, block.maximum
    if value is None:
        raise refuse(f"Choose a value for {_label(block)} (a number{_range_text(lo, hi)}).")
    _check_bounds(block, _number(block, value, _range_text(lo, hi)), lo, hi)


def check_number(block, value) -> None:
    if value is None:  # an emptied box: the handler says what it needs (e.g. Explore's memory # may be empty)
        return
    lo, hi = block.minimum, block.maximum
    x = _number(block, value, _range_text(lo, hi))
    if block.precision == 0 and not x.is_integer():
        raise refuse(f"{_label(block)} takes a whole number ({_shown(value)} was sent).")
    _check_bounds(block, x, lo, hi)


def _choices_text(values: list) -> str:
    shown = ", ".join(repr(v) for v in values[:12])
    return shown + (f", … ({len(values)} in all)" if len(values) > 12 else "")


def check_choice(block, value) -> None:
    """Dropdown (one value, or a list when ``multiselect``), Radio (one value), CheckboxGroup (a list)."""
    values = [v for _, v in (block.choices or [])]
    several = isinstance(block, gr.CheckboxGroup) or bool(getattr(block, "multiselect", False))
    if value is None:  # nothing chosen (Gradio passes None on): the handler says what it needs
        return
    if several:
        if not isinstance(value, (list, tuple)):
            raise refuse(f"{_label(block)} takes a list of choices, e.g. [{values[0]!r}] "
                         f"({_shown(value)} was sent, not a list); the choices are {_choices_text(values)}.")
        items = list(value)
    else:
        if isinstance(value, (list, tuple, dict)):
            raise refuse(f"{_label(block)} takes one choice, not a list ({_shown(value)} was sent); "
                         f"the choices are {_choices_text(values)}.")
        items = [value]
    if getattr(block, "allow_custom_value", False):
        return
    for item in items:
        if isinstance(item, (list, tuple, dict)) or item not in values:
            raise refuse(f"{_shown(item)} is not one of the choices for {_label(block)}: {_choices_text(values)}.")


def check_checkbox(block, value) -> None:
    if value is not None and not isinstance(value, bool):
        raise refuse(f"{_label(block)} takes true or false ({_shown(value)} was sent).")


def check_text(block, value) -> None:
    if value is not None and not isinstance(value, str):
        raise refuse(f"{_label(block)} takes text ({_shown(value)} was sent).")


def _paths(model) -> list[str]:
    """The file paths inside a validated data model (FileData, a list of them, an editor's layers, ...)."""
    found = []
    path = getattr(model, "path", None)
    if isinstance(path, str):
        found.append(path)
    for item in getattr(model, "root", None) or []:
        found += _paths(item)
    return found


def _types_text(file_types: list[str]) -> str:
    words = {"image": "an image (PNG, JPEG, WebP, ...)", "video": "a video", "audio": "a sound file",
             "text": "a text file"}
    return " or ".join(words.get(t, f"a {t} file") for t in file_types)


def check_model(block, value) -> None:
    """Components with a data model (Image, ImageEditor, File, UploadButton, ...): the structure it takes, and
    for components with ``file_types`` the file's type."""
    if value is None:
        return
    try:
        model = block.data_model.model_validate(value)
    except (pydantic.ValidationError, TypeError, ValueError):
        kind = "an image" if isinstance(block, (gr.Image, gr.ImageEditor)) else "a file"
        raise refuse(f"{_label(block)} takes {kind}: a file sent with gradio_client's handle_file(...) "
                     f"({type(value).__name__} {_shown(value)} was sent). {API_HINT}") from None
    file_types = getattr(block, "file_types", None)
    if file_types:
        for path in _paths(model):
            if not client_utils.is_valid_file(path, file_types):
                raise refuse(f"{_label(block)} takes {_types_text(file_types)}; "
                             f"{os.path.basename(path)!r} is not one.")


CHECKS: list[tuple[tuple[type, ...], object]] = [
    ((gr.Slider,), check_slider),
    ((gr.Number,), check_number),
    ((gr.Dropdown, gr.Radio, gr.CheckboxGroup), check_choice),
    ((gr.Checkbox,), check_checkbox),
    ((gr.Textbox,), check_text),
]


def check_payload(block, value) -> None:
    """Refuse (``gr.Error`` with a sentence) a value that ``block`` cannot take; return silently otherwise."""
    for kinds, check in CHECKS:
        if isinstance(block, kinds):
            check(block, value)
            return
    if getattr(block, "data_model", None) is not None:
        check_model(block, value)


def _event_name(block_fn) -> str:
    return str(getattr(block_fn, "api_name", None) or getattr(block_fn, "name", None) or "event")


def install(demo: gr.Blocks) -> gr.Blocks:
    """Check every event's arguments before Gradio reads them (module docstring); returns ``demo``."""
    original = demo.preprocess_data

    async def preprocess_data(block_fn, inputs, state, explicit_call: bool = False):
        name = _event_name(block_fn)
        try:
            for i, block in enumerate(block_fn.inputs):
                if i >= len(inputs) or getattr(block, "stateful", False):
                    continue
                if state is not None and block._id in state:
                    block = state[block._id]  # this session's copy (e.g. the N slider re-ranged per dataset)
                value = inputs[i]
                if i in getattr(block_fn, "component_prop_inputs", ()) and isinstance(value, dict):
                    value = value.get("value")
                check_payload(block, value)
            if len(inputs) < len(block_fn.inputs):
                raise refuse(f"This request sent {len(inputs)} values; {name} takes {len(block_fn.inputs)}. "
                             f"{API_HINT}")
        except gr.Error as exc:
            log.info("refused input of %s: %s", name, exc.message)
            raise
        try:
            return await original(block_fn, inputs, state, explicit_call)
        except gr.Error as exc:  # a component's own check (image sizes, seeds, ...): one line, no traceback
            if exc.print_exception:  # Gradio's own (ours, from limits.guard_inputs, are logged there)
                exc.print_exception = False
                log.info("refused input of %s: %s", name, exc.message)
            raise
        except Exception as exc:  # noqa: BLE001 - whatever Gradio could not read is the request's fault
            cause = exc.__cause__ or exc
            log.info("unreadable input of %s: %s: %s", name, type(cause).__name__, str(cause).splitlines()[0][:200]
                     if str(cause) else "")
            raise refuse(f"One of the values sent could not be read. {API_HINT}") from None

    demo.preprocess_data = preprocess_data
    return demo
