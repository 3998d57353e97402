"""Explore's run: one query through HEN (HEN eq. 5-7), computed at full speed, then played back, paused, stepped.

``retrieve`` is the ``/retrieve`` endpoint: it streams the frames as fast as they are computed and its last
message carries every output. The browser's Retrieve runs ``compute`` (the same run; at a playback speed > 0 it
sends only the query and keeps the frames) and then ``playback`` (``pacing.PLAYBACK``: no compute slot) at the
chosen frames / s. Pause, Step (one iteration a click), Resume and Stop act on the frames already computed.
Wiring only: the run is ``HENPipeline.stream``, the pacing ``hen_demo.ui.pacing``, the panels ``frames``.
"""

from __future__ import annotations

import functools
import time

import gradio as gr

from hen_demo.data.images import resize_square
from hen_demo.pipeline import corrupt_query
from hen_demo.ui import pacing, state
from hen_demo.ui.errors import user_errors
from hen_demo.ui.explore_query import clean_query
from hen_demo.ui.frames import frame_record, frame_view, map_view, state_verdict, status_line
from hen_demo.ui.memory_controls import check_n, corruption_kind, fill_and_stats, run_options
from hen_demo.ui.present import result_markdown, show, verdict_view
from hen_demo.ui.retrieval_map import RetrievalMap

# Measured on emoji, N = 1,000, L2, calibrated beta (relative 1), 200 queries, 40 % of pixels masked black:
# kl-small 99.5 % identity (NN ceiling 99.5 %), raw pixels 0.5 % (ceiling 0.5 %): a contrast that holds at fair
# beta (tests/test_app_claims.py). (Gaussian noise sigma 0.3 gives no contrast there: both 99.5 %.)
DEFAULTS = dict(beta=1.0, beta_mode="relative", steps=60, tol=1e-6, corruption="mask-random", amount=0.4, index=25,
                fps=5, fill="black")
N_OUTPUTS = 13  # query, state, status, energy, top-k, histogram, original, reconstruction, retrieved, verdict,
# details, run (the frames kept for playback), retrieval map


def _query(res, dataset, encoder, similarity, separation, beta, n, source, index, editor, caption, text_encoder,
           corruption, amount, seed, beta_mode, fill, progress):
    """(pipeline, query code (1, K), clamp, query image, clean image or None, target or None, visible or None)."""
    n = check_n(dataset, n)

    def bank_progress(fraction, desc=""):
        progress(fraction, desc=desc or "building the memory bank (cached for next time)")

    if source == "caption":
        if not caption or not str(caption).strip():
            raise ValueError("The caption is empty: type a few words describing a stored image.")
        text_encoder = text_encoder or state.default_text_encoder()
        pipe = res.pipeline(res.memory_config(dataset, encoder, n, similarity, separation, beta, beta_mode,
                                              text_encoder=text_encoder, progress=bank_progress))
        query, clamp = pipe.caption_query(res.text_encoder(text_encoder, encoder).encode([str(caption)]))
        # the empty canvas the image half starts from; no stored original unless the caption is a stored one
        return pipe, query, clamp, pipe.decode(query), None, pipe.find_caption(str(caption)), None
    pipe = res.pipeline(res.memory_config(dataset, encoder, n, similarity, separation, beta, beta_mode,
                                          progress=bank_progress))
    clean, mask, target = clean_query(res, dataset, n, source, index, editor)
    fill, stats = fill_and_stats(fill, pipe.bank)
    query_img, hidden = corrupt_query(clean, pipe.image_size, corruption_kind(corruption), float(amount or 0),
                                      int(seed or 0), mask, fill=fill, stats=stats, return_mask=True)
    clean = resize_square(clean, pipe.image_size)  # the undamaged query at the bank's size
    return pipe, pipe.encode_image(query_img), None, query_img, clean, target, pipe.visible_dims(hidden)


def final_outputs(frame, query_img, clean) -> tuple:
    """Original (the stored one, else the undamaged upload, else the query), reconstruction, retrieved, verdict
    markdown, details JSON."""
    r = frame.result
    kind, _ = verdict_view(r.verdict, r.target)
    details = {"verdict": kind, "memories_in_mixture": r.verdict.k, "top_index": r.nearest, "target": r.target,
               "correct": r.correct, "nn_index": r.nn_index, "nn_correct": r.nn_correct, "beta": r.beta,
               "beta_relative": r.beta_relative, "steps": r.steps, "converged": r.converged,
               "effective_memories": r.n_eff, "energies": frame.energies}
    if r.target is not None:  # scores only against a stored original, never against a stand-in
        details.update(mse=r.mse, one_minus_ssim=r.one_minus_ssim)
    original = r.original if r.original is not None else (clean if clean is not None else query_img)
    if original.shape[0] != frame.image.shape[0]:  # same pixel scale as the 28-64 px results
        original = resize_square(original, frame.image.shape[0])
    return show(original), show(r.reconstruction), show(r.retrieved), result_markdown(r), details


def _run(res, query_args: dict, steps, tol, fps: float, live: bool, progress):
    """The run as (message of N_OUTPUTS values, index of the frame on screen or -1). ``live``: every frame as it is
    computed (plots throttled); else, at fps > 0, only the query and, at the end, the run kept for playback."""
    t0 = time.perf_counter()
    opts = run_options(steps, tol)
    pipe, query, clamp, query_img, clean, target, visible = _query(res, progress=progress, **query_args)
    opts.visible = visible  # read by a mask-aware memory only
    throttle, records, prev, skip = pacing.PlotThrottle(), [], None, gr.skip()
    route = RetrievalMap(pipe.bank, pipe.image_dims, res.cache)  # the path on the bank's PCA map (issue 21)
    # the map holds only references to the shared bank and its cached projection
    run = {"frames": records, "final": None, "query": show(query_img), "map": route}
    for frame in pipe.stream(query, opts, target=target, clamp=clamp):
        rec = frame_record(frame, pipe.bank, opts.steps, target, prev, route)
        records.append(rec)
        seconds = time.perf_counter() - t0
        if frame.result is not None:
            run["final"] = final_outputs(frame, query_img, clean)
            if live or not fps:
                view = frame_view(rec, status_line(rec, seconds=seconds))
                yield (run["query"],) + view + run["final"] + (run, map_view(route, rec)), len(records) - 1
            else:  # the browser plays it back next, after the frame on screen (t = 0 was sent as computed; a
                # Pause or Step clicked meanwhile moved the cursor, and the playback starts from where they left it)
                status = (f"computed {rec['t']} steps in {seconds:.2f} s · playing back at {fps:g} frames / s "
                          "(**Pause**, **Step**, **Resume** and **Stop** act on the playback)")
                cursor = skip if len(records) > 1 else -1
                yield (run["query"], skip, status) + (skip,) * 3 + (None, None, None, "", None, run, skip), cursor
        elif frame.t == 0:
            view = frame_view(rec, status_line(rec, seconds=seconds))
            yield (run["query"],) + view + (None, None, None, "", None, run, map_view(route, rec)), 0
        elif live or not fps:
            due = throttle.due()
            view = frame_view(rec, status_line(rec, seconds=seconds), prev, due)
            yield (skip,) + view + (skip,) * 5 + (run, map_view(route, rec, due)), len(records) - 1
        prev = rec


def _query_args(dataset, encoder, similarity, separation, beta, n, source, index, editor, caption, text_encoder,
                corruption, amount, seed, beta_mode, fill) -> dict:
    return dict(dataset=dataset, encoder=encoder, similarity=similarity, separation=separation, beta=beta, n=n,
                source=source, index=index, editor=editor, caption=caption, text_encoder=text_encoder,
                corruption=corruption, amount=amount, seed=seed, beta_mode=beta_mode, fill=fill)


@user_errors
def retrieve(res, dataset, encoder, similarity, separation, beta, n, steps, tol, source, index, editor=None,
             caption=None, text_encoder=None, corruption=None, amount=None, seed=None, fps=DEFAULTS["fps"],
             beta_mode=DEFAULTS["beta_mode"], fill=DEFAULTS["fill"], progress=gr.Progress()):
    """The ``/retrieve`` endpoint: stream one HEN retrieval as fast as it is computed (13 outputs per message).

    ``beta_mode``: how ``beta`` is read, "relative" (calibrated to the bank) or "absolute". ``fps``: the
    browser's playback speed, 0 or 0.5-30 frames / s (checked here; an API answer is never paced). ``fill``: what
    hidden pixels become. The similarity "mask-aware" (raw pixels only) compares the visible pixels alone. The
    last message carries every output and the run's frames.
    """
    pacing.check_fps(fps)
    args = _query_args(dataset, encoder, similarity, separation, beta, n, source, index, editor, caption,
                       text_encoder, corruption, amount, seed, beta_mode, fill)
    for message, _ in _run(res, args, steps, tol, 0.0, True, progress):
        yield message


@user_errors
def compute(res, dataset, encoder, similarity, separation, beta, n, steps, tol, source, index, editor=None,
            caption=None, text_encoder=None, corruption=None, amount=None, seed=None, fps=DEFAULTS["fps"],
            beta_mode=DEFAULTS["beta_mode"], fill=DEFAULTS["fill"], progress=gr.Progress()):
    """The browser's Retrieve: the run of :func:`retrieve` at full speed; at fps > 0 it sends the query and keeps
    the frames for :func:`playback`. Yields the 13 outputs and the index of the frame on screen."""
    fps = pacing.check_fps(fps)
    args = _query_args(dataset, encoder, similarity, separation, beta, n, source, index, editor, caption,
                       text_encoder, corruption, amount, seed, beta_mode, fill)
    for message, cursor in _run(res, args, steps, tol, fps, False, progress):
        yield message + (cursor,)


def keep_screen(handler, n_outputs: int, status_at: int = 2):
    """``handler`` (a ``user_errors`` generator) whose refusal leaves every panel as it is (the query, the last
    result) and shows its sentence once, in the status line, instead of an error badge on every output."""

    @functools.wraps(handler)
    def run(*args, **kwargs):
        try:
            yield from handler(*args, **kwargs)
        except gr.Error as exc:
            out = [gr.skip()] * n_outputs
            out[status_at] = f"⚠️ {exc.message}"
            yield tuple(out)

    return run


# ---- playback over the frames already computed (pacing.PLAYBACK: it holds no compute slot) ----------------------
def _final_or_skip(run, k: int) -> tuple:
    last = run["final"] is not None and k == len(run["frames"]) - 1
    return tuple(run["final"]) if last else (gr.skip(),) * 5


@user_errors
def playback(run, cursor, fps, restart: bool = False):
    """Play the frames after ``cursor`` (all of them with ``restart``) at ``fps`` (0: as fast as possible), then
    the final panels. Yields the 5 frame panels, the 5 final panels, the map and the cursor."""
    if not run or not run.get("frames"):
        raise ValueError("Nothing to play yet: press Retrieve first.")
    frames = run["frames"]
    at = -1 if cursor is None else int(cursor)
    if at >= len(frames) - 1 and not restart:  # the end is on screen (or a refused run left the last one there)
        yield (gr.skip(),) * 12
        return
    start = 0 if restart else at + 1
    fps = pacing.check_fps(fps)
    if restart:  # the final panels go until the end is reached again
        yield (gr.skip(),) * 5 + (None, None, None, "", None, gr.skip(), -1)
    prev = frames[start - 1] if start > 0 and not restart else None
    for k in pacing.paced(range(start, len(frames)), fps):
        rec = frames[k]
        yield frame_view(rec, status_line(rec), prev) + _final_or_skip(run, k) + (map_view(run.get("map"), rec), k)
        prev = rec


# what a Pause, Step or Stop clicked while the run is still computing leaves for the playback that follows it
HOLD_PAUSED, HOLD_STOPPED = "paused", "stopped"


def playback_unless_held(run, cursor, fps, hold=""):
    """The playback after the compute, unless Pause / Step (``hold`` "paused": the status says where it waits) or
    Stop (``hold`` "stopped": the status and verdict of Stop stay) was clicked before it began: a cancel reaches only
    a playback already running, and the compute's last message rewrote the status."""
    if hold == HOLD_PAUSED:
        yield (gr.skip(), paused(run, cursor)) + (gr.skip(),) * 10
    elif hold == HOLD_STOPPED:
        status, verdict = stopped(run, cursor)
        yield (gr.skip(), status) + (gr.skip(),) * 6 + (verdict,) + (gr.skip(),) * 3
    else:  # from the frame on screen (t = 0, sent as it was computed), shown again for its full period
        yield from playback(run, None if cursor is None else int(cursor) - 1, fps)


def replay(run, cursor, fps):
    """Replay: the whole run again from t = 0 (at 0 frames / s: REPLAY_FPS, an instant replay shows nothing)."""
    yield from playback(run, cursor, pacing.check_fps(fps) or REPLAY_FPS, restart=True)


REPLAY_FPS = 10.0


@user_errors
def step_once(run, cursor):
    """One iteration a click: the frame after ``cursor`` (and the final panels with the last one)."""
    if not run or not run.get("frames"):
        raise ValueError("Nothing to step through yet: press Retrieve first.")
    frames = run["frames"]
    at = -1 if cursor is None else int(cursor)
    k = min(len(frames) - 1, at + 1)
    rec = frames[k]
    status = (status_line(rec) if k == len(frames) - 1 else
              status_line(rec, "paused at") + " · **Step**: one more iteration · **Resume**: play on")
    return (frame_view(rec, status, frames[at] if 0 <= at == k - 1 else None) + _final_or_skip(run, k)
            + (map_view(run.get("map"), rec), k))


def paused(run, cursor):
    """The status after Pause: where the playback stands."""
    frames = (run or {}).get("frames") or []
    if not frames:
        return gr.skip()
    if cursor is None or int(cursor) < 0:
        return "**paused** before t = 0 was shown · **Step**: one iteration · **Resume**: play on"
    rec = frames[min(int(cursor), len(frames) - 1)]
    return status_line(rec, "paused at") + " · **Step**: one iteration · **Resume**: play on"


def stopped(run, cursor):
    """After Stop: the state reached, the energy so far and that state's verdict (status, verdict panel)."""
    frames = (run or {}).get("frames") or []
    if not frames or cursor is None or int(cursor) < 0:
        return "**stopped** before the first iteration was shown · press **Retrieve** to run again", ""
    k = min(int(cursor), len(frames) - 1)
    if k == len(frames) - 1 and run.get("final") is not None:
        return gr.skip(), gr.skip()  # it had already finished: the result stays as it is
    rec = frames[k]
    return (status_line(rec, "stopped at") + f" (from {rec['energies'][0]:.5g} at t = 0)",
            state_verdict(rec, "stopped"))
