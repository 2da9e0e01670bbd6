"""Crop stage: ``curated/detections/dt=D`` → ``curated/crops/dt=D``, the region to describe per image.

The highest-scoring detection (score >= ``CropPolicy.min_score``), padded and
grown to a minimum size; with none, the whole image, and ``top`` is null so the
row says so (:func:`lakesight.features.choose_crop`). Crops are stored as pixel
boxes, not pixels: describe decodes each image once and cuts the box itself.
No image is read here, so nothing can be quarantined: ``in = out``.

Run with ``lakesight stage crop --dt D`` or ``spark-submit tasks/crop.py --dt D``.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING

import pandas as pd

from lakesight.config import Settings
from lakesight.detect import DETECTION_STRUCT
from lakesight.features import CropPolicy, choose_crop
from lakesight.progress import Steps
from lakesight.spark import committed_input

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

STAGE = "crop"
SCHEMA_VERSION = "curated.crops/v1"
OUTPUT_SCHEMA = (
    f"image_id string, path string, width int, height int, detections array<{DETECTION_STRUCT}>, "
    f"top {DETECTION_STRUCT}, crop_box array<int>, whole_image boolean, reason string, detail string"
)


def crop_batch(batch: pd.DataFrame, policy: CropPolicy) -> pd.DataFrame:
    """Rows of curated/detections → rows of :data:`OUTPUT_SCHEMA` (reason always null)."""
    out = batch[["image_id", "path", "width", "height", "detections"]].copy()
    tops, boxes = [], []
    for detections, width, height in zip(
        out["detections"], out["width"], out["height"], strict=True
    ):
        as_dicts = [dict(d) for d in (detections if detections is not None else [])]
        box, top = choose_crop(as_dicts, int(width), int(height), policy)
        tops.append(top)
        boxes.append(list(box))
    out["top"], out["crop_box"] = tops, boxes
    out["whole_image"] = [top is None for top in tops]
    out["reason"], out["detail"] = None, None
    return out


@dataclass(frozen=True)
class CropResult:
    manifest: object
    output_uri: str

    def summary(self) -> dict:
        c = self.manifest.counts
        return {"stage": STAGE, "dt": self.manifest.dt, "images": c["in"], "cropped": c["out"],
                "whole_image": self.manifest.extra.get("whole_image", 0), "output_uri": self.output_uri,
                "quarantined": c["quarantined"], "timings": self.manifest.timings}  # fmt: skip


def format_summary(summary: dict) -> str:
    """The human-readable summary of a crop run."""
    return (
        f"crop dt={summary['dt']}: {summary['images']} images, {summary['whole_image']} described whole\n"
        f"  crops:       {summary['output_uri']}"
    )


def run(spark: SparkSession, settings: Settings, dt: str, *, steps: Steps | None = None,
        policy: CropPolicy | None = None) -> CropResult:  # fmt: skip
    """Choose the crop of every image of one date partition; commit atomically."""
    from pyspark.sql import functions as F

    from lakesight.spark import commit_stage_outputs, fingerprint_of, spark_facts

    steps = steps or Steps(STAGE)
    policy = policy or CropPolicy()
    fs, source, upstream = committed_input(
        spark, settings, ("curated", "detections"), dt, made_by="detect"
    )

    def crop(batches: Iterator[pd.DataFrame]) -> Iterator[pd.DataFrame]:
        for batch in batches:
            yield crop_batch(batch, policy)

    with steps.step("crop"):
        detections = spark.read.parquet(source)
        result = detections.mapInPandas(crop, OUTPUT_SCHEMA).withColumn("dt", F.lit(dt)).cache()
        stats = result.agg(
            F.count(F.lit(1)).alias("rows"), F.sum(F.col("whole_image").cast("int")).alias("whole")
        ).first()
        fingerprint = fingerprint_of(detections, "path", "image_id")
    try:
        rows = int(stats["rows"])
        common = {
            "dt": dt,
            "stage": STAGE,
            "counts": {"in": rows, "out": rows, "quarantined": 0},
            "input_fingerprint": fingerprint,
            "models": upstream.models,  # the detector, handed on to describe
            "extra": {
                "whole_image": int(stats["whole"] or 0),
                "policy": policy.__dict__,
                "input": source,
                **spark_facts(spark),
            },
        }
        manifest = commit_stage_outputs(
            fs, result, stage=STAGE, dt=dt, output_dataset=("curated", "crops"),
            schema_version=SCHEMA_VERSION, settings=settings, common=common, steps=steps,
        )  # fmt: skip
    finally:
        spark.catalog.clearCache()
    return CropResult(manifest, settings.partition_uri("curated", "crops", dt))


def main(argv: list[str] | None = None) -> int:
    """Entry point for spark-submit and ``lakesight stage crop``."""
    from lakesight.spark import stage_main

    return stage_main(STAGE, run, format_summary, argv, description=__doc__.splitlines()[0])


if __name__ == "__main__":
    sys.exit(main())
