"""The app's and README's claims, measured at fair β (calibrated, relative 1) with the NN ceiling beside them.

Each number quoted in Explore's defaults, the Compare and How-it-works texts and the README is recomputed here
through the pipeline (the path the app takes), with margins, so a retrained encoder or a changed default that
breaks a sentence fails a test instead of leaving a false claim on screen.
"""

import numpy as np
import pytest

from hen_demo.data import build_bank
from hen_demo.encoders import get_image_encoder
from hen_demo.pipeline import HENPipeline, MemoryConfig, RunOptions
from hen_demo.ui.explore import DEFAULT_DATASET, DEFAULTS

pytestmark = pytest.mark.slow
QUERIES = 200


@pytest.fixture(scope="module")
def measure(tmp_path_factory):
    cache = tmp_path_factory.mktemp("claims_cache")
    pipes = {}

    def run(dataset, encoder, n, kind, amount, fill="black"):
        key = (dataset, encoder, n)
        if key not in pipes:
            enc = get_image_encoder(encoder)
            bank = build_bank(dataset, enc, n=n, seed=0, cache_dir=cache)
            pipes[key] = HENPipeline(MemoryConfig(bank, enc, similarity="l2", beta_relative=1.0))
        pipe = pipes[key]
        idx = np.random.default_rng(0).choice(n, min(QUERIES, n), replace=False)
        q = pipe.encode_corrupted(pipe.bank.images[idx], kind, amount, seed=0, fill=fill)
        out = pipe.run(q, RunOptions(steps=DEFAULTS["steps"], tol=DEFAULTS["tol"], topk=1), targets=idx)
        return 100 * out.identity, 100 * out.nn_ceiling

    return run


def test_explores_default_contrast_holds_at_fair_beta(measure):
    # README / Explore / How it works: emoji, N = 1,000, 40 % masked black: kl-small 99.5 %, raw pixels 0.5 %
    assert DEFAULT_DATASET == "emoji" and DEFAULTS["beta_mode"] == "relative" and DEFAULTS["beta"] == 1.0
    cell = ("emoji", 1000, DEFAULTS["corruption"], DEFAULTS["amount"], DEFAULTS["fill"])
    kl, kl_nn = measure(cell[0], "kl-small", *cell[1:])
    px, px_nn = measure(cell[0], "pixels", *cell[1:])
    assert kl >= 95 and px <= 5, (kl, px)
    assert abs(kl - kl_nn) <= 2 and abs(px - px_nn) <= 2  # the representation sets the ceiling, not the dynamics


def test_gaussian_noise_gives_no_contrast_on_emoji(measure):
    kl, _ = measure("emoji", "kl-small", 1000, "noise", 0.3)
    px, _ = measure("emoji", "pixels", 1000, "noise", 0.3)
    assert kl >= 95 and px >= 95, (kl, px)


def test_a_black_half_leaves_every_plain_representation_low_on_tiles_but_not_robust_small(measure):
    plain = {e: measure("tiles", e, 400, "occlude-bottom", 0.5)[0] for e in ("pixels", "kl-small", "vq-small",
                                                                            "dvae-small")}
    assert max(plain.values()) <= 20, plain
    robust, robust_nn = measure("tiles", "robust-small", 400, "occlude-bottom", 0.5)
    assert robust >= 60 and robust >= 3 * max(plain.values()), (robust, plain)


def test_emoji_are_the_exception_under_a_black_half(measure):
    # Compare / How it works / README: kl-small keeps ~70 % on emoji under a black half, raw pixels 0 %
    kl, _ = measure("emoji", "kl-small", 1000, "occlude-bottom", 0.5)
    px, _ = measure("emoji", "pixels", 1000, "occlude-bottom", 0.5)
    assert 55 <= kl <= 85 and px <= 5, (kl, px)


def test_uhop_tabs_gain_holds_at_one_beta_and_at_calibrated_beta(res):
    # U-Hop tab text: on its default bank U-Hop's identity gain over the plain network holds both ways
    from hen_demo.ui import uhop_tab

    got = {}
    for mode in ("absolute", "relative"):
        frames = list(uhop_tab.run_uhop(res, "digits", "pixels", 100, "mask-random", 0.5, 60, 1.0, 2.0, 1.0, 8, 0, mode,
                                        delay=0, progress=None))
        table = next(f[2] for f in frames if isinstance(f[2], str))
        row = next(line for line in table.splitlines() if line.startswith("| identity accuracy"))
        plain, uhop = (float(v.strip(" *")) for v in row.split("|")[2:4])
        got[mode] = (plain, uhop)
        assert uhop >= plain + 0.25 and uhop > 0.45, (mode, plain, uhop)
        assert ("× calibrated" in table) and (("× each model's calibrated β" in table) == (mode == "relative"))
    assert got["absolute"][0] == pytest.approx(0.15, abs=0.03) and got["relative"][1] == pytest.approx(0.55, abs=0.03)


def test_a_typed_emoji_name_recalls_its_picture_in_text_to_image(res):
    # Text -> Image's default (emoji, N = 1,000, kl-small + MiniLM, calibrated beta): a typed name recalls its picture
    from hen_demo.ui import state, text2image

    d = text2image.DEFAULTS
    for name in ("open mailbox with lowered flag", "accordion", "violin", "red apple", "cat face"):
        frames = list(text2image.text_to_image.__wrapped__(
            res, text2image.DEFAULT_DATASET, state.default_encoder(), d["similarity"], "softmax", d["beta"], d["n"], 60,
            1e-6, name, state.default_text_encoder(), False, d["bind_index"], d["text_weight"], d["beta_mode"],
            progress=lambda *a, **k: None))
        verdict = frames[-1][5]
        assert "RETRIEVED" in verdict and "✓" in verdict and "✗" not in verdict, (name, verdict)
