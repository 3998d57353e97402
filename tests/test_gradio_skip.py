"""hen_demo.ui.gradio_skip: a streamed gr.skip() reaches the page exactly as with Gradio's own code, without
Gradio rebuilding the component and its config (issue 19 §14)."""

import asyncio

import gradio as gr
import numpy as np
from gradio import blocks
from gradio.state_holder import SessionState

from hen_demo.ui import (
    app,  # noqa: F401  (importing the app installs the patch)
    gradio_skip,
)


def _fn_and_state():
    with gr.Blocks() as demo:
        text = gr.Textbox()
        image = gr.Image(format="png")
        plot = gr.Plot()
        button = gr.Button()
        button.click(lambda: None, None, [text, image, plot])
    block_fn = demo.fns[max(demo.fns)] if isinstance(demo.fns, dict) else demo.fns[-1]
    return demo, block_fn


def test_the_app_installs_the_patch():
    assert blocks.Blocks.postprocess_data is gradio_skip.postprocess_data


def test_skips_come_out_as_gradio_sends_them_and_rebuild_nothing(monkeypatch):
    demo, block_fn = _fn_and_state()
    picture = np.zeros((8, 8, 3), dtype=np.uint8)
    predictions = ["t = 1", gr.skip(), gr.skip()]
    reference = asyncio.run(gradio_skip._original(demo, block_fn, list(predictions), SessionState(demo)))
    rebuilt = []
    monkeypatch.setattr(SessionState, "_update_config", lambda self, key: rebuilt.append(key))
    out = asyncio.run(demo.postprocess_data(block_fn, list(predictions), SessionState(demo)))
    assert out == reference == ["t = 1", {"__type__": "update"}, {"__type__": "update"}]
    assert rebuilt == []  # Gradio's own path rebuilds the config of each skipped output
    # a real value and a property update still take Gradio's path
    out = asyncio.run(demo.postprocess_data(block_fn, [gr.update(label="new"), picture, gr.skip()],
                                            SessionState(demo)))
    assert out[0]["label"] == "new" and rebuilt and out[2] == {"__type__": "update"}
    assert out[1]["path"].endswith(".png")
