"""
### listing_recs

Recommendations for each user, one run per day D once it has ended (`tasks/listing_recs/`):

1. **wait_for_interactions**: `raw/interactions/dt=D/` is whole (the producer's marker, or
   a quiet period with nothing in flight).
2. **wait_for_listings**: house_similarity has published `features/listings/dt=D` (its
   `_SUCCESS`): the day's listings are known and have their photos' features.
3. **ingest**: every row judged into `curated/interactions`; rejected rows, with their
   reasons, into `quarantine/interactions`.
4. **train**: weekly, or when the interactions grew, retrain the recommender and promote
   it only if it ranks held-out interactions better; the decision is in the manifest.
5. **recommend**: each user's top listings into `features/recommendations` (`cf` for
   listings the recommender knows, `visual` for new ones, `popular` to fill).

Each stage overwrites its own partition atomically: reruns and backfills are safe.
"""

from __future__ import annotations

from datetime import timedelta

import pendulum
from airflow.sdk import chain, dag
from airflow.timetables.interval import CronDataIntervalTimetable

from lakesight_airflow.operators import LakesightStageOperator
from lakesight_airflow.sensors import DAY, LakePartitionSensor


@dag(
    # A run per day D, made once D has ended (at D+1 00:00 UTC), for dt=D.
    schedule=CronDataIntervalTimetable("0 0 * * *", timezone="UTC"),
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,  # unpausing schedules the latest day only; backfills cover the past
    tags=["lakesight", "listing_recs"],
    default_args={"owner": "lakesight", "retries": 2, "retry_delay": timedelta(minutes=5)},
    max_active_runs=1,  # train may promote a recommender the next day's recommend uses
    doc_md=__doc__,
)
def listing_recs():
    waits = [
        LakePartitionSensor(task_id="wait_for_interactions", dataset="raw/interactions", dt=DAY,
                            mode="reschedule", poke_interval=timedelta(minutes=5),
                            timeout=timedelta(hours=12)),
        LakePartitionSensor(task_id="wait_for_listings", dataset="features/listings", dt=DAY,
                            require_success=True, mode="reschedule",
                            poke_interval=timedelta(minutes=5), timeout=timedelta(hours=18)),
    ]  # fmt: skip
    stages = [
        LakesightStageOperator(task_id=stage, stage=f"listing_recs.{stage}", dt=DAY)
        for stage in ("ingest", "train", "recommend")
    ]
    chain(waits, *stages)


listing_recs()
