"""A ValueError's text reaches a visitor only when our code wrote it (hen_demo.ui.errors): one raised inside a
library (numpy here) is a bug, logged with a traceback under an id, and the visitor sees that id."""

import logging

import gradio as gr
import numpy as np
import pytest

from hen_demo.ui import errors


def test_library_value_error_is_not_shown_as_our_sentence(caplog):
    @errors.user_errors
    def handler():
        np.ones(3).reshape(2, 2)  # numpy: "cannot reshape array of size 3 into shape (2,2)"

    @errors.user_errors
    def ours():
        raise ValueError("Pick a stored memory between #0 and #9.")

    with caplog.at_level(logging.INFO, logger="hen_demo.ui"):
        with pytest.raises(gr.Error) as info:
            handler()
        with pytest.raises(gr.Error, match="Pick a stored memory"):
            ours()
    assert "reshape" not in info.value.message and "error id" in info.value.message
    error = next(r for r in caplog.records if r.levelno == logging.ERROR)
    assert error.exc_info is not None and info.value.message.split("error id ")[1][:8] in error.getMessage()
