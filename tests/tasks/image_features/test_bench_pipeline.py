"""`lakesight bench pipeline` on a handful of images: every figure measured, none made up."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = [pytest.mark.spark, pytest.mark.slow]


def test_bench_pipeline_measures_pipeline_bare_and_peer(tmp_path):
    lakesight = str(Path(sys.executable).with_name("lakesight"))
    result = subprocess.run(
        [lakesight, "bench", "pipeline", "--images", "24", "--repeats", "1", "--json",
         "--workdir", str(tmp_path)],
        env={**os.environ, "LAKESIGHT_SPARK_LOG_LEVEL": "ERROR"},
        capture_output=True,
        text=True,
        timeout=900,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    figures = json.loads(result.stdout.strip().splitlines()[-1])
    assert figures["images"] == 24
    for key in ("pipeline_ips", "bare_ips", "peer_ips"):
        assert figures[key] > 0, key
    assert "staged_ips" not in figures  # the staged path is gone
    # The ratios are the ratios of the measured speeds, not separate numbers.
    assert figures["pipeline_vs_bare"] == pytest.approx(
        figures["pipeline_ips"] / figures["bare_ips"], rel=0.02
    )
    assert figures["pipeline_vs_peer"] == pytest.approx(
        figures["pipeline_ips"] / figures["peer_ips"], rel=0.02
    )
    parts = figures["breakdown"]["bare_ms_per_image"]
    assert set(parts) == {"read", "decode", "detect", "crop", "describe"}
    assert all(v > 0 for v in parts.values())
    # The pipeline passes really ran the stage: its output and its cache are in the work dir.
    assert (tmp_path / "lake" / "curated" / "descriptors" / "dt=2026-03-01" / "_SUCCESS").exists()
    assert any((tmp_path / "lake" / "cache" / "image_features").glob("key=*/run=*/_SUCCESS"))
