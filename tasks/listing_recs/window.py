"""The days a listing_recs stage reads: the committed days of a window up to ``D``, and
the user-listing pairs of its events (the train stage's and the evaluation's)."""

from __future__ import annotations

from datetime import date, timedelta
from typing import TYPE_CHECKING

import pandas as pd

from lakesight.config import Settings
from lakesight.listing_recs import datasets

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession


def window_days(spark: SparkSession, fs, dataset, settings: Settings, dt: str, days: int,
                schema: str) -> DataFrame:  # fmt: skip
    """Rows of ``dataset``'s committed days in the ``days`` up to ``dt``, read with
    ``schema`` (so a window of empty days is an empty frame), with their ``dt``."""
    import functools

    from pyspark.sql import functions as F

    from lakesight.lake import (
        hadoop_location,
        join,
        list_partitions,
        partition_name,
        resolve_partition,
    )

    first = (date.fromisoformat(dt) - timedelta(days=days - 1)).isoformat()
    base = dataset.uri(settings)
    parts = [
        spark.read.schema(schema)
        .parquet(hadoop_location(resolve_partition(fs, join(base, partition_name(day)))))
        .withColumn("dt", F.lit(day))
        for day in list_partitions(fs, base) if first <= day <= dt
    ]  # fmt: skip
    empty = spark.createDataFrame([], schema).withColumn("dt", F.lit(None).cast("string"))
    return functools.reduce(lambda a, b: a.unionByName(b), parts, empty)


def window_events(spark: SparkSession, fs, settings: Settings, dt: str, weeks: int) -> DataFrame:
    """Every accepted event of the ``weeks`` up to ``dt``."""
    return window_days(
        spark, fs, datasets.INTERACTIONS, settings, dt, 7 * weeks, datasets.EVENTS_SCHEMA
    )


def window_pairs(events: DataFrame) -> pd.DataFrame:
    """``user, item, ts``: each user-listing pair of ``events`` at its first event (users
    and listings as the lake names them), in the order :func:`leave_one_out` takes them."""
    from pyspark.sql import functions as F

    return first_pairs(
        events.groupBy("user_id", "listing_id").agg(F.min("ts").alias("ts")).toPandas()
    )


def first_pairs(events: pd.DataFrame) -> pd.DataFrame:
    """:func:`window_pairs` of events already on the driver."""
    pairs = events.groupby(["user_id", "listing_id"], as_index=False)["ts"].min()
    frame = pairs.rename(columns={"user_id": "user", "listing_id": "item"})
    return frame.sort_values(["user", "ts", "item"], kind="stable").reset_index(drop=True)
