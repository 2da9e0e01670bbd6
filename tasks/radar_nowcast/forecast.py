"""Forecast stage: ``curated/radar_frames/dt=D`` → ``forecasts/radar/dt=D``, the consumer contract.

At every observed step whose input window is complete (the model's ``inputs``
frames, ending at the issue time, without a gap), three forecasts of the next
hour are issued, one row per lead:

- the trained model (``name@version``, ONNX Runtime: the advection-residual model at
  the frames' own size, a grid model resampled to its grid and back;
  :mod:`lakesight.models.nowcasting.forecaster`);
- ``persistence``: the last frame, unchanged;
- ``flow``: optical-flow extrapolation of the last frames (:mod:`.baselines`).

An issue time whose window lacks a frame is not forecast: it goes to
``quarantine/radar_windows`` as ``incomplete_window`` with the missing times, and
the manifest counts it (``in`` = issue times, ``out`` = forecast, ``quarantined`` =
skipped). Windows are built in Spark (:func:`.frames.spark_windows`); the models
run once per batch of windows in the Python workers.

With ``--start``/``--end`` only issue times in the interval are (re)forecast.

Run: ``lakesight stage radar_nowcast.forecast --dt D [--start T --end T]``.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from lakesight.config import Settings
from lakesight.progress import Steps
from lakesight.radar_nowcast import datasets
from lakesight.radar_nowcast.baselines import flow_extrapolation, persistence
from lakesight.radar_nowcast.frames import committed_day, merge_interval, spark_windows
from lakesight.stage import (
    WHOLE_DAY,
    Interval,
    StageError,
    StageResult,
    clock,
    commit_stage,
    committed_input,
    day_time,
    frees_cached_data,
    merges_into_day,
    model_entries,
    schema_columns,
    stage_main,
)

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

STAGE = datasets.FORECAST
DEFAULT_MODEL = "advection_radar"  # holds on weather it never saw (README, radar)
BASELINES = ("persistence", "flow")
# forecast rows + what a skipped issue time leaves: the union commit_stage splits by reason.
RESULT_SCHEMA = f"{datasets.FORECAST_SCHEMA}, path string, reason string, detail string"


def issue_forecasts(windows: np.ndarray, nowcaster) -> dict[str, np.ndarray]:
    """Every model's forecasts of input windows (B, T_in, H, W) uint8: name -> (B, T_out, H, W)."""
    leads = nowcaster.outputs
    model = nowcaster.predict(windows)
    # No echo below the model's floor: the radar observes none there.
    model[model < nowcaster.echo_floor] = 0
    # A window without any echo has nothing to move or grow: a clear sky stays clear (the
    # model, which always saw the site's clutter, would otherwise draw it from nothing).
    model[~windows.reshape(len(windows), -1).any(axis=1)] = 0
    return {
        nowcaster.name: model,
        "persistence": np.stack([persistence(w, leads) for w in windows]),
        "flow": np.stack([flow_extrapolation(w, leads) for w in windows]),
    }


def forecast_batch(batch: pd.DataFrame, nowcaster, dt: str, size: tuple[int, int]) -> pd.DataFrame:
    """Forecast rows of complete windows. In: ``end_minute``, ``frames`` (structs with
    ``pixels``, oldest first). Out: :data:`RESULT_SCHEMA` rows, 3 models × T_out leads each."""
    height, width = size
    windows = (
        np.stack(
            [
                np.stack(
                    [np.frombuffer(f["pixels"], np.uint8).reshape(height, width) for f in frames]
                )
                for frames in batch["frames"]
            ]
        )
        if len(batch)
        else np.zeros((0, nowcaster.inputs, height, width), np.uint8)
    )
    forecasts = issue_forecasts(windows, nowcaster)
    rows = []
    for i, end_minute in enumerate(batch["end_minute"]):
        issued = day_time(dt, int(end_minute))
        for model, values in forecasts.items():
            for k, lead in enumerate(nowcaster.leads_min):
                rows.append(
                    {
                        "issued_at": issued,
                        "lead_min": lead,
                        "valid_at": day_time(dt, int(end_minute) + lead),
                        "model": model,
                        "height": height,
                        "width": width,
                        "pixels": values[i, k].tobytes(),
                    }
                )
    out = pd.DataFrame(rows, columns=list(schema_columns(RESULT_SCHEMA)))
    # Arrow takes a datetime64 column; python datetimes with a tzinfo stay objects.
    for column in ("issued_at", "valid_at"):
        out[column] = pd.to_datetime(out[column], utc=True)
    for column in ("path", "reason", "detail"):  # null strings, not NaN floats
        out[column] = pd.Series([None] * len(out), dtype=object)
    return out


def hours_of(minute):
    """The hour of a minute of the day as an int column; minutes before midnight (a window's
    history reaching into the day before) are hours of that day."""
    from pyspark.sql import functions as F

    return F.pmod(F.floor(minute / 60), F.lit(24)).cast("int")


def skipped_rows(incomplete: DataFrame, raw_uri: str, dt: str) -> DataFrame:
    """Quarantine rows of issue times whose input window lacks frames."""
    from pyspark.sql import functions as F

    midnight = F.lit(day_time(dt, 0)).cast("timestamp")
    missing = F.transform(
        "missing", lambda m: F.format_string("%02d:%02d", hours_of(m), F.pmod(m, F.lit(60)))
    )
    return incomplete.select(
        (midnight + F.make_interval(mins=F.col("end_minute"))).alias("issued_at"),
        F.concat(
            F.lit(raw_uri + "/"),
            F.format_string(
                "%02d%02d.png", hours_of(F.col("end_minute")), F.col("end_minute") % 60
            ),
        ).alias("path"),
        F.lit("incomplete_window").alias("reason"),
        F.concat(F.lit("input window lacks "), F.array_join(missing, ", ")).alias("detail"),
    )


@merges_into_day
@frees_cached_data
def run(
    spark: SparkSession,
    settings: Settings,
    dt: str,
    *,
    steps: Steps | None = None,
    interval: Interval = WHOLE_DAY,
    model: str = DEFAULT_MODEL,
) -> StageResult:
    """Forecast every complete window of the day (or of ``interval``); commit atomically."""
    from pyspark.sql import functions as F

    from lakesight.lake import read_manifest
    from lakesight.models.nowcasting.forecaster import load_nowcaster
    from lakesight.spark import fingerprint_aggregates, fingerprint_from

    steps = steps or Steps(STAGE.short)
    fs, source, upstream = committed_input(
        spark, settings, datasets.FRAMES, dt, made_by="radar_nowcast.ingest"
    )
    entries, _ = model_entries([model])
    model_ref, registry = entries[0]["name"], settings.model_registry
    nowcaster = load_nowcaster(model_ref, registry)
    cadence = settings.radar_cadence_min
    if nowcaster.cadence_min != cadence:
        raise StageError(
            f"LAKESIGHT_RADAR_CADENCE_MIN: {model_ref} forecasts {nowcaster.cadence_min}-minute "
            f"steps, the frames are {cadence} minutes apart"
        )
    size = upstream.extra.get("frame_size")
    raw_uri = datasets.RAW_RADAR.partition(settings, dt)
    with steps.step("window and forecast"):
        frames = spark.read.parquet(source).select("minute", "pixels")
        windows = spark_windows(frames, nowcaster.inputs, cadence).where(
            F.col("end_minute").between(interval.start, interval.end - 1)
        )

        def forecast(batches: Iterator[pd.DataFrame]) -> Iterator[pd.DataFrame]:
            worker_model = load_nowcaster(model_ref, registry)
            for batch in batches:
                yield forecast_batch(batch, worker_model, dt, tuple(size))

        complete = windows.where(F.col("frames").isNotNull()).select("end_minute", "frames")
        # A day without frames has no frame size: nothing to forecast, the same columns.
        issued = (
            complete.mapInPandas(forecast, RESULT_SCHEMA)
            if size
            else spark.createDataFrame([], RESULT_SCHEMA)
        )
        skipped = skipped_rows(windows.where(F.col("frames").isNull()), raw_uri, dt)
        fresh = skipped.unionByName(issued, allowMissingColumns=True)
        fresh = fresh.withColumn("dt", F.lit(dt))
        existing = None
        if not interval.whole_day and read_manifest(fs, STAGE.output.partition(settings, dt)):
            existing = committed_day(spark, settings, STAGE, dt)
        result = merge_interval(
            existing,
            fresh.select(*result_columns()),
            time_column="issued_at",
            dt=dt,
            interval=interval,
        ).cache()
        stats = result.agg(
            F.countDistinct("issued_at").alias("issue_times"),
            F.countDistinct(F.when(F.col("reason").isNotNull(), F.col("issued_at"))).alias(
                "skipped"
            ),
            F.sum(F.col("reason").isNull().cast("int")).alias("rows"),
            *fingerprint_aggregates("issued_at", "model", "lead_min"),
        ).first()
    n_in, skipped_n = int(stats["issue_times"]), int(stats["skipped"])
    note = None
    if n_in == skipped_n:
        # Nothing issued: say why, on the console and in the manifest.
        note = (
            f"nothing issued in {clock(interval.start)}-{clock(interval.end)}: no observed step "
            f"has the {nowcaster.inputs} frames of a complete window"
        )
        steps.say(note)
    return commit_stage(
        fs,
        settings,
        STAGE,
        dt,
        result,
        output_columns=datasets.FORECAST_COLUMNS,
        schema_version=datasets.FORECASTS_SCHEMA_VERSION,
        counts={
            "in": n_in,
            "out": n_in - skipped_n,
            "quarantined": skipped_n,
            "rows": int(stats["rows"] or 0),
        },
        input_fingerprint=fingerprint_from(stats),
        steps=steps,
        models=entries,
        quarantine_columns=("issued_at",),
        extra={
            "input": source,
            "note": note,
            "interval": interval.to_dict(),
            "cadence_min": cadence,
            "leads_min": nowcaster.leads_min,
            "models_issued": [model_ref, *BASELINES],
            "inputs": nowcaster.inputs,
            "frame_size": size,
        },
    )


def result_columns() -> list[str]:
    return [*schema_columns(RESULT_SCHEMA), "dt"]


def main(argv: list[str] | None = None) -> int:
    """Entry point for spark-submit and ``lakesight stage radar_nowcast.forecast``."""
    return stage_main(STAGE, run, argv, interval=True)


if __name__ == "__main__":
    sys.exit(main())
