"""Every refusal is a sentence from us (issue 23 §3): the bad inputs of the public-endpoint audit, sent again
through gradio_client (and raw HTTP for NaN, which gradio_client cannot send) to the real app in public mode.

Each case once produced raw text (Gradio's "Could not preprocess input component …", pydantic's "1 validation
error for EditorData", Python's "could not convert string to float", "Value: 'nope' (type: <class 'str'>)", an
answer about the letter 'p' for ``encoders="pixels"``, a wrapped query index); now each gets our sentence, and
the server's log has one line per refusal and no traceback.
"""

import io
import json
import logging
import re
import sys

import httpx
import pytest
from gradio_client import Client, handle_file
from ui_server import running_app

pytestmark = pytest.mark.slow

# words that only appear in raw library / interpreter text
RAW = re.compile(r"Traceback|preprocess|validation error|<class|NoneType|could not convert|Value: |"
                 r"cannot convert|not supported between|Error:|error id|Something went wrong", re.I)


class _Tee(io.TextIOBase):
    """sys.stderr for the server threads: kept in a buffer (Gradio prints tracebacks there) and passed on."""

    def __init__(self, inner):
        self.inner, self.buffer_text = inner, io.StringIO()

    def write(self, s):
        self.buffer_text.write(s)
        return self.inner.write(s)

    def flush(self):
        self.inner.flush()


class _Records(logging.Handler):
    def __init__(self):
        super().__init__(logging.INFO)
        self.records = []

    def emit(self, record):
        self.records.append(record)


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    mp = pytest.MonkeyPatch()
    mp.setenv("HEN_PUBLIC", "1")
    mp.setenv("HEN_TABS", "Explore,Compare,Separability,U-Hop")
    tee, records = _Tee(sys.stderr), _Records()
    mp.setattr(sys, "stderr", tee)
    logger = logging.getLogger("hen_demo")
    logger.addHandler(records)
    old_level = logger.level
    logger.setLevel(logging.INFO)
    try:
        with running_app() as url:
            yield {"url": url, "client": Client(url, verbose=False), "stderr": tee, "records": records}
    finally:
        logger.removeHandler(records)
        logger.setLevel(old_level)
        mp.undo()


@pytest.fixture(scope="module")
def not_an_image(tmp_path_factory):
    folder = tmp_path_factory.mktemp("bad")
    (folder / "notes.txt").write_text("not an image")
    return str(folder / "notes.txt")


# (endpoint, arguments, our sentence): each was answered with raw text before (the audit's list)
CASES = [
    ("/retrieve", {"n": None}, r"Choose a value for Memories N \(a number from 10 to"),
    ("/retrieve", {"n": "ten"}, r"Memories N takes a number from 10 to .*'ten' was sent"),
    ("/retrieve", {"index": "x"}, r"memory # takes a number \('x' was sent\)"),
    ("/retrieve", {"beta": "abc"}, r"β \(relative\) takes a number \('abc' was sent\)"),
    ("/retrieve", {"amount": "abc"}, r"amount .* takes a number from 0 to 1 \('abc' was sent\)"),
    ("/retrieve", {"beta": [1, 2]}, r"β \(relative\) takes a number \(\[1, 2\] was sent\)"),
    ("/retrieve", {"editor": "x"}, r"Query canvas takes an image: a file sent with gradio_client's handle_file"),
    ("/retrieve", {"editor": {"background": 5}}, r"Query canvas takes an image"),
    ("/retrieve", {"dataset": "nope"}, r"'nope' is not one of the choices for Dataset: 'photos', "),
    ("/retrieve", {"beta_mode": "nope"}, r"'nope' is not one of the choices for β .*'relative', 'absolute'"),
    ("/retrieve", {"similarity": ["l2"]}, r"Similarity f_sim takes one choice, not a list"),
    ("/retrieve", {"index": True}, r"memory # takes a number \(True was sent\)"),
    ("/retrieve", {"steps": 1e9}, r"This public demo allows at most 100 retrieval steps"),
    ("/retrieve", {"caption": [1], "source": "caption"}, r"Caption .* takes text \(\[1\] was sent\)"),
    ("/retrieve", {"index": 100000}, r"Pick a stored memory between #0 and #999 \(got #100000\)"),
    ("/separability", {"encoders": "pixels"}, r"Encoders to compare takes a list of choices, e\.g\. \['pixels'\] "
                                             r"\('pixels' was sent, not a list\)"),
    ("/separability", {"encoders": ["nope"]}, r"'nope' is not one of the choices for Encoders to compare"),
    ("/compare", {"beta_a": "abc"}, r"takes a number \('abc' was sent\)"),
    ("/run_uhop", {"query_index": 1_000_000}, r"Pick a stored memory between #0 and #99 for Stage II "
                                              r"\(got #1000000\), or -1"),
    ("/run_uhop", {"query_index": -2}, r"Pick a stored memory between #0 and #99 for Stage II \(got #-2\)"),
    ("/run_uhop", {"lr": "abc", "iterations": 1}, r"Stage I learning rate γ takes a number \('abc' was sent\)"),
    ("/run_uhop", {"beta": None, "iterations": 1}, r"Type a value for β"),
    ("/upload_query", {"path": "abc"}, r"Upload an image takes a file"),
    ("/upload_query", {"path": "NOT_AN_IMAGE"}, r"Upload an image takes an image \(PNG, JPEG, WebP, \.\.\.\); "
                                                r"'notes\.txt' is not one"),
]


def _ask(client, api, kwargs) -> str:
    try:
        client.predict(api_name=api, **kwargs)
    except Exception as exc:  # noqa: BLE001 - the refusal is what we look at
        return str(exc)
    return "(answered without an error)"


@pytest.mark.parametrize("api,kwargs,sentence", CASES, ids=[f"{a}-{'-'.join(k)}" for a, k, _ in CASES])
def test_bad_input_gets_our_sentence(server, not_an_image, api, kwargs, sentence):
    kwargs = {k: handle_file(not_an_image) if v == "NOT_AN_IMAGE" else v for k, v in kwargs.items()}
    message = _ask(server["client"], api, kwargs)
    assert re.search(sentence, message), message
    assert not RAW.search(message), message


def _raw_call(url: str, api: str, data: list) -> str:
    """POST /gradio_api/call/<api> with a JSON body Python writes (NaN included); the streamed answer's text."""
    body = json.dumps({"data": data})  # allow_nan: NaN goes on the wire as the token NaN
    r = httpx.post(f"{url}gradio_api/call/{api}", content=body, headers={"content-type": "application/json"},
                   timeout=60)
    r.raise_for_status()
    event = r.json()["event_id"]
    return httpx.get(f"{url}gradio_api/call/{api}/{event}", timeout=120).text


@pytest.mark.parametrize("name", ["n", "index", "seed", "beta", "amount"])
def test_nan_gets_our_sentence(server, name):
    info = server["client"].view_api(return_format="dict", print_info=False)["named_endpoints"]["/retrieve"]
    params = info["parameters"]
    data = [p.get("parameter_default") for p in params]
    data[[p["parameter_name"] for p in params].index(name)] = float("nan")
    text = _raw_call(server["url"], "retrieve", data)
    assert "event: error" in text and "takes a finite number" in text, text
    assert "(NaN was sent)" in text and not RAW.search(text.replace("event: error", "")), text


def test_server_log_has_one_line_per_refusal_and_no_traceback(server, not_an_image):
    tee, records = server["stderr"], server["records"]
    start_text, start_records = len(tee.buffer_text.getvalue()), len(records.records)
    for api, kwargs, _ in CASES[:4] + CASES[15:16] + CASES[-1:]:
        kwargs = {k: handle_file(not_an_image) if v == "NOT_AN_IMAGE" else v for k, v in kwargs.items()}
        _ask(server["client"], api, kwargs)
    printed = tee.buffer_text.getvalue()[start_text:]
    mine = [r for r in records.records[start_records:] if r.name.startswith("hen_demo")]
    assert "Traceback" not in printed, printed
    assert len(mine) == 6 and all(r.levelno == logging.INFO and r.exc_info is None for r in mine), \
        [r.getMessage() for r in mine]
    assert all("\n" not in r.getMessage() for r in mine)
