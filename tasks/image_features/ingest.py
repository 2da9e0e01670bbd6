"""Ingest stage: ``raw/images/dt=D/**`` → ``curated/images/dt=D`` + ``quarantine/images/dt=D``.

Every file of the raw partition is accounted for exactly once: it becomes one
curated row, or one quarantine row with its reason. An image is judged by its
content, never its name: a PNG named ``.jpg`` or a JPEG without an extension is
curated with its real ``format`` (and ``name_matches_format`` false). Besides
the decoder's reasons (:data:`lakesight.imaging.REJECT_REASONS`) the stage gives

- ``duplicate``: the same bytes as another accepted file (the one with the
  smallest path is kept, so reruns choose the same one);
- ``hidden_file``: a name Hadoop and Spark treat as hidden (``_x``, ``.x``,
  ``x._COPYING_``), which Spark's file sources never read;
- ``file_too_large``: above ``LAKESIGHT_MAX_FILE_BYTES``, quarantined unread.

Spark's file sources also skip zero-byte files; the driver's own listing catches
those (``empty_file``) along with the hidden and oversized ones.

The pure part, :func:`validate_batch`, is unit-tested without Spark; :func:`run` is
the driver around it, reading the day as every ingest does (:mod:`lakesight.raw_files`).

Run: ``lakesight stage image_features.ingest --dt D``, or spark-submit this file.
"""

from __future__ import annotations

import functools
import sys
from typing import TYPE_CHECKING

import pandas as pd

from lakesight.config import Settings
from lakesight.image_features import datasets
from lakesight.imaging import DecodeLimits, ImageRejected
from lakesight.progress import Steps
from lakesight.raw_files import (
    decoded_or_quarantined,
    list_raw_day,
    raw_file_row,
    validated_files,
)
from lakesight.stage import (
    StageResult,
    commit_stage,
    frees_cached_data,
    stage_filesystem,
    stage_main,
    tally,
)

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

STAGE = datasets.INGEST


def validate_batch(batch: pd.DataFrame, limits: DecodeLimits) -> pd.DataFrame:
    """Validate files. In: ``path``, ``length``, ``content``. Out: :data:`datasets.VALIDATION_SCHEMA` rows."""
    rows = []
    for path, length, content in zip(batch["path"], batch["length"], batch["content"], strict=True):
        row = raw_file_row(datasets.VALIDATION_COLUMNS, path, length, content, id_column="image_id")
        image = decoded_or_quarantined(
            row, functools.partial(limits.decode, content, path), ImageRejected
        )
        if image is not None:
            row.update(format=image.format, width=image.width, height=image.height,
                       source_mode=image.source_mode, orientation=image.orientation,
                       name_matches_format=image.name_matches_format)  # fmt: skip
        rows.append(row)
    out = pd.DataFrame(rows, columns=list(datasets.VALIDATION_COLUMNS))
    return out.astype(
        {"size": "int64", "width": "Int32", "height": "Int32", "orientation": "Int32",
         "name_matches_format": "boolean"}
    )  # fmt: skip


@frees_cached_data
def run(
    spark: SparkSession, settings: Settings, dt: str, *, steps: Steps | None = None
) -> StageResult:
    """Ingest one date partition; commit curated and quarantine outputs atomically."""
    from pyspark.sql import functions as F

    from lakesight.spark import without_duplicates

    steps = steps or Steps(STAGE.short)
    fs = stage_filesystem(spark, settings)
    day = list_raw_day(fs, settings, datasets.RAW_IMAGES, STAGE, dt, steps)
    steps.say(f"{len(day.files)} files under {day.uri}")
    limits = DecodeLimits.from_settings(settings)
    with steps.step("decode and validate"):
        validated = validated_files(
            spark, settings, day, functools.partial(validate_batch, limits=limits),
            datasets.VALIDATION_SCHEMA, datasets.VALIDATION_COLUMNS,
        )  # fmt: skip
        result = (
            without_duplicates(validated, key=("image_id",)).withColumn("dt", F.lit(dt)).cache()
        )
        counted = tally(result, ("path", "size", "image_id"))
    day.check_all_read(counted.rows)
    return commit_stage(
        fs, settings, STAGE, dt, result, output_columns=datasets.CURATED_COLUMNS,
        schema_version=datasets.CURATED_SCHEMA_VERSION, counts=counted.counts(),
        input_fingerprint=counted.fingerprint, steps=steps, extra=day.manifest_extra,
    )  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    """Entry point for spark-submit and ``lakesight stage image_features.ingest``."""
    return stage_main(STAGE, run, argv)


if __name__ == "__main__":
    sys.exit(main())
