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

import hashlib
import sys
from collections.abc import Iterator
from typing import TYPE_CHECKING

import pandas as pd

from lakesight.config import Settings
from lakesight.house_similarity import datasets
from lakesight.house_similarity.listings import parse_listings, validate_photo_batch
from lakesight.imaging import DecodeLimits
from lakesight.input_change import input_change, input_listing, previous_manifest
from lakesight.lake import (
    HadoopFileSystem,
    check_reachable,
    join,
    path_uri,
    spelled_path,
    unread_files,
)
from lakesight.progress import Steps
from lakesight.stage import StageError, StageResult, commit_stage, frees_cached_data, stage_main

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

STAGE = datasets.INGEST


@frees_cached_data
def run(
    spark: SparkSession, settings: Settings, dt: str, *, steps: Steps | None = None
) -> StageResult:
    """Ingest one day of listings; commit curated listings and the quarantine atomically."""
    from pyspark.sql import functions as F

    from lakesight.spark import fingerprint_aggregates, fingerprint_from, without_duplicates

    steps = steps or Steps(STAGE.short)
    fs = HadoopFileSystem(spark)
    check_reachable(fs, settings.root)
    raw_uri = datasets.RAW_LISTINGS.partition(settings, dt)
    csv_uri = join(raw_uri, datasets.LISTINGS_FILE)
    with steps.step("list input"):
        if not fs.exists(raw_uri):
            raise StageError(f"input partition missing: {raw_uri}")
        listing = fs.list_files(raw_uri)
        # The whole partition, CSVs included: an edited listings.csv is a changed input.
        inputs = input_listing(raw_uri, listing)
        previous = previous_manifest(fs, STAGE.output.partition(settings, dt))
        # The two CSVs are read on the driver; every other file is a record of its own.
        csvs = {
            spelled_path(join(raw_uri, n)) for n in (datasets.LISTINGS_FILE, datasets.LABELS_FILE)
        }
        files = [e for e in listing if spelled_path(e.uri) not in csvs]
    with steps.step("read listings.csv"):
        data = fs.read_bytes(csv_uri) if fs.exists(csv_uri) else None
        accepted, rejected_rows = parse_listings(data, csv_uri)
        csv_digest = hashlib.sha256(data).hexdigest()[:16] if data is not None else "missing"
    steps.say(f"{len(accepted)} listings, {len(rejected_rows)} rejected rows, {len(files)} files")

    limits = DecodeLimits.from_settings(settings)
    known_ids = frozenset(row["listing_id"] for row in accepted)
    partition_path = spelled_path(raw_uri)

    def validate(batches: Iterator[pd.DataFrame]) -> Iterator[pd.DataFrame]:
        for batch in batches:
            yield validate_photo_batch(batch, limits, partition_path, known_ids)

    with steps.step("decode and validate photos"):
        unread = spark.createDataFrame(
            [
                {**dict.fromkeys(datasets.PHOTO_COLUMNS), "path": path_uri(entry.uri), "size": entry.size,
                 "reason": reason, "detail": detail}
                for entry, reason, detail in unread_files(raw_uri, files, settings.max_file_bytes)
            ],
            datasets.PHOTO_SCHEMA,
        )  # fmt: skip
        if files:
            raw = (
                spark.read.format("binaryFile")
                .option("recursiveFileLookup", "true")
                .load(raw_uri)
                # Pushed down: oversized files are skipped without reading their bytes.
                .where(F.col("length") <= settings.max_file_bytes)
                # The two CSVs are read above; a file of that name in a photo folder is not.
                .where(~F.col("path").endswith(f"/dt={dt}/{datasets.LISTINGS_FILE}"))
                .where(~F.col("path").endswith(f"/dt={dt}/{datasets.LABELS_FILE}"))
            )
            validated = raw.mapInPandas(validate, datasets.PHOTO_SCHEMA).unionByName(unread)
        else:
            validated = unread
        photos = without_duplicates(validated, key=("listing_id", "photo_id")).cache()
        stats = photos.agg(
            F.sum(F.col("reason").isNotNull().cast("int")).alias("quarantined"),
            *fingerprint_aggregates("path", "size", "photo_id"),
        ).first()
    n_files, photos_quarantined = int(stats["_fp_n"]), int(stats["quarantined"] or 0)
    if n_files != len(files):
        # Files appeared or vanished between listing and reading: still being written.
        raise StageError(
            f"input changed while ingesting {raw_uri}: listed {len(files)} files, read {n_files}"
        )

    with steps.step("group photos by listing"):
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
        listings = table.join(by_listing, "listing_id", "left").withColumn(
            "photos", F.coalesce("photos", F.array().cast(f"array<{datasets.PHOTO_STRUCT}>"))
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
        result = (
            listings.withColumn("path", no_reason)
            .withColumn("reason", no_reason)
            .withColumn("detail", no_reason)
            .unionByName(rejects)
            .withColumn("dt", F.lit(dt))
            .cache()
        )
        without_photos = listings.where(F.size("photos") == 0).count()
    n_rows = len(accepted) + len(rejected_rows)
    quarantined = len(rejected_rows) + photos_quarantined
    n_in = n_rows + n_files
    return commit_stage(
        fs, settings, STAGE, dt, result, output_columns=datasets.LISTINGS_COLUMNS,
        schema_version=datasets.LISTINGS_SCHEMA_VERSION,
        counts={"in": n_in, "out": n_in - quarantined, "quarantined": quarantined,
                "listings": len(accepted), "photos": n_files - photos_quarantined,
                "without_photos": without_photos},
        # The files' fingerprint and the CSV's bytes: an edited row changes the input too.
        input_fingerprint=f"{fingerprint_from(stats)}:csv={csv_digest}",
        steps=steps, quarantine_columns=("listing_id",),
        extra={"input": raw_uri, "inputs": inputs, "input_change": input_change(previous, inputs)},
    )  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    """Entry point for spark-submit and ``lakesight stage house_similarity.ingest``."""
    return stage_main(STAGE, run, argv)


if __name__ == "__main__":
    sys.exit(main())
