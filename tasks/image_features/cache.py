"""The analysis cache: image_features' analyses by (image sha256, analysis key), append-only.

The *analysis key* hashes both models' files (sha256), the code length, the crop
policy and :data:`ANALYSIS_VERSION`: a new model version, a retrained file under
the same version or a new crop policy all recompute, and nothing else does.

Layout: ``cache/image_features/key=<key>/run=<run_id>/``, immutable directories,
each committed by rename and ``_SUCCESS``, never rewritten. Runs for other dates
may therefore read it while one adds to it (backfills run dates side by side),
and deleting a published partition never loses work.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
from collections.abc import Iterator
from dataclasses import asdict
from typing import TYPE_CHECKING

from lakesight.config import Settings
from lakesight.image_features.analysis import CropPolicy
from lakesight.image_features.datasets import CACHE
from lakesight.lake import (
    STAGING_DIR,
    SUCCESS_MARKER,
    LakeFileSystem,
    is_committed,
    join,
    new_run_id,
)
from lakesight.spark import output_files

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

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


class AnalysisCache:
    """Analyses of one key, append-only: ``cache/image_features/key=K/run=R/`` per run."""

    def __init__(self, fs: LakeFileSystem, settings: Settings, key: str) -> None:
        self.fs = fs
        self.key = key
        self.dataset_uri = CACHE.uri(settings)
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

    def split(self, spark: SparkSession, index: DataFrame) -> tuple[DataFrame, DataFrame | None]:
        """``index`` rows (``image_id``, ``path``) not analysed under this key yet, and the
        others joined to their cached analyses (None when the key is new)."""
        cached = self.read(spark)
        if cached is None:
            return index, None
        todo = index.join(cached.select("image_id"), "image_id", "left_anti")
        return todo, index.join(cached, "image_id", "inner")

    @contextlib.contextmanager
    def adding(self, rows: DataFrame, count: int) -> Iterator[list[tuple[DataFrame, str]]]:
        """A new run of ``count`` analyses: yields the ``(DataFrame, uri)`` writes for the
        caller to make with its own outputs, and commits the run when the block succeeds."""
        run_id = new_run_id()
        writes = [(self.rows_to_write(rows, count), self.staging_uri(run_id))] if count else []
        try:
            yield writes
            if writes:
                self.commit(run_id)
        finally:
            self.fs.delete(
                self.staging_uri(run_id)
            )  # gone after a commit; leftovers after a failure

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
