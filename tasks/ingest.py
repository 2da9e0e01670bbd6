"""Ingest stage: ``raw/images/dt=D/**`` → ``curated/images/dt=D`` + ``quarantine/images/dt=D``.

Every file of the raw partition is accounted for exactly once: it becomes one
curated row, or one quarantine row with its reason. Besides the decoder's
reasons (:data:`lakesight.imaging.REJECT_REASONS`) the stage itself gives

- ``duplicate``: the same bytes as another accepted file (the one with the
  smallest path is kept, so reruns choose the same one);
- ``hidden_file``: a name Hadoop and Spark treat as hidden (``_x``, ``.x``,
  ``x._COPYING_``), which Spark's file sources never read;
- ``file_too_large``: above ``LAKESIGHT_MAX_FILE_BYTES``, quarantined unread.

Spark's file sources also skip zero-byte files; the driver's own listing catches
those (``empty_file``) along with the hidden and oversized ones.

The pure part, :func:`validate_batch`, turns a pandas batch of files into
validation rows; :func:`run` is the Spark driver around it.

Run with ``lakesight stage ingest --dt D`` or ``spark-submit tasks/ingest.py --dt D``.
"""

from __future__ import annotations

import hashlib
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import PurePosixPath
from typing import TYPE_CHECKING

import pandas as pd

from lakesight.config import Settings
from lakesight.imaging import ImageRejected, decode_image
from lakesight.lake import (
    HadoopFileSystem,
    Manifest,
    PartitionWriter,
    check_reachable,
    uri_path,
)
from lakesight.progress import Steps
from lakesight.spark import StageError

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

STAGE = "ingest"
CURATED_SCHEMA_VERSION = "curated.images/v1"
QUARANTINE_SCHEMA_VERSION = "quarantine/v1"

# One row per input file, before duplicates are resolved. reason is null for accepted files.
VALIDATION_SCHEMA = (
    "path string, size long, image_id string, format string, width int, height int, "
    "source_mode string, orientation int, reason string, detail string"
)
CURATED_COLUMNS = (
    "image_id", "path", "dt", "size", "format", "width", "height", "source_mode", "orientation",
)  # fmt: skip
QUARANTINE_COLUMNS = ("path", "dt", "stage", "reason", "detail", "image_id", "size")


@dataclass(frozen=True)
class DecodeLimits:
    """The decoder's limits, shipped to executors with the function."""

    max_pixels: int
    min_side: int

    @classmethod
    def from_settings(cls, settings: Settings) -> DecodeLimits:
        return cls(settings.max_image_pixels, settings.min_image_side)


def is_hidden(relative_path: str) -> bool:
    """Whether Hadoop/Spark file listing skips this path (any component hidden)."""
    for part in PurePosixPath(relative_path).parts:
        if part.startswith(".") or part.endswith("._COPYING_"):
            return True
        if part.startswith("_") and "=" not in part:
            return True
    return False


def validate_batch(batch: pd.DataFrame, limits: DecodeLimits) -> pd.DataFrame:
    """Validate files. In: ``path``, ``length``, ``content``. Out: :data:`VALIDATION_SCHEMA` rows."""
    rows = []
    for path, length, content in zip(batch["path"], batch["length"], batch["content"], strict=True):
        data = bytes(content) if content is not None else b""
        row = {
            "path": path,
            "size": int(length),
            "image_id": hashlib.sha256(data).hexdigest(),
            "format": None,
            "width": None,
            "height": None,
            "source_mode": None,
            "orientation": None,
            "reason": None,
            "detail": None,
        }
        try:
            image = decode_image(
                data, uri_path(path), max_pixels=limits.max_pixels, min_side=limits.min_side
            )
        except ImageRejected as rejected:
            row["reason"], row["detail"] = rejected.reason, rejected.detail
        except Exception as err:  # a decoder bug must not fail the job: quarantine it
            row["reason"], row["detail"] = "corrupt", f"{type(err).__name__}: {err}"[:200]
        else:
            row.update(
                format=image.format,
                width=image.width,
                height=image.height,
                source_mode=image.source_mode,
                orientation=image.orientation,
            )
        rows.append(row)
    out = pd.DataFrame(rows, columns=[c.split()[0] for c in VALIDATION_SCHEMA.split(", ")])
    return out.astype(
        {"size": "int64", "width": "Int32", "height": "Int32", "orientation": "Int32"}
    )


def _validate_partition(limits: DecodeLimits):
    def validate(batches: Iterator[pd.DataFrame]) -> Iterator[pd.DataFrame]:
        for batch in batches:
            yield validate_batch(batch, limits)

    return validate


@dataclass(frozen=True)
class IngestResult:
    manifest: Manifest
    curated_uri: str
    quarantine_uri: str

    def summary(self) -> dict:
        c = self.manifest.counts
        return {
            "stage": STAGE,
            "dt": self.manifest.dt,
            "read": c["in"],
            "curated": c["out"],
            "quarantined": c["quarantined"],
            "by_reason": self.manifest.extra.get("quarantined_by_reason", {}),
            "curated_uri": self.curated_uri,
            "quarantine_uri": self.quarantine_uri,
            "timings": self.manifest.timings,
        }


def _unread_rows(spark: SparkSession, raw_uri: str, listing, max_bytes: int) -> DataFrame:
    """Quarantine rows for files Spark will not read: hidden, empty and oversized files."""
    raw_prefix = uri_path(raw_uri).rstrip("/") + "/"
    rows = []
    for entry in listing:
        relative = uri_path(entry.uri).removeprefix(raw_prefix)
        if is_hidden(relative):
            reason, detail = "hidden_file", "hidden name (starts with '_' or '.'); never read"
        elif entry.size == 0:
            # Spark's file sources skip empty files, so they never reach the decoder.
            reason, detail = "empty_file", "0 bytes"
        elif entry.size > max_bytes:
            reason, detail = "file_too_large", f"{entry.size} bytes > {max_bytes}"
        else:
            continue
        rows.append((entry.uri, entry.size, None, None, None, None, None, None, reason, detail))
    return spark.createDataFrame(rows, VALIDATION_SCHEMA)


def run(
    spark: SparkSession, settings: Settings, dt: str, *, steps: Steps | None = None
) -> IngestResult:
    """Ingest one date partition; commit curated and quarantine outputs atomically."""
    try:
        return _run(spark, settings, dt, steps)
    finally:
        # The validation rows are cached for the counts and both writes; free them on any
        # exit, failures included. A stage owns its session, so clearing it all is safe.
        spark.catalog.clearCache()


def _run(spark: SparkSession, settings: Settings, dt: str, steps: Steps | None) -> IngestResult:
    from pyspark.sql import Window
    from pyspark.sql import functions as F

    from lakesight.spark import fingerprint_of, spark_facts

    steps = steps or Steps(STAGE)
    fs = HadoopFileSystem(spark)
    raw_uri = settings.partition_uri("raw", "images", dt)
    curated_dataset = settings.dataset_uri("curated", "images")
    quarantine_dataset = settings.dataset_uri("quarantine", "images")
    check_reachable(fs, settings.root)

    with steps.step("list input"):
        if not fs.exists(raw_uri):
            raise StageError(f"input partition missing: {raw_uri}")
        listing = fs.list_files(raw_uri)
    steps.say(f"{len(listing)} files under {raw_uri}")

    with steps.step("decode and validate"):
        files = (
            spark.read.format("binaryFile")
            .option("recursiveFileLookup", "true")
            .load(raw_uri)
            # Pushed down: oversized files are skipped without reading their bytes.
            .where(F.col("length") <= settings.max_file_bytes)
        )
        validated = files.mapInPandas(
            _validate_partition(DecodeLimits.from_settings(settings)), VALIDATION_SCHEMA
        ).unionByName(_unread_rows(spark, raw_uri, listing, settings.max_file_bytes))

        accepted = validated.where(F.col("reason").isNull())
        by_content = Window.partitionBy("image_id").orderBy("path")
        accepted = accepted.withColumn("_rank", F.row_number().over(by_content)).withColumn(
            "_kept", F.first("path").over(by_content)
        )
        resolved = (
            accepted.withColumn(
                "reason", F.when(F.col("_rank") > 1, F.lit("duplicate")).otherwise(F.col("reason"))
            )
            .withColumn(
                "detail",
                F.when(F.col("_rank") > 1, F.concat(F.lit("same bytes as "), F.col("_kept"))),
            )
            .drop("_rank", "_kept")
            .unionByName(validated.where(F.col("reason").isNotNull()))
            .withColumn("dt", F.lit(dt))
            .withColumn("stage", F.lit(STAGE))
            .cache()
        )
        stats = resolved.groupBy("reason").count().collect()
        by_reason = {r["reason"]: int(r["count"]) for r in stats if r["reason"] is not None}
        out = sum(int(r["count"]) for r in stats if r["reason"] is None)
        quarantined = sum(by_reason.values())
        input_fingerprint = fingerprint_of(resolved, "path", "size", "image_id")

    if out + quarantined != len(listing):
        # Files appeared or vanished between listing and reading: the input is still
        # being written. Fail loudly (the task retries) rather than commit a guess.
        raise StageError(
            f"input changed while ingesting {raw_uri}: listed {len(listing)} files, "
            f"read {out + quarantined}"
        )

    counts = {"in": len(listing), "out": out, "quarantined": quarantined}
    common = {
        "dt": dt,
        "stage": STAGE,
        "counts": counts,
        "input_fingerprint": input_fingerprint,
        "extra": {
            "quarantined_by_reason": dict(sorted(by_reason.items())),
            "input": raw_uri,
            **spark_facts(spark),
        },
    }
    with (
        steps.step("write and commit"),
        PartitionWriter(fs, quarantine_dataset, dt) as q_writer,
        PartitionWriter(fs, curated_dataset, dt, q_writer.run_id) as c_writer,
    ):
        rejected = resolved.where(F.col("reason").isNotNull()).select(*QUARANTINE_COLUMNS)
        rejected.coalesce(1).write.mode("overwrite").parquet(q_writer.staging_uri)
        curated = resolved.where(F.col("reason").isNull()).select(*CURATED_COLUMNS)
        files_out = max(1, -(-out // 500_000))  # about 500k rows per Parquet file
        curated.coalesce(files_out).write.mode("overwrite").parquet(c_writer.staging_uri)
        outputs = {"curated": c_writer.final_uri, "quarantine": q_writer.final_uri}
        # Quarantine first: curated's _SUCCESS is what downstream stages wait for.
        q_writer.commit(
            Manifest(
                dataset="quarantine/images",
                schema_version=QUARANTINE_SCHEMA_VERSION,
                timings=dict(steps.timings),
                outputs=outputs,
                **common,
            )
        )
        manifest = c_writer.commit(
            Manifest(
                dataset="curated/images",
                schema_version=CURATED_SCHEMA_VERSION,
                timings=dict(steps.timings),
                outputs=outputs,
                **common,
            )
        )
    return IngestResult(manifest, c_writer.final_uri, q_writer.final_uri)


def main(argv: list[str] | None = None) -> int:
    """Entry point for spark-submit and ``lakesight stage ingest``."""
    from lakesight.spark import stage_main

    return stage_main(STAGE, run, format_summary, argv, description=__doc__.splitlines()[0])


def format_summary(summary: dict) -> str:
    """The human-readable summary of an ingest run."""
    reasons = ", ".join(f"{k} {v}" for k, v in summary["by_reason"].items()) or "none"
    return (
        f"ingest dt={summary['dt']}: read {summary['read']} files -> "
        f"{summary['curated']} curated, {summary['quarantined']} quarantined\n"
        f"  curated:     {summary['curated_uri']}\n"
        f"  quarantine:  {summary['quarantine_uri']}  ({reasons})"
    )


if __name__ == "__main__":
    sys.exit(main())
