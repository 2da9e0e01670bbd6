"""Embed stage: ``curated/listings/dt=D`` → ``curated/listing_embeddings/dt=D``: each photo through the frozen backbone.

Every accepted photo is embedded once: the L2-normalised output of the backbone
cut at its pooling layer (:mod:`lakesight.models.tagging.backbone`). Embeddings are
cached by photo sha256 under a key of the backbone's file, the source of the code that
computes an embedding (:data:`EMBED_CODE`) and :data:`EMBED_VERSION`
(:class:`lakesight.spark.KeyedCache`), so a photo re-listed on another day, a rerun or a
backfill reuses them, and a new backbone or an edit of that code recomputes.
:data:`EMBED_CODE` names, in this one place, the modules and functions an embedding runs;
the key holds a sha256 of their source text (:func:`lakesight.spark.code_fingerprint`),
and a test traces ``embed_batch`` and fails if it runs lakesight code the list leaves
out. Bump :data:`EMBED_VERSION` only for what the source cannot show (a new onnxruntime).
The manifest counts ``reused`` and ``computed``. The bytes read are re-hashed: a photo
whose raw file was replaced after ingest is quarantined as ``changed_since_ingest`` and
never cached under the old ``photo_id``.

Run: ``lakesight stage house_similarity.embed --dt D``, or spark-submit this file.
"""

from __future__ import annotations

import hashlib
import json
import sys
from datetime import UTC, datetime
from typing import TYPE_CHECKING

import pandas as pd

from lakesight.config import Settings
from lakesight.house_similarity import datasets
from lakesight.imaging import ImageRejected
from lakesight.progress import Steps
from lakesight.spark import (
    ImageJob,
    KeyedCache,
    cached_and_computed,
    check_content_id,
    code_fingerprint,
    code_sources,
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

STAGE = datasets.EMBED
EMBED_VERSION = "house_similarity.embed/v1"  # bump when outputs change without code changes
# The code an embedding runs (module, or module:top-level name); its source is in the key.
EMBED_CODE = (
    "lakesight.house_similarity.embed:embed_batch",
    "lakesight.imaging",
    "lakesight.lake:uri_path",
    "lakesight.spark:ImageJob",
    "lakesight.spark:check_content_id",
    "lakesight.models.tagging.backbone",
    "lakesight.models.detection.detector",
    "lakesight.models.detection.heads",
    "lakesight.models.runtime:ort_runner",
)
BATCH_ROWS = 64


def embedding_key(backbone: dict) -> str:
    """The cache key: the backbone's file, the code of :data:`EMBED_CODE` and the version."""
    code = code_fingerprint(code_sources(EMBED_CODE))
    payload = json.dumps(
        {"embed": EMBED_VERSION, "code": code, "backbone": backbone}, sort_keys=True
    )
    return hashlib.sha256(payload.encode()).hexdigest()[:16]


def load_backbone_model(ref: str, *, registry: str):
    from lakesight.models.tagging.backbone import load_backbone

    return load_backbone(ref, registry=registry)


def embed_batch(batch: pd.DataFrame, backbone, job: ImageJob) -> pd.DataFrame:
    """Photos → embeddings. In: ``listing_id``, ``photo_id``, ``path``, ``content``.
    Out: :data:`datasets.EMBED_SCHEMA` rows."""
    pixels, rows = [], []
    for listing_id, photo_id, path, content in zip(
        batch["listing_id"], batch["photo_id"], batch["path"], batch["content"], strict=True
    ):
        row = dict.fromkeys(datasets.EMBED_COLUMNS)
        row.update(listing_id=listing_id, photo_id=photo_id, path=path)
        try:
            check_content_id(content, photo_id)
            pixels.append((len(rows), job.decode(content, path)))
        except ImageRejected as rejected:
            row["reason"], row["detail"] = rejected.reason, rejected.detail
        rows.append(row)
    if pixels:
        vectors = backbone.embed([p for _, p in pixels])
        for (index, _), vector in zip(pixels, vectors, strict=True):
            rows[index]["embedding"] = vector.tolist()
    return pd.DataFrame(rows, columns=list(datasets.EMBED_COLUMNS))


def photo_index(spark: SparkSession, listings_uri: str) -> DataFrame:
    """One row per accepted photo: ``listing_id``, ``photo_id``, ``path``."""
    from pyspark.sql import functions as F

    listings = spark.read.parquet(listings_uri)
    return listings.select("listing_id", F.explode("photos").alias("p")).select(
        "listing_id", "p.photo_id", "p.path"
    )


def embed_photos(index: DataFrame, settings: Settings, job: ImageJob) -> DataFrame:
    """:data:`datasets.EMBED_SCHEMA` rows of ``index``'s photos, each read and embedded by a
    Python worker (:func:`lakesight.spark.map_files`)."""
    embed = per_worker(load_backbone_model, embed_batch, job, BATCH_ROWS)
    return map_files(index, settings, embed, datasets.EMBED_SCHEMA)


def embeddings(spark: SparkSession, settings: Settings, todo: DataFrame | None,
               reused: DataFrame | None, job: ImageJob, processed_at: str) -> DataFrame:  # fmt: skip
    """The day's rows: cached embeddings for ``reused``, computed ones for ``todo`` (None
    when nothing is left to compute: then no photo byte is read)."""
    from pyspark.sql import functions as F

    computed = None
    if todo is not None:
        computed = embed_photos(todo, settings, job).withColumn(
            "processed_at", F.lit(processed_at).cast("timestamp")
        )
    schema = f"{datasets.EMBED_SCHEMA}, processed_at timestamp"
    return cached_and_computed(spark, reused, computed, schema)


@frees_cached_data
def run(spark: SparkSession, settings: Settings, dt: str, *, steps: Steps | None = None,
        backbone: str | None = None) -> StageResult:  # fmt: skip
    """Embed one day's photos, reusing cached embeddings."""
    from pyspark.sql import functions as F

    from lakesight.models.tagging.backbone import DEFAULT_BACKBONE

    steps = steps or Steps(STAGE.short)
    fs, listings_uri, _ = committed_input(spark, settings, datasets.INGEST, dt)
    models, _ = model_entries([backbone or DEFAULT_BACKBONE])
    key = embedding_key(models[0])
    cache = KeyedCache(fs, datasets.EMBEDDING_CACHE.uri(settings), key, datasets.CACHED_COLUMNS)
    job = ImageJob.for_models(settings, models[0]["name"])
    processed_at = datetime.now(UTC).isoformat(timespec="seconds")
    with steps.step("look up cache"):
        index = photo_index(spark, listings_uri).cache()
        n_index = index.count()
        todo, reused = cache.split(spark, index)
        n_todo = todo.cache().count()
    with steps.step("embed"):
        rows = embeddings(spark, settings, todo if n_todo else None, reused, job, processed_at)
        result = (
            rows.withColumn("models", F.array(*[F.lit(m["name"]) for m in models]))
            .withColumn("dt", F.lit(dt))
            .cache()
        )
        counted = tally(result, ("path", "photo_id"))
    if counted.rows != n_index:
        raise StageError(
            f"{n_index - counted.rows} curated photos have no raw file under dt={dt} any more"
        )
    fresh = result.where(
        F.col("reason").isNull() & (F.col("processed_at") == F.lit(processed_at).cast("timestamp"))
    )
    computed = n_todo - counted.quarantined
    with cache.adding(fresh, computed) as cache_writes:
        return commit_stage(
            fs, settings, STAGE, dt, result, output_columns=datasets.EMBEDDINGS_COLUMNS,
            schema_version=datasets.EMBEDDINGS_SCHEMA_VERSION,
            counts=counted.counts(reused=counted.rows - n_todo, computed=computed),
            input_fingerprint=counted.fingerprint, steps=steps, models=models,
            extra={"embedding_key": cache.key, "input": listings_uri, "cache": cache.key_uri,
                   **cache.manifest_extra()},
            extra_writes=cache_writes, quarantine_columns=("listing_id", "photo_id"),
        )  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    """Entry point for spark-submit and ``lakesight stage house_similarity.embed``."""
    return stage_main(STAGE, run, argv)


if __name__ == "__main__":
    sys.exit(main())
