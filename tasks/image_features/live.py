"""``features/images_live``: the stream's committed micro-batches of a day, and their seal.

``lakesight stream image_features`` (:mod:`.stream`) commits ``dt=D/batch=B`` directories
here and in ``quarantine/images_live``. The daily publish of D (:mod:`.publish`) seals the
day: it compares the live rows with what it publishes, records the comparison in its
manifest, then retires the batches it compared.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from lakesight.config import Settings
from lakesight.image_features import datasets
from lakesight.lake import join
from lakesight.stage import Dataset

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

    from lakesight.lake import LakeFileSystem


def committed_batches(fs: LakeFileSystem, settings: Settings, dt: str,
                      dataset: Dataset = datasets.LIVE) -> list[str]:  # fmt: skip
    """URIs of the day's committed live batches (or their quarantine's), in batch order."""
    day = dataset.partition(settings, dt)
    names = sorted(d for d in fs.list_dirs(day) if d.startswith("batch="))
    return [join(day, n) for n in names if fs.exists(join(day, n, "_SUCCESS"))]


def live_rows(spark: SparkSession, fs: LakeFileSystem, settings: Settings,
              dt: str) -> list[tuple[str, str, int]]:  # fmt: skip
    """``(image_id, path, batch id)`` of every row of the day's committed live batches."""
    from pyspark.sql import functions as F

    batches = committed_batches(fs, settings, dt)
    if not batches:
        return []
    batch = F.regexp_extract("_metadata.file_path", r"/batch=(\d+)/", 1).cast("int")
    rows = spark.read.parquet(*batches).select("image_id", "path", batch.alias("batch"))
    return [(r["image_id"], r["path"], r["batch"]) for r in rows.collect()]


@dataclass(frozen=True)
class Seal:
    """How a day's live batches compare with the daily publish of that day, and which batch
    directories (output and quarantine) the comparison covered: those, and only those, are
    retired once the daily partition is committed."""

    counts: dict[str, int]
    batches: tuple[str, ...] = ()


def seal_live_day(spark: SparkSession, fs: LakeFileSystem, settings: Settings, dt: str,
                  features: DataFrame) -> Seal:  # fmt: skip
    """Compare the day's committed live rows with the daily's ``features`` by path, in one
    job. ``identical``: the same values in every column; ``overwritten``: the file now holds
    other bytes (the file source never sees a rewrite); ``missing``: the daily has no row
    for it (the file went, or the daily kept a copy with a smaller path); ``differing``:
    the same bytes with other values (another analysis key)."""
    from pyspark.sql import functions as F

    batches = committed_batches(fs, settings, dt)
    quarantined = committed_batches(fs, settings, dt, datasets.QUARANTINED_LIVE)
    if not batches:
        return Seal({"batches": 0, "rows": 0}, tuple(quarantined))
    columns = list(datasets.CONTRACT_COLUMNS)
    live = spark.read.parquet(*batches).select(
        "path", F.col("image_id").alias("live_id"), F.xxhash64(*columns).alias("live_hash")
    )
    daily = features.select("path", "image_id", F.xxhash64(*columns).alias("hash"))
    joined = live.join(daily, "path", "left")
    row = joined.agg(
        F.count("*").alias("rows"),
        F.sum((F.col("hash") == F.col("live_hash")).cast("int")).alias("identical"),
        F.sum(F.col("image_id").isNull().cast("int")).alias("missing"),
        F.sum((F.col("image_id") != F.col("live_id")).cast("int")).alias("overwritten"),
        F.sum(((F.col("image_id") == F.col("live_id")) & (F.col("hash") != F.col("live_hash")))
              .cast("int")).alias("differing"),
    ).first()  # fmt: skip
    counts = {"batches": len(batches), **{k: int(row[k] or 0) for k in row.asDict()}}
    return Seal(counts, tuple(batches + quarantined))


def retire_live_batches(fs: LakeFileSystem, seal: Seal) -> None:
    """Remove the live batches a seal covered (their day is now in ``features/images``)."""
    for batch in seal.batches:
        fs.delete(batch)
