"""Turn the package's ValueErrors (bad user input) into ``gr.Error`` popups the user can read.

The package raises ``ValueError`` (or a subclass such as ``EncoderUnavailable``) with a sentence meant
for a person, at the place the bad value enters. The UI shows that sentence; anything else is a bug and
propagates unchanged (Gradio then shows a generic error and logs the traceback).
"""

from __future__ import annotations

import functools
import inspect

import gradio as gr


def user_errors(fn):
    """Decorator for event handlers (plain functions or generators): ValueError -> gr.Error(message)."""
    if inspect.isgeneratorfunction(fn):

        @functools.wraps(fn)
        def gen_wrapper(*args, **kwargs):
            try:
                yield from fn(*args, **kwargs)
            except gr.Error:
                raise
            except ValueError as exc:
                raise gr.Error(str(exc), duration=None) from exc

        return gen_wrapper

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except gr.Error:
            raise
        except ValueError as exc:
            raise gr.Error(str(exc), duration=None) from exc

    return wrapper
