"""The Classroom tab shows a real first view of every panel without a click (issue 10, section 4).

The tests replay the tab's own first-view event chain (the page load when the Classroom is the first tab, the
click on the tab otherwise, each followed by its ``.then`` steps) through the registered functions, feeding every
output into the next inputs as the browser would, and then check that each picture and each plot holds data.
"""

import json
import math

import gradio as gr
import numpy as np
import plotly.graph_objects as go
import pytest

from hen_demo.ui import classroom

# "My drawings" holds the user's own drawings: empty until they draw one, by design
USER_OWNED = {"My drawings"}


def _is_update(value) -> bool:
    return isinstance(value, dict) and value.get("__type__") == "update"


def _chain(demo: gr.Blocks, trigger_block, event: str) -> list:
    """The functions run by ``event`` on ``trigger_block`` and every ``.then`` after it, in order."""
    fns = list(demo.fns.values())
    first = [f for f in fns if (trigger_block._id, event) in [tuple(t) for t in f.targets]]
    assert first, f"no {event} event on {trigger_block}"
    order, frontier = [], first
    while frontier:
        order.extend(frontier)
        ids = {f._id for f in frontier}
        frontier = [f for f in fns if f.trigger_after in ids]
    return order


def _replay(chain, values: dict) -> dict:
    """Run the chain's functions on ``values`` (block id -> value) like the browser would; returns the values."""
    for fn in chain:
        result = fn.fn(*[values[b._id] for b in fn.inputs])
        outputs = fn.outputs
        results = [result] if len(outputs) == 1 else list(result)
        assert len(results) == len(outputs), fn.name
        for block, value in zip(outputs, results):
            if _is_update(value):
                if "value" in value:
                    values[block._id] = value["value"]
            else:
                values[block._id] = value
    return values


def _initial_values(demo: gr.Blocks) -> dict:
    values = {}
    for block_id, block in demo.blocks.items():
        value = getattr(block, "value", None)
        values[block_id] = value() if callable(value) else value
    return values


def _figure_data(value) -> list[np.ndarray]:
    """Every trace's y (or z) values of a plotly Figure, a plotly dict or a streamed plot (``plots.as_plot``:
    gradio PlotData holding the plotly JSON; its ``config`` is not part of a Figure)."""
    plot = getattr(value, "plot", None)
    if isinstance(plot, str):
        spec = json.loads(plot)
        value = {"data": spec["data"], "layout": spec["layout"]}
    fig = value if isinstance(value, go.Figure) else go.Figure(value)
    out = []
    for trace in fig.data:
        v = getattr(trace, "z", None) if getattr(trace, "z", None) is not None else trace.y
        out.append(np.asarray(v, dtype=float))
    return out


def _panels(blocks) -> list:
    """The tab's output panels: every plot and every read-only picture."""
    return [b for b in blocks if isinstance(b, gr.Plot)
            or (type(b) is gr.Image and b.interactive is False and b.label not in USER_OWNED)]


def _check_first_views(panels, editor, values):
    empty = []
    for panel in panels:
        value = values[panel._id]
        if isinstance(panel, gr.Plot):
            data = _figure_data(value) if value is not None else []
            if not data or not all(d.size and np.all(np.isfinite(d)) for d in data):
                empty.append(panel.label)
        else:
            pic = np.asarray(value) if value is not None else np.zeros(0)
            if pic.ndim != 3 or pic.std() == 0:  # a picture with something drawn on it
                empty.append(panel.label)
    assert not empty, f"panels empty before any click: {empty}"
    background = np.asarray(values[editor._id]["background"])
    assert background.ndim == 3 and background.std() > 0  # the noisy query is on the canvas


def _descendants(block) -> list:
    out = []
    for child in getattr(block, "children", []):
        out.append(child)
        out.extend(_descendants(child))
    return out


def _by_elem_id(blocks, elem_id):
    return next(b for b in blocks if getattr(b, "elem_id", None) == elem_id)


def test_classroom_alone_draws_every_panel_on_page_load():
    with gr.Blocks() as demo:
        classroom.build_tab()
    blocks = list(demo.blocks.values())
    panels = _panels(blocks)
    assert len(panels) >= 11  # W, stored, masked/Amari/Kohonen, state, energy, 2 galleries, 2 curves, attention...
    values = _replay(_chain(demo, demo, "load"), _initial_values(demo))
    _check_first_views(panels, _by_elem_id(blocks, "classroom-query"), values)

    # step 3 shows the noisy query's start state and energy, and keeps the end for the Recall button (issue 19 §8)
    energy = _figure_data(values[_by_elem_id(blocks, "classroom-energy")._id])[0]
    assert energy.shape == (1,) and energy[0] < 0
    status = values[_by_elem_id(blocks, "classroom-status")._id]
    assert "Start state" in status and "stored pattern" not in status
    capacity = _figure_data(values[_by_elem_id(blocks, "classroom-capacity-plot")._id])[0]  # recalled exactly
    assert capacity[0] == 1.0 and capacity[-1] == 0.0  # 0.02 D recalls, 0.4 D does not
    weights = _figure_data(values[_by_elem_id(blocks, "classroom-attn-plot")._id])[0]
    assert math.isclose(weights.sum(), 1.0, rel_tol=1e-5)


def test_classroom_behind_another_tab_draws_on_its_first_click_only():
    with gr.Blocks() as demo:
        with gr.Tab("Explore"):
            gr.Markdown("another tab shown first")
        with gr.Tab("Classroom") as tab:
            classroom.build_tab()
    inside = _descendants(tab)
    ids = {b._id for b in inside}
    # nothing of the Classroom runs when the page opens (most visitors start on Explore)
    loads = [f for f in demo.fns.values() if (demo._id, "load") in [tuple(t) for t in f.targets]]
    assert not any({b._id for b in f.outputs} & ids for f in loads)

    chain = _chain(demo, tab, "select")
    values = _replay(chain, _initial_values(demo))
    _check_first_views(_panels(inside), _by_elem_id(inside, "classroom-query"), values)

    # a later visit leaves whatever the user made on screen: every first-view step is skipped
    for fn in chain:
        if fn.inputs:
            result = fn.fn(*[values[b._id] for b in fn.inputs])
            results = [result] if len(fn.outputs) == 1 else list(result)
            assert all(_is_update(r) and "value" not in r for r in results), fn.name


@pytest.mark.parametrize("mode", ["asynchronous", "synchronous"])
def test_recall_start_view_is_the_animation_s_first_frame_and_reveals_nothing(mode):
    """Issue 19 §8: before Recall, step 3 shows the start state and its energy only, not the end state."""
    xi, *_ = classroom.store("letters", "XOLT", 5, 10, [])
    editor, query = classroom.corrupt(xi, 1, 0.2, 0)
    picture, fig, status = classroom.recall_start_view(xi, editor, query, mode, 4, 0)
    frames = list(classroom.animate_recall(xi, editor, query, mode, 8, 0.0, 4, 0))
    first, last = frames[0], frames[-1]
    np.testing.assert_array_equal(picture, first[0])
    assert [len(y) for y in _figure_data(fig)] == [1]  # one point: the start energy, no curve
    np.testing.assert_allclose(_figure_data(fig)[0], _figure_data(first[1])[0][:1])
    assert len(_figure_data(last[1])[0]) > 1  # (the animation does draw the curve)
    # the end state differs from the start here (0.2 of the cells flipped), and is not what the start view shows
    assert not np.array_equal(picture, last[0])
    assert "Start state" in status and "Final state" not in status and "stored pattern" not in status
    assert "Recall (animate)" in status
