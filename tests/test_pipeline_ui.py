"""Every retrieving tab's callback runs through hen_demo.pipeline.HENPipeline (issue 12): patch it and see it called."""

import inspect

import gradio as gr
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
def test_explore_and_compare_retrieve_through_the_pipeline(calls, res):
    from hen_demo.ui import compare, explore_run

    _call(explore_run.retrieve.__wrapped__, res=res, dataset="photos", encoder="pixels", similarity="l2", separation="softmax",
          beta=0.05, n=27, steps=10, tol=1e-6, source="stored memory", index=2, editor=None, caption="",
          text_encoder="pixelized", corruption="noise", amount=0.2, seed=0, fps=0, progress=_no_progress)
    assert calls and calls[0][0] == "stream"
    calls.clear()
    list(compare.compare.__wrapped__(res, "photos", 27, 10, 1e-6, 2, "noise", 0.2, 0,
                                     "pixels", "l2", 0.05, "pixels", "dot", 0.01, progress=_no_progress))
    assert [c[0] for c in calls] == ["stream", "stream"]


@pytest.mark.slow
def test_text_to_image_streams_through_the_pipeline(calls, res):
    from hen_demo.ui import explore, state, text2image

    args = ("photos", "pixels", "l2", "softmax", 0.001, 27, 5, 1e-6, explore.EXAMPLE_CAPTION,
            state.default_text_encoder(), False, 10, 3.0)
    frames = list(text2image.text_to_image.__wrapped__(res, *args, progress=_no_progress))
    assert frames and [c[0] for c in calls] == ["stream"]


def test_separability_scores_through_the_pipeline(calls, res):
    from hen_demo.ui import separability

    fig, rows = separability.compute.__wrapped__(res, "photos", ["pixels"], 27, "noise", 0.1, 0, progress=_no_progress)
    # the cosine statistics, then the same queries retrieved as Explore does (L2) for the last two columns
    assert calls == [("separability", "pixels", "l2"), ("run", "pixels", "l2")] and len(rows) == 1


@pytest.mark.slow
def test_uhop_tab_retrieves_through_the_pipeline(calls, res):
    from hen_demo.memory.similarity import LinearKernel
    from hen_demo.ui import uhop_tab

    frames = list(uhop_tab.run_uhop(res, "digits", "pixels", 20, "mask-random", 0.5, 2, 1.0, 2.0, 1.0, 2, 0,
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
    from hen_demo.ui import resources, state

    def no_bank(*a, **k):
        raise AssertionError("Resources.dataset built a memory bank")

    monkeypatch.setattr(resources, "build_bank", no_bank)
    res = resources.Resources()
    ds = res.dataset("photos", 25)  # snapped to the sliders' grid, as bank() snaps
    assert len(ds) == state.snap_n("photos", 25)
    assert np.array_equal(ds.images, load_dataset("photos", n=len(ds)).images)
    assert res.dataset("photos", 25) is ds  # cached


def _tab_query(res, pipe, config):
    """(query code (1, K), clamp, target, visible) the way the tab builds it."""
    from hen_demo.pipeline import corrupt_query
    from hen_demo.ui import state

    if config.get("caption"):
        code = res.text_encoder(config["text_encoder"], "pixels").encode([pipe.bank.captions[3]])
        q, clamp = pipe.caption_query(code)
        return q, clamp, 3, None
    img, hidden = corrupt_query(pipe.bank.images[3], pipe.image_size, config["corruption"], 0.5, seed=1,
                                return_mask=True)
    assert state.DEFAULT_N  # the tab's module loads
    return pipe.encode_image(img), None, 3, pipe.visible_dims(hidden)


TAB_CONFIGS = {  # every retrieving tab's configuration kinds, on the small photos bank
    "explore l2 calibrated": dict(similarity="l2", beta=1.0, beta_mode="relative", corruption="mask-random"),
    "explore dot absolute": dict(similarity="dot", beta=0.01, beta_mode="absolute", corruption="noise"),
    "explore sparsemax": dict(similarity="l2", separation="sparsemax", beta=0.5, beta_mode="relative",
                              corruption="occlude-bottom"),
    "compare mask-aware": dict(similarity="mask-aware", beta=1.0, beta_mode="relative", corruption="occlude-bottom"),
    "explore / text2image caption": dict(similarity="l2", beta=0.001, beta_mode="absolute", caption=True,
                                         text_encoder="pixelized"),
    "text2image bound pair": dict(similarity="l2", beta=0.001, beta_mode="absolute", caption=True,
                                  text_encoder="pixelized", bind=(3, 10)),
}


@pytest.mark.parametrize("name", list(TAB_CONFIGS))
def test_a_batch_of_one_equals_the_streams_last_frame_for_every_tab_configuration(res, name):
    from hen_demo.ui.memory_controls import run_options

    c = TAB_CONFIGS[name]
    cfg = res.memory_config("photos", "pixels", 27, c["similarity"], c.get("separation", "softmax"), c["beta"],
                            c["beta_mode"], text_encoder=c.get("text_encoder"), bind=c.get("bind"))
    pipe = res.pipeline(cfg)
    q, clamp, target, visible = _tab_query(res, pipe, c)
    opts = run_options(40, 1e-7)
    opts.visible = visible
    last = list(pipe.stream(q, opts, target=target, clamp=clamp))[-1].result
    batch = pipe.run(q, opts, targets=[target], clamp=clamp)
    assert batch.verdicts[0].kind == last.verdict.kind and batch.nn_index[0] == last.nn_index
    assert batch.top_weight[0] == pytest.approx(last.verdict.top_weight, abs=1e-3)
    if batch.top_weight[0] > 0.6:  # a clear winner (a bound pair is a 50/50 mixture: no winner to compare)
        assert batch.winner[0] == last.winner
    assert abs(batch.images[0].astype(int) - last.retrieved.astype(int)).max() <= 1
    assert batch.beta == pytest.approx(last.beta, rel=1e-9)


@pytest.mark.slow
def test_the_census_panel_and_the_browser_run_go_through_the_pipeline(calls, res):
    from hen_demo.ui import census_panel, explore_run

    census_panel.census.__wrapped__(res, "photos", "pixels", "l2", "softmax", 1.0, 27, 5, 1e-6, "relative",
                                    "occlude-bottom", 0.5, "black", 0, n_queries=10, progress=_no_progress)
    assert [c[0] for c in calls] == ["run"]
    calls.clear()
    out = list(explore_run.compute.__wrapped__(res, "photos", "pixels", "l2", "softmax", 1.0, 27, 10, 1e-6,
                                               "stored memory", 2, fps=2, progress=_no_progress))
    assert [c[0] for c in calls] == ["stream"]
    run, cursor = out[-1][11], out[0][-1]
    assert cursor == 0 and run["final"] is not None and len(out) == 2  # the query, then the run kept for playback
    assert out[-1][-1] == gr.skip()  # the last message leaves the cursor where t = 0 (or a Pause / Step) put it
    played = list(explore_run.playback_unless_held(run, cursor, 0))  # as fast as possible: no sleep
    assert [p[-1] for p in played] == list(range(len(run["frames"])))
    assert played[-1][8] == run["final"][3]  # the verdict arrives with the last frame
    # Pause / Step / Stop clicked while it computed: the playback that follows sends no frame, only where it waits
    held = list(explore_run.playback_unless_held(run, 0, 0, explore_run.HOLD_PAUSED))
    assert len(held) == 1 and "paused at t = 0" in held[0][1] and held[0][-1] == gr.skip()
    held = list(explore_run.playback_unless_held(run, 0, 0, explore_run.HOLD_STOPPED))
    assert len(held) == 1 and "stopped at t = 0" in held[0][1] and "At t = 0 (stopped)" in held[0][8]
