"""Atomic writes: a failing writer leaves the old file intact and no temporary files behind."""

import pytest

from hen_demo.atomic import atomic_write, atomic_write_text


def test_success_replaces_content_and_keeps_suffix(tmp_path):
    seen = []
    target = tmp_path / "sub" / "plot.png"
    atomic_write(target, lambda tmp: (seen.append(tmp), open(tmp, "wb").write(b"new")))
    assert target.read_bytes() == b"new"
    assert seen[0].endswith(".png")  # writers that infer the format from the suffix still work
    assert sorted(p.name for p in target.parent.iterdir()) == ["plot.png"]


def test_failing_writer_leaves_old_file_and_no_temporaries(tmp_path):
    target = tmp_path / "bank.json"
    atomic_write_text(target, "old")

    def broken(tmp):
        with open(tmp, "w") as f:
            f.write("half")
        raise KeyboardInterrupt  # an interrupted build

    with pytest.raises(KeyboardInterrupt):
        atomic_write(target, broken)
    assert target.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["bank.json"]
