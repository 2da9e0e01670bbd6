"""image_features as an Airflow user runs it: fresh AIRFLOW_HOME, no connections, `airflow dags test`."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from lakesight.image_features.sample_data import write_images_partition
from lakesight.lake import LocalFileSystem, list_partitions, read_manifest

pytestmark = [pytest.mark.airflow, pytest.mark.spark, pytest.mark.e2e, pytest.mark.slow]

REPO = Path(__file__).resolve().parents[2]


def test_airflow_dags_test_runs_image_features_with_embedded_defaults(settings, tmp_path):
    dt = "2026-04-05"
    write_images_partition(LocalFileSystem(), settings, dt, n=20, bad=9, seed=8)
    airflow = str(Path(sys.executable).with_name("airflow"))
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("AIRFLOW_CONN_", "AIRFLOW__", "PYSPARK_"))
    }
    env.update(
        AIRFLOW_HOME=str(tmp_path / "airflow"),
        AIRFLOW__CORE__DAGS_FOLDER=str(REPO / "dags"),
        AIRFLOW__CORE__PLUGINS_FOLDER=str(REPO / "plugins"),
        AIRFLOW__CORE__LOAD_EXAMPLES="False",
        LAKESIGHT_ROOT=settings.root,
        # What a user's shell has: the venv is not activated, so PATH lacks spark-submit.
        PATH="/usr/local/bin:/usr/bin:/bin",
    )
    subprocess.run(
        [airflow, "db", "migrate"], env=env, check=True, capture_output=True, timeout=300
    )
    run = subprocess.run(
        [airflow, "dags", "test", "image_features", dt],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    log = run.stdout + run.stderr
    assert run.returncode == 0, log[-4000:]
    assert "state=success" in log
    fs = LocalFileSystem()
    assert list_partitions(fs, settings.dataset_uri("curated", "images")) == [dt]
    manifest = read_manifest(fs, settings.partition_uri("curated", "images", dt))
    assert manifest.counts == {"in": 29, "out": 20, "quarantined": 9}
    assert manifest.extra["spark_master"] == "local[*]"
    analyzed = read_manifest(fs, settings.partition_uri("curated", "descriptors", dt))
    assert analyzed.stage == "image_features.analyze"
    assert analyzed.counts == {"in": 20, "out": 20, "quarantined": 0, "reused": 0, "computed": 20}
    features = read_manifest(fs, settings.partition_uri("features", "images", dt))
    assert features.counts == {"in": 20, "out": 20, "quarantined": 0, "pictured": 12}
    assert [m["name"] for m in features.models] == ["ssd_scenes@1", "deepbit_scenes@1"]
    pictures = settings.partition_uri("pictures", "image_features", dt)
    assert fs.read_bytes(pictures + "/detections.png").startswith(b"\x89PNG")
    assert read_manifest(fs, pictures).counts["out"] == 12
