"""Analyze stage: ``curated/images/dt=D`` → ``curated/descriptors/dt=D``, detect → crop → describe fused.

One Spark job decodes each image once and passes the Arrow batch from the SSD
to the crop to DeepBit inside the same Python worker, where both models stay
loaded; nothing in between is written. The staged path (``detect``, ``crop``,
``describe``) writes the same dataset with every intermediate kept, and costs a
second decode and two more jobs (``lakesight bench pipeline`` measures both).

Incremental: a result is cached under its image's sha256 (``image_id``) and
the *analysis key*, a hash of both models' files, the code length and the crop
policy. An image already analysed under the same key, on any day, is reused
rather than recomputed, so reruns and backfills only pay for new bytes, while
a new model version (a new key) recomputes everything. The manifest counts
``reused`` and ``computed`` rows.

The cache lives at ``cache/image_features/key=<key>/run=<run_id>/``: immutable
directories, each committed by rename and ``_SUCCESS``, never rewritten. Runs
for other dates may therefore read it while this one adds to it (backfills run
dates side by side), and deleting a published partition never loses work.

Run with ``lakesight stage analyze --dt D`` or ``spark-submit tasks/analyze.py --dt D``.
"""

from __future__ import annotations

import functools
import hashlib
import json
import sys
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING

import pandas as pd

from lakesight.config import Settings
from lakesight.describe import OUTPUT_COLUMNS, OUTPUT_SCHEMA, SCHEMA_VERSION, stamped
from lakesight.features import CropPolicy, analyze
from lakesight.imaging import ImageRejected
from lakesight.lake import (
    STAGING_DIR,
    SUCCESS_MARKER,
    LakeFileSystem,
    Manifest,
    is_committed,
    join,
    new_run_id,
)
from lakesight.progress import Steps
from lakesight.spark import (
    ImageJob,
    StageError,
    committed_input,
    output_files,
    per_worker,
    with_image_bytes,
)

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

STAGE = "analyze"
BATCH_ROWS = 64  # images per detector call; their crops make one descriptor call
ANALYSIS_VERSION = "image_features.analysis/v1"  # bump when the batch function's output changes
# What a cached analysis holds: everything per image that does not depend on where the file was.
CACHED_COLUMNS = (
    "image_id", "width", "height", "detections", "top", "crop_box", "code", "code_bits",
    "embedding", "processed_at",
)  # fmt: skip


def analysis_key(models: list[dict], bits: int, policy: CropPolicy) -> str:
    """The cache key: changes with either model's files, the code length or the crop policy."""
    payload = json.dumps(
        {"analysis": ANALYSIS_VERSION, "models": models, "bits": bits, "policy": asdict(policy)},
        sort_keys=True,
    )
    return hashlib.sha256(payload.encode()).hexdigest()[:16]


def load_models(detector: str, descriptor: str, *, registry: str):
    """Both models of a Python worker, each loaded once per process."""
    from lakesight.models.runtime import load_descriptor, load_detector

    return load_detector(detector, registry=registry), load_descriptor(
        descriptor, registry=registry
    )


def analyze_batch(batch: pd.DataFrame, models, job: ImageJob, policy: CropPolicy) -> pd.DataFrame:
    """Images → analyses. In: ``image_id``, ``path``, ``content``. Out: the describe schema."""
    detector, descriptor = models
    images, rows = [], []
    for image_id, path, content in zip(
        batch["image_id"], batch["path"], batch["content"], strict=True
    ):
        row = dict.fromkeys(OUTPUT_COLUMNS)
        row.update(image_id=image_id, path=path)
        try:
            pixels = job.decode(content, path)
        except ImageRejected as rejected:
            row["reason"], row["detail"] = rejected.reason, rejected.detail
        else:
            row["height"], row["width"] = pixels.shape[:2]
            images.append((len(rows), pixels))
        rows.append(row)
    if images:
        results = analyze([pixels for _, pixels in images], detector, descriptor, policy)
        for (row_index, _), result in zip(images, results, strict=True):
            rows[row_index].update(result, embedding=result["embedding"].tolist())
    return pd.DataFrame(rows, columns=OUTPUT_COLUMNS)


class AnalysisCache:
    """Analyses of one key, append-only: ``cache/image_features/key=K/run=R/`` per run."""

    def __init__(self, fs: LakeFileSystem, settings: Settings, key: str) -> None:
        self.fs = fs
        self.dataset_uri = settings.dataset_uri("cache", "image_features")
        self.key_uri = join(self.dataset_uri, f"key={key}")

    def committed_runs(self) -> list[str]:
        runs = [d for d in self.fs.list_dirs(self.key_uri) if d.startswith("run=")]
        return [
            join(self.key_uri, r)
            for r in sorted(runs)
            if is_committed(self.fs, join(self.key_uri, r))
        ]

    def read(self, spark: SparkSession) -> DataFrame | None:
        """One row per cached image (the earliest computation), or None when the key is new."""
        from pyspark.sql import functions as F

        runs = self.committed_runs()
        if not runs:
            return None
        rows = spark.read.parquet(*runs).select(*CACHED_COLUMNS)
        # Two runs may have computed the same new bytes side by side: keep one, always the same.
        first = rows.groupBy("image_id").agg(
            F.min_by(F.struct(*CACHED_COLUMNS[1:]), "processed_at").alias("cached")
        )
        return first.select("image_id", "cached.*")

    def staging_uri(self, run_id: str) -> str:
        return join(self.dataset_uri, STAGING_DIR, f"{self.key_uri.rsplit('/', 1)[1]}.{run_id}")

    def rows_to_write(self, rows: DataFrame, count: int) -> DataFrame:
        return rows.select(*CACHED_COLUMNS).coalesce(output_files(count))

    def commit(self, run_id: str) -> None:
        """Move a written staging directory into place as a new committed run."""
        final = join(self.key_uri, f"run={run_id}")
        self.fs.mkdirs(self.key_uri)
        self.fs.rename(self.staging_uri(run_id), final)
        self.fs.write_bytes(join(final, SUCCESS_MARKER), b"")


@dataclass(frozen=True)
class AnalyzeResult:
    manifest: Manifest
    output_uri: str
    quarantine_uri: str

    def summary(self) -> dict:
        c = self.manifest.counts
        return {"stage": STAGE, "dt": self.manifest.dt, "images": c["in"], "described": c["out"],
                "quarantined": c["quarantined"], "reused": c["reused"], "computed": c["computed"],
                "models": [m["name"] for m in self.manifest.models],
                "analysis_key": self.manifest.extra["analysis_key"], "output_uri": self.output_uri,
                "quarantine_uri": self.quarantine_uri, "timings": self.manifest.timings}  # fmt: skip


def format_summary(summary: dict) -> str:
    """The human-readable summary of an analyze run."""
    return (
        f"analyze dt={summary['dt']} with {' + '.join(summary['models'])}: {summary['described']} of "
        f"{summary['images']} images described ({summary['reused']} reused from the cache, "
        f"{summary['computed']} computed), {summary['quarantined']} quarantined\n"
        f"  descriptors: {summary['output_uri']}"
    )


def run(spark: SparkSession, settings: Settings, dt: str, *, steps: Steps | None = None,
        detector: str | None = None, descriptor: str | None = None,
        policy: CropPolicy | None = None) -> AnalyzeResult:  # fmt: skip
    """Detect, crop and describe one date partition in one pass, reusing cached analyses."""
    from pyspark.sql import functions as F

    from lakesight.models.runtime import DEFAULT_DESCRIPTOR, DEFAULT_DETECTOR, load_card, resolve
    from lakesight.spark import (
        commit_stage_outputs,
        fingerprint_aggregates,
        fingerprint_from,
        spark_facts,
    )

    steps = steps or Steps(STAGE)
    policy = policy or CropPolicy()
    fs, curated_uri, _ = committed_input(
        spark, settings, ("curated", "images"), dt, made_by="ingest"
    )
    models, refs, bits = [], [], None
    for ref in (detector or DEFAULT_DETECTOR, descriptor or DEFAULT_DESCRIPTOR):
        resolved, directory = resolve(ref)  # fails fast, on the driver, if missing
        card = load_card(directory)
        models.append({"name": str(resolved), "sha256": card["sha256"][card["files"]["fp32"]]})
        refs.append(str(resolved))
        bits = card.get("default_bits", bits)
    key = analysis_key(models, bits, policy)
    cache = AnalysisCache(fs, settings, key)
    run_id = new_run_id()
    processed_at = datetime.now(UTC).isoformat(timespec="seconds")
    job = ImageJob.for_models(settings, *refs)

    with steps.step("look up cache"):
        index = spark.read.parquet(curated_uri).select("image_id", "path")
        cached = cache.read(spark)
        if cached is None:
            todo, reused = index, None
        else:
            todo = index.join(cached.select("image_id"), "image_id", "left_anti")
            reused = index.join(cached, "image_id", "inner")
        todo = todo.cache()
        n_todo = todo.count()
        n_in = n_todo if cached is None else index.count()
    with steps.step("analyze"):
        parts = []
        if reused is not None:
            parts.append(
                reused.withColumn("reason", F.lit(None).cast("string"))
                .withColumn("detail", F.lit(None).cast("string"))
                .select(*OUTPUT_COLUMNS, "processed_at")
            )
        if n_todo:
            # Only read bytes when something is left to compute: a rerun reads no image.
            files = with_image_bytes(spark, settings, dt, todo)
            computed = files.mapInPandas(
                per_worker(
                    load_models,
                    functools.partial(analyze_batch, policy=policy),
                    job,
                    BATCH_ROWS,
                ),
                OUTPUT_SCHEMA,
            ).withColumn("processed_at", F.lit(None).cast("timestamp"))
            parts.append(computed)
        result = parts[0] if len(parts) == 1 else parts[0].unionByName(parts[1])
        result = stamped(result, dt, models, processed_at).cache()
        # One job computes everything and the counts; every image yields one row with its
        # path and id, so the rows' fingerprint is the curated index's (checked below).
        stats = result.agg(
            F.sum(F.col("reason").isNotNull().cast("int")).alias("quarantined"),
            *fingerprint_aggregates("path", "image_id"),
        ).first()
        fingerprint = fingerprint_from(stats)
    try:
        rows, quarantined = int(stats["_fp_n"]), int(stats["quarantined"] or 0)
        if rows != n_in:
            raise StageError(
                f"{n_in - rows} curated images have no raw file under dt={dt} any more"
            )
        common = {
            "dt": dt,
            "stage": STAGE,
            "counts": {
                "in": n_in,
                "out": rows - quarantined,
                "quarantined": quarantined,
                "reused": n_in - n_todo,
                "computed": n_todo - quarantined,
            },
            "input_fingerprint": fingerprint,
            "models": models,
            "extra": {
                "analysis_key": key,
                "policy": asdict(policy),
                "input": curated_uri,
                "cache": cache.key_uri,
                **spark_facts(spark),
            },
        }
        computed = common["counts"]["computed"]
        fresh = result.where(
            F.col("reason").isNull()
            & (F.col("processed_at") == F.lit(processed_at).cast("timestamp"))
        )
        # The cache's new run is written with the outputs and committed after them.
        to_cache = (
            [(cache.rows_to_write(fresh, computed), cache.staging_uri(run_id))] if computed else []
        )
        try:
            manifest = commit_stage_outputs(
                fs, result, stage=STAGE, dt=dt, output_dataset=("curated", "descriptors"),
                schema_version=SCHEMA_VERSION, settings=settings, common=common, steps=steps,
                extra_writes=to_cache,
            )  # fmt: skip
            if to_cache:
                cache.commit(run_id)
        finally:
            fs.delete(cache.staging_uri(run_id))  # gone after a commit; leftovers after a failure
    finally:
        spark.catalog.clearCache()
    return AnalyzeResult(
        manifest,
        settings.partition_uri("curated", "descriptors", dt),
        settings.partition_uri("quarantine", STAGE, dt),
    )


def main(argv: list[str] | None = None) -> int:
    """Entry point for spark-submit and ``lakesight stage analyze``."""
    from lakesight.spark import stage_main

    return stage_main(STAGE, run, format_summary, argv, description=__doc__.splitlines()[0])


if __name__ == "__main__":
    sys.exit(main())
