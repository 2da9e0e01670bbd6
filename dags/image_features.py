"""
### image_features

JD.com's image pipeline, one run per day D once it has ended (stages: `tasks/image_features/`):

1. **wait_for_images**: `raw/images/dt=D/` is whole (the producer's `_SUCCESS`, or quiet).
2. **ingest**: every file validated by its content; `curated/images` gets the images,
   `quarantine/images` every rejected file with its reason (`in = out + quarantined`).
3. **analyze**: SSD → best crop → DeepBit in one Spark job into `curated/descriptors`;
   analyses of bytes seen before (any day, same models) are reused from the cache.
4. **publish**: the consumer contract `features/images` (v1.1) and its pictures.

Params `detector` and `descriptor` (`NAME[@V]` in the model registry; empty: the
`LAKESIGHT_DETECTOR` / `LAKESIGHT_DESCRIPTOR` settings) choose the models analyze runs, so a
backfill from the UI can rerun days with another model: the cache key follows the models,
so only the analysis is recomputed.

Each stage overwrites its own partition atomically: reruns and backfills (UI dialog or
`POST /api/v2/backfills`) are safe and republish identical rows from the cache. Spark runs
where `spark_default` says (else `LAKESIGHT_SPARK_MASTER`); storage is `LAKESIGHT_ROOT`.
"""

from __future__ import annotations

from datetime import timedelta

import pendulum
from airflow.sdk import Param, chain, dag
from airflow.timetables.interval import CronDataIntervalTimetable

from lakesight_airflow.operators import LakesightStageOperator
from lakesight_airflow.sensors import DAY, LakePartitionSensor

MODEL_REF = r"^[a-z][a-z0-9_]*(@[1-9][0-9]*)?$"  # NAME[@V], as lakesight.config.model_ref


@dag(
    # A run per day D, made once D has ended (at D+1 00:00 UTC), for dt=D.
    schedule=CronDataIntervalTimetable("0 0 * * *", timezone="UTC"),
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,  # unpausing schedules the latest day only; backfills cover the past
    tags=["lakesight", "image_features"],
    default_args={"owner": "lakesight", "retries": 2, "retry_delay": timedelta(minutes=5)},
    max_active_runs=4,
    params={
        "detector": Param(None, type=["null", "string"], pattern=MODEL_REF),
        "descriptor": Param(None, type=["null", "string"], pattern=MODEL_REF),
    },
    doc_md=__doc__,
)
def image_features():
    wait_for_images = LakePartitionSensor(
        task_id="wait_for_images",
        dataset="raw/images",
        dt=DAY,
        mode="reschedule",  # free the worker slot between pokes
        poke_interval=timedelta(minutes=5),
        timeout=timedelta(hours=12),
    )
    models = {"--detector": "{{ params.detector or '' }}",
              "--descriptor": "{{ params.descriptor or '' }}"}  # fmt: skip
    stages = [
        LakesightStageOperator(
            task_id=stage,
            stage=f"image_features.{stage}",
            dt=DAY,
            stage_options=models if stage == "analyze" else None,
        )
        for stage in ("ingest", "analyze", "publish")
    ]
    chain(wait_for_images, *stages)


image_features()
