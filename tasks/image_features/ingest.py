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

The pure parts, :func:`validate_batch` and :func:`unread_rows`, are unit-tested
without Spark; :func:`run` is the driver around them.

Run: ``lakesight stage image_features.ingest --dt D``, or spark-submit this file.
"""

from __future__ import annotations

import hashlib
import sys
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING

import pandas as pd

from lakesight.config import Settings
from lakesight.image_features import datasets
from lakesight.imaging import DecodeLimits, ImageRejected
from lakesight.input_change import input_change, input_listing, previous_manifest
from lakesight.lake import (
    FileEntry,
    HadoopFileSystem,
    check_reachable,
    path_uri,
    unread_files,
)
from lakesight.progress import Steps
from lakesight.stage import (
    StageError,
    StageResult,
    commit_stage,
    frees_cached_data,
    stage_main,
)

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

STAGE = datasets.INGEST


def validate_batch(batch: pd.DataFrame, limits: DecodeLimits) -> pd.DataFrame:
    """Validate files. In: ``path``, ``length``, ``content``. Out: :data:`datasets.VALIDATION_SCHEMA` rows."""
    rows = []
    for path, length, content in zip(batch["path"], batch["length"], batch["content"], strict=True):
        row = dict.fromkeys(datasets.VALIDATION_COLUMNS)
        # Spark gives Hadoop's spelling; the row holds the published URI (lake.path_uri).
        row.update(
            path=path_uri(path),
            size=int(length),
            image_id=hashlib.sha256(content or b"").hexdigest(),
        )
        try:
            image = limits.decode(content, path)
        except ImageRejected as rejected:
            row["reason"], row["detail"] = rejected.reason, rejected.detail
        except Exception as err:  # a decoder bug must not fail the job: quarantine it
            row["reason"], row["detail"] = "corrupt", f"{type(err).__name__}: {err}"[:200]
        else:
            row.update(format=image.format, width=image.width, height=image.height,
                       source_mode=image.source_mode, orientation=image.orientation,
                       name_matches_format=image.name_matches_format)  # fmt: skip
        rows.append(row)
    out = pd.DataFrame(rows, columns=list(datasets.VALIDATION_COLUMNS))
    return out.astype(
        {"size": "int64", "width": "Int32", "height": "Int32", "orientation": "Int32",
         "name_matches_format": "boolean"}
    )  # fmt: skip


def unread_rows(raw_uri: str, listing: Sequence[FileEntry], max_bytes: int) -> list[dict]:
    """Validation rows for the files Spark will not read: hidden, empty and oversized ones."""
    return [
        {**dict.fromkeys(datasets.VALIDATION_COLUMNS), "path": path_uri(entry.uri), "size": entry.size,
         "reason": reason, "detail": detail}
        for entry, reason, detail in unread_files(raw_uri, listing, max_bytes)
    ]  # fmt: skip


@frees_cached_data
def run(
    spark: SparkSession, settings: Settings, dt: str, *, steps: Steps | None = None
) -> StageResult:
    """Ingest one date partition; commit curated and quarantine outputs atomically."""
    from pyspark.sql import functions as F

    from lakesight.spark import fingerprint_aggregates, fingerprint_from, without_duplicates

    steps = steps or Steps(STAGE.short)
    fs = HadoopFileSystem(spark)
    check_reachable(fs, settings.root)
    raw_uri = datasets.RAW_IMAGES.partition(settings, dt)
    with steps.step("list input"):
        if not fs.exists(raw_uri):
            raise StageError(f"input partition missing: {raw_uri}")
        listing = fs.list_files(raw_uri)
        inputs = input_listing(raw_uri, listing)
        previous = previous_manifest(fs, STAGE.output.partition(settings, dt))
    steps.say(f"{len(listing)} files under {raw_uri}")

    limits = DecodeLimits.from_settings(settings)

    def validate(batches: Iterator[pd.DataFrame]) -> Iterator[pd.DataFrame]:
        for batch in batches:
            yield validate_batch(batch, limits)

    with steps.step("decode and validate"):
        files = spark.read.format("binaryFile").option("recursiveFileLookup", "true").load(raw_uri)
        # Pushed down: oversized files are skipped without reading their bytes.
        readable = files.where(F.col("length") <= settings.max_file_bytes)
        unread = spark.createDataFrame(
            unread_rows(raw_uri, listing, settings.max_file_bytes), datasets.VALIDATION_SCHEMA
        )
        validated = readable.mapInPandas(validate, datasets.VALIDATION_SCHEMA).unionByName(unread)
        result = (
            without_duplicates(validated, key=("image_id",)).withColumn("dt", F.lit(dt)).cache()
        )
        stats = result.agg(
            F.sum(F.col("reason").isNotNull().cast("int")).alias("quarantined"),
            *fingerprint_aggregates("path", "size", "image_id"),
        ).first()
    read, quarantined = int(stats["_fp_n"]), int(stats["quarantined"] or 0)
    if read != len(listing):
        # Files appeared or vanished between listing and reading: the input is still
        # being written. Fail loudly (the task retries) rather than commit a guess.
        raise StageError(
            f"input changed while ingesting {raw_uri}: listed {len(listing)} files, read {read}"
        )
    return commit_stage(
        fs, settings, STAGE, dt, result, output_columns=datasets.CURATED_COLUMNS,
        schema_version=datasets.CURATED_SCHEMA_VERSION,
        counts={"in": read, "out": read - quarantined, "quarantined": quarantined},
        input_fingerprint=fingerprint_from(stats), steps=steps,
        extra={"input": raw_uri, "inputs": inputs,
               "input_change": input_change(previous, inputs)},
    )  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    """Entry point for spark-submit and ``lakesight stage image_features.ingest``."""
    return stage_main(STAGE, run, argv)


if __name__ == "__main__":
    sys.exit(main())
