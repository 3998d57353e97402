"""The launched app, driven through its HTTP API with gradio_client (what a browser's clicks call).

A retrieval streams frames and ends with a decoded image and a finite, non-increasing energy curve; bad
input (corrupt or huge upload, empty caption, N beyond the dataset, beta <= 0) comes back as a visible
error message, and the app keeps serving the next request.
"""

import os
import re

import numpy as np
import plotly.io
import pytest
from PIL import Image

pytestmark = pytest.mark.slow

gradio_client = pytest.importorskip("gradio_client")
from gradio_client import Client, handle_file  # noqa: E402
from gradio_client.exceptions import AppError  # noqa: E402
from ui_server import running_app  # noqa: E402

from hen_demo.ui import state  # noqa: E402

N_PHOTOS = 27
# /retrieve's outputs, in order (the Replay frames are a gr.State: not part of the API)
OUT = {name: i for i, name in enumerate(["query", "state", "status", "energy", "topk", "hist", "original", "recon",
                                         "retrieved", "verdict", "details"])}


@pytest.fixture(scope="module")
def app_url(tmp_path_factory):
    os.environ.setdefault("HEN_CACHE_DIR", str(tmp_path_factory.mktemp("hen_cache")))
    with running_app() as url:
        yield url


@pytest.fixture(scope="module")
def client(app_url):
    return Client(app_url, verbose=False)


def explore_args(**over):
    """Arguments of /retrieve in order, with a working default query (photo #1, bottom half hidden)."""
    args = dict(dataset="photos", encoder="pixels", similarity="l2", separation="softmax", beta=1.0, n=N_PHOTOS,
                steps=30, tol=1e-6, source="stored memory", index=1, editor=None, caption="",
                text_encoder=state.default_text_encoder(), corruption="occlude-bottom", amount=0.5, seed=0, fps=0,
                beta_mode="absolute")
    args.update(over)
    return list(args.values())


def test_retrieval_streams_an_image_and_a_descending_energy(client):
    job = client.submit(*explore_args(), api_name="/retrieve")
    result = job.result(timeout=120)
    frames = job.outputs()
    assert len(frames) >= 2  # at least the query frame and the final frame were streamed
    query_img, state_img = result[0], result[1]
    for path in (query_img, state_img):
        assert path and os.path.exists(path)
    img = np.asarray(Image.open(state_img))
    assert img.ndim == 3 and img.shape[2] >= 3 and img.std() > 0  # a decoded picture, not a blank
    details = result[OUT["details"]]
    e = np.asarray(details["energies"], dtype=float)
    assert len(e) >= 2 and np.isfinite(e).all()
    assert (np.diff(e) <= 1e-5 * max(1.0, abs(e[0]))).all(), e
    # the plot shows the same curve
    plot = plotly.io.from_json(result[OUT["energy"]]["plot"])
    np.testing.assert_allclose(np.asarray(plot.data[0].y, dtype=float), e, rtol=1e-6)
    assert details["verdict"] in ("retrieved", "metastable", "wrong")
    assert "MSE" in result[OUT["verdict"]]


def _error_message(call) -> str:
    with pytest.raises(AppError) as info:
        call()
    return str(info.value)


def test_bad_input_gives_visible_errors_and_the_app_keeps_serving(client, tmp_path):
    corrupt = tmp_path / "broken.png"
    corrupt.write_bytes(b"\x89PNG\r\n\x1a\n" + b"not really a png" * 10)
    msg = _error_message(lambda: client.predict(handle_file(str(corrupt)), api_name="/upload_query"))
    assert "corrupt" in msg.lower() or "not an image" in msg.lower()

    huge = tmp_path / "huge.png"
    Image.new("RGB", (8000, 8000)).save(huge)
    msg = _error_message(lambda: client.predict(handle_file(str(huge)), api_name="/upload_query"))
    assert ("8000" in msg and "px" in msg) or "too large" in msg  # the size check runs before decoding

    msg = _error_message(lambda: client.predict(*explore_args(source="caption", caption="   "), api_name="/retrieve"))
    assert "caption" in msg.lower() and "empty" in msg.lower()

    msg = _error_message(lambda: client.predict(*explore_args(n=100), api_name="/retrieve"))
    assert "N = 100" in msg and "27" in msg and "photos" in msg

    for beta in (0.0, -3.0):
        msg = _error_message(lambda: client.predict(*explore_args(beta=beta), api_name="/retrieve"))
        assert "beta" in msg.lower() and "positive" in msg.lower()

    # still serving: a good upload and a good retrieval succeed after all those errors
    good = tmp_path / "good.png"
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (40, 60, 3), dtype=np.uint8)).save(good)
    editor, source = client.predict(handle_file(str(good)), api_name="/upload_query")
    assert source == "upload"  # "memory #" is left alone (it showed -1 after an upload)
    result = client.predict(*explore_args(), api_name="/retrieve")
    assert os.path.exists(result[1]) and np.isfinite(result[OUT["details"]]["energies"]).all()


def test_retrieve_with_every_parameter_at_its_default(client):
    """A script can call /retrieve with nothing at all: a stored-memory query with the tab's defaults."""
    result = client.predict(api_name="/retrieve")
    assert os.path.exists(result[OUT["retrieved"]])
    img = np.asarray(Image.open(result[OUT["retrieved"]]))
    assert img.ndim == 3 and img.std() > 0
    verdict = result[OUT["verdict"]]
    assert any(w in verdict for w in ("RETRIEVED", "METASTABLE", "WRONG MEMORY"))
    assert "NN ceiling" in verdict and "calibrated" in verdict  # both numbers of beta, the ceiling
    d = result[OUT["details"]]
    assert d["beta_relative"] == pytest.approx(1.0, rel=1e-6) and d["beta"] > 0


def test_similarity_histogram_streams_one_per_frame_and_counts_sum_to_n(client):
    n = N_PHOTOS
    job = client.submit(*explore_args(encoder="pixels", corruption="noise", amount=0.4, steps=8, tol=0.0),
                        api_name="/retrieve")
    job.result(timeout=120)
    frames = job.outputs()
    ts = []
    for out in frames:
        spec = plotly.io.from_json(out[OUT["hist"]]["plot"])
        assert spec.data, (out[OUT["status"]], out[OUT["hist"]])  # every streamed message has its histogram
        counts = np.asarray(spec.data[0].y, dtype=float)
        assert counts.sum() == n, (counts.sum(), n)  # every memory is counted once
        assert (counts >= 0).all()
        ts.append(spec.layout.title.text)
    # one histogram per frame: each streamed message carries the histogram of its own iteration
    assert len(frames) >= 3
    assert len(set(ts)) == len(ts), ts
    # the status and the histogram speak of the same iteration
    for out, title in zip(frames, ts):
        m = re.search(r"t = (\d+)", str(out[OUT["status"]]))
        assert m, out[OUT["status"]]
        assert f"(t = {m.group(1)})" in title, (out[OUT["status"]], title)


def test_the_readme_api_example_runs_against_the_app(app_url):
    """README "Use from a script": its gradio_client block, run as written against the launched app."""
    from pathlib import Path

    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text(encoding="utf-8")
    block = re.search(r"```python client\n(.*?)```", readme, flags=re.S).group(1)
    block = block.replace("http://127.0.0.1:7860/", app_url)
    ns: dict = {}
    exec(compile(block, "README API example", "exec"), ns)
    assert ns["details"]["verdict"] in ("retrieved", "metastable", "wrong")
    assert os.path.exists(ns["retrieved"])
    # every public endpoint the README lists is in the app's API, and no UI plumbing is
    listed = set(re.findall(r"^\| `/(\w+)` \|", readme, flags=re.M))
    info = Client(app_url, verbose=False).view_api(print_info=False, return_format="dict")
    public = {name.strip("/") for name in info["named_endpoints"]}
    assert listed == public, (listed, public)


def test_text_to_image_streams_through_the_real_app(client):
    """Through the app (Gradio's postprocess of every output), not just the function: each message must fit the
    tab's six outputs (image, status, plot, top-k gallery, target gallery, verdict)."""
    from hen_demo.ui.explore import EXAMPLE_CAPTION

    args = ["photos", "pixels", "l2", "softmax", 0.001, N_PHOTOS, 20, 1e-6, EXAMPLE_CAPTION,
            state.default_text_encoder(), False, 10, 3.0, "absolute"]
    job = client.submit(*args, api_name="/text_to_image")
    result = job.result(timeout=120)
    image = result[0] if isinstance(result[0], str) else (result[0] or {}).get("path")
    assert len(result) == 6 and image and os.path.exists(image), result[0]
    assert isinstance(result[5], str) and "β = 0.001" in result[5]  # the verdict, with both numbers of β
    assert len(job.outputs()) >= 2


def test_compare_separability_and_uhop_run_through_the_real_app(client):
    """The other public endpoints, through Gradio's postprocess: every message fits the tab's outputs."""
    cmp = client.submit("photos", N_PHOTOS, 10, 1e-6, 3, "occlude-bottom", 0.5, 0, "pixels", "l2", 1.0,
                        "pixels", "l2", 1.0, "relative", "relative", "black", api_name="/compare").result(timeout=120)
    assert len(cmp) == 10 and all(isinstance(v, str) and v for v in cmp[8:10])  # both verdicts
    fig, table = client.predict("photos", ["pixels"], N_PHOTOS, "noise", 0.2, 0, api_name="/separability")
    assert fig and table
    job = client.submit("digits", "pixels", 20, "mask-random", 0.5, 2, 1.0, 2.0, 1.0, 2, 0, "relative",
                        api_name="/run_uhop")
    out = job.result(timeout=180)
    assert len(out) == 12 and str(out[-1]).startswith("Done.")
