"""A streamed ``gr.skip()`` costs Gradio nothing (issue 19 §14: the server's CPU per default retrieval).

Gradio (6.x) treats ``gr.skip()`` (the update ``{"__type__": "update"}``, which changes nothing) like any other
property update: for every skipped output of every streamed frame it builds a new instance of the component and
regenerates its session config, JSON schema included (``Blocks.postprocess_data``). Measured with py-spy on the
Explore tab under 8 users, that was about a tenth of the server's CPU per request. :func:`install` routes
bare skips around that work: they go through Gradio's own "nothing for this output" path (the marker Gradio
uses for a generator's finished outputs) and come back to the page as the same ``{"__type__": "update"}``.
Any other update (a label, a value, visibility) takes Gradio's path unchanged.
"""

from __future__ import annotations

from gradio import blocks, components

SKIP = {"__type__": "update"}  # what gr.skip() returns
_original = blocks.Blocks.postprocess_data


def _is_bare_skip(value) -> bool:
    return type(value) is dict and value == SKIP


async def postprocess_data(self, block_fn, predictions, state):
    """``Blocks.postprocess_data`` with bare skips of non-state outputs passed through as they are."""
    outputs = block_fn.outputs
    if isinstance(predictions, (list, tuple)) and len(outputs) > 1 and len(predictions) == len(outputs):
        skipped = [i for i, p in enumerate(predictions) if _is_bare_skip(p) and not outputs[i].stateful]
        if skipped and not getattr(block_fn, "is_validator_function", False):
            predictions = list(predictions)
            for i in skipped:
                predictions[i] = components._Keywords.FINISHED_ITERATING  # Gradio: this output gets nothing
            out = await _original(self, block_fn, predictions, state)
            for i in skipped:
                out[i] = dict(SKIP)  # the page receives exactly what Gradio would have sent
            return out
    return await _original(self, block_fn, predictions, state)


def install() -> None:
    """Patch ``gradio.blocks.Blocks.postprocess_data`` (idempotent)."""
    blocks.Blocks.postprocess_data = postprocess_data


__all__ = ["install", "postprocess_data"]
