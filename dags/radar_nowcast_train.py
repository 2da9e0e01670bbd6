"""
### radar_nowcast_train

Weekly retraining of the nowcaster (`tasks/radar_nowcast/train.py`): the past `weeks` of
`curated/radar_frames` become windows in Spark, the nowcaster retrains under
TorchDistributor, and the candidate replaces the current model only if it beats it on the
held-out latest day. The decision and both scores are in the manifest of
`curated/radar_training/dt={{ ds }}`. Params: `weeks`, `steps` (optimiser steps; default
the shipped model's), `processes` (TorchDistributor processes), `model` (the registered
nowcaster to retrain; default the forecast stage's), `promote_on` (`both`: lower MSE and
no lower CSI at 2 and 5 mm/h; `mse` or `csi` alone).
"""

from __future__ import annotations

from datetime import timedelta

import pendulum
from airflow.sdk import Param, dag

from lakesight_airflow.operators import LakesightStageOperator


@dag(
    # A trigger timetable on purpose: the run at Sunday 00:00 has ds = that Sunday, and
    # train reads only the days before ds, all ended (tests/dags/test_schedules.py).
    schedule="@weekly",
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    max_active_runs=1,
    tags=["lakesight", "radar_nowcast"],
    default_args={"owner": "lakesight", "retries": 1, "retry_delay": timedelta(minutes=10)},
    params={
        "weeks": Param(2, type="integer", minimum=1),
        "steps": Param(None, type=["null", "integer"]),
        "processes": Param(1, type="integer", minimum=1),
        "model": Param(None, type=["null", "string"]),
        "promote_on": Param("both", enum=["both", "mse", "csi"]),
    },
    doc_md=__doc__,
)
def radar_nowcast_train():
    LakesightStageOperator(
        task_id="train",
        stage="radar_nowcast.train",
        dt="{{ ds }}",
        stage_options={
            "--weeks": "{{ params.weeks }}",
            "--steps": "{{ params.steps or '' }}",
            "--processes": "{{ params.processes }}",
            "--model": "{{ params.model or '' }}",
            "--promote-on": "{{ params.promote_on }}",
        },
    )


radar_nowcast_train()
