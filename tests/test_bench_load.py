"""``bench --load`` smoke test: the app launched on 127.0.0.1, two gradio_client users, zero errors (not timed)."""

import json
import subprocess
import sys

import pytest

from hen_demo import bench_load


@pytest.mark.slow
def test_load_smoke_two_clients_no_errors():
    r = bench_load.run_load(clients=2, seconds=3, settle=0.5, startup_timeout=300, env={"HEN_TABS": "Explore"},
                            log=lambda *a: None)
    assert r["errors"] == 0, r["error_examples"]
    assert r["completed"] >= 2 and r["p50_s"] is not None and r["p95_s"] >= r["p50_s"]
    assert r["rss_warm_mb"] > 0 and r["rss_peak_mb"] >= r["rss_warm_mb"] and r["rss_after_mb"] > 0


def test_load_options_are_checked():
    with pytest.raises(ValueError, match="--clients must be at least 1"):
        bench_load.run_load(clients=0, seconds=1)


def test_cli_parses_load_options():
    out = subprocess.run([sys.executable, "-m", "hen_demo", "bench", "--help"], capture_output=True, text=True,
                         timeout=120)
    assert out.returncode == 0 and "--load" in out.stdout and "--clients" in out.stdout


def test_percentiles_and_format():
    assert bench_load._percentile([1, 2, 3, 4], 0.5) == 2.5 and bench_load._percentile([], 0.5) is None
    r = {"clients": 2, "seconds": 3, "completed": 5, "errors": 0, "requests_per_s": 1.6, "p50_s": 0.4,
         "p95_s": 0.9, "rss_warm_mb": 600, "rss_peak_mb": 650, "rss_after_mb": 610, "settle_s": 1,
         "rss_after_over_warm": 1.02, "cpu_count": 2, "load_average_before": 1.0, "error_examples": []}
    text = bench_load.format_result(r)
    assert "1.6 requests/s" in text and "peak 650 MB" in text
    json.dumps(r)
