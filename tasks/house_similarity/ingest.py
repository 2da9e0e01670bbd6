"""Ingest stage: ``raw/listings/dt=D/`` → ``curated/listings/dt=D`` + ``quarantine/listings/dt=D``.

Every record of the partition is accounted for once: each row of ``listings.csv``
and each file (photos, and anything else that is there). A record becomes part of
an accepted listing, or a quarantine row with its reason (:mod:`.listings` gives
them). A photo is judged by its content, with image_features' decoder and limits.
The output has one row per accepted listing with its accepted photos; a listing
without photos is kept (it may get them another day) and counted as
``without_photos``. ``labels.csv`` is the train stage's input, and not counted here.

Run: ``lakesight stage house_similarity.ingest --dt D``, or spark-submit this file.
"""

from __future__ import annotations

import functools
import hashlib
import sys
from typing import TYPE_CHECKING

from lakesight.config import Settings
from lakesight.house_similarity import datasets
from lakesight.house_similarity.listings import parse_listings, validate_photo_batch
from lakesight.imaging import DecodeLimits
from lakesight.lake import join, spelled_path
from lakesight.progress import Steps
from lakesight.raw_files import list_raw_day, validated_files
from lakesight.stage import (
    StageResult,
    commit_stage,
    frees_cached_data,
    stage_filesystem,
    stage_main,
    tally,
)

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

STAGE = datasets.INGEST


def with_photos(spark: SparkSession, accepted: list[dict], rejected_rows: list[dict],
                photos: DataFrame, dt: str) -> DataFrame:  # fmt: skip
    """The day's rows: each accepted listing with its accepted photos (sorted, an empty
    array for none), then the rejected CSV rows and photo files with their reasons."""
    from pyspark.sql import functions as F

    table = spark.createDataFrame(
        [(r["listing_id"], r["attributes"]) for r in accepted],
        "listing_id string, attributes map<string,string>",
    )
    kept = photos.where(F.col("reason").isNull())
    by_listing = kept.groupBy("listing_id").agg(
        F.sort_array(
            F.collect_list(F.struct("photo_id", "path", "format", "width", "height"))
        ).alias("photos")
    )
    no_photos = F.array().cast(f"array<{datasets.PHOTO_STRUCT}>")
    listings = table.join(by_listing, "listing_id", "left").withColumn(
        "photos", F.coalesce("photos", no_photos)
    )
    no_reason = F.lit(None).cast("string")
    rejects = spark.createDataFrame(
        [{**r, "attributes": None, "photos": None} for r in rejected_rows], datasets.INGEST_SCHEMA
    ).unionByName(
        photos.where(F.col("reason").isNotNull()).select(
            "listing_id", F.lit(None).cast("map<string,string>").alias("attributes"),
            F.lit(None).cast(f"array<{datasets.PHOTO_STRUCT}>").alias("photos"),
            "path", "reason", "detail",
        )
    )  # fmt: skip
    return (
        listings.withColumn("path", no_reason)
        .withColumn("reason", no_reason)
        .withColumn("detail", no_reason)
        .unionByName(rejects)
        .withColumn("dt", F.lit(dt))
    )


@frees_cached_data
def run(
    spark: SparkSession, settings: Settings, dt: str, *, steps: Steps | None = None
) -> StageResult:
    """Ingest one day of listings; commit curated listings and the quarantine atomically."""
    from pyspark.sql import functions as F

    from lakesight.spark import without_duplicates

    steps = steps or Steps(STAGE.short)
    fs = stage_filesystem(spark, settings)
    # The two CSVs are read on the driver; every other file is a record of its own.
    day = list_raw_day(fs, settings, datasets.RAW_LISTINGS, STAGE, dt, steps,
                       side_files=(datasets.LISTINGS_FILE, datasets.LABELS_FILE))  # fmt: skip
    csv_uri = join(day.uri, datasets.LISTINGS_FILE)
    with steps.step("read listings.csv"):
        data = fs.read_bytes(csv_uri) if fs.exists(csv_uri) else None
        accepted, rejected_rows = parse_listings(data, csv_uri)
        csv_digest = hashlib.sha256(data).hexdigest()[:16] if data is not None else "missing"
    steps.say(
        f"{len(accepted)} listings, {len(rejected_rows)} rejected rows, {len(day.files)} files"
    )
    validate = functools.partial(
        validate_photo_batch, limits=DecodeLimits.from_settings(settings),
        partition_path=spelled_path(day.uri),
        known_ids=frozenset(row["listing_id"] for row in accepted),
    )  # fmt: skip
    with steps.step("decode and validate photos"):
        validated = validated_files(spark, settings, day, validate, datasets.PHOTO_SCHEMA,
                                    datasets.PHOTO_COLUMNS)  # fmt: skip
        photos = without_duplicates(validated, key=("listing_id", "photo_id")).cache()
        counted_photos = tally(photos, ("path", "size", "photo_id"))
    day.check_all_read(counted_photos.rows)
    with steps.step("group photos by listing"):
        result = with_photos(spark, accepted, rejected_rows, photos, dt).cache()
        without_photos = result.where(F.size("photos") == 0).count()
    n_in = len(accepted) + len(rejected_rows) + counted_photos.rows
    quarantined = len(rejected_rows) + counted_photos.quarantined
    return commit_stage(
        fs, settings, STAGE, dt, result, output_columns=datasets.LISTINGS_COLUMNS,
        schema_version=datasets.LISTINGS_SCHEMA_VERSION,
        counts={"in": n_in, "out": n_in - quarantined, "quarantined": quarantined,
                "listings": len(accepted), "photos": counted_photos.rows - counted_photos.quarantined,
                "without_photos": without_photos},
        # The files' fingerprint and the CSV's bytes: an edited row changes the input too.
        input_fingerprint=f"{counted_photos.fingerprint}:csv={csv_digest}",
        steps=steps, quarantine_columns=("listing_id",), extra=day.manifest_extra,
    )  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    """Entry point for spark-submit and ``lakesight stage house_similarity.ingest``."""
    return stage_main(STAGE, run, argv)


if __name__ == "__main__":
    sys.exit(main())
