"""
### house_similarity

MLSListings' listing photos, one run per day D once it has ended (`tasks/house_similarity/`):

1. **wait_for_listings**: `raw/listings/dt=D/` holds `listings.csv` and is whole.
2. **ingest**: every CSV row and every photo judged; `curated/listings` gets the listings
   with their photos, `quarantine/listings` every rejected record with its reason.
3. **embed**: each new photo through the frozen backbone (`places_backbone`); embeddings
   of photos seen before (any day, same backbone) come from the cache.
4. **train**: when the day's `labels.csv` changed, retrain the tag heads, each as its
   current kind (Spark ML, or fine-tuning under TorchDistributor), and promote them only
   if they beat the current ones on held-out labels (the decision is in the manifest).
5. **publish**: every photo tagged (exterior, style, stories) into `features/listings`.

Param `tune_steps`: optimiser steps of each fine-tuned head (default the shipped heads').
Each stage overwrites its own partition atomically: reruns and backfills are safe.
"""

from __future__ import annotations

from datetime import timedelta

import pendulum
from airflow.sdk import Param, chain, dag
from airflow.timetables.interval import CronDataIntervalTimetable

from lakesight_airflow.operators import LakesightStageOperator
from lakesight_airflow.sensors import DAY, LakePartitionSensor


@dag(
    # A run per day D, made once D has ended (at D+1 00:00 UTC), for dt=D.
    schedule=CronDataIntervalTimetable("0 0 * * *", timezone="UTC"),
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,  # unpausing schedules the latest day only; backfills cover the past
    tags=["lakesight", "house_similarity"],
    default_args={"owner": "lakesight", "retries": 2, "retry_delay": timedelta(minutes=5)},
    max_active_runs=1,  # train may promote new heads: one day at a time
    params={"tune_steps": Param(None, type=["null", "integer"], minimum=1)},
    doc_md=__doc__,
)
def house_similarity():
    wait_for_listings = LakePartitionSensor(
        task_id="wait_for_listings", dataset="raw/listings", dt=DAY, required_file="listings.csv",
        mode="reschedule", poke_interval=timedelta(minutes=5), timeout=timedelta(hours=12),
    )  # fmt: skip
    # An unset param renders empty, and the stage then takes its default.
    options = {"train": {"--tune-steps": "{{ params.tune_steps or '' }}"}}
    stages = [
        LakesightStageOperator(
            task_id=s, stage=f"house_similarity.{s}", dt=DAY, stage_options=options.get(s)
        )
        for s in ("ingest", "embed", "train", "publish")
    ]
    chain(wait_for_listings, *stages)


house_similarity()
