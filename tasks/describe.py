"""Describe stage: ``curated/crops/dt=D`` → ``curated/descriptors/dt=D``, DeepBit codes + embeddings.

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
from typing import TYPE_CHECKING

import pandas as pd

from lakesight.config import Settings
from lakesight.imaging import ImageRejected
from lakesight.lake import HadoopFileSystem, check_reachable, is_committed
from lakesight.progress import Steps
from lakesight.spark import ImageJob, StageError, per_worker, with_image_bytes

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

STAGE = "describe"
SCHEMA_VERSION = "curated.descriptors/v1"
OUTPUT_SCHEMA = "image_id string, path string, code binary, code_bits int, embedding array<float>, reason string, detail string"
BATCH_ROWS = 128  # crops per descriptor call


def describe_batch(batch: pd.DataFrame, descriptor, job: ImageJob) -> pd.DataFrame:
    """In: ``image_id``, ``path``, ``crop_box``, ``content``. Out: :data:`OUTPUT_SCHEMA`."""
    crops, rows = [], []
    for image_id, path, box, content in zip(
        batch["image_id"], batch["path"], batch["crop_box"], batch["content"], strict=True
    ):
        row = {"image_id": image_id, "path": path, "code": None, "code_bits": None, "embedding": None,
               "reason": None, "detail": None}  # fmt: skip
        try:
            pixels = job.decode(content, path)
        except ImageRejected as rejected:
            row["reason"], row["detail"] = rejected.reason, rejected.detail
        else:
            x0, y0, x1, y1 = (int(v) for v in box)
            crops.append((len(rows), pixels[y0:y1, x0:x1]))
        rows.append(row)
    if crops:
        codes, embeddings = descriptor.describe([crop for _, crop in crops])
        for (row_index, _), code, embedding in zip(crops, codes, embeddings, strict=True):
            rows[row_index].update(
                code=code.tobytes(), code_bits=descriptor.bits, embedding=embedding.tolist()
            )
    return pd.DataFrame(rows, columns=[c.split()[0] for c in OUTPUT_SCHEMA.split(", ")])


@dataclass(frozen=True)
class DescribeResult:
    manifest: object
    output_uri: str

    def summary(self) -> dict:
        c = self.manifest.counts
        return {"stage": STAGE, "dt": self.manifest.dt, "images": c["in"], "described": c["out"],
                "quarantined": c["quarantined"], "model": self.manifest.models[0]["name"],
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
    fs = HadoopFileSystem(spark)
    check_reachable(fs, settings.root)
    source = settings.partition_uri("curated", "crops", dt)
    if not is_committed(fs, source):
        raise StageError(f"input partition not committed: {source} (run crop first)")
    ref, directory = resolve(model or DEFAULT_DESCRIPTOR)
    card = load_card(directory)
    job = ImageJob.for_model(str(ref), settings)

    with steps.step("describe"):
        crops = spark.read.parquet(source).select("image_id", "path", "crop_box")
        files = with_image_bytes(spark, settings, dt, crops)
        result = (
            files.mapInPandas(
                per_worker(load_descriptor, describe_batch, job, BATCH_ROWS), OUTPUT_SCHEMA
            )
            .withColumn("dt", F.lit(dt))
            .cache()
        )
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
            "models": [{"name": str(ref), "sha256": card["sha256"][card["files"]["fp32"]]}],
            "extra": {"input": source, **spark_facts(spark)},
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
