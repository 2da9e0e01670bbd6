"""
### image_features_stream

The streaming path's catch-up (`tasks/image_features/stream.py`): every 5 minutes,
`lakesight stream image_features --once` publishes the images that arrived under
`raw/images/dt=*/` since its checkpoint into `features/images_live/dt=D/batch=B`
(`Trigger.AvailableNow`), then stops. Use it where a long-running stream
(`lakesight stream image_features`, the compose `stream` service) is not wanted.

Exactly once across runs: the checkpoint in the lake says which files were taken, and
a batch replayed after a crash is skipped or redone in place. The daily `image_features`
run seals each day and retires its live batches. The task's outlet is the Asset
`features/images_live`: one event per run that committed batches, never one per image.
"""

from __future__ import annotations

from datetime import timedelta

import pendulum
from airflow.sdk import dag
from airflow.timetables.trigger import CronTriggerTimetable

from lakesight_airflow.operators import LakesightStreamOperator


@dag(
    # A trigger timetable: a catch-up reads no interval, it takes what has arrived.
    schedule=CronTriggerTimetable("*/5 * * * *", timezone="UTC"),
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    max_active_runs=1,  # one query per checkpoint at a time
    tags=["lakesight", "image_features", "stream"],
    default_args={"owner": "lakesight", "retries": 2, "retry_delay": timedelta(minutes=1)},
    doc_md=__doc__,
)
def image_features_stream():
    LakesightStreamOperator(task_id="catch_up", pipeline="image_features",
                            execution_timeout=timedelta(minutes=30))  # fmt: skip


image_features_stream()
