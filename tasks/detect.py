"""Detect stage: ``curated/images/dt=D`` → ``curated/detections/dt=D``, SSD over every image.

Every detection the model returns is kept (the consumer contract's
``detections``), best first, with boxes normalised to 0..1. The detector is
loaded once per Python worker and run on whole Arrow batches, with ONNX
Runtime threads set to the Spark task's CPUs.

An image that ingest accepted but that cannot be decoded now (the raw file was
replaced or removed since) goes to ``quarantine/detect/dt=D`` with its reason,
so ``in = out + quarantined`` holds here too.

Run with ``lakesight stage detect --dt D`` or ``spark-submit tasks/detect.py --dt D``.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from typing import TYPE_CHECKING

import pandas as pd

from lakesight.config import Settings
from lakesight.features import detection_structs
from lakesight.imaging import ImageRejected
from lakesight.lake import (
    Manifest,
)
from lakesight.progress import Steps
from lakesight.spark import ImageJob, StageError, committed_input, per_worker, with_image_bytes

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

STAGE = "detect"
SCHEMA_VERSION = "curated.detections/v1"
DETECTION_STRUCT = (
    "struct<label:string,score:float,x_min:float,y_min:float,x_max:float,y_max:float>"
)
OUTPUT_SCHEMA = (
    f"image_id string, path string, width int, height int, detections array<{DETECTION_STRUCT}>, "
    "reason string, detail string"
)
BATCH_ROWS = 64  # images per detector call: amortises the runtime call, bounds worker memory


def detect_batch(batch: pd.DataFrame, detector, job: ImageJob) -> pd.DataFrame:
    """Images → detections. In: ``image_id``, ``path``, ``content``. Out: :data:`OUTPUT_SCHEMA`."""
    images, rows = [], []
    for image_id, path, content in zip(
        batch["image_id"], batch["path"], batch["content"], strict=True
    ):
        row = {"image_id": image_id, "path": path, "width": None, "height": None, "detections": None,
               "reason": None, "detail": None}  # fmt: skip
        try:
            pixels = job.decode(content, path)
        except ImageRejected as rejected:
            row["reason"], row["detail"] = rejected.reason, rejected.detail
        else:
            row["height"], row["width"] = pixels.shape[:2]
            images.append((len(rows), pixels))
        rows.append(row)
    if images:
        found = detector.detect([pixels for _, pixels in images])
        for position, (row_index, _) in enumerate(images):
            rows[row_index]["detections"] = detection_structs(
                found[found[:, 0] == position], detector.classes
            )
    return pd.DataFrame(rows, columns=[c.split()[0] for c in OUTPUT_SCHEMA.split(", ")])


@dataclass(frozen=True)
class DetectResult:
    manifest: Manifest
    output_uri: str
    quarantine_uri: str

    def summary(self) -> dict:
        c = self.manifest.counts
        return {
            "stage": STAGE,
            "dt": self.manifest.dt,
            "images": c["in"],
            "detected": c["out"],
            "quarantined": c["quarantined"],
            "detections": self.manifest.extra.get("detections", 0),
            "model": self.manifest.models[0]["name"] if self.manifest.models else None,
            "output_uri": self.output_uri,
            "quarantine_uri": self.quarantine_uri,
            "timings": self.manifest.timings,
        }


def format_summary(summary: dict) -> str:
    """The human-readable summary of a detect run."""
    return (
        f"detect dt={summary['dt']} with {summary['model']}: {summary['images']} images -> "
        f"{summary['detections']} detections on {summary['detected']} images, "
        f"{summary['quarantined']} quarantined\n  detections:  {summary['output_uri']}"
    )


def run(spark: SparkSession, settings: Settings, dt: str, *, steps: Steps | None = None,
        model: str | None = None) -> DetectResult:  # fmt: skip
    """Detect objects in one date partition of curated images; commit atomically."""
    from pyspark.sql import functions as F

    from lakesight.models.runtime import DEFAULT_DETECTOR, load_card, load_detector, resolve
    from lakesight.spark import commit_stage_outputs, fingerprint_of, spark_facts

    steps = steps or Steps(STAGE)
    fs, curated_uri, _ = committed_input(
        spark, settings, ("curated", "images"), dt, made_by="ingest"
    )
    ref, directory = resolve(model or DEFAULT_DETECTOR)  # fails fast, on the driver, if missing
    card = load_card(directory)
    job = ImageJob.for_models(settings, str(ref))

    with steps.step("detect"):
        index = spark.read.parquet(curated_uri).select("image_id", "path")
        files = with_image_bytes(spark, settings, dt, index)
        result = (
            files.mapInPandas(
                per_worker(load_detector, detect_batch, job, BATCH_ROWS), OUTPUT_SCHEMA
            )
            .withColumn("dt", F.lit(dt))
            .cache()
        )
        stats = result.agg(
            F.count(F.lit(1)).alias("rows"),
            F.sum(F.col("reason").isNotNull().cast("int")).alias("quarantined"),
            F.sum(F.coalesce(F.size("detections"), F.lit(0))).alias("detections"),
        ).first()
        n_in = index.count()
        fingerprint = fingerprint_of(index, "path", "image_id")
    try:
        rows, quarantined = int(stats["rows"]), int(stats["quarantined"] or 0)
        if rows != n_in:
            raise StageError(
                f"{n_in - rows} curated images have no raw file under dt={dt} any more"
            )
        common = {
            "dt": dt,
            "stage": STAGE,
            "counts": {"in": n_in, "out": rows - quarantined, "quarantined": quarantined},
            "input_fingerprint": fingerprint,
            "models": [{"name": str(ref), "sha256": card["sha256"][card["files"]["fp32"]]}],
            "extra": {
                "detections": int(stats["detections"] or 0),
                "input": curated_uri,
                **spark_facts(spark),
            },
        }
        manifest = commit_stage_outputs(
            fs, result, stage=STAGE, dt=dt, output_dataset=("curated", "detections"),
            schema_version=SCHEMA_VERSION, settings=settings, common=common, steps=steps,
        )  # fmt: skip
    finally:
        spark.catalog.clearCache()
    return DetectResult(
        manifest,
        settings.partition_uri("curated", "detections", dt),
        settings.partition_uri("quarantine", STAGE, dt),
    )


def main(argv: list[str] | None = None) -> int:
    """Entry point for spark-submit and ``lakesight stage detect``."""
    from lakesight.spark import stage_main

    return stage_main(STAGE, run, format_summary, argv, description=__doc__.splitlines()[0])


if __name__ == "__main__":
    sys.exit(main())
