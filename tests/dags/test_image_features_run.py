"""image_features as an Airflow user runs it: fresh AIRFLOW_HOME, no connections, `airflow dags test`."""

from __future__ import annotations

import pytest

from lakesight.image_features.sample_data import write_images_partition
from lakesight.lake import LocalFileSystem, read_manifest
from tests.support.airflow_cli import dags_test

pytestmark = [pytest.mark.airflow, pytest.mark.spark, pytest.mark.e2e, pytest.mark.slow]


def test_airflow_dags_test_runs_the_stream_catch_up_once(settings, tmp_path):
    """`--once` under an Airflow DAG run: spark-submit of the stream, Trigger.AvailableNow,
    the live batches committed, and a second run that finds nothing new commits nothing."""
    from lakesight.image_features import datasets
    from lakesight.image_features.live import committed_batches

    dt = "2026-04-06"
    fs = LocalFileSystem()
    write_images_partition(fs, settings, dt, n=6, bad=3, seed=9)
    log = dags_test(
        settings, tmp_path / "airflow", "image_features_stream", "2026-04-06T12:00:00+00:00"
    )
    assert "Announced 1 batches of features/images_live" in log
    (batch,) = committed_batches(fs, settings, dt)
    manifest = read_manifest(fs, batch)
    # 9 files: the empty one never reaches the file source (the daily run quarantines it).
    assert manifest.counts == {"in": 8, "out": 6, "quarantined": 2}
    assert manifest.extra["stream"]["batch_id"] == 0
    assert committed_batches(fs, settings, dt, datasets.QUARANTINED_LIVE)

    log = dags_test(
        settings, tmp_path / "airflow", "image_features_stream", "2026-04-06T12:05:00+00:00"
    )
    assert "No new batch of features/images_live" in log
    assert committed_batches(fs, settings, dt) == [batch]
