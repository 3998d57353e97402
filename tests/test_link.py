"""A link that restores a setup (issue 22 §2): the pure parser, its round trip, garbage, and the CLI."""

import json

import numpy as np
from PIL import Image

from hen_demo.__main__ import main
from hen_demo.export import layout_for
from hen_demo.export.link import EXPLORE_DEFAULTS, TAB_KEYS, Choices, link_query, parse_link
from hen_demo.ui import explore, explore_run, state
from hen_demo.ui.resources import Resources

CHOICES = Choices(datasets=("emoji", "faces"), encoders=("pixels", "kl-small"), text_encoders=("minilm",))
EVERY = {"dataset": "faces", "encoder": "pixels", "sim": "cosine", "beta": 0.125, "mode": "absolute", "n": 200,
         "steps": 12, "source": "stored memory", "index": 7, "caption": "a face", "damage": "occlude-bottom",
         "amount": 0.35, "fill": "grey", "seed": 42, "fps": 2.5}


def test_every_explore_parameter_round_trips_through_the_query_string():
    assert set(EVERY) == set(TAB_KEYS["explore"])
    url = "https://host.example/some/path?" + link_query("explore", EVERY, present=True)
    link = parse_link(url, choices=CHOICES)
    assert link.tab == "explore" and link.present and link.sentence == ""
    assert link.values == EVERY and link.given == set(EVERY)


def test_garbage_falls_back_to_defaults_with_one_sentence():
    url = ("http://x/?tab=explore&dataset=mnist-from-mars&encoder=../../etc&sim=quantum&beta=-1&mode=sideways"
           "&n=ten&steps=100000&source=upload&index=-3&damage=fire&amount=7&fill=plaid&seed=99999999999"
           "&fps=nan&bogus=1&present=maybe")
    link = parse_link(url, choices=CHOICES)
    defaults = dict(EXPLORE_DEFAULTS)
    assert link.values == defaults and not link.given
    s = link.sentence
    assert s.count(".") >= 1 and s.endswith(".") and s.startswith("Some values in this link")
    for word in ("dataset 'mnist-from-mars'", "β '-1'", "N 'ten'", "steps T '100000'", "damage 'fire'",
                 "bogus '1'", "presenter mode 'maybe'", "seed '99999999999'"):
        assert word in s


def test_an_unknown_tab_or_an_empty_link_restores_explore_defaults():
    assert parse_link("", choices=CHOICES).values == EXPLORE_DEFAULTS
    link = parse_link("?tab=nowhere", choices=CHOICES)
    assert link.tab == "explore" and "tab 'nowhere'" in link.sentence
    # a mapping (Gradio's request.query_params) reads the same as a query string
    assert parse_link({"n": "20", "tab": "explore"}, choices=CHOICES).values["n"] == 20


def test_the_link_defaults_are_the_explore_tabs_defaults():
    d = explore.DEFAULTS
    assert (EXPLORE_DEFAULTS["beta"], EXPLORE_DEFAULTS["mode"], EXPLORE_DEFAULTS["steps"]) == (
        d["beta"], d["beta_mode"], d["steps"])
    assert (EXPLORE_DEFAULTS["damage"], EXPLORE_DEFAULTS["amount"], EXPLORE_DEFAULTS["index"],
            EXPLORE_DEFAULTS["fill"], EXPLORE_DEFAULTS["fps"]) == (d["corruption"], d["amount"], d["index"],
                                                                   d["fill"], d["fps"])
    assert EXPLORE_DEFAULTS["dataset"] == explore.DEFAULT_DATASET and EXPLORE_DEFAULTS["n"] == state.DEFAULT_N


def test_cli_from_link_gives_the_same_verdict_and_state_as_the_handler_with_those_controls(tmp_path):
    """`python -m hen_demo retrieve --from-link URL` == Explore's handler called with the controls set by hand."""
    url = ("http://127.0.0.1:7860/?tab=explore&dataset=emoji&encoder=pixels&sim=l2&beta=1&mode=relative&n=20"
           "&steps=6&source=stored+memory&index=3&damage=mask-random&amount=0.3&fill=grey&seed=5&fps=0")
    assert main(["retrieve", "--from-link", url, "--out", str(tmp_path), "--formats", "png,gif"]) == 0
    written = json.loads((tmp_path / "details.json").read_text())
    by_hand = None
    for by_hand in explore_run.retrieve(Resources(), "emoji", "pixels", "l2", "softmax", 1.0, 20, 6, 1e-6, "stored memory", 3,
                                    None, None, None, "mask-random", 0.3, 5, 0, "relative", "grey",
                                    progress=lambda *a, **k: None):
        pass
    details, frames = by_hand[10], by_hand[11]["frames"]
    for key in ("verdict", "top_index", "target", "nn_index", "beta", "beta_relative", "steps"):
        assert written[key] == details[key], key
    assert (tmp_path / "figure.png").exists() and (tmp_path / "retrieval.gif").exists()
    # the state the CLI drew is the state the handler ended in
    final = np.asarray(frames[-1]["image"], dtype=np.uint8)
    box = layout_for(1280, 720).state_pixels(final.shape[0])
    k = box.w // final.shape[0]
    with Image.open(tmp_path / "figure.png") as im:
        panel = np.asarray(im.convert("RGB"))[box.y:box.y + box.h, box.x:box.x + box.w]
    assert np.array_equal(panel[::k, ::k], final)
