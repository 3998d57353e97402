"""Every retrieving tab's callback runs through hen_demo.pipeline.HENPipeline (issue 12): patch it and see it called."""

import inspect

import pytest

from hen_demo.pipeline import HENPipeline


def _no_progress(*args, **kwargs):
    return None


@pytest.fixture
def calls(monkeypatch):
    """Spy on HENPipeline.run / .stream / .separability: each call appends (method, encoder name, similarity)."""
    seen = []
    stream, run, separability = HENPipeline.stream, HENPipeline.run, HENPipeline.separability

    def spy_stream(self, *a, **k):
        seen.append(("stream", self.encoder.name, self.config.similarity))
        yield from stream(self, *a, **k)

    def spy_run(self, *a, **k):
        seen.append(("run", self.encoder.name, self.config.similarity))
        return run(self, *a, **k)

    def spy_separability(self, *a, **k):
        seen.append(("separability", self.encoder.name, self.config.similarity))
        return separability(self, *a, **k)

    monkeypatch.setattr(HENPipeline, "stream", spy_stream)
    monkeypatch.setattr(HENPipeline, "run", spy_run)
    monkeypatch.setattr(HENPipeline, "separability", spy_separability)
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


@pytest.mark.slow
def test_text_to_image_streams_through_the_pipeline(calls):
    from hen_demo.ui import explore, state, text2image

    args = ("photos", "pixels", "l2", "softmax", 0.001, 27, 5, 1e-6, explore.EXAMPLE_CAPTION,
            state.default_text_encoder(), False, 10, 3.0)
    frames = list(text2image.text_to_image.__wrapped__(*args, progress=_no_progress))
    assert frames and [c[0] for c in calls] == ["stream"]


def test_separability_scores_through_the_pipeline(calls):
    from hen_demo.ui import separability

    fig, rows = separability.compute.__wrapped__("photos", ["pixels"], 27, "noise", 0.1, 0, progress=_no_progress)
    # the cosine statistics, then the same queries retrieved as Explore does (L2) for the last two columns
    assert calls == [("separability", "pixels", "l2"), ("run", "pixels", "l2")] and len(rows) == 1


@pytest.mark.slow
def test_uhop_tab_retrieves_through_the_pipeline(calls):
    from hen_demo.memory.similarity import LinearKernel
    from hen_demo.ui import uhop_tab

    frames = list(uhop_tab.run_uhop("digits", "pixels", 20, "mask-random", 0.5, 2, 1.0, 2.0, 1.0, 2, 0,
                                    delay=0, progress=None))
    assert frames[-1][-1].startswith("Done.")
    runs = [c for c in calls if c[0] == "run"]
    assert [c[2] for c in runs[:1] + runs[2:]] == ["dot", "l2", "manhattan"]  # plain MHN, then the baselines
    assert isinstance(runs[1][2], LinearKernel)  # U-Hop's learned kernel (Stage II) in the same pipeline
    streams = [c for c in calls if c[0] == "stream"]
    assert len(streams) == 2 and streams[0][2] == "dot" and isinstance(streams[1][2], LinearKernel)


def test_experiments_run_through_the_pipeline(calls):
    from hen_demo.experiments.registry import run_experiment

    result, _ = run_experiment("rank-collapse", "tiny", {"kmn": False}, out=False)
    # one batched run per beta setting: the tiny config's two absolute betas and calibrated beta (relative 1)
    assert list(result.table.beta_mode) == ["absolute", "absolute", "relative"]
    assert [c[0] for c in calls] == ["run", "run", "run"]


@pytest.mark.slow
def test_bench_ui_times_the_pipeline(calls):
    from hen_demo.ui import bench_ui

    out = bench_ui.stream_timings("pixels", queries=1, steps=3)
    assert out["queries"] == 1 and calls and {c[0] for c in calls} == {"stream"}


def test_dataset_images_are_read_without_building_a_bank(monkeypatch):
    import numpy as np

    from hen_demo.data import load_dataset
    from hen_demo.ui import state

    def no_bank(*a, **k):
        raise AssertionError("Resources.dataset built a memory bank")

    monkeypatch.setattr(state, "build_bank", no_bank)
    res = state.Resources()
    ds = res.dataset("photos", 25)  # snapped to the sliders' grid, as bank() snaps
    assert len(ds) == state.snap_n("photos", 25)
    assert np.array_equal(ds.images, load_dataset("photos", n=len(ds)).images)
    assert res.dataset("photos", 25) is ds  # cached
