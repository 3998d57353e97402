"""Result sections remember the shipped weights they used; the report marks them stale when those change."""

import json

import pandas as pd
import pytest

from hen_demo.experiments.base import (
    ExperimentResult,
    encoders_of,
    file_sha256,
    shipped_weight_files,
    weight_fingerprints,
    write_outputs,
)
from hen_demo.experiments.report import build_report, section_freshness, stale_sections


def _result(name="beta-sweep", encoders=("kl-small", "pixels")):
    table = pd.DataFrame({"encoder": list(encoders), "identity_accuracy": [0.5] * len(encoders)})
    return ExperimentResult(name=name, title=f"Title {name}", table=table, figure=None, mpl_figure=None,
                            findings="f", paper="p", stand_ins=[], config={"encoders": None, "size": "tiny"})


def test_committed_results_are_not_stale():
    """Fails when a committed results/ section recorded shipped weights that have changed since (rerun it).
    Sections written before fingerprints were recorded are 'unknown' and listed by the report, not failed."""
    assert stale_sections("results") == []


def test_write_outputs_records_the_fingerprints_of_the_weights_used(tmp_path):
    files = shipped_weight_files()
    if "kl-small" not in files:
        pytest.skip("kl-small weights are not shipped here")
    paths = write_outputs(_result(), tmp_path / "beta-sweep")
    meta = json.loads(paths["meta"].read_text())
    assert meta["weight_fingerprints"] == {"kl-small": file_sha256(files["kl-small"])}  # pixels ship no weights
    assert section_freshness(tmp_path)["beta-sweep"].status == "current"
    assert "vq-small" in encoders_of(_result(encoders=("vq-small",)))


def test_a_constructed_stale_section_is_detected_and_marked(tmp_path):
    if "kl-small" not in shipped_weight_files():
        pytest.skip("kl-small weights are not shipped here")
    write_outputs(_result("beta-sweep"), tmp_path / "beta-sweep")
    write_outputs(_result("scale-out"), tmp_path / "scale-out")
    write_outputs(_result("speed", encoders=("pixels",)), tmp_path / "speed")
    meta_path = tmp_path / "beta-sweep" / "meta.json"
    meta = json.loads(meta_path.read_text())
    meta["weight_fingerprints"]["kl-small"] = "0" * 64  # as if kl-small was retrained after this run
    meta_path.write_text(json.dumps(meta))
    old = tmp_path / "scale-out" / "meta.json"  # written before fingerprints existed
    m = json.loads(old.read_text())
    del m["weight_fingerprints"]
    old.write_text(json.dumps(m))
    assert stale_sections(tmp_path) == ["beta-sweep"]
    fresh = section_freshness(tmp_path)
    assert fresh["beta-sweep"].changed == ["kl-small"]
    assert fresh["scale-out"].status == "unknown" and fresh["speed"].status == "no-weights"
    text = build_report(tmp_path)
    assert "> **Stale:** the shipped weights of kl-small changed" in text
    assert "**stale** (kl-small weights changed since)" in text and "unknown (no fingerprints recorded)" in text
    assert text.count("> **Stale:**") == 1


def test_weight_fingerprints_ignore_names_without_shipped_weights():
    assert weight_fingerprints(["pixels", "no-such-encoder"]) == {}
