"""
### example_images_consumer

What a downstream team's DAG looks like: no schedule of its own and no sensor. It runs once
for each day that image_features publishes to `features/images` (an Airflow Asset, partition
key `dt`), and again for that day only when a backfill republishes it.

**read_published_day** reads the day the event announces, as any consumer would (plain
pyarrow, no Spark), checks it against the event (rows = the manifest's `out`) and returns
what it read. Replace it with your own work; keep the check.

Paused on creation like every DAG: unpause it to follow `features/images`.
"""

from __future__ import annotations

from datetime import timedelta

import pendulum
from airflow.sdk import PartitionedAssetTimetable, dag, task

from lakesight_airflow.assets import contract_asset

FEATURES = contract_asset("features/images")
DEFAULTS = {"owner": "lakesight", "retries": 2, "retry_delay": timedelta(minutes=1),
            "execution_timeout": timedelta(minutes=30)}  # fmt: skip


@dag(
    schedule=PartitionedAssetTimetable(assets=FEATURES),
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    tags=["lakesight", "example"],
    default_args=DEFAULTS,
    doc_md=__doc__,
)
def example_images_consumer():
    @task
    def read_published_day(dag_run=None, triggering_asset_events=None) -> dict:
        from lakesight.lake import read_partition_arrow
        from lakesight_airflow.hooks import LakeFileSystemHook

        dt = dag_run.partition_key  # the day published: the events' partition key
        announced = [e.extra for e in triggering_asset_events[FEATURES] if e.extra["dt"] == dt]
        latest = announced[-1]  # a republished day has one event per publish
        table = read_partition_arrow(LakeFileSystemHook().get_filesystem(), latest["uri"])
        rows = table.num_rows if table is not None else 0
        if rows != latest["counts"]["out"]:
            raise ValueError(f"features/images dt={dt}: read {rows} rows, published {latest}")
        return {"dt": dt, "rows": rows, "events": len(announced), "run_id": latest["run_id"]}

    read_published_day()


example_images_consumer()
