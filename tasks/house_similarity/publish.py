"""Publish stage: ``curated/listing_embeddings/dt=D`` → ``features/listings/dt=D``, every photo tagged.

The current tag heads (``house_tags``, the newest version: the one the train stage
may just have promoted) are applied to each photo's embedding; a head fine-tuned on
pixels (:class:`lakesight.models.tagging.heads.TunedHead`) reads the photo itself, and a
photo that no longer decodes then (its raw file replaced since embed) is quarantined
with its reason. ``style`` and
``stories`` are what a front exterior shows: they are set for photos tagged
``exterior`` and null for the others (their scores too). The contract columns are
:data:`datasets.CONTRACT_COLUMNS`; ``models`` names the backbone and the heads.

Run: ``lakesight stage house_similarity.publish --dt D``, or spark-submit this file.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from lakesight.config import Settings
from lakesight.house_similarity import datasets
from lakesight.imaging import ImageRejected
from lakesight.progress import Steps
from lakesight.spark import ImageJob, map_files, row_slices
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
    from pyspark.sql import SparkSession

STAGE = datasets.PUBLISH
BATCH_ROWS = 64  # photos per call of the heads (a fine-tuned head decodes and runs them)


def tag_photos(
    embeddings: np.ndarray, heads, photos: Sequence[np.ndarray] | None = None
) -> dict[str, list]:
    """Tags of (N, D) embeddings (and of their photos, for heads fine-tuned on pixels):
    ``exterior`` and its score for every photo; ``style``, ``stories`` and their scores for
    the photos tagged exterior, None for the others (their heads see only those)."""
    labels, scores = heads.predict_tag("exterior", embeddings, photos)
    exterior = [label == "exterior" for label in labels]
    out = {"exterior": exterior, "exterior_score": scores.tolist()}
    fronts = np.flatnonzero(exterior)
    for tag in ("style", "stories"):
        names, tag_scores = heads.predict_tag(
            tag, embeddings[fronts], None if photos is None else [photos[i] for i in fronts]
        )
        values, value_scores = [None] * len(exterior), [None] * len(exterior)
        for i, name, score in zip(fronts, names, tag_scores, strict=True):
            values[i] = name if tag == "style" else int(name)
            value_scores[i] = float(score)
        out[tag], out[f"{tag}_score"] = values, value_scores
    return out


def tag_batch(batch: pd.DataFrame, heads, job: ImageJob | None = None) -> pd.DataFrame:
    """In: ``photo_id``, ``embedding`` (and ``path``, ``content`` when a head needs the
    photos). Out: :data:`datasets.TAG_SCHEMA` rows; a photo that no longer decodes gets its reason."""
    columns = list(datasets.TAG_COLUMNS)
    if batch.empty:
        return pd.DataFrame(columns=columns)
    features = np.stack(batch["embedding"].to_numpy()).astype(np.float32)
    reasons = [None] * len(batch)
    photos = None
    if heads.needs_photos:
        photos = []
        for i, (path, content) in enumerate(zip(batch["path"], batch["content"], strict=True)):
            try:
                photos.append(job.decode(content, path))
            except ImageRejected as rejected:
                reasons[i] = (rejected.reason, rejected.detail)
        keep = np.array([r is None for r in reasons])
        features = features[keep]
    tags = pd.DataFrame(tag_photos(features, heads, photos))
    out = pd.DataFrame(index=range(len(batch)), columns=columns)
    out["photo_id"] = batch["photo_id"].to_numpy()
    decoded = [i for i, r in enumerate(reasons) if r is None]
    for column in tags.columns:
        out.loc[decoded, column] = tags[column].to_numpy()
    out["reason"] = [r and r[0] for r in reasons]
    out["detail"] = [r and r[1] for r in reasons]
    return out.astype({"exterior": "boolean", "exterior_score": "float32", "style_score": "float32",
                       "stories": "Int32", "stories_score": "float32"})  # fmt: skip


@frees_cached_data
def run(spark: SparkSession, settings: Settings, dt: str, *, steps: Steps | None = None,
        heads: str | None = None) -> StageResult:  # fmt: skip
    """Tag one day's photos with the current heads and publish the contract."""
    from pyspark.sql import functions as F

    from lakesight.models.tagging.heads import DEFAULT_HEADS, load_heads

    steps = steps or Steps(STAGE.short)
    fs, embeddings_uri, embed_manifest = committed_input(spark, settings, datasets.EMBED, dt)
    entries, _ = model_entries([heads or DEFAULT_HEADS])
    tag_heads = load_heads(entries[0]["name"], settings.model_registry)
    backbone = embed_manifest.models[0]["name"] if embed_manifest.models else None
    if tag_heads.backbone != backbone:
        raise StageError(
            f"heads {tag_heads.name} were fit on {tag_heads.backbone}; dt={dt} was embedded with "
            f"{backbone}: retrain the heads (house_similarity.train) or re-embed"
        )

    job = ImageJob.for_models(settings, *(m["name"] for m in entries))

    def tag(batches):
        for rows in row_slices(batches, BATCH_ROWS):
            yield tag_batch(rows, tag_heads, job)

    with steps.step("tag and publish"):
        embedded = spark.read.parquet(embeddings_uri)
        inputs = embedded.select("photo_id", "path", "embedding")
        if tag_heads.needs_photos:  # a fine-tuned head answers from the photo itself
            tags = map_files(inputs, settings, tag, datasets.TAG_SCHEMA)
        else:
            tags = inputs.mapInPandas(tag, datasets.TAG_SCHEMA)
        result = (
            embedded.join(tags.dropDuplicates(["photo_id"]), "photo_id", "inner")
            .withColumn(
                "models", F.array(*[F.lit(m["name"]) for m in embed_manifest.models + entries])
            )
            .withColumn("dt", F.lit(dt))
            .cache()
        )
        exteriors = F.sum(F.coalesce(F.col("exterior"), F.lit(False)).cast("int"))
        counted = tally(result, ("path", "photo_id"), exterior=exteriors)
    if counted.rows != embed_manifest.counts["out"]:
        lost = embed_manifest.counts["out"] - counted.rows
        raise StageError(f"{lost} embedded photos lost their tags")
    return commit_stage(
        fs, settings, STAGE, dt, result, output_columns=(*datasets.CONTRACT_COLUMNS, "dt"),
        schema_version=datasets.CONTRACT_SCHEMA_VERSION,
        counts=counted.counts(exterior=int(counted.values["exterior"] or 0)),
        input_fingerprint=counted.fingerprint, steps=steps,
        models=[*embed_manifest.models, *entries], extra={"input": embeddings_uri},
        quarantine_columns=("listing_id", "photo_id"),
    )  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    """Entry point for spark-submit and ``lakesight stage house_similarity.publish``."""
    return stage_main(STAGE, run, argv)


if __name__ == "__main__":
    sys.exit(main())
