"""Publish stage: ``curated/descriptors`` → ``features/images/dt=D``, the consumer contract (v1).

Columns (readable by plain pyarrow, pandas and Spark SQL):
``image_id``, ``path``, ``dt``, ``width``, ``height``, ``detections``
list<struct<label, score, x_min, y_min, x_max, y_max>> (normalised), ``top``
(the described detection, null when the whole image was described), ``code``
(binary, K bits packed with numpy.packbits), ``code_bits``, ``embedding``
(list<float32>, L2-normalised), ``models`` (``name@version`` of the detector and
the descriptor), ``processed_at`` (when that row's analysis was computed: a
rerun that reuses cached analyses gives identical rows).

Images quarantined upstream (by analyze or describe) are not published; the
manifest counts them as quarantined, so ``in = out + quarantined`` holds.

Run with ``lakesight stage publish --dt D`` or ``spark-submit tasks/publish.py --dt D``.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from typing import TYPE_CHECKING

from lakesight.config import Settings
from lakesight.lake import (
    Manifest,
    PartitionWriter,
    join,
)
from lakesight.progress import Steps
from lakesight.spark import committed_input

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

STAGE = "publish"
SCHEMA_VERSION = "features.images/v1"
CONTRACT_COLUMNS = (
    "image_id", "path", "dt", "width", "height", "detections", "top", "code", "code_bits", "embedding",
    "models", "processed_at",
)  # fmt: skip
PICTURE_SAMPLE = 12  # images drawn with their detections per day


@dataclass(frozen=True)
class PublishResult:
    manifest: Manifest
    output_uri: str
    pictures_uri: str
    pictures: int

    def summary(self) -> dict:
        c = self.manifest.counts
        return {"stage": STAGE, "dt": self.manifest.dt, "images": c["in"], "published": c["out"],
                "quarantined": c["quarantined"], "models": [m["name"] for m in self.manifest.models],
                "output_uri": self.output_uri, "pictures_uri": self.pictures_uri,
                "pictures": self.pictures, "timings": self.manifest.timings}  # fmt: skip


def format_summary(summary: dict) -> str:
    """The human-readable summary of a publish run."""
    return (
        f"publish dt={summary['dt']}: {summary['published']} of {summary['images']} images published "
        f"({', '.join(summary['models'])})\n  features:    {summary['output_uri']}\n"
        f"  pictures:    {summary['pictures_uri']}/detections.png ({summary['pictures']} images annotated)"
    )


def run(
    spark: SparkSession, settings: Settings, dt: str, *, steps: Steps | None = None
) -> PublishResult:
    """Select the consumer contract from one date's descriptors; commit atomically."""
    from lakesight.spark import fingerprint_of, output_files, spark_facts

    steps = steps or Steps(STAGE)
    fs, source, upstream = committed_input(
        spark, settings, ("curated", "descriptors"), dt, made_by="analyze"
    )

    with steps.step("select"):
        descriptors = spark.read.parquet(source)
        features = descriptors.select(*CONTRACT_COLUMNS).cache()
        n_in, n_out = upstream.counts["in"], features.count()
        fingerprint = fingerprint_of(descriptors, "path", "image_id")
    try:
        with (
            steps.step("write and commit"),
            PartitionWriter(fs, settings.dataset_uri("features", "images"), dt) as writer,
        ):
            features.coalesce(output_files(n_out)).write.mode("overwrite").parquet(
                writer.staging_uri
            )
            manifest = writer.commit(
                Manifest(
                    dataset="features/images",
                    dt=dt,
                    stage=STAGE,
                    schema_version=SCHEMA_VERSION,
                    counts={"in": n_in, "out": n_out, "quarantined": n_in - n_out},
                    input_fingerprint=fingerprint,
                    models=upstream.models,
                    timings=dict(steps.timings),
                    extra={"quarantined_upstream_by": upstream.stage, **spark_facts(spark)},
                )
            )
        with steps.step("pictures"):
            pictures = write_detection_pictures(fs, settings, dt, features, fingerprint)
    finally:
        spark.catalog.clearCache()
    return PublishResult(
        manifest,
        settings.partition_uri("features", "images", dt),
        settings.partition_uri("pictures", "image_features", dt),
        pictures.counts["out"],
    )


def write_detection_pictures(
    fs, settings: Settings, dt: str, features, fingerprint: str
) -> Manifest:
    """Commit ``pictures/image_features/dt=D``: a grid of annotated detections and one PNG per image,
    for a sample of :data:`PICTURE_SAMPLE` images (the smallest image ids: random-like, stable)."""
    from lakesight.imaging import decode_image
    from lakesight.pictures import detection_sheet

    sample = [
        row.asDict(recursive=True)
        for row in features.select("image_id", "path", "detections", "top")
        .orderBy("image_id")
        .limit(PICTURE_SAMPLE)
        .collect()
    ]

    def read_image(row: dict):
        return decode_image(fs.read_bytes(row["path"]), row["path"], check_extension=False).pixels

    sheet, singles = detection_sheet(sample, read_image)
    with PartitionWriter(fs, settings.dataset_uri("pictures", "image_features"), dt) as writer:
        fs.mkdirs(writer.staging_uri)
        fs.write_bytes(join(writer.staging_uri, "detections.png"), sheet)
        for row, picture in zip(sample, singles, strict=True):
            fs.write_bytes(join(writer.staging_uri, f"{row['image_id'][:16]}.png"), picture)
        return writer.commit(
            Manifest(
                dataset="pictures/image_features",
                dt=dt,
                stage=STAGE,
                schema_version="pictures/v1",
                counts={"in": len(sample), "out": len(sample), "quarantined": 0},
                input_fingerprint=fingerprint,
                extra={"grid": "detections.png", "images": [r["path"] for r in sample]},
            )
        )


def main(argv: list[str] | None = None) -> int:
    """Entry point for spark-submit and ``lakesight stage publish``."""
    from lakesight.spark import stage_main

    return stage_main(STAGE, run, format_summary, argv, description=__doc__.splitlines()[0])


if __name__ == "__main__":
    sys.exit(main())
