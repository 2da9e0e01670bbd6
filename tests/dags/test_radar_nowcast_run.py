"""radar_nowcast's two DAGs as an Airflow user runs them: `airflow dags test`, no connections."""

from __future__ import annotations

import shutil

import pytest

from lakesight.lake import LocalFileSystem, read_manifest
from lakesight.progress import Steps
from lakesight.radar_nowcast import datasets, ingest
from lakesight.radar_nowcast.sample_data import write_sample_radar
from tests.support.airflow_cli import REPO, dags_test

pytestmark = [pytest.mark.airflow, pytest.mark.spark, pytest.mark.e2e, pytest.mark.slow]


def test_the_half_hourly_dag_processes_its_data_interval(settings, tmp_path):
    dt = "2026-05-21"
    write_sample_radar(LocalFileSystem(), settings, dt, size=64, end=120, bad=2)
    dags_test(settings, tmp_path / "airflow", "radar_nowcast", f"{dt}T01:00:00+00:00")
    fs = LocalFileSystem()
    # The run of 01:00 covers the half hour before it: [00:30, 01:00).
    frames = read_manifest(fs, datasets.FRAMES.partition(settings, dt))
    # Ingest reads the day up to the interval's end: 10 frames and the truncated 0018.PNG.
    assert frames.counts == {"in": 11, "out": 10, "quarantined": 1}
    assert frames.extra["interval"] == {"start": "00:00", "end": "01:00"}
    issued = read_manifest(fs, datasets.FORECASTS.partition(settings, dt))
    assert issued.extra["interval"] == {"start": "00:30", "end": "01:00"}
    assert issued.counts["in"] == issued.counts["out"] == 5  # 00:30 .. 00:54
    verified = read_manifest(fs, datasets.SCORES.partition(settings, dt))
    # The hour before the interval starts the day before: clipped to the day.
    assert verified.extra["interval"] == {"start": "00:00", "end": "01:00"}
    # Valid by 00:54, the last frame: issued at 00:30 + 6..24, 00:36 + 6..18, ...
    assert verified.counts["out"] == 3 * (4 + 3 + 2 + 1)
    assert verified.counts["in"] == verified.counts["out"] + verified.counts["quarantined"]


def test_the_weekly_dag_retrains_and_records_its_decision(spark, settings, tmp_path):
    fs = LocalFileSystem()
    for dt in ("2026-05-18", "2026-05-19"):
        write_sample_radar(fs, settings, dt, size=64, end=240)
        ingest.run(spark, settings, dt, steps=Steps("ingest", quiet=True))
    registry = tmp_path / "registry"
    shutil.copytree(REPO / "models" / "registry" / "convlstm_radar", registry / "convlstm_radar")
    dags_test(
        settings,
        tmp_path,
        "radar_nowcast_train",
        "2026-05-20",
        conf={"steps": 2, "weeks": 1, "model": "convlstm_radar"},
        LAKESIGHT_MODEL_REGISTRY=registry.as_uri(),
    )
    manifest = read_manifest(fs, datasets.TRAINING.partition(settings, "2026-05-20"))
    decision = manifest.extra["decision"]
    assert manifest.extra["days"] == ["2026-05-18", "2026-05-19"]
    assert decision["current_model"] == "convlstm_radar@1"
    assert decision["rule"].startswith("promote if validation MSE (mean over leads) is lower and")
    assert decision["candidate"]["mse"] is not None and decision["current"]["mse"] is not None
    # Two steps of training never beat the shipped model: it stays, and nothing is added.
    assert (
        decision["promoted"] is False and decision["candidate"]["mse"] > decision["current"]["mse"]
    )
    assert sorted(p.name for p in (registry / "convlstm_radar").iterdir()) == ["1"]
    assert manifest.counts["validation"] > 0 and manifest.counts["training"] > 0
