"""Time in radar_nowcast: frame names, intervals, and sliding windows that never cross a gap.

A frame is named by its time of day, ``HHMM.png`` (or ``HHMM.h5``/``.hdf``/``.hdf5`` for an
ODIM_H5 composite; the bytes, not the suffix, decide how it is read), at a multiple of
the cadence.
Stages work in *minutes of the day*; the lake stores UTC timestamps.

A **window** of length L ending at minute t holds the frames at t − (L−1)·c … t
(c the cadence). It is complete only if every one of them was observed: a gap is
never bridged by the next frame, which would silently shift the sequence in time.
Windows are built in Spark (:func:`spark_windows`): each frame is exploded into the
L windows it belongs to, and grouped back by window end.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from lakesight.stage import WHOLE_DAY, Interval, day_time

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

    from lakesight.config import Settings
    from lakesight.stage import Stage

FRAME_NAME = re.compile(r"^(\d{2})(\d{2})\.(?:png|h5|hdf|hdf5)$", re.IGNORECASE)


def frame_minute(name: str, cadence: int) -> tuple[int | None, str | None]:
    """(minute of the day, None) for a frame name, or (None, reason) when it is not a step."""
    match = FRAME_NAME.match(name)
    if not match:
        return None, "bad_name"
    hours, minutes = int(match[1]), int(match[2])
    if hours >= 24 or minutes >= 60:
        return None, "bad_name"
    minute = 60 * hours + minutes
    if minute % cadence:
        return None, "not_a_step"
    return minute, None


def frame_name(minute: int) -> str:
    return f"{minute // 60:02d}{minute % 60:02d}.png"


def window_ends(
    minutes: set[int] | list[int], length: int, cadence: int, interval: Interval = WHOLE_DAY
) -> tuple[list[int], dict[int, list[int]]]:
    """The pure form of :func:`spark_windows`: of the observed minutes inside ``interval``,
    those ending a complete window, and for the others the minutes their window lacks."""
    observed = set(minutes)
    complete, incomplete = [], {}
    for end in sorted(m for m in observed if m in interval):
        needed = [end - k * cadence for k in range(length - 1, -1, -1)]
        missing = [m for m in needed if m not in observed]
        if missing:
            incomplete[end] = missing
        else:
            complete.append(end)
    return complete, incomplete


def spark_windows(
    frames: DataFrame,
    length: int,
    cadence: int,
    *,
    key: str = "minute",
    columns: tuple[str, ...] = ("pixels",),
) -> DataFrame:
    """Windows of ``length`` frames in Spark: one row per observed window end ``end_minute``
    with ``frames`` (array of structs of ``columns``, oldest first; only for complete
    windows) and ``missing`` (array of the minutes an incomplete window lacks).

    ``frames`` has one row per observed frame with ``key`` (minute of the day) and
    ``columns``. A window's end must itself be observed: an issue time is a frame."""
    from pyspark.sql import functions as F

    offsets = F.array(*[F.lit(k) for k in range(length)])
    exploded = frames.select(
        F.col(key).alias("_minute"), *columns, F.explode(offsets).alias("_back")
    ).select(
        (F.col("_minute") + F.col("_back") * cadence).alias("end_minute"),
        (F.lit(length - 1) - F.col("_back")).alias("position"),
        *columns,
    )
    grouped = exploded.groupBy("end_minute").agg(
        F.sort_array(F.collect_list(F.struct("position", *columns))).alias("_members"),
        F.max(F.col("position") == length - 1).alias("_end_observed"),
    )
    present = F.transform("_members", lambda m: m["position"])
    expected = F.sequence(F.lit(0), F.lit(length - 1))
    missing_positions = F.array_except(expected, present)
    return grouped.where("_end_observed").select(
        "end_minute",
        F.when(F.size("_members") == length, F.col("_members")).alias("frames"),
        F.transform(
            missing_positions, lambda p: F.col("end_minute") - (F.lit(length - 1) - p) * cadence
        ).alias("missing"),
    )


def merge_interval(
    existing: DataFrame | None, fresh: DataFrame, *, time_column: str, dt: str, interval: Interval
) -> DataFrame:
    """The day's rows after a run over ``interval``: ``fresh`` plus the committed rows whose
    ``time_column`` is outside it. Rows with a null time (e.g. badly named files) are
    always recomputed, so they come only from ``fresh``."""
    from pyspark.sql import functions as F

    if existing is None or interval.whole_day:
        return fresh
    start, end = day_time(dt, interval.start), day_time(dt, interval.end)
    when = F.col(time_column)
    outside = when.isNotNull() & (
        (when < F.lit(start).cast("timestamp")) | (when >= F.lit(end).cast("timestamp"))
    )
    return existing.where(outside).select(*fresh.columns).unionByName(fresh)


def committed_day(spark: SparkSession, settings: Settings, stage: Stage, dt: str) -> DataFrame:
    """A stage's committed day, its output and its quarantine, in the shape of a fresh run's
    rows (output rows get null ``path``/``reason``/``detail`` where they lack them)."""
    from pyspark.sql import functions as F

    output = spark.read.parquet(stage.output.partition(settings, dt))
    for column in ("path", "reason", "detail"):
        if column not in output.columns:
            output = output.withColumn(column, F.lit(None).cast("string"))
    rejects = spark.read.parquet(stage.quarantine.partition(settings, dt)).drop("stage")
    return output.unionByName(rejects, allowMissingColumns=True)


def merged_into_day(spark: SparkSession, fs, settings: Settings, stage: Stage, dt: str,
                    fresh: DataFrame, *, time_column: str, interval: Interval) -> DataFrame:  # fmt: skip
    """What a run over ``interval`` commits, cached: ``fresh`` merged into the day ``stage``
    committed (:func:`merge_interval`). A whole-day run, or the day's first, is ``fresh``.
    The caller holds the day (:func:`lakesight.stage.merges_into_day`), so no other run
    commits between this read and its commit."""
    from lakesight.lake import read_manifest

    existing = None
    if not interval.whole_day and read_manifest(fs, stage.output.partition(settings, dt)):
        existing = committed_day(spark, settings, stage, dt)
    return merge_interval(
        existing, fresh, time_column=time_column, dt=dt, interval=interval
    ).cache()
