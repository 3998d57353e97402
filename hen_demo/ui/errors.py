"""Every failure a user can reach becomes a sentence; the log gets one line for theirs, a traceback for ours.

The package raises ``ValueError`` (or a subclass such as ``EncoderUnavailable``) with a sentence meant for a
person, at the place the bad value enters. :func:`user_errors` shows that sentence in a ``gr.Error`` popup and
logs one line. Any other exception, and a ``ValueError`` raised inside a library (its text is for programmers;
the arguments are checked at the entry first, ``hen_demo.ui.validate``), is a bug: the log gets the traceback under a short id, and the user sees a
sentence with the same id (so an operator can find it). A request that runs past the time limit
(``limits.caps().time_limit``) is stopped at its next progress report or streamed frame, with a sentence.
"""

from __future__ import annotations

import functools
import inspect
import linecache
import logging
import time
import uuid

import gradio as gr

from hen_demo.ui.caps import caps

log = logging.getLogger("hen_demo.ui")

# library messages a user can provoke, and what they mean in plain words
_PLAIN = [
    ("unpacking long long", "A number is too large (seeds go from 0 to 4,294,967,295). Type a smaller number."),
    ("Python int too large", "A number is too large (seeds go from 0 to 4,294,967,295). Type a smaller number."),
    ("Seed must be between", "The seed must be a whole number from 0 to 4,294,967,295. Type a smaller number."),
    ("cannot identify image file", "This file could not be read as an image (PNG, JPEG, WebP, ...). "
                                   "Try another file, or save it again as PNG."),
    ("decompression bomb", "The image is too large to open here (more than 4,096 px a side). Scale it down."),
    ("out of memory", "The server ran out of memory for this request. Try a smaller N or fewer steps."),
    # Python's own words for a value of the wrong kind (hen_demo.ui.validate refuses these at the entry first)
    ("could not convert string to float", "A number was expected and something else was sent. Type a number."),
    ("invalid literal for int()", "A whole number was expected and something else was sent. Type a number."),
    ("cannot convert float NaN", "A number was expected and NaN (not a number) was sent. Type a number."),
]


def refuse(message: str) -> gr.Error:
    """The gr.Error for an expected refusal: stays on screen, and Gradio prints no traceback for it."""
    return gr.Error(message, duration=None, print_exception=False)


class TimeLimitExceeded(Exception):
    """Raised inside a handler (from its progress callback or between frames) past its time limit."""


def plain_message(exc: BaseException) -> str | None:
    """A sentence for a library error a user can cause (None when the error is not one of those)."""
    text = str(exc)
    for needle, sentence in _PLAIN:
        if needle.lower() in text.lower():
            return sentence
    return None


def _time_limit() -> float:
    return caps().time_limit


def _timeout_error(name: str, limit: float) -> gr.Error:
    log.info("request %s stopped at the %.0f s time limit", name, limit)
    return refuse(f"This request ran past the {limit:.0f} s time limit and was stopped. Try a smaller N, fewer "
                  "steps or iterations, or a smaller experiment size.")


def raised_by_a_library(exc: BaseException) -> bool:
    """True when ``exc`` was raised inside an installed library (numpy, torch, gradio, ...), not by our code: its
    text was written for a programmer, so it is not shown to a user as if it were our sentence."""
    tb = exc.__traceback__
    if tb is None:
        return False
    while tb.tb_next is not None:
        tb = tb.tb_next
    frame = tb.tb_frame
    path = frame.f_code.co_filename.replace("\\", "/")
    ours = str(frame.f_globals.get("__name__", "")).startswith("hen_demo")  # also when installed as a package
    if not ours and ("/site-packages/" in path or "/dist-packages/" in path):
        return True
    # our own sentences are raised by a ``raise`` statement; a compiled function (numpy, torch, float("x")) called
    # from our code leaves our line, a call, as the innermost frame
    line = linecache.getline(frame.f_code.co_filename, tb.tb_lineno)
    return bool(line.strip()) and "raise" not in line  # no source to read (a .pyc-only install): trust it


def _translate(exc: BaseException, name: str) -> gr.Error:
    """The gr.Error a user sees for ``exc`` (logs it: one line if expected, traceback + id if not)."""
    if isinstance(exc, TimeLimitExceeded):
        return _timeout_error(name, float(exc.args[0]) if exc.args else _time_limit())
    plain = plain_message(exc)
    if (isinstance(exc, ValueError) and not raised_by_a_library(exc)) or plain is not None:
        message = plain or str(exc)
        log.info("user error in %s: %s", name, message)
        return refuse(message)
    error_id = uuid.uuid4().hex[:8]
    log.error("unexpected error %s in %s", error_id, name, exc_info=exc)
    return refuse(f"Something went wrong on the server (error id {error_id}). Try again, or with other settings; "
                  f"if it keeps happening, report the id.")  # the traceback is in the log under that id


def _with_deadline(progress, deadline: float, limit: float):
    """A progress callback that raises TimeLimitExceeded once ``deadline`` (time.monotonic) has passed."""

    class _Deadlined:
        def __call__(self, *args, **kwargs):
            if time.monotonic() > deadline:
                raise TimeLimitExceeded(limit)
            return progress(*args, **kwargs)

        def __getattr__(self, item):  # tqdm(), track_tqdm, ... pass through
            return getattr(progress, item)

    return _Deadlined()


def user_errors(fn):
    """Decorator for event handlers (plain functions or generators): errors -> gr.Error with a sentence,
    and the request's time limit enforced at each progress report / streamed frame."""
    name = getattr(fn, "__name__", "handler")

    def prepare(kwargs):
        limit = _time_limit()
        deadline = time.monotonic() + limit
        if "progress" in kwargs and kwargs["progress"] is not None:
            kwargs["progress"] = _with_deadline(kwargs["progress"], deadline, limit)
        return deadline, limit

    if inspect.isgeneratorfunction(fn):

        @functools.wraps(fn)
        def gen_wrapper(*args, **kwargs):
            deadline, limit = prepare(kwargs)
            try:
                for item in fn(*args, **kwargs):
                    yield item
                    if time.monotonic() > deadline:
                        raise TimeLimitExceeded(limit)
            except gr.Error as exc:
                log.info("refused in %s: %s", name, exc.message)
                exc.print_exception = False
                raise
            except Exception as exc:
                raise _translate(exc, name) from exc

        return gen_wrapper

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        prepare(kwargs)
        try:
            return fn(*args, **kwargs)
        except gr.Error as exc:
            log.info("refused in %s: %s", name, exc.message)
            exc.print_exception = False
            raise
        except Exception as exc:
            raise _translate(exc, name) from exc

    return wrapper
