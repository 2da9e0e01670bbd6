"""
### image_features

JD.com's image pipeline, one run per day D once it has ended (stages: `tasks/image_features/`):

1. **wait_for_images**: `raw/images/dt=D/` is whole (the producer's `_SUCCESS`, or quiet).
2. **ingest**: files validated by content; rejects to `quarantine/images` with a reason.
3. **analyze**: detector → best crop → descriptor into `curated/descriptors`, cached by bytes.
4. **publish**: the consumer contract `features/images` (v1.1) and its pictures.

Params `detector`, `descriptor` (`NAME[@V]`; empty: `LAKESIGHT_DETECTOR`/`_DESCRIPTOR`) pick
analyze's models: a backfill (UI or `POST /api/v2/backfills`) can rerun days with another.
Stages overwrite their partition atomically; Spark runs where `spark_default` says.
"""

from __future__ import annotations

from datetime import timedelta

import pendulum
from airflow.sdk import Param, chain, dag
from airflow.timetables.interval import CronDataIntervalTimetable

from lakesight_airflow.operators import LakesightStageOperator
from lakesight_airflow.sensors import DAY, LakePartitionSensor

MODEL_REF = r"^[a-z][a-z0-9_]*(@[1-9][0-9]*)?$"  # NAME[@V], as lakesight.config.model_ref
MODEL_PARAMS = {
    n: Param(None, type=["null", "string"], pattern=MODEL_REF) for n in ("detector", "descriptor")
}


@dag(
    # A run per day D, made once D has ended (at D+1 00:00 UTC), for dt=D.
    schedule=CronDataIntervalTimetable("0 0 * * *", timezone="UTC"),
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,  # unpausing schedules the latest day only; backfills cover the past
    tags=["lakesight", "image_features"],
    default_args={"owner": "lakesight", "retries": 2, "retry_delay": timedelta(minutes=5)},
    max_active_runs=4,
    params=MODEL_PARAMS,
    doc_md=__doc__,
)
def image_features():
    wait_for_images = LakePartitionSensor(
        task_id="wait_for_images", dataset="raw/images", dt=DAY,
        mode="reschedule",  # free the worker slot between pokes
        poke_interval=timedelta(minutes=5), timeout=timedelta(hours=12),
    )  # fmt: skip
    models = {"--detector": "{{ params.detector or '' }}",
              "--descriptor": "{{ params.descriptor or '' }}"}  # fmt: skip
    stages = [
        LakesightStageOperator(task_id=name, stage=f"image_features.{name}", dt=DAY,
                               stage_options=models if name == "analyze" else None)
        for name in ("ingest", "analyze", "publish")
    ]  # fmt: skip
    chain(wait_for_images, *stages)


image_features()
