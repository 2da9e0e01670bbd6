"""Ingest through spark-submit on local-cluster[2,1,1024]: two executor JVMs, real process boundaries."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from lakesight.image_features.sample_data import write_images_partition
from lakesight.lake import LocalFileSystem, read_manifest
from lakesight.spark import code_archive
from lakesight.stage import stage_application

pytestmark = [pytest.mark.spark, pytest.mark.distributed, pytest.mark.slow]


def test_ingest_on_local_cluster_via_spark_submit(settings, tmp_path):
    write_images_partition(LocalFileSystem(), settings, "2026-05-06", n=24, bad=9, seed=4)
    spark_submit = Path(sys.executable).with_name("spark-submit")
    env = {
        **os.environ,
        "PYSPARK_PYTHON": sys.executable,
        "LAKESIGHT_SPARK_LOG_LEVEL": "WARN",
    }
    # Run from an empty directory: the executors must get the code from --py-files
    # (or the installed package), never from the driver's working directory.
    result = subprocess.run(
        [
            str(spark_submit),
            "--master",
            "local-cluster[2,1,1024]",
            "--conf",
            "spark.ui.enabled=false",
            "--conf",
            "spark.executor.memory=768m",
            "--py-files",
            code_archive(),
            stage_application("image_features.ingest"),
            "--dt",
            "2026-05-06",
            "--json",
        ],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    summary = json.loads(result.stdout.strip().splitlines()[-1])
    assert summary["counts"] == {"in": 33, "out": 24, "quarantined": 9}
    manifest = read_manifest(
        LocalFileSystem(), settings.partition_uri("curated", "images", "2026-05-06")
    )
    assert manifest.counts == {"in": 33, "out": 24, "quarantined": 9}
    assert manifest.extra["executors"] == 2
