"""``bench --load --heavy`` (hen_demo.bench_heavy): options checked, the verdict read from the p95 ratio."""

import pytest

from hen_demo import bench_heavy


def test_options_are_checked():
    with pytest.raises(ValueError, match="--clients must be at least 1"):
        bench_heavy.run_heavy(clients=0, seconds=1)


def test_verdict():
    assert bench_heavy.verdict(1.0, 2.9) == (2.9, True)
    assert bench_heavy.verdict(1.0, 3.1) == (3.1, False)
    assert bench_heavy.verdict(None, 2.0) == (None, False) and bench_heavy.verdict(1.0, None) == (None, False)


@pytest.mark.parametrize("heavy_p95", [2.9, 3.1])
def test_format_says_whether_it_is_fair(heavy_p95):
    ratio, fair = bench_heavy.verdict(1.0, heavy_p95)
    r = {"clients": 1, "seconds": 40, "idle_completed": 50, "idle_p50_s": 0.6, "idle_p95_s": 1.0,
         "heavy_completed": 40, "heavy_p50_s": 0.8, "heavy_p95_s": heavy_p95, "heavy_max_s": 4.0,
         "p95_ratio": ratio, "fair": fair, "heavy_jobs_completed": 2,
         "heavy_job_mean_s": 20.0, "cpu_count": 2, "load_average_before": 1.0, "error_examples": []}
    text = bench_heavy.format_heavy(r)
    assert f"p95 ratio {ratio}" in text and ("-> fair" in text) == fair and ("NOT fair" in text) == (not fair)
