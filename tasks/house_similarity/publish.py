"""Publish stage: ``curated/listing_embeddings/dt=D`` → ``features/listings/dt=D``, every photo tagged.

The current tag heads (``house_tags``, the newest version: the one the train stage
may just have promoted) are applied to each photo's embedding. ``style`` and
``stories`` are what a front exterior shows: they are set for photos tagged
``exterior`` and null for the others (their scores too). The contract columns are
:data:`datasets.CONTRACT_COLUMNS`; ``models`` names the backbone and the heads.

Run: ``lakesight stage house_similarity.publish --dt D``, or spark-submit this file.
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from lakesight.config import Settings
from lakesight.house_similarity import datasets
from lakesight.progress import Steps
from lakesight.stage import (
    StageError,
    StageResult,
    commit_stage,
    committed_input,
    frees_cached_data,
    model_entries,
    stage_main,
)

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

STAGE = datasets.PUBLISH
TAG_SCHEMA = (
    "photo_id string, exterior boolean, exterior_score float, style string, style_score float, "
    "stories int, stories_score float"
)


def tag_photos(embeddings: np.ndarray, heads) -> dict[str, list]:
    """Tags of (N, D) embeddings: ``exterior`` and its score for every photo; ``style``,
    ``stories`` and their scores for the photos tagged exterior, None for the others."""
    predicted = heads.predict(embeddings)
    labels, scores = predicted["exterior"]
    exterior = [label == "exterior" for label in labels]
    out = {"exterior": exterior, "exterior_score": scores.tolist()}
    for tag in ("style", "stories"):
        names, tag_scores = predicted[tag]
        values = names if tag == "style" else [int(n) for n in names]
        out[tag] = [v if e else None for v, e in zip(values, exterior, strict=True)]
        out[f"{tag}_score"] = [
            float(s) if e else None for s, e in zip(tag_scores, exterior, strict=True)
        ]
    return out


def tag_batch(batch: pd.DataFrame, heads) -> pd.DataFrame:
    """In: ``photo_id``, ``embedding``. Out: :data:`TAG_SCHEMA` rows."""
    if batch.empty:
        return pd.DataFrame(columns=[c.split()[0] for c in TAG_SCHEMA.split(", ")])
    features = np.stack(batch["embedding"].to_numpy()).astype(np.float32)
    out = pd.DataFrame({"photo_id": batch["photo_id"].to_numpy(), **tag_photos(features, heads)})
    return out.astype({"stories": "Int32"})


@frees_cached_data
def run(spark: SparkSession, settings: Settings, dt: str, *, steps: Steps | None = None,
        heads: str | None = None) -> StageResult:  # fmt: skip
    """Tag one day's photos with the current heads and publish the contract."""
    from pyspark.sql import functions as F

    from lakesight.models.tagging.heads import DEFAULT_HEADS, load_heads
    from lakesight.spark import fingerprint_aggregates, fingerprint_from

    steps = steps or Steps(STAGE.short)
    fs, embeddings_uri, embed_manifest = committed_input(
        spark, settings, datasets.EMBEDDINGS, dt, made_by="house_similarity.embed"
    )
    entries, _ = model_entries([heads or DEFAULT_HEADS])
    tag_heads = load_heads(entries[0]["name"], settings.model_registry)
    backbone = embed_manifest.models[0]["name"] if embed_manifest.models else None
    if tag_heads.backbone != backbone:
        raise StageError(
            f"heads {tag_heads.name} were fit on {tag_heads.backbone}; dt={dt} was embedded with "
            f"{backbone}: retrain the heads (house_similarity.train) or re-embed"
        )

    def tag(batches):
        for batch in batches:
            yield tag_batch(batch, tag_heads)

    with steps.step("tag and publish"):
        embedded = spark.read.parquet(embeddings_uri)
        tags = embedded.select("photo_id", "embedding").mapInPandas(tag, TAG_SCHEMA)
        result = (
            embedded.join(tags.dropDuplicates(["photo_id"]), "photo_id", "inner")
            .withColumn(
                "models", F.array(*[F.lit(m["name"]) for m in embed_manifest.models + entries])
            )
            .withColumn("dt", F.lit(dt))
            .cache()
        )
        stats = result.agg(*fingerprint_aggregates("path", "photo_id")).first()
    n = int(stats["_fp_n"] or 0)
    if n != embed_manifest.counts["out"]:
        raise StageError(f"{embed_manifest.counts['out'] - n} embedded photos lost their tags")
    return commit_stage(
        fs, settings, STAGE, dt, result, output_columns=(*datasets.CONTRACT_COLUMNS, "dt"),
        schema_version=datasets.CONTRACT_SCHEMA_VERSION,
        counts={"in": n, "out": n, "quarantined": 0,
                "exterior": result.where("exterior").count()},
        input_fingerprint=fingerprint_from(stats), steps=steps,
        models=[*embed_manifest.models, *entries], extra={"input": embeddings_uri},
    )  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    """Entry point for spark-submit and ``lakesight stage house_similarity.publish``."""
    return stage_main(STAGE, run, argv)


if __name__ == "__main__":
    sys.exit(main())
