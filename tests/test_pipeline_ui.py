"""Every retrieving tab's callback runs through hen_demo.pipeline.HENPipeline (issue 12): patch it and see it called."""

import inspect

import pytest

from hen_demo.pipeline import HENPipeline


def _no_progress(*args, **kwargs):
    return None


@pytest.fixture
def calls(monkeypatch):
    seen = []
    stream, run = HENPipeline.stream, HENPipeline.run

    def spy_stream(self, *a, **k):
        seen.append(("stream", self.encoder.name))
        yield from stream(self, *a, **k)

    def spy_run(self, *a, **k):
        seen.append(("run", self.encoder.name))
        return run(self, *a, **k)

    monkeypatch.setattr(HENPipeline, "stream", spy_stream)
    monkeypatch.setattr(HENPipeline, "run", spy_run)
    return seen


def _call(fn, **kw):
    """Call a Gradio callback by its parameter names (layouts change; names are what the tabs pass)."""
    sig = inspect.signature(fn)
    args = {k: v for k, v in kw.items() if k in sig.parameters}
    return list(fn(**args))


@pytest.mark.slow
def test_explore_and_compare_retrieve_through_the_pipeline(calls):
    from hen_demo.ui import compare, explore

    _call(explore.retrieve.__wrapped__, dataset="photos", encoder="pixels", similarity="l2", separation="softmax",
          beta=0.05, n=27, steps=10, tol=1e-6, source="stored memory", index=2, editor=None, caption="",
          text_encoder="pixelized", corruption="noise", amount=0.2, seed=0, fps=0, progress=_no_progress)
    assert calls and calls[0][0] == "stream"
    calls.clear()
    list(compare.compare.__wrapped__("photos", 27, 10, 1e-6, 2, "noise", 0.2, 0,
                                     "pixels", "l2", 0.05, "pixels", "dot", 0.01, progress=_no_progress))
    assert [c[0] for c in calls] == ["stream", "stream"]
