"""`lakesight eval houses` and `lakesight bench houses`, small: every figure is there and sane."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = [pytest.mark.spark, pytest.mark.e2e, pytest.mark.slow]
LAKESIGHT = str(Path(sys.executable).with_name("lakesight"))


def run_json(*args: str, tmp_path: Path) -> dict:
    result = subprocess.run(
        [LAKESIGHT, *args, "--json"], capture_output=True, text=True, timeout=900,
        env={**os.environ, "LAKESIGHT_ROOT": (tmp_path / "lake").as_uri()},
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads(result.stdout)  # stdout is the JSON object alone


def test_eval_houses_reports_every_head_transfer_scratch_and_precision(tmp_path):
    # Smoke-sized: the fine-tuned heads compared take 10 steps, not the shipped schedule.
    d = run_json("eval", "houses", "--per-class", "10", "--sizes", "4", "--listings", "20",
                 "--tune-steps", "10", tmp_path=tmp_path)  # fmt: skip
    heads = {"exterior", "style", "stories"}
    assert set(d["accuracy"]) == heads and set(d["transfer_accuracy"]["4"]) == heads
    assert set(d["scratch_accuracy"]["4"]) == heads
    # The shipped heads tag held-out photos far above chance (1/2, 1/4, 1/3).
    assert d["accuracy"]["exterior"] > 0.8 and d["accuracy"]["style"] > 0.6
    assert d["accuracy"]["stories"] > 0.5
    assert 0.0 <= d["precision_at_10"] <= 1.0 and d["eval_seed"] == 2027
    assert d["tune_steps"] == 10


def test_bench_houses_compares_spark_with_a_bare_loop_and_times_queries(tmp_path):
    d = run_json("bench", "houses", "--listings", "6", "--repeats", "1",
                 "--workdir", str(tmp_path / "bench"), tmp_path=tmp_path)  # fmt: skip
    assert d["photos"] > 0 and d["embed_spark_pps"] > 0 and d["embed_bare_pps"] > 0
    assert d["embed_vs_bare"] == pytest.approx(d["embed_spark_pps"] / d["embed_bare_pps"], rel=0.01)
    # publish: the stage and the one-process loop tagged every photo the embed stage kept.
    assert d["publish_photos"] == d["photos"]
    assert d["publish_vs_bare"] == pytest.approx(
        d["publish_stage_pps"] / d["publish_bare_pps"], rel=0.01
    )
    assert set(d["publish_breakdown_s"]) == {"tag_and_publish_s", "write_and_commit_s"}
    assert set(d["publish_bare_breakdown_s"]) == {"read_s", "tag_s", "write_s"}
    assert d["query_listings"] == 10_000 and 0 < d["query_p50_ms"] <= d["query_p99_ms"]
    assert d["spark_master"] == "local[2]"
