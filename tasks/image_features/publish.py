"""Publish stage: ``curated/descriptors`` → ``features/images/dt=D``, the consumer contract (v1.1).

Columns (readable by plain pyarrow, pandas and Spark SQL; see
:data:`lakesight.image_features.datasets.CONTRACT_COLUMNS`): ``image_id``,
``path``, ``dt``, ``width``, ``height``, ``detections``
list<struct<label, score, x_min, y_min, x_max, y_max>> (normalised), ``top``
(the described detection, null when the whole image was described), ``code``
(binary, K bits packed with numpy.packbits), ``code_bits``, ``embedding``
(list<float32>, L2-normalised), ``models`` (``name@version`` of the detector and
the descriptor), ``processed_at`` (when that row's analysis was computed: a
rerun that reuses cached analyses gives identical rows).

v1.1 publishes only the detections scoring at or above the *published score
threshold*, by default the crop policy's ``min_score`` that analyze used (so
``top`` is always among them); the manifest records it as
``extra.detection_threshold``. ``curated/descriptors`` keeps every detection.

Images quarantined upstream (by analyze) are not published; the manifest
counts them as quarantined, so ``in = out + quarantined`` holds. Publish also
draws a sample of the day's detections into ``pictures/image_features/dt=D``.

Publish seals the day for the stream (:mod:`.live`): it compares the day's live
batches (``features/images_live/dt=D``) with what it publishes, records the comparison in
the manifest (``extra.sealed``: rows, identical, missing, overwritten, differing) and,
once the day is committed, retires the batches it compared.

Run: ``lakesight stage image_features.publish --dt D``, or spark-submit this file.
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING

from lakesight.config import Settings
from lakesight.image_features import datasets
from lakesight.image_features.analysis import CropPolicy
from lakesight.image_features.live import retire_live_batches, seal_live_day
from lakesight.lake import Manifest, join
from lakesight.progress import Steps
from lakesight.stage import (
    StageResult,
    commit_pictures,
    commit_stage,
    committed_input,
    frees_cached_data,
    stage_main,
    tally,
)

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

STAGE = datasets.PUBLISH
PICTURE_SAMPLE = 12  # images drawn with their detections per day


def published_threshold(upstream: Manifest) -> float:
    """The score a published detection needs: the crop policy's ``min_score`` analyze used."""
    policy = upstream.extra.get("policy") or {}
    return float(policy.get("min_score", CropPolicy.min_score))


def with_published_detections(descriptors: DataFrame, threshold: float) -> DataFrame:
    """The contract's columns, ``detections`` cut to those scoring ``>= threshold``."""
    from pyspark.sql import functions as F

    # Compared as doubles, as choose_crop compares them, so `top` is always published.
    kept = F.filter("detections", lambda d: d["score"] >= F.lit(float(threshold)))
    return descriptors.withColumn("detections", kept).select(*datasets.CONTRACT_COLUMNS)


@frees_cached_data
def run(spark: SparkSession, settings: Settings, dt: str, *, steps: Steps | None = None,
        min_score: float | None = None) -> StageResult:  # fmt: skip
    """Select the consumer contract from one date's descriptors; commit atomically."""
    steps = steps or Steps(STAGE.short)
    fs, source, upstream = committed_input(spark, settings, datasets.ANALYZE, dt)
    threshold = published_threshold(upstream) if min_score is None else min_score
    with steps.step("select"):
        descriptors = spark.read.parquet(source)
        features = with_published_detections(descriptors, threshold).cache()
        counted = tally(features, ("path", "image_id"))
    with steps.step("pictures"):
        pictured = write_detection_pictures(fs, settings, dt, features, counted.fingerprint)
    with steps.step("seal live batches"):
        seal = seal_live_day(spark, fs, settings, dt, features)
    n_in, n_out = upstream.counts["in"], counted.rows
    result = commit_stage(
        fs, settings, STAGE, dt, features, output_columns=datasets.CONTRACT_COLUMNS,
        schema_version=datasets.CONTRACT_SCHEMA_VERSION,
        counts={"in": n_in, "out": n_out, "quarantined": n_in - n_out, "pictured": pictured},
        input_fingerprint=counted.fingerprint, steps=steps, models=upstream.models,
        extra={"detection_threshold": threshold, "quarantined_upstream_by": upstream.stage,
               "input": source, "sealed": seal.counts},
        more_outputs={"pictures": join(datasets.PICTURES.partition(settings, dt), "detections.png")},
    )  # fmt: skip
    retire_live_batches(fs, seal)  # the day is committed: its live batches are superseded
    return result


def write_detection_pictures(fs, settings: Settings, dt: str, features, fingerprint: str) -> int:
    """Commit ``pictures/image_features/dt=D``: a grid of annotated detections and one PNG per
    image, for a sample of :data:`PICTURE_SAMPLE` images (the smallest image ids: random-like,
    stable). Returns how many images it drew."""
    from lakesight.image_features.pictures import detection_sheet
    from lakesight.imaging import decode_image
    from lakesight.lake import hadoop_location

    sample = [
        row.asDict(recursive=True)
        for row in features.select("image_id", "path", "detections", "top")
        .orderBy("image_id")
        .limit(PICTURE_SAMPLE)
        .collect()
    ]

    def read_image(row: dict):
        # A published path is a URI; the driver's Hadoop client takes Hadoop's spelling.
        return decode_image(fs.read_bytes(hadoop_location(row["path"])), row["path"]).pixels

    sheet, singles = detection_sheet(sample, read_image)
    files = {"detections.png": sheet}
    files.update(
        (f"{row['image_id'][:16]}.png", picture)
        for row, picture in zip(sample, singles, strict=True)
    )
    commit_pictures(
        fs, settings, datasets.PICTURES, dt, stage=STAGE.name, files=files,
        input_fingerprint=fingerprint, pictured=len(sample),
        extra={"grid": "detections.png", "images": [r["path"] for r in sample]},
    )  # fmt: skip
    return len(sample)


def main(argv: list[str] | None = None) -> int:
    """Entry point for spark-submit and ``lakesight stage image_features.publish``."""
    return stage_main(STAGE, run, argv)


if __name__ == "__main__":
    sys.exit(main())
