"""Ingest stage: ``raw/radar/dt=D/HHMM.{png,h5}`` → ``curated/radar_frames/dt=D`` + its quarantine.

Every file of the raw partition (of the interval, when one is given) becomes one
curated frame, decoded to its H×W pixels, or one quarantine row with its reason. A
frame is an 8-bit grayscale PNG in the contract's encoding (HKO-7), or an ODIM_H5
composite (:mod:`.odim`) whose DBZH is converted to it; the bytes decide which.

- ``bad_name``: not ``HHMM.png``/``HHMM.h5`` with a real time of day; ``not_a_step``: a
  time that is not a multiple of the cadence (``LAKESIGHT_RADAR_CADENCE_MIN``);
- ``hidden_file``, ``empty_file``, ``file_too_large``: files Spark's file sources never
  read (a hidden name, zero bytes, above ``LAKESIGHT_MAX_FILE_BYTES``), accounted for from
  the driver's listing as every ingest does (:mod:`lakesight.raw_files`);
- ``not_a_png`` (neither PNG nor HDF5), ``truncated``, ``corrupt``,
  ``decompression_bomb``: the bytes are not a whole frame (judged by content);
- ``wrong_encoding``: a PNG that is not 8-bit grayscale (a colour-mapped picture
  of radar is not the HKO-7 encoding);
- ``not_odim``, ``no_dbzh``, ``wrong_shape``: an HDF5 file that is not an ODIM_H5
  product, holds no DBZH, or whose DBZH is not one 2-D array; ``time_mismatch``: its
  nominal time (root ``what/date``, ``what/time``) is not the day and time its name says;
- ``wrong_size``: not the day's size. The day's size is the most common size of its
  frames the first time the day is ingested (ties: the earliest frame's), then kept;
- ``duplicate_time``: a second file for the same time (``0606.png``, ``0606.PNG``);
  the smallest path is kept.

Any grid size is accepted, as long as a day keeps to one. With ``--start``/``--end``
only frames of that interval are (re)read; the rest of the day stays as committed.

Run: ``lakesight stage radar_nowcast.ingest --dt D [--start T --end T]``.
"""

from __future__ import annotations

import functools
import hashlib
import io
import sys
from collections import Counter
from typing import TYPE_CHECKING

import pandas as pd

from lakesight.config import Settings
from lakesight.lake import Manifest, read_manifest
from lakesight.progress import Steps
from lakesight.radar_nowcast import datasets, odim
from lakesight.radar_nowcast.frames import frame_minute, merged_into_day
from lakesight.raw_files import RawDay, decoded_or_quarantined, list_raw_day, validated_files
from lakesight.stage import (
    WHOLE_DAY,
    Interval,
    StageResult,
    commit_stage,
    day_time,
    frees_cached_data,
    merges_into_day,
    stage_filesystem,
    stage_main,
    tally,
)

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

STAGE = datasets.INGEST
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


class FrameRejected(Exception):
    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason, self.detail = reason, detail


def decode_frame(data: bytes, max_pixels: int, *, dt: str | None = None,
                 minute: int | None = None):  # fmt: skip
    """The frame's pixels (H, W) uint8, or :class:`FrameRejected` with the reason. An ODIM
    file must be of day ``dt`` at ``minute`` (its name's) when they are given."""
    import numpy as np
    from PIL import Image

    if not data:
        raise FrameRejected("empty_file", "0 bytes")
    if odim.is_hdf5(data):
        return odim_pixels(data, max_pixels, dt, minute)
    if not data.startswith(PNG_SIGNATURE):
        raise FrameRejected("not_a_png", f"neither PNG nor HDF5: starts with {data[:8]!r}")
    try:
        with Image.open(io.BytesIO(data)) as image:
            if image.width * image.height > max_pixels:
                raise FrameRejected(
                    "decompression_bomb", f"{image.width}x{image.height} > {max_pixels} pixels"
                )
            if image.mode == "LA":  # alpha carries nothing in the encoding
                image = image.getchannel("L")
            if image.mode != "L":
                raise FrameRejected(
                    "wrong_encoding", f"mode {image.mode}, expected 8-bit grayscale L"
                )
            image.load()
            return np.asarray(image, dtype=np.uint8)
    except FrameRejected:
        raise
    except (OSError, SyntaxError) as err:  # Pillow's truncated/corrupt PNG errors
        text = str(err)
        reason = "truncated" if "truncated" in text or "EOF" in text else "corrupt"
        raise FrameRejected(reason, f"{type(err).__name__}: {text}"[:200]) from None


def odim_pixels(data: bytes, max_pixels: int, dt: str | None, minute: int | None):
    try:
        frame = odim.read_odim(data, max_pixels)
    except odim.OdimRejected as rejected:
        raise FrameRejected(rejected.reason, rejected.detail) from None
    if dt is not None and (frame.date != dt.replace("-", "") or frame.minute != minute):
        said = f"{frame.date} {frame.minute // 60:02d}:{frame.minute % 60:02d}"
        raise FrameRejected("time_mismatch", f"the file's what/date and time say {said}")
    return frame.pixels


def validate_batch(batch: pd.DataFrame, cadence: int, max_pixels: int,
                   dt: str | None = None) -> pd.DataFrame:  # fmt: skip
    """Validate files. In: ``path``, ``length``, ``content``. Out: :data:`VALIDATION_SCHEMA` rows."""
    rows = []
    for path, length, content in zip(batch["path"], batch["length"], batch["content"], strict=True):
        row = dict.fromkeys(datasets.VALIDATION_SCHEMA_COLUMNS)
        row.update(path=path, size=int(length), sha256=hashlib.sha256(content or b"").hexdigest())
        minute, reason = frame_minute(path.rsplit("/", 1)[-1], cadence)
        row["minute"] = minute
        if reason:
            row["reason"], row["detail"] = (
                reason,
                f"not HHMM.png or HHMM.h5 at a {cadence}-minute step",
            )
            rows.append(row)
            continue
        decode = functools.partial(decode_frame, content, max_pixels, dt=dt, minute=minute)
        pixels = decoded_or_quarantined(row, decode, FrameRejected)
        if pixels is not None:
            row.update(height=pixels.shape[0], width=pixels.shape[1], pixels=pixels.tobytes())
        rows.append(row)
    out = pd.DataFrame(rows, columns=list(datasets.VALIDATION_SCHEMA_COLUMNS))
    return out.astype({"size": "int64", "minute": "Int32", "height": "Int32", "width": "Int32"})


def day_size(sizes: list[tuple[int, int, int]]) -> tuple[int, int] | None:
    """The day's (height, width): the most common among (minute, height, width), ties to the
    earliest frame's size."""
    if not sizes:
        return None
    counts = Counter((h, w) for _, h, w in sizes)
    first = {}
    for minute, h, w in sorted(sizes):
        first.setdefault((h, w), minute)
    return min(counts, key=lambda s: (-counts[s], first[s]))


def judged(validated: DataFrame, size: tuple[int, int] | None) -> DataFrame:
    """Decodable frames of another size become ``wrong_size``; a second file of one time
    becomes ``duplicate_time`` (the smallest path is kept, so reruns keep the same)."""
    from pyspark.sql import Window
    from pyspark.sql import functions as F

    ok = F.col("reason").isNull()
    if size is not None:
        wrong = ok & ((F.col("height") != size[0]) | (F.col("width") != size[1]))
        detail = F.format_string(
            f"%dx%d, the day's frames are {size[1]}x{size[0]}", F.col("width"), F.col("height")
        )
        validated = validated.withColumn(
            "detail", F.when(wrong, detail).otherwise(F.col("detail"))
        ).withColumn("reason", F.when(wrong, F.lit("wrong_size")).otherwise(F.col("reason")))
    by_time = Window.partitionBy("minute").orderBy("path")
    ranked = (
        validated.where(F.col("reason").isNull())
        .withColumn("_rank", F.row_number().over(by_time))
        .withColumn("_kept", F.first("path").over(by_time))
    )
    copy = F.col("_rank") > 1
    return (
        ranked.withColumn(
            "reason", F.when(copy, F.lit("duplicate_time")).otherwise(F.col("reason"))
        )
        .withColumn("detail", F.when(copy, F.concat(F.lit("same time as "), F.col("_kept"))))
        .drop("_rank", "_kept")
        .unionByName(validated.where(F.col("reason").isNotNull()))
    )


def validated_frames(spark: SparkSession, settings: Settings, day: RawDay) -> DataFrame:
    """Every file of the raw day as one :data:`datasets.VALIDATION_SCHEMA` row, judged alone
    (:func:`validate_batch`); the files Spark never reads with their reasons."""
    validate = functools.partial(
        validate_batch, cadence=settings.radar_cadence_min,
        max_pixels=settings.max_image_pixels, dt=day.dt,
    )  # fmt: skip
    return validated_files(spark, settings, day, validate, datasets.VALIDATION_SCHEMA,
                           datasets.VALIDATION_SCHEMA_COLUMNS)  # fmt: skip


def in_interval(validated: DataFrame, interval: Interval) -> DataFrame:
    """The rows an interval run (re)judges: its frames, and every file without a time (badly
    named ones, or ones never read: they are few)."""
    from pyspark.sql import functions as F

    if interval.whole_day:
        return validated
    inside = F.col("minute").between(interval.start, interval.end - 1)
    return validated.where(inside | F.col("minute").isNull())


def frame_size(committed: Manifest | None, validated: DataFrame) -> tuple[int, int] | None:
    """The day's frame size: the one its first ingest chose, else :func:`day_size` of the
    accepted frames."""
    if committed and committed.extra.get("frame_size"):
        return tuple(committed.extra["frame_size"])
    accepted = validated.where("reason is null").select("minute", "height", "width")
    return day_size([tuple(row) for row in accepted.collect()])


@merges_into_day
@frees_cached_data
def run(spark: SparkSession, settings: Settings, dt: str, *, steps: Steps | None = None,
        interval: Interval = WHOLE_DAY) -> StageResult:  # fmt: skip
    """Ingest the frames of one day (or of ``interval``); commit frames and quarantine."""
    steps = steps or Steps(STAGE.short)
    fs = stage_filesystem(spark, settings)
    day = list_raw_day(fs, settings, datasets.RAW_RADAR, STAGE, dt, steps)
    committed = read_manifest(fs, datasets.FRAMES.partition(settings, dt))
    with steps.step("decode and validate"):
        read = validated_frames(spark, settings, day).cache()
        day.check_all_read(read.count())
        validated = in_interval(read, interval)
        size = frame_size(committed, validated)
        fresh = with_times(judged(validated, size), dt)
        result = merged_into_day(spark, fs, settings, STAGE, dt, fresh,
                                 time_column="frame_time", interval=interval)  # fmt: skip
        counted = tally(result, ("path", "sha256"))
    return commit_stage(
        fs, settings, STAGE, dt, result, output_columns=datasets.FRAME_COLUMNS,
        schema_version=datasets.FRAMES_SCHEMA_VERSION, counts=counted.counts(),
        input_fingerprint=counted.fingerprint, steps=steps,
        quarantine_columns=datasets.QUARANTINED_FRAME_COLUMNS,
        extra={**day.manifest_extra, "cadence_min": settings.radar_cadence_min,
               "interval": interval.to_dict(), "frame_size": list(size) if size else None},
    )  # fmt: skip


def with_times(validated: DataFrame, dt: str) -> DataFrame:
    """Add ``frame_time`` (UTC) and ``dt`` to validated rows."""
    from pyspark.sql import functions as F

    midnight = F.lit(day_time(dt, 0)).cast("timestamp")
    return validated.withColumn(
        "frame_time", midnight + F.make_interval(mins=F.col("minute"))
    ).withColumn("dt", F.lit(dt))


def main(argv: list[str] | None = None) -> int:
    """Entry point for spark-submit and ``lakesight stage radar_nowcast.ingest``."""
    return stage_main(STAGE, run, argv, interval=True)


if __name__ == "__main__":
    sys.exit(main())
