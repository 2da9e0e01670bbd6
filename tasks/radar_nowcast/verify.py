"""Verify stage: ``forecasts/radar/dt=D`` + ``curated/radar_frames/dt=D`` → ``scores/radar/dt=D``.

Every forecast whose valid time has been observed is scored against that frame:
the contingency counts at 0.5, 2, 5, 10 and 30 mm/h and the rain-rate error sums
of the contract (:mod:`.verification` has the row layout). The counts are computed
per forecast in the Python workers, against the day's frames broadcast to them once,
and summed per model and lead on the driver for the day's summary (CSI, POD, FAR, MSE,
MAE by lead), which the manifest keeps.

- A forecast valid after the day's latest observed frame is *pending*: not yet
  verifiable, counted in the manifest (``extra.pending``), scored by a later run.
- A forecast valid at or before it, whose frame is missing (a gap, or a frame
  quarantined by ingest), goes to ``quarantine/radar_verification`` as ``not_observed``.

So ``in`` (forecasts verifiable) = ``out`` (scored) + ``quarantined``. With
``--start``/``--end``, only forecasts valid in the interval are (re)scored. The stage
also draws ``pictures/radar_nowcast/dt=D``: observed-vs-forecast panels of the day's
latest fully verified issue time, and CSI by lead for every threshold.

Run: ``lakesight stage radar_nowcast.verify --dt D [--start T --end T]``.
"""

from __future__ import annotations

import dataclasses
import functools
import sys
from collections.abc import Iterator
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from lakesight.config import Settings
from lakesight.progress import Steps
from lakesight.radar_nowcast import datasets
from lakesight.radar_nowcast.frames import merged_into_day
from lakesight.radar_nowcast.verification import COUNT_COLUMNS, score_rows, summarise
from lakesight.stage import (
    WHOLE_DAY,
    Interval,
    StageResult,
    commit_pictures,
    commit_stage,
    committed_input,
    day_time,
    frees_cached_data,
    merges_into_day,
    schema_columns,
    stage_main,
    tally,
)

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

STAGE = datasets.VERIFY


def score_batch(batch: pd.DataFrame) -> pd.DataFrame:
    """Score rows of (forecast, observation) pairs. In: ``issued_at``, ``lead_min``,
    ``valid_at``, ``model``, ``height``, ``width``, ``pixels``, ``observed``."""
    rows = []
    for pair in batch.itertuples(index=False):
        shape = (int(pair.height), int(pair.width))
        forecast = np.frombuffer(pair.pixels, np.uint8).reshape(shape)
        observed = np.frombuffer(pair.observed, np.uint8).reshape(shape)
        key = {
            "issued_at": pair.issued_at,
            "lead_min": pair.lead_min,
            "valid_at": pair.valid_at,
            "model": pair.model,
        }
        rows.extend({**key, **row} for row in score_rows(forecast, observed))
    out = pd.DataFrame(rows, columns=list(schema_columns(datasets.SCORE_RESULT_SCHEMA)))
    # Arrow needs nullable integers and null strings, not the NaN floats pandas fills in.
    for column in (*COUNT_COLUMNS, "n_pixels"):
        out[column] = out[column].astype("Int64")
    for column in ("path", "reason", "detail"):
        out[column] = pd.Series([None] * len(out), dtype=object)
    return out


@dataclasses.dataclass(frozen=True)
class ObservedDay:
    """The day's curated frames, collected once. A day is a few hundred frames (4 MB at
    128 px, 63 MB at 512 px), its forecasts one per model and lead: the frames go to the
    workers once as a broadcast instead of being joined onto, and shipped with, every
    forecast, and the pictures take theirs from here."""

    at: dict  # frame time, as Spark collects it → pixels
    by_micros: dict[int, bytes]  # the same in epoch microseconds, the workers' key

    @property
    def latest(self):
        return max(self.at, default=None)


def observed_day(spark: SparkSession, frames_uri: str) -> ObservedDay:
    from pyspark.sql import functions as F

    rows = (
        spark.read.parquet(frames_uri)
        .select("frame_time", F.unix_micros("frame_time"), "pixels")
        .collect()
    )
    return ObservedDay({r[0]: r[2] for r in rows}, {r[1]: r[2] for r in rows})


def score_against(batches, frames, drawn) -> Iterator[pd.DataFrame]:
    """:func:`score_batch` over ``mapInPandas`` batches of forecasts: those flagged
    ``_score``, against their frame (``_valid_us``) in the broadcast ``frames``. Those
    flagged ``_draw`` (the issue the pictures draw) go to the accumulator ``drawn``."""
    by_micros = frames.value
    for batch in batches:
        to_draw = batch[batch["_draw"]]
        if len(to_draw):
            drawn.add({(r.model, int(r.lead_min)): (int(r.height), int(r.width), r.pixels)
                       for r in to_draw.itertuples(index=False)})  # fmt: skip
        batch = batch[batch["_score"]].drop(columns=["_score", "_draw"])
        observed = [by_micros[us] for us in batch["_valid_us"]]
        yield score_batch(batch.drop(columns="_valid_us").assign(observed=observed))


class DrawnIssue:
    """The pixels of the issue the pictures draw, ``{(model, lead_min): (height, width,
    pixels)}``, gathered while the scoring job passes them: a second scan of the day's
    forecasts for one issue would cost as much as the scoring's own (Spark writes
    timestamps as INT96, which have no statistics to skip row groups by). Merging is a
    union, so a task that runs twice adds nothing. (Spark needs only ``zero`` and
    ``addInPlace`` of an ``AccumulatorParam``.)"""

    def zero(self, value):
        return {}

    def addInPlace(self, value1, value2):
        value1.update(value2)
        return value1


@dataclasses.dataclass(frozen=True)
class DayForecasts:
    """What the day's forecasts say before any pixel is read, in one job over three small
    columns: how many are pending, and the issue the pictures draw (the latest whose every
    lead is observed, :func:`last_verified_issue`)."""

    pending: int
    drawn: object  # datetime, or None when no issue is verified yet


def day_forecasts(forecasts: DataFrame, in_interval, latest_us: int | None, latest) -> DayForecasts:
    from pyspark.sql import functions as F

    pending = in_interval & (F.col("_valid_us") > F.lit(latest_us)) if latest_us else in_interval
    issues = forecasts.groupBy("issued_at", "lead_min").agg(
        F.sum(pending.cast("int")).alias("pending")
    ).collect()  # fmt: skip
    leads = sorted({r["lead_min"] for r in issues})
    cutoff = last_verified_issue(latest, leads)
    verified = [r["issued_at"] for r in issues if cutoff is not None and r["issued_at"] <= cutoff]
    return DayForecasts(sum(r["pending"] for r in issues), max(verified, default=None))


def scored_pairs(spark: SparkSession, settings: Settings, dt: str, forecasts_uri: str,
                 observed: ObservedDay, interval: Interval):  # fmt: skip
    """The forecasts valid in ``interval`` scored against the frames ``observed`` then: (score
    rows, and a ``not_observed`` row for each forecast whose frame is missing; the day's
    :class:`DayForecasts`; the accumulator of the drawn issue's pixels, :class:`DrawnIssue`,
    filled when the score rows are computed)."""
    from pyspark.sql import functions as F

    start, end = day_time(dt, interval.start), day_time(dt, interval.end)
    forecasts = spark.read.parquet(forecasts_uri).withColumn("_valid_us", F.unix_micros("valid_at"))
    in_interval = (F.col("valid_at") >= F.lit(start).cast("timestamp")) & (
        F.col("valid_at") < F.lit(end).cast("timestamp")
    )
    latest_us = max(observed.by_micros, default=None)
    day = day_forecasts(forecasts, in_interval, latest_us, observed.latest)
    verifiable = in_interval & (F.col("_valid_us") <= F.lit(latest_us if latest_us else -1))
    is_observed = F.col("_valid_us").isin(list(observed.by_micros))
    to_draw = F.col("issued_at") == F.lit(day.drawn) if day.drawn else F.lit(False)
    frames = spark.sparkContext.broadcast(observed.by_micros)
    drawn = spark.sparkContext.accumulator({}, DrawnIssue())
    flagged = forecasts.withColumn("_score", verifiable & is_observed).withColumn("_draw", to_draw)
    scored = flagged.where(F.col("_score") | F.col("_draw")).mapInPandas(
        functools.partial(score_against, frames=frames, drawn=drawn), datasets.SCORE_RESULT_SCHEMA
    )
    raw_frame = F.format_string(
        "%s/%s.png", F.lit(datasets.RAW_RADAR.partition(settings, dt)),
        F.date_format("valid_at", "HHmm"),
    )  # fmt: skip
    unobserved = forecasts.where(verifiable & ~is_observed).select(
        "issued_at", "lead_min", "valid_at", "model", raw_frame.alias("path"),
        F.lit("not_observed").alias("reason"),
        F.lit("no curated frame at the valid time").alias("detail"),
    )  # fmt: skip
    fresh = scored.unionByName(unobserved, allowMissingColumns=True).withColumn("dt", F.lit(dt))
    return fresh.select(*datasets.SCORE_RESULT_COLUMNS), day, drawn


@merges_into_day
@frees_cached_data
def run(spark: SparkSession, settings: Settings, dt: str, *, steps: Steps | None = None,
        interval: Interval = WHOLE_DAY) -> StageResult:  # fmt: skip
    """Score the day's verifiable forecasts (or those valid in ``interval``); commit atomically."""
    from pyspark.sql import functions as F

    steps = steps or Steps(STAGE.short)
    fs, forecasts_uri, issued = committed_input(spark, settings, datasets.FORECAST, dt)
    _, frames_uri, _ = committed_input(spark, settings, datasets.INGEST, dt)
    with steps.step("pair and score"):
        observed = observed_day(spark, frames_uri)
        fresh, day, drawn = scored_pairs(spark, settings, dt, forecasts_uri, observed, interval)
        result = merged_into_day(spark, fs, settings, STAGE, dt, fresh,
                                 time_column="valid_at", interval=interval)  # fmt: skip
        # A forecast is its error row (null threshold), or its one quarantine row.
        forecast_rows = F.col("reason").isNotNull() | F.col("threshold").isNull()
        counted = tally(result, ("issued_at", "model", "lead_min", "threshold"),
                        forecasts=F.sum(forecast_rows.cast("int")))  # fmt: skip
    with steps.step("summarise"):
        summary = day_summary(result)
    with steps.step("pictures"):
        pictured = write_pictures(fs, settings, dt, day.drawn, drawn_issue(drawn.value),
                                  observed, summary, counted.fingerprint)  # fmt: skip
    n_in = int(counted.values["forecasts"] or 0)
    return commit_stage(
        fs, settings, STAGE, dt, result, output_columns=datasets.SCORE_COLUMNS,
        schema_version=datasets.SCORES_SCHEMA_VERSION,
        counts={"in": n_in, "out": n_in - counted.quarantined, "quarantined": counted.quarantined,
                "pending": day.pending},
        input_fingerprint=counted.fingerprint, steps=steps, models=issued.models,
        quarantine_columns=("issued_at", "lead_min", "valid_at", "model"),
        extra={"input": forecasts_uri, "observed": frames_uri, "interval": interval.to_dict(),
               "pending": day.pending, "summary": summary, "pictured_issue": pictured},
        more_outputs={"pictures": datasets.PICTURES.partition(settings, dt)},
    )  # fmt: skip


def day_summary(result: DataFrame) -> dict:
    """CSI/POD/FAR and MSE/MAE by model and lead over the day (:func:`summarise`). A day's
    score rows are a few per forecast, small enough to summarise on the driver in one job."""
    from pyspark.sql import functions as F

    from lakesight.radar_nowcast.datasets import SUMMARISED_COLUMNS

    scores = result.where(F.col("reason").isNull()).select(*SUMMARISED_COLUMNS).toPandas()
    if scores.empty:
        return {"leads_min": [], "models": [], "csi": {}, "pod": {}, "far": {}, "mse": {},
                "mae": {}}  # fmt: skip
    return summarise(scores)


def drawn_issue(pixels: dict) -> pd.DataFrame:
    """The :class:`DrawnIssue` accumulator's value as :func:`picture_files` takes it."""
    rows = [(model, lead, *rest) for (model, lead), rest in sorted(pixels.items())]
    return pd.DataFrame(rows, columns=["model", "lead_min", "height", "width", "pixels"])


def write_pictures(fs, settings: Settings, dt: str, drawn, issue: pd.DataFrame,
                   observed: ObservedDay, summary: dict, fingerprint: str) -> str | None:  # fmt: skip
    """Commit ``pictures/radar_nowcast/dt=D`` (:func:`picture_files`) of the issue ``drawn``
    (``issue``: its forecasts) and the day ``observed``; returns the issue time drawn."""
    files = picture_files(drawn, issue, observed.at, summary, settings.radar_cadence_min)
    commit_pictures(
        fs, settings, datasets.PICTURES, dt, stage=STAGE.name, files=files,
        input_fingerprint=fingerprint,
        extra={"files": sorted(files), "issued_at": drawn.isoformat() if drawn else None},
    )  # fmt: skip
    return drawn.isoformat() if drawn else None


def last_verified_issue(latest_frame, leads_min):
    """The latest issue time whose every lead is observed by ``latest_frame``, or None."""
    if latest_frame is None or not leads_min:
        return None
    return latest_frame - pd.Timedelta(minutes=max(leads_min)).to_pytimedelta()


def picture_files(drawn, issue: pd.DataFrame, observed: dict, summary: dict,
                  cadence_min: int) -> dict[str, bytes]:  # fmt: skip
    """The verification pictures: ``panels.png`` of the issue ``drawn`` (``issue``: its
    forecast rows, every model and lead; ``observed``: frame time → frame bytes up to its
    last lead) and ``csi_by_lead.png`` of ``summary``. Neither when nothing is verified."""
    from lakesight.radar_nowcast.pictures import csi_plot, forecast_panels

    leads = summary.get("leads_min") or []
    files = {}
    if drawn is not None:
        shape = (int(issue["height"].iloc[0]), int(issue["width"].iloc[0]))
        frames = {t: np.frombuffer(p, np.uint8).reshape(shape) for t, p in observed.items()}
        by_model: dict[str, dict[int, np.ndarray]] = {}
        for r in issue.itertuples(index=False):
            by_model.setdefault(r.model, {})[r.lead_min] = np.frombuffer(
                r.pixels, np.uint8
            ).reshape(shape)
        forecasts_by_model = {
            m: np.stack([v[k] for k in leads]) for m, v in sorted(by_model.items())
        }
        valid = [drawn + pd.Timedelta(minutes=k).to_pytimedelta() for k in leads]
        inputs = [frames[t] for t in sorted(frames) if t <= drawn][-5:]
        files["panels.png"] = forecast_panels(
            drawn.strftime("%Y-%m-%d %H:%M UTC"),
            leads,
            [frames.get(t) for t in valid],
            forecasts_by_model,
            inputs=np.stack(inputs) if inputs else None,
            tile=96,
            cadence_min=cadence_min,
        )
    if leads:
        files["csi_by_lead.png"] = csi_plot(summary)
    return files


def main(argv: list[str] | None = None) -> int:
    """Entry point for spark-submit and ``lakesight stage radar_nowcast.verify``."""
    return stage_main(STAGE, run, argv, interval=True)


if __name__ == "__main__":
    sys.exit(main())
