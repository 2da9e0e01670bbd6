"""
### image_features

JD.com's image pipeline on lakesight, one run per day `dt = {{ ds }}`:

1. **wait_for_images**: the raw partition `raw/images/dt={{ ds }}/` exists.
2. **ingest**: decode and validate every file; `curated/images/dt={{ ds }}` gets
   the accepted images, `quarantine/images/dt={{ ds }}` every rejected file with
   its reason. `in = out + quarantined` holds in the manifest.

3. **analyze**: detect → crop → describe in one Spark job: the shipped SSD
   over every image, the best detection padded (or the whole image), DeepBit
   codes and embeddings of the crop, into `curated/descriptors/dt={{ ds }}`.
   Images already analysed with the same models (on any day) are reused from
   the cache, so reruns and backfills only compute new bytes.
4. **publish**: the consumer contract, `features/images/dt={{ ds }}` with
   `_SUCCESS` and `_manifest.json`: what similarity search reads.

Every stage overwrites its own partition atomically, so reruns and backfills
are safe. Backfill from the UI's dialog (or `POST /api/v2/backfills`);
reprocessing completed dates republishes identical rows from the cache.
Unpausing also schedules the latest day (`catchup=False`), whose sensor waits
for its raw partition. Spark runs where the `spark_default` connection says, or on
`LAKESIGHT_SPARK_MASTER` (default `local[*]`) when there is none; storage is
`LAKESIGHT_ROOT`, reached through `webhdfs_default` when it is on HDFS.
"""

from __future__ import annotations

from datetime import timedelta

import pendulum
from airflow.sdk import chain, dag

from lakesight_airflow.operators import LakesightStageOperator
from lakesight_airflow.sensors import LakePartitionSensor


@dag(
    schedule="@daily",
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    tags=["lakesight", "image_features"],
    default_args={"owner": "lakesight", "retries": 2, "retry_delay": timedelta(minutes=5)},
    max_active_runs=4,
    doc_md=__doc__,
)
def image_features():
    wait_for_images = LakePartitionSensor(
        task_id="wait_for_images",
        dataset="raw/images",
        dt="{{ ds }}",
        mode="reschedule",  # free the worker slot between pokes
        poke_interval=timedelta(minutes=5),
        timeout=timedelta(hours=12),
    )
    stages = [
        LakesightStageOperator(task_id=stage, stage=stage, dt="{{ ds }}")
        for stage in ("ingest", "analyze", "publish")
    ]
    chain(wait_for_images, *stages)


image_features()
