"""How an ingest stage reads a raw day of files: the one recipe of every pipeline's ingest.

Every file of ``raw/<name>/dt=D`` must end up as one curated record or one quarantine
row, so the driver lists the partition first and accounts for what Spark's file
sources never read (hidden, empty and oversized files: :func:`lakesight.lake.unread_files`)
with a row of its own. Spark reads the rest, with the size limit pushed down so an
oversized file's bytes are never read, and the stage's pure batch function validates
them. If Spark then read another number of files than were listed, the day is still
being written: the stage fails (its task retries) rather than commit a guess.

The listing is also the ingest manifest's record of its input (:mod:`lakesight.input_change`).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from lakesight.input_change import input_change, input_listing, previous_manifest
from lakesight.lake import FileEntry, join, path_uri, spelled_path, unread_files
from lakesight.stage import Dataset, Stage, StageError

if TYPE_CHECKING:
    import pandas as pd
    from pyspark.sql import DataFrame, SparkSession

    from lakesight.config import Settings
    from lakesight.lake import LakeFileSystem
    from lakesight.progress import Steps


@dataclass(frozen=True)
class RawDay:
    """A listed raw partition: its URI, the files the stage reads as records (every file
    but the ``side_files`` the driver reads itself) and the manifest's input record."""

    uri: str
    dt: str
    files: list[FileEntry]
    side_files: tuple[str, ...]
    manifest_extra: dict  # input, inputs (the listing), input_change

    def unread_rows(self, columns: Sequence[str], max_bytes: int) -> list[dict]:
        """Rows (of ``columns``) for the files Spark will not read, with their reasons."""
        return [
            {**dict.fromkeys(columns), "path": path_uri(entry.uri), "size": entry.size,
             "reason": reason, "detail": detail}
            for entry, reason, detail in unread_files(self.uri, self.files, max_bytes)
        ]  # fmt: skip

    def check_all_read(self, read: int) -> None:
        """Fail when Spark read another number of files than were listed."""
        if read != len(self.files):
            raise StageError(
                f"input changed while ingesting {self.uri}: "
                f"listed {len(self.files)} files, read {read}"
            )


def list_raw_day(fs: LakeFileSystem, settings: Settings, raw: Dataset, stage: Stage, dt: str,
                 steps: Steps, side_files: tuple[str, ...] = ()) -> RawDay:  # fmt: skip
    """List ``raw`` of ``dt`` (a one-line StageError when it is missing) and how it changed
    since ``stage`` last committed the day. ``side_files``: names at the partition's top
    that the stage reads on the driver (a CSV); they count in the input record, since an
    edited one is a changed input, but are not records."""
    uri = raw.partition(settings, dt)
    with steps.step("list input"):
        if not fs.exists(uri):
            raise StageError(f"input partition missing: {uri}")
        listing = fs.list_files(uri)
        inputs = input_listing(uri, listing)
        previous = previous_manifest(fs, stage.output.partition(settings, dt))
    skipped = {spelled_path(join(uri, name)) for name in side_files}
    files = [entry for entry in listing if spelled_path(entry.uri) not in skipped]
    extra = {"input": uri, "inputs": inputs, "input_change": input_change(previous, inputs)}
    return RawDay(uri, dt, files, side_files, extra)


def validated_files(spark: SparkSession, settings: Settings, day: RawDay,
                    validate_batch: Callable[[pd.DataFrame], pd.DataFrame],
                    schema: str, columns: Sequence[str]) -> DataFrame:  # fmt: skip
    """Every file of ``day`` as one row of ``schema``: Spark reads the readable ones
    (``path``, ``length``, ``content``) through ``validate_batch``; the driver's listing
    adds the unread ones with their reasons."""
    from pyspark.sql import functions as F

    unread = spark.createDataFrame(day.unread_rows(columns, settings.max_file_bytes), schema)
    if not day.files:
        return unread
    files = spark.read.format("binaryFile").option("recursiveFileLookup", "true").load(day.uri)
    # Pushed down: oversized files are skipped without reading their bytes.
    readable = files.where(F.col("length") <= settings.max_file_bytes)
    for name in day.side_files:  # read on the driver; a file of that name in a subfolder is not
        readable = readable.where(~F.col("path").endswith(f"/dt={day.dt}/{name}"))

    def validate(batches: Iterator[pd.DataFrame]) -> Iterator[pd.DataFrame]:
        for batch in batches:
            yield validate_batch(batch)

    return readable.mapInPandas(validate, schema).unionByName(unread)


def raw_file_row(columns: Sequence[str], path: str, length: int, content: bytes | None,
                 *, id_column: str) -> dict:  # fmt: skip
    """A row of ``columns`` for a raw file Spark read, empty but for which file it is: its
    published URI (Spark gives Hadoop's spelling: :func:`lakesight.lake.path_uri`), its
    size, and the sha256 of its bytes as ``id_column``, the record's content id."""
    row = dict.fromkeys(columns)
    row.update(
        {"path": path_uri(path), "size": int(length),
         id_column: hashlib.sha256(content or b"").hexdigest()}
    )  # fmt: skip
    return row


def decoded_or_quarantined(row: dict, decode: Callable[[], object], rejected: type[Exception]):
    """What ``decode()`` made of a file, or None with the row's ``reason`` and ``detail`` set:
    the decoder's own (``rejected`` carries them), or ``corrupt`` naming a decoder's bug,
    which must quarantine the file, not fail the job."""
    try:
        return decode()
    except rejected as err:
        row["reason"], row["detail"] = err.reason, err.detail
    except Exception as err:
        row["reason"], row["detail"] = "corrupt", f"{type(err).__name__}: {err}"[:200]
    return None
