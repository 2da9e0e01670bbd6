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
from lakesight.radar_nowcast.frames import merged_into_day, spark_windows
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
    tally,
)

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

STAGE = datasets.FORECAST
DEFAULT_MODEL = "advection_radar"  # holds on weather it never saw (README, radar)
BASELINES = ("persistence", "flow")


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
    ``pixels``, oldest first). Out: :data:`datasets.FORECAST_RESULT_SCHEMA` rows, 3 models × T_out leads each."""
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
    out = pd.DataFrame(rows, columns=list(schema_columns(datasets.FORECAST_RESULT_SCHEMA)))
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


def day_forecasts(spark: SparkSession, frames: DataFrame, model_ref: str, registry: str,
                  cadence: int, size: list[int] | None, dt: str, raw_uri: str,
                  interval: Interval) -> DataFrame:  # fmt: skip
    """The rows of every issue time in ``interval``: each model's forecast of a complete
    window, or a quarantine row naming the frames a window lacks."""
    from pyspark.sql import functions as F

    from lakesight.models.nowcasting.forecaster import load_nowcaster

    inputs = load_nowcaster(model_ref, registry).inputs
    windows = spark_windows(frames, inputs, cadence).where(
        F.col("end_minute").between(interval.start, interval.end - 1)
    )

    def forecast(batches: Iterator[pd.DataFrame]) -> Iterator[pd.DataFrame]:
        worker_model = load_nowcaster(model_ref, registry)
        for batch in batches:
            yield forecast_batch(batch, worker_model, dt, tuple(size))

    complete = windows.where(F.col("frames").isNotNull()).select("end_minute", "frames")
    # A day without frames has no frame size: nothing to forecast, the same columns.
    issued = (
        complete.mapInPandas(forecast, datasets.FORECAST_RESULT_SCHEMA)
        if size
        else spark.createDataFrame([], datasets.FORECAST_RESULT_SCHEMA)
    )
    skipped = skipped_rows(windows.where(F.col("frames").isNull()), raw_uri, dt)
    fresh = skipped.unionByName(issued, allowMissingColumns=True).withColumn("dt", F.lit(dt))
    return fresh.select(*datasets.FORECAST_RESULT_COLUMNS)


def loaded_nowcaster(model_ref: str, settings: Settings):
    """The registered nowcaster, checked to forecast steps of the frames' cadence."""
    from lakesight.models.nowcasting.forecaster import load_nowcaster

    nowcaster = load_nowcaster(model_ref, settings.model_registry)
    if nowcaster.cadence_min != settings.radar_cadence_min:
        raise StageError(
            f"LAKESIGHT_RADAR_CADENCE_MIN: {model_ref} forecasts {nowcaster.cadence_min}-minute "
            f"steps, the frames are {settings.radar_cadence_min} minutes apart"
        )
    return nowcaster


@merges_into_day
@frees_cached_data
def run(spark: SparkSession, settings: Settings, dt: str, *, steps: Steps | None = None,
        interval: Interval = WHOLE_DAY, model: str = DEFAULT_MODEL) -> StageResult:  # fmt: skip
    """Forecast every complete window of the day (or of ``interval``); commit atomically."""
    from pyspark.sql import functions as F

    steps = steps or Steps(STAGE.short)
    fs, source, upstream = committed_input(spark, settings, datasets.INGEST, dt)
    entries, _ = model_entries([model])
    nowcaster = loaded_nowcaster(entries[0]["name"], settings)
    size, cadence = upstream.extra.get("frame_size"), settings.radar_cadence_min
    with steps.step("window and forecast"):
        frames = spark.read.parquet(source).select("minute", "pixels")
        fresh = day_forecasts(spark, frames, entries[0]["name"], settings.model_registry, cadence,
                              size, dt, datasets.RAW_RADAR.partition(settings, dt), interval)  # fmt: skip
        result = merged_into_day(spark, fs, settings, STAGE, dt, fresh,
                                 time_column="issued_at", interval=interval)  # fmt: skip
        counted = tally(
            result, ("issued_at", "model", "lead_min"),
            issue_times=F.countDistinct("issued_at"),
            skipped=F.countDistinct(F.when(F.col("reason").isNotNull(), F.col("issued_at"))),
        )  # fmt: skip
    n_in, skipped = int(counted.values["issue_times"]), int(counted.values["skipped"])
    note = None
    if n_in == skipped:  # nothing issued: say why, on the console and in the manifest
        note = (f"nothing issued in {clock(interval.start)}-{clock(interval.end)}: no observed "
                f"step has the {nowcaster.inputs} frames of a complete window")  # fmt: skip
        steps.say(note)
    return commit_stage(
        fs, settings, STAGE, dt, result, output_columns=datasets.FORECAST_COLUMNS,
        schema_version=datasets.FORECASTS_SCHEMA_VERSION,
        counts={"in": n_in, "out": n_in - skipped, "quarantined": skipped,
                "rows": counted.rows - counted.quarantined},
        input_fingerprint=counted.fingerprint, steps=steps, models=entries,
        quarantine_columns=("issued_at",),
        extra={"input": source, "note": note, "interval": interval.to_dict(),
               "cadence_min": cadence, "leads_min": nowcaster.leads_min,
               "models_issued": [entries[0]["name"], *BASELINES], "inputs": nowcaster.inputs,
               "frame_size": size},
    )  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    """Entry point for spark-submit and ``lakesight stage radar_nowcast.forecast``."""
    return stage_main(STAGE, run, argv, interval=True)


if __name__ == "__main__":
    sys.exit(main())
