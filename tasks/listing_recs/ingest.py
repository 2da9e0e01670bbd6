"""Ingest stage: ``raw/interactions/dt=D/`` → ``curated/interactions/dt=D`` +
``quarantine/interactions/dt=D``.

Every row of every file is accounted for once: a CSV line or a Parquet row becomes an
accepted event or a quarantine row with its reason (:mod:`.interactions` judges a row on
its own; here the day adds ``unknown_listing`` and ``duplicate_event``). A file that
gives no rows (a hidden name, neither ``.csv`` nor ``.parquet``, a Parquet file pyarrow
cannot read or without the four columns) is one quarantine row of its own. An empty
day is a normal day with no events.

A listing is known when a committed ``curated/listings`` day up to ``D`` lists it
(house_similarity's ingest): listings stay known after their day, as users keep looking.

Run: ``lakesight stage listing_recs.ingest --dt D``, or spark-submit this file.
"""

from __future__ import annotations

import functools
import sys
from collections.abc import Iterator
from typing import TYPE_CHECKING

from lakesight.config import Settings
from lakesight.lake import FileEntry, hadoop_location, path_uri, resolve_partition
from lakesight.listing_recs import datasets
from lakesight.listing_recs.interactions import judge_rows, parquet_rows, split_csv_lines
from lakesight.progress import Steps
from lakesight.raw_files import RawDay, list_raw_day
from lakesight.stage import StageResult, commit_stage, frees_cached_data, stage_main, tally

if TYPE_CHECKING:
    import pandas as pd
    from pyspark.sql import DataFrame, SparkSession

STAGE = datasets.INGEST
ROW_FORMATS = (".csv", ".parquet")


def file_problems(day: RawDay) -> dict[str, tuple[str, str]]:
    """Per listed file (its URI) that is not read as rows, ``(reason, detail)``: hidden
    names, and other formats than CSV and Parquet."""
    from lakesight.lake import unread_files

    problems = {e.uri: (reason, detail) for e, reason, detail in unread_files(
        day.uri, day.files, max_bytes=sys.maxsize) if reason == "hidden_file"}  # fmt: skip
    for entry in day.files:
        if entry.uri not in problems and entry.size and not row_format(entry.uri):
            problems[entry.uri] = ("unsupported_file", "expected .csv or .parquet rows")
    return problems


def row_format(uri: str) -> str | None:
    return next((f for f in ("csv", "parquet") if uri.lower().endswith("." + f)), None)


def event_rows(spark: SparkSession, day: RawDay, readable: list[FileEntry]) -> DataFrame:
    """Every row of the readable files, judged on its own (:func:`judge_rows`): CSV lines
    as Spark's text source splits them, Parquet files whole, each read with pyarrow."""
    from pyspark.sql import functions as F

    dt = day.dt
    parts = [spark.createDataFrame([], datasets.INGEST_SCHEMA)]
    for kind in ("csv", "parquet"):
        paths = [hadoop_location(e.uri) for e in readable if row_format(e.uri) == kind]
        if not paths:
            continue
        source = (
            spark.read.text(paths) if kind == "csv" else spark.read.format("binaryFile").load(paths)
        )
        records = source.select(
            F.col("value" if kind == "csv" else "content").alias("record"),
            F.col("_metadata.file_path").alias("path"),
        )
        parts.append(records.mapInPandas(functools.partial(judged, dt=dt, kind=kind),
                                         datasets.INGEST_SCHEMA))  # fmt: skip
    return functools.reduce(lambda a, b: a.unionByName(b), parts)


def judged(batches: Iterator[pd.DataFrame], dt: str, kind: str) -> Iterator[pd.DataFrame]:
    """A batch function: CSV lines or whole Parquet files (``record``, ``path``) →
    :data:`.datasets.INGEST_SCHEMA` rows."""
    import pandas as pd

    for batch in batches:
        if kind == "csv":
            rows = split_csv_lines(batch["record"])
            rows["path"] = batch.loc[rows.index, "path"].map(path_uri).to_numpy()
        else:
            files = [
                parquet_rows(content).assign(path=path_uri(path))
                for content, path in zip(batch["record"], batch["path"], strict=True)
            ]
            rows = pd.concat(files, ignore_index=True) if files else None
        if rows is not None and len(rows):
            yield judge_rows(rows, dt)[list(datasets.INGEST_COLUMNS)]


def known_listings(spark: SparkSession, fs, settings: Settings, dt: str) -> DataFrame:
    """``listing_id`` of every listing a committed ``curated/listings`` day up to ``dt`` has."""
    from lakesight.house_similarity.datasets import LISTINGS
    from lakesight.lake import join, list_partitions, partition_name

    days = [d for d in list_partitions(fs, LISTINGS.uri(settings)) if d <= dt]
    paths = [resolve_partition(fs, join(LISTINGS.uri(settings), partition_name(d))) for d in days]
    if not paths:
        return spark.createDataFrame([], "listing_id string")
    listings = spark.read.parquet(*(hadoop_location(p) for p in paths)).select("listing_id")
    return listings.distinct()


def with_day_checks(rows: DataFrame, known: DataFrame) -> DataFrame:
    """``unknown_listing`` for accepted rows no known listing matches, then
    ``duplicate_event`` for an accepted event seen before (in path order)."""
    from pyspark.sql import functions as F

    from lakesight.spark import without_duplicates

    flagged = rows.join(F.broadcast(known.withColumn("_known", F.lit(True))), "listing_id", "left")
    unknown = F.col("reason").isNull() & F.col("_known").isNull()
    checked = flagged.select(
        *(c for c in rows.columns if c not in ("reason", "detail")),
        F.when(unknown, F.lit("unknown_listing")).otherwise(F.col("reason")).alias("reason"),
        F.when(unknown, F.concat(F.lit("no curated listing "), F.col("listing_id")))
        .otherwise(F.col("detail")).alias("detail"),
    )  # fmt: skip
    return without_duplicates(
        checked,
        key=datasets.INTERACTIONS_COLUMNS,
        reason="duplicate_event",
        same="the same event as a row of ",
    )


@frees_cached_data
def run(
    spark: SparkSession, settings: Settings, dt: str, *, steps: Steps | None = None
) -> StageResult:
    """Ingest one day of interactions; commit curated events and the quarantine atomically."""
    from lakesight.stage import stage_filesystem

    steps = steps or Steps(STAGE.short)
    fs = stage_filesystem(spark, settings)
    day = list_raw_day(fs, settings, datasets.RAW_INTERACTIONS, STAGE, dt, steps)
    problems = file_problems(day)
    readable = [e for e in day.files if e.uri not in problems and e.size]
    with steps.step("read and judge rows"):
        unread = spark.createDataFrame(
            [(None, None, None, None, path_uri(uri), reason, detail)
             for uri, (reason, detail) in problems.items()], datasets.INGEST_SCHEMA)  # fmt: skip
        rows = event_rows(spark, day, readable).unionByName(unread)
        result = with_day_checks(rows, known_listings(spark, fs, settings, dt)).cache()
        counted = tally(result, ("user_id", "listing_id", "event", "ts", "path", "reason"),
                        users=_distinct("user_id"), listings=_distinct("listing_id"))  # fmt: skip
    return commit_stage(
        fs, settings, STAGE, dt, result, output_columns=datasets.INTERACTIONS_COLUMNS,
        schema_version=datasets.INTERACTIONS_SCHEMA_VERSION,
        counts=counted.counts(users=int(counted.values["users"] or 0),
                              listings=int(counted.values["listings"] or 0)),
        input_fingerprint=counted.fingerprint, steps=steps,
        quarantine_columns=("user_id", "listing_id"), extra=day.manifest_extra,
    )  # fmt: skip


def _distinct(column: str):
    """Distinct ``column`` values among accepted rows."""
    from pyspark.sql import functions as F

    return F.count_distinct(F.when(F.col("reason").isNull(), F.col(column)))


def main(argv: list[str] | None = None) -> int:
    """Entry point for spark-submit and ``lakesight stage listing_recs.ingest``."""
    return stage_main(STAGE, run, argv)


if __name__ == "__main__":
    sys.exit(main())
