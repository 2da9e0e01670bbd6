"""Describe stage: ``curated/crops/dt=D`` → ``curated/descriptors/dt=D``, DeepBit codes + embeddings.

The last step of the staged path (detect → crop → describe), which keeps every
intermediate for inspection; the DAG runs the fused ``analyze`` stage instead,
which writes the same dataset in one pass (see ``lakesight.analyze``). Rows
carry the crops' columns through, so curated/descriptors alone feeds publish.

Each image is decoded once (the same decoder ingest validated it with), cut to
its crop box and described in batches by the shipped DeepBit model, loaded once
per Python worker: ``code`` is K bits packed with ``numpy.packbits``,
``embedding`` the L2-normalised backbone features. An image that cannot be
decoded any more goes to ``quarantine/describe/dt=D``.

Run with ``lakesight stage describe --dt D`` or ``spark-submit tasks/describe.py --dt D``.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING

import pandas as pd

from lakesight.config import Settings
from lakesight.detect import DETECTION_STRUCT
from lakesight.imaging import ImageRejected
from lakesight.progress import Steps
from lakesight.spark import ImageJob, StageError, committed_input, per_worker, with_image_bytes

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

STAGE = "describe"
SCHEMA_VERSION = "curated.descriptors/v2"
# curated/descriptors holds everything publish needs per image, whether the
# staged path (detect → crop → describe) or the fused one (analyze) wrote it.
OUTPUT_SCHEMA = (
    f"image_id string, path string, width int, height int, detections array<{DETECTION_STRUCT}>, "
    f"top {DETECTION_STRUCT}, crop_box array<int>, code binary, code_bits int, "
    "embedding array<float>, reason string, detail string"
)
OUTPUT_COLUMNS = [c.split()[0] for c in OUTPUT_SCHEMA.split(", ")]
BATCH_ROWS = 128  # crops per descriptor call


def describe_batch(batch: pd.DataFrame, descriptor, job: ImageJob) -> pd.DataFrame:
    """In: curated/crops columns plus ``content``. Out: :data:`OUTPUT_SCHEMA`."""
    crops, rows = [], []
    records = batch.drop(columns="content").to_dict("records")
    for record, content in zip(records, batch["content"], strict=True):
        record.update(code=None, code_bits=None, embedding=None, reason=None, detail=None)
        try:
            pixels = job.decode(content, record["path"])
        except ImageRejected as rejected:
            record["reason"], record["detail"] = rejected.reason, rejected.detail
        else:
            x0, y0, x1, y1 = (int(v) for v in record["crop_box"])
            crops.append((len(rows), pixels[y0:y1, x0:x1]))
        rows.append(record)
    if crops:
        codes, embeddings = descriptor.describe([crop for _, crop in crops])
        for (row_index, _), code, embedding in zip(crops, codes, embeddings, strict=True):
            rows[row_index].update(
                code=code.tobytes(), code_bits=descriptor.bits, embedding=embedding.tolist()
            )
    return pd.DataFrame(rows, columns=OUTPUT_COLUMNS)


def stamped(result, dt: str, models: list[dict], processed_at: str):
    """Add the per-row provenance publish passes on: ``models``, ``processed_at`` (when a row
    was computed, unless it already says so) and ``dt``."""
    from pyspark.sql import functions as F

    when = F.lit(processed_at).cast("timestamp")
    if "processed_at" in result.columns:
        when = F.coalesce(F.col("processed_at"), when)
    return (
        result.withColumn("models", F.array(*[F.lit(m["name"]) for m in models]))
        .withColumn("processed_at", when)
        .withColumn("dt", F.lit(dt))
    )


@dataclass(frozen=True)
class DescribeResult:
    manifest: object
    output_uri: str

    def summary(self) -> dict:
        c = self.manifest.counts
        return {"stage": STAGE, "dt": self.manifest.dt, "images": c["in"], "described": c["out"],
                "quarantined": c["quarantined"], "model": self.manifest.models[-1]["name"],
                "output_uri": self.output_uri, "timings": self.manifest.timings}  # fmt: skip


def format_summary(summary: dict) -> str:
    """The human-readable summary of a describe run."""
    return (
        f"describe dt={summary['dt']} with {summary['model']}: {summary['described']} of {summary['images']} "
        f"images described, {summary['quarantined']} quarantined\n  descriptors: {summary['output_uri']}"
    )


def run(spark: SparkSession, settings: Settings, dt: str, *, steps: Steps | None = None,
        model: str | None = None) -> DescribeResult:  # fmt: skip
    """Describe the crop of every image of one date partition; commit atomically."""
    from pyspark.sql import functions as F

    from lakesight.models.runtime import DEFAULT_DESCRIPTOR, load_card, load_descriptor, resolve
    from lakesight.spark import commit_stage_outputs, fingerprint_of, spark_facts

    steps = steps or Steps(STAGE)
    fs, source, upstream = committed_input(
        spark, settings, ("curated", "crops"), dt, made_by="crop"
    )
    ref, directory = resolve(model or DEFAULT_DESCRIPTOR)
    card = load_card(directory)
    job = ImageJob.for_models(settings, str(ref))
    models = [*upstream.models, {"name": str(ref), "sha256": card["sha256"][card["files"]["fp32"]]}]
    processed_at = datetime.now(UTC).isoformat(timespec="seconds")

    with steps.step("describe"):
        crops = spark.read.parquet(source).drop("dt")
        files = with_image_bytes(spark, settings, dt, crops)
        described = files.mapInPandas(
            per_worker(load_descriptor, describe_batch, job, BATCH_ROWS), OUTPUT_SCHEMA
        )
        result = stamped(described, dt, models, processed_at).cache()
        stats = result.agg(
            F.count(F.lit(1)).alias("rows"),
            F.sum(F.col("reason").isNotNull().cast("int")).alias("quarantined"),
        ).first()
        n_in = crops.count()
        fingerprint = fingerprint_of(crops, "path", "image_id")
    try:
        rows, quarantined = int(stats["rows"]), int(stats["quarantined"] or 0)
        if rows != n_in:
            raise StageError(f"{n_in - rows} images have no raw file under dt={dt} any more")
        common = {
            "dt": dt,
            "stage": STAGE,
            "counts": {"in": n_in, "out": rows - quarantined, "quarantined": quarantined},
            "input_fingerprint": fingerprint,
            "models": models,
            "extra": {"input": source, "computed": rows - quarantined, **spark_facts(spark)},
        }
        manifest = commit_stage_outputs(
            fs, result, stage=STAGE, dt=dt, output_dataset=("curated", "descriptors"),
            schema_version=SCHEMA_VERSION, settings=settings, common=common, steps=steps,
        )  # fmt: skip
    finally:
        spark.catalog.clearCache()
    return DescribeResult(manifest, settings.partition_uri("curated", "descriptors", dt))


def main(argv: list[str] | None = None) -> int:
    """Entry point for spark-submit and ``lakesight stage describe``."""
    from lakesight.spark import stage_main

    return stage_main(STAGE, run, format_summary, argv, description=__doc__.splitlines()[0])


if __name__ == "__main__":
    sys.exit(main())
