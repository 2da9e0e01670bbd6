"""Analyze stage: ``curated/images/dt=D`` → ``curated/descriptors/dt=D``, detect → crop → describe fused.

One Spark job decodes each image once and passes the Arrow batch from the SSD
to the crop to DeepBit inside the same Python worker, where both models stay
loaded; nothing in between is written. Every detection is kept here, with the
chosen ``top`` and its ``crop_box``, so the intermediates stay inspectable.

Incremental: a result is cached under its image's sha256 (``image_id``) and the
analysis key (:mod:`lakesight.image_features.cache`). An image already analysed
under the same key, on any day, is reused rather than recomputed, so reruns and
backfills only pay for new bytes. The manifest counts ``reused`` and
``computed`` rows. The bytes read are re-hashed: an image whose raw file was replaced
since ingest (its sha256 is no longer its ``image_id``) goes to ``quarantine/descriptors``
as ``changed_since_ingest`` and is never cached under the old id.

Run: ``lakesight stage image_features.analyze --dt D``, or spark-submit this file.
"""

from __future__ import annotations

import functools
import sys
from dataclasses import asdict
from datetime import UTC, datetime
from typing import TYPE_CHECKING

import pandas as pd

from lakesight.config import Settings
from lakesight.image_features import datasets
from lakesight.image_features.analysis import CropPolicy, analyze
from lakesight.image_features.cache import analysis_cache, analysis_key
from lakesight.imaging import ImageRejected
from lakesight.progress import Steps
from lakesight.spark import (
    ImageJob,
    cached_and_computed,
    check_content_id,
    map_files,
    per_worker,
)
from lakesight.stage import (
    StageError,
    StageResult,
    commit_stage,
    committed_input,
    frees_cached_data,
    model_entries,
    stage_main,
    tally,
)

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

STAGE = datasets.ANALYZE
# Which models to run, NAME[@V] (default: the LAKESIGHT_DETECTOR / LAKESIGHT_DESCRIPTOR settings).
MODEL_OPTIONS = (
    ("--detector", {"metavar": "NAME[@V]", "help": "detector (default: LAKESIGHT_DETECTOR)"}),
    ("--descriptor", {"metavar": "NAME[@V]", "help": "descriptor (default: LAKESIGHT_DESCRIPTOR)"}),
)
BATCH_ROWS = 64  # images per detector call; their crops make one descriptor call


def load_models(detector: str, descriptor: str, *, registry: str, variant: str = "fp32"):
    """Both models of a Python worker, each loaded once per process; the detector's ``variant``
    (fp32 or int8) as the driver chose it."""
    from lakesight.models.runtime import load_descriptor, load_detector

    return load_detector(detector, registry=registry, variant=variant), load_descriptor(
        descriptor, registry=registry
    )


def detector_variant(models: list[dict], cards: list[dict]) -> tuple[list[dict], dict]:
    """The detector's file this CPU runs faster (:func:`lakesight.models.catalog.fastest_variant`),
    measured once on the driver; an int8 choice enters the models' entries (and so the cache
    key) with its own sha256."""
    from lakesight.models.catalog import fastest_variant

    choice = fastest_variant(models[0]["name"])
    if choice["variant"] == "fp32":
        return models, choice
    int8 = cards[0]["sha256"][cards[0]["files"]["int8"]]
    return [{**models[0], "variant": "int8", "sha256": int8}, *models[1:]], choice


def analyze_batch(batch: pd.DataFrame, models, job: ImageJob, policy: CropPolicy) -> pd.DataFrame:
    """Images → analyses. In: ``image_id``, ``path``, ``content``. Out: :data:`datasets.ANALYSIS_SCHEMA`."""
    detector, descriptor = models
    images, rows = [], []
    for image_id, path, content in zip(
        batch["image_id"], batch["path"], batch["content"], strict=True
    ):
        row = dict.fromkeys(datasets.ANALYSIS_COLUMNS)
        row.update(image_id=image_id, path=path)
        try:
            check_content_id(content, image_id)
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
    return pd.DataFrame(rows, columns=list(datasets.ANALYSIS_COLUMNS))


def analyses(spark: SparkSession, settings: Settings, todo: DataFrame | None,
             reused: DataFrame | None, job: ImageJob, policy: CropPolicy,
             variant: str = "fp32") -> DataFrame:  # fmt: skip
    """The day's rows: cached analyses for ``reused``, computed ones for ``todo`` (None when
    nothing is left to compute: then no image byte is read)."""
    from pyspark.sql import functions as F

    computed = None
    if todo is not None:
        batch_fn = functools.partial(analyze_batch, policy=policy)
        computed = map_files(
            todo, settings,
            per_worker(functools.partial(load_models, variant=variant), batch_fn, job, BATCH_ROWS),
            datasets.ANALYSIS_SCHEMA,
        ).withColumn("processed_at", F.lit(None).cast("timestamp"))  # fmt: skip
    schema = f"{datasets.ANALYSIS_SCHEMA}, processed_at timestamp"
    return cached_and_computed(spark, reused, computed, schema)


@frees_cached_data
def run(spark: SparkSession, settings: Settings, dt: str, *, steps: Steps | None = None,
        detector: str | None = None, descriptor: str | None = None,
        policy: CropPolicy | None = None) -> StageResult:  # fmt: skip
    """Detect, crop and describe one date partition in one pass, reusing cached analyses."""
    from pyspark.sql import functions as F

    steps, policy = steps or Steps(STAGE.short), policy or CropPolicy()
    fs, curated_uri, _ = committed_input(spark, settings, datasets.INGEST, dt)
    models, cards = model_entries(
        [detector or settings.detector, descriptor or settings.descriptor]
    )
    models, variant = detector_variant(models, cards)
    cache = analysis_cache(fs, settings, analysis_key(models, cards[1]["default_bits"], policy))
    job = ImageJob.for_models(settings, *(m["name"] for m in models))
    processed_at = datetime.now(UTC).isoformat(timespec="seconds")
    with steps.step("look up cache"):
        index = spark.read.parquet(curated_uri).select("image_id", "path")
        todo, reused = cache.split(spark, index)
        n_todo = todo.cache().count()
        n_index = n_todo if reused is None else index.count()
    with steps.step("analyze"):
        rows = analyses(spark, settings, todo if n_todo else None, reused, job, policy,
                        variant["variant"])  # fmt: skip
        result = datasets.stamped(rows, dt, models, processed_at).cache()
        # One job computes everything and the counts; every image yields one row with its
        # path and id, so the rows' fingerprint is the curated index's.
        counted = tally(result, ("path", "image_id"))
    if counted.rows != n_index:
        raise StageError(
            f"{n_index - counted.rows} curated images have no raw file under dt={dt} any more"
        )
    computed = n_todo - counted.quarantined
    fresh = result.where(
        F.col("reason").isNull() & (F.col("processed_at") == F.lit(processed_at).cast("timestamp"))
    )
    # The cache's new run is written with the outputs and committed after them.
    with cache.adding(fresh, computed) as cache_writes:
        return commit_stage(
            fs, settings, STAGE, dt, result, output_columns=datasets.DESCRIPTORS_COLUMNS,
            schema_version=datasets.DESCRIPTORS_SCHEMA_VERSION,
            counts=counted.counts(reused=counted.rows - n_todo, computed=computed),
            input_fingerprint=counted.fingerprint, steps=steps, models=models,
            extra={"analysis_key": cache.key, "policy": asdict(policy), "input": curated_uri,
                   "detector_variant": variant,
                   "cache": cache.key_uri, **cache.manifest_extra()},
            extra_writes=cache_writes,
        )  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    """Entry point for spark-submit and ``lakesight stage image_features.analyze``."""
    return stage_main(STAGE, run, argv, options=MODEL_OPTIONS)


if __name__ == "__main__":
    sys.exit(main())
