"""Publish stage: crops + descriptors → ``features/images/dt=D``, the consumer contract (v1).

Columns (readable by plain pyarrow, pandas and Spark SQL):
``image_id``, ``path``, ``dt``, ``width``, ``height``, ``detections``
list<struct<label, score, x_min, y_min, x_max, y_max>> (normalised), ``top``
(the described detection, null when the whole image was described), ``code``
(binary, K bits packed with numpy.packbits), ``code_bits``, ``embedding``
(list<float32>, L2-normalised), ``models`` (``name@version`` of the detector and
the descriptor), ``processed_at`` (when describe committed: reruns of publish
give identical rows).

Images quarantined upstream (by describe) are not published; the manifest
counts them as quarantined, so ``in = out + quarantined`` holds.

Run with ``lakesight stage publish --dt D`` or ``spark-submit tasks/publish.py --dt D``.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from typing import TYPE_CHECKING

from lakesight.config import Settings
from lakesight.lake import (
    HadoopFileSystem,
    Manifest,
    PartitionWriter,
    check_reachable,
    read_manifest,
)
from lakesight.progress import Steps
from lakesight.spark import StageError

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

STAGE = "publish"
SCHEMA_VERSION = "features.images/v1"
CONTRACT_COLUMNS = (
    "image_id", "path", "dt", "width", "height", "detections", "top", "code", "code_bits", "embedding",
    "models", "processed_at",
)  # fmt: skip
ROWS_PER_FILE = 500_000


@dataclass(frozen=True)
class PublishResult:
    manifest: Manifest
    output_uri: str

    def summary(self) -> dict:
        c = self.manifest.counts
        return {"stage": STAGE, "dt": self.manifest.dt, "images": c["in"], "published": c["out"],
                "quarantined": c["quarantined"], "models": [m["name"] for m in self.manifest.models],
                "output_uri": self.output_uri, "timings": self.manifest.timings}  # fmt: skip


def format_summary(summary: dict) -> str:
    """The human-readable summary of a publish run."""
    return (
        f"publish dt={summary['dt']}: {summary['published']} of {summary['images']} images published "
        f"({', '.join(summary['models'])})\n  features:    {summary['output_uri']}"
    )


def run(
    spark: SparkSession, settings: Settings, dt: str, *, steps: Steps | None = None
) -> PublishResult:
    """Join crops and descriptors of one date into the consumer contract; commit atomically."""
    from pyspark.sql import functions as F

    from lakesight.spark import fingerprint_of, spark_facts

    steps = steps or Steps(STAGE)
    fs = HadoopFileSystem(spark)
    check_reachable(fs, settings.root)
    manifests = {}
    for name in ("detections", "crops", "descriptors"):
        manifest = read_manifest(fs, settings.partition_uri("curated", name, dt))
        if manifest is None:
            raise StageError(f"input partition not committed: curated/{name}/dt={dt}")
        manifests[name] = manifest
    models = [m["name"] for m in manifests["detections"].models + manifests["descriptors"].models]

    with steps.step("join"):
        crops = spark.read.parquet(settings.partition_uri("curated", "crops", dt))
        descriptors = spark.read.parquet(settings.partition_uri("curated", "descriptors", dt))
        features = (
            crops.join(
                descriptors.select("image_id", "code", "code_bits", "embedding"),
                "image_id",
                "inner",
            )
            .withColumn("dt", F.lit(dt))
            .withColumn("models", F.array(*[F.lit(m) for m in models]))
            .withColumn(
                "processed_at", F.lit(manifests["descriptors"].created_at).cast("timestamp")
            )
            .select(*CONTRACT_COLUMNS)
            .cache()
        )
        n_in, n_out = crops.count(), features.count()
        fingerprint = fingerprint_of(crops, "path", "image_id")
    try:
        with (
            steps.step("write and commit"),
            PartitionWriter(fs, settings.dataset_uri("features", "images"), dt) as writer,
        ):
            features.coalesce(max(1, -(-n_out // ROWS_PER_FILE))).write.mode("overwrite").parquet(
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
                    models=manifests["detections"].models + manifests["descriptors"].models,
                    timings=dict(steps.timings),
                    extra={"quarantined_upstream_by": "describe", **spark_facts(spark)},
                )
            )
    finally:
        spark.catalog.clearCache()
    return PublishResult(manifest, settings.partition_uri("features", "images", dt))


def main(argv: list[str] | None = None) -> int:
    """Entry point for spark-submit and ``lakesight stage publish``."""
    from lakesight.spark import stage_main

    return stage_main(STAGE, run, format_summary, argv, description=__doc__.splitlines()[0])


if __name__ == "__main__":
    sys.exit(main())
