"""``lakesight bench scale``: its pure helpers, and its machinery end to end at tiny sizes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from lakesight.image_features.scale_bench import proc_status_kb, summarise


def _run(images: int, cost: float, py: float, heap: float) -> dict:
    return {
        "images": images,
        "cost_per_image_s": cost,
        "driver_python_peak_mb": py,
        "driver_jvm_heap_mb": heap,
    }


@pytest.mark.unit
def test_summarise_ratios_are_largest_over_smallest_whatever_the_order():
    out = summarise([_run(8000, 0.011, 330.0, 90.0), _run(2000, 0.010, 300.0, 100.0)])
    assert [r["images"] for r in out["sizes"]] == [2000, 8000]
    assert out["ratios_largest_vs_smallest"] == {
        "cost_per_image": 1.1,
        "driver_python_peak": 1.1,
        "driver_jvm_heap": 0.9,
    }
    assert out["within_10pct"] is True


@pytest.mark.unit
def test_summarise_one_growing_peak_breaks_the_goal():
    out = summarise([_run(2000, 0.010, 300.0, 100.0), _run(32000, 0.010, 300.0, 140.0)])
    assert out["ratios_largest_vs_smallest"]["driver_jvm_heap"] == 1.4
    assert out["within_10pct"] is False


@pytest.mark.unit
def test_proc_status_reads_this_process_peak_and_nothing_for_a_missing_field():
    hwm = proc_status_kb("VmHWM")
    assert hwm >= proc_status_kb("VmRSS") > 0
    assert proc_status_kb("NoSuchField") == 0
    assert proc_status_kb("VmHWM", pid=2**30) == 0


@pytest.mark.unit
def test_sizes_option_rejects_a_single_size_in_one_line():
    from lakesight.cli import main

    with pytest.raises(SystemExit) as exit_:
        main(["bench", "scale", "--sizes", "2000", "--json"])
    assert exit_.value.code == 2


@pytest.mark.spark
@pytest.mark.slow
def test_bench_scale_at_tiny_sizes_reports_consistent_positive_numbers(tmp_path: Path):
    env = dict(os.environ)
    env.pop("LAKESIGHT_ROOT", None)
    done = subprocess.run(
        [str(Path(sys.executable).parent / "lakesight"), "bench", "scale", "--json",
         "--sizes", "40,80", "--workdir", str(tmp_path), "--master", "local[2]"],
        capture_output=True, text=True, env=env, timeout=900,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    lines = done.stdout.strip().splitlines()
    assert len(lines) == 1, done.stdout  # --json: the JSON line only, the JVM's talk on stderr
    out = json.loads(lines[0])
    assert out["spark_master"] == "local[2]"
    assert [r["images"] for r in out["sizes"]] == [40, 80]
    for r in out["sizes"]:
        assert r["curated_rows"] == r["images"]
        assert set(r["stage_s"]) == {"ingest", "analyze", "publish"}
        assert all(v > 0 for v in r["stage_s"].values())
        assert r["stages_s"] == pytest.approx(sum(r["stage_s"].values()), abs=0.01)
        assert r["cost_per_image_s"] == pytest.approx(r["stages_s"] / r["images"], rel=1e-3)
        assert r["driver_python_peak_mb"] > 0
        assert r["driver_jvm_heap_mb"] >= r["driver_jvm_heap_baseline_mb"] > 0
        assert r["driver_jvm_rss_peak_mb"] > 0
    small, large = out["sizes"]
    ratios = out["ratios_largest_vs_smallest"]
    assert ratios["cost_per_image"] == pytest.approx(
        large["cost_per_image_s"] / small["cost_per_image_s"], rel=1e-2
    )
    assert ratios["driver_jvm_heap"] == pytest.approx(
        large["driver_jvm_heap_mb"] / small["driver_jvm_heap_mb"], rel=1e-2
    )
    assert out["within_10pct"] == all(v <= out["tolerance"] for v in ratios.values())
    # The scenes are generated once and reused: the pool holds the largest size.
    assert (tmp_path / "pool" / "ready-80").exists()
