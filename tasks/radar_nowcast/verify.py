"""Verify stage: ``forecasts/radar/dt=D`` + ``curated/radar_frames/dt=D`` → ``scores/radar/dt=D``.

Every forecast whose valid time has been observed is scored against that frame:
the contingency counts at 0.5, 2, 5, 10 and 30 mm/h and the rain-rate error sums
of the contract (:mod:`.verification` has the row layout). The counts are computed
per forecast in the Python workers, against the day's frames broadcast to them once,
and summed per model and lead on the driver for the day's summary (CSI, POD, FAR, MSE,
MAE by lead), which the manifest keeps. The workers read the forecasts' Parquet files
themselves, a share of each file's rows apiece, through the lake's own client
(:func:`lakesight.spark.worker_read_slices`): decoding a day's pixels in the JVM and
passing them through Arrow cost more than the scoring at the sample's 128 px.

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
    return as_score_result(pd.DataFrame(rows, columns=SCORE_RESULT))


def not_observed_rows(forecasts: pd.DataFrame, raw_partition: str) -> pd.DataFrame:
    """The quarantine rows of ``forecasts`` whose valid time has no curated frame; their
    ``path`` is where the raw frame would be."""
    rows = forecasts[["issued_at", "lead_min", "valid_at", "model"]].reindex(columns=SCORE_RESULT)
    rows["path"] = [f"{raw_partition}/{valid:%H%M}.png" for valid in forecasts["valid_at"]]
    rows["reason"], rows["detail"] = "not_observed", "no curated frame at the valid time"
    return as_score_result(rows, with_reasons=False)


def as_score_result(rows: pd.DataFrame, with_reasons: bool = True) -> pd.DataFrame:
    # Arrow needs nullable integers and null strings, not the NaN floats pandas fills in.
    for column in (*COUNT_COLUMNS, "n_pixels"):
        rows[column] = rows[column].astype("Int64")
    for column in ("path", "reason", "detail") if with_reasons else ():
        rows[column] = pd.Series([None] * len(rows), dtype=object, index=rows.index)
    return rows


SCORE_RESULT = list(schema_columns(datasets.SCORE_RESULT_SCHEMA))
# What the scoring workers read of the day's forecasts.
FORECAST_READ = ["issued_at", "lead_min", "valid_at", "model", "height", "width", "pixels"]


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


def forecast_issues(forecasts: DataFrame) -> list[tuple]:
    """The day's ``(issued_at, lead_min)``, read from two small columns, no pixels."""
    issued = forecasts.select("issued_at", "lead_min").distinct()
    return [tuple(row) for row in issued.collect()]


def drawn_issue_time(issues: list[tuple], latest_frame):
    """The issue the pictures draw: the latest whose every lead is observed
    (:func:`last_verified_issue`), or None."""
    cutoff = last_verified_issue(latest_frame, sorted({lead for _, lead in issues}))
    return max((t for t, _ in issues if cutoff is not None and t <= cutoff), default=None)


@dataclasses.dataclass(frozen=True)
class ScoringWindow:
    """How the workers sort a forecast by its valid time (epoch microseconds): inside the
    run's interval ``[start_us, end_us)`` it is *verifiable* at or before the day's latest
    frame ``latest_us`` (None: no frame yet) and *pending* after it; outside, it is left
    as committed. ``drawn_us``: the issue the pictures draw; ``raw_partition``: where the
    raw frames are, for a ``not_observed`` row's path."""

    start_us: int
    end_us: int
    latest_us: int | None
    drawn_us: int | None
    raw_partition: str

    def sort(self, valid_us: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(verifiable, pending) masks of ``valid_us``."""
        in_interval = (valid_us >= self.start_us) & (valid_us < self.end_us)
        if self.latest_us is None:
            return np.zeros_like(in_interval), in_interval
        return in_interval & (valid_us <= self.latest_us), in_interval & (valid_us > self.latest_us)


def epoch_micros(times: pd.Series) -> np.ndarray:
    return ((times - pd.Timestamp(0, tz="UTC")) // pd.Timedelta(microseconds=1)).to_numpy(np.int64)


def score_forecasts(forecasts: pd.DataFrame, observed: dict[int, bytes], window: ScoringWindow,
                    drawn, pending) -> Iterator[pd.DataFrame]:  # fmt: skip
    """The score rows of the verifiable ``forecasts`` whose frame was ``observed``, and the
    ``not_observed`` rows of those whose frame is missing. The pixels of the drawn issue go
    to the accumulator ``drawn``, the keys of pending forecasts to ``pending`` (both
    :class:`UnionOfDicts`)."""
    valid_us = epoch_micros(forecasts["valid_at"])
    verifiable, is_pending = window.sort(valid_us)
    is_observed = np.isin(valid_us, np.fromiter(observed, np.int64, len(observed)))
    if is_pending.any():
        keys = forecasts.loc[is_pending, ["issued_at", "lead_min", "model"]]
        pending.add(dict.fromkeys(keys.itertuples(index=False, name=None)))
    to_draw = epoch_micros(forecasts["issued_at"]) == window.drawn_us
    if to_draw.any():
        drawn.add({(r.model, int(r.lead_min)): (int(r.height), int(r.width), r.pixels)
                   for r in forecasts[to_draw].itertuples(index=False)})  # fmt: skip
    scored = verifiable & is_observed
    yield score_batch(forecasts[scored].assign(observed=[observed[us] for us in valid_us[scored]]))
    if (verifiable & ~is_observed).any():
        yield not_observed_rows(forecasts[verifiable & ~is_observed], window.raw_partition)


def score_slices(batches, slices, settings: Settings, frames, window: ScoringWindow, drawn,
                 pending) -> Iterator[pd.DataFrame]:  # fmt: skip
    """:func:`score_forecasts` over the forecast files' slices (``slices``, indexed by the
    ``id`` of each ``mapInPandas`` batch), each read by its worker with pyarrow
    (:func:`lakesight.lake.read_parquet_slice`) against the broadcast ``frames``."""
    import pyarrow as pa

    from lakesight.lake import filesystem_for, read_parquet_slice

    observed = frames.value
    for batch in batches:
        for uri, part, parts in (slices[i] for i in batch["id"]):
            fs = filesystem_for(uri, settings)
            for table in read_parquet_slice(fs, uri, part, parts, FORECAST_READ):
                # Spark writes INT96 timestamps, which pyarrow reads as naive UTC.
                for name in ("issued_at", "valid_at"):
                    utc = table.column(name).cast(pa.timestamp("us", tz="UTC"))
                    table = table.set_column(table.schema.get_field_index(name), name, utc)
                yield from score_forecasts(table.to_pandas(), observed, window, drawn, pending)


class UnionOfDicts:
    """An accumulator of dicts merged as a union, so a task that runs twice adds nothing:
    the pixels of the issue the pictures draw, ``{(model, lead_min): (height, width,
    pixels)}``, gathered while the scoring job passes them (a second scan of the day's
    forecasts for one issue would cost as much as the scoring's own), and the keys of the
    pending forecasts. (Spark needs only ``zero`` and ``addInPlace`` of an
    ``AccumulatorParam``.)"""

    def zero(self, value):
        return {}

    def addInPlace(self, value1, value2):
        value1.update(value2)
        return value1


@dataclasses.dataclass(frozen=True)
class DayForecasts:
    """The scoring's by-products: how many forecasts are pending, the issue the pictures
    draw (a datetime, or None when no issue is verified yet) and its pixels
    (:func:`drawn_issue`)."""

    pending: int
    drawn: object
    drawn_pixels: pd.DataFrame


def scored_pairs(spark: SparkSession, settings: Settings, dt: str, forecasts: DataFrame,
                 observed: ObservedDay, issues: list[tuple], interval: Interval):  # fmt: skip
    """The ``forecasts`` valid in ``interval`` scored against the frames ``observed`` then (score
    rows, and a ``not_observed`` row for each forecast whose frame is missing), and a
    callable giving the :class:`DayForecasts` once the score rows are computed."""
    from pyspark.sql import functions as F

    from lakesight.spark import worker_read_slices

    drawn_at = drawn_issue_time(issues, observed.latest)
    window = ScoringWindow(
        micros(day_time(dt, interval.start)), micros(day_time(dt, interval.end)),
        max(observed.by_micros, default=None), micros(drawn_at) if drawn_at else None,
        datasets.RAW_RADAR.partition(settings, dt),
    )  # fmt: skip
    files = forecasts.inputFiles()  # read by the workers themselves, not by Spark
    ids, slices = worker_read_slices(spark, sorted(files))
    frames = spark.sparkContext.broadcast(observed.by_micros)
    drawn, pending = (spark.sparkContext.accumulator({}, UnionOfDicts()) for _ in range(2))
    scored = ids.mapInPandas(
        functools.partial(score_slices, slices=slices, settings=settings, frames=frames,
                          window=window, drawn=drawn, pending=pending),
        datasets.SCORE_RESULT_SCHEMA,
    )  # fmt: skip
    fresh = scored.withColumn("dt", F.lit(dt)).select(*datasets.SCORE_RESULT_COLUMNS)
    return fresh, lambda: DayForecasts(len(pending.value), drawn_at, drawn_issue(drawn.value))


def micros(moment) -> int:
    """Epoch microseconds of a datetime: an aware one, or a naive one as PySpark collects
    timestamps (in the local time zone, which ``timestamp()`` assumes too)."""
    return round(moment.timestamp() * 1_000_000)


@merges_into_day
@frees_cached_data
def run(spark: SparkSession, settings: Settings, dt: str, *, steps: Steps | None = None,
        interval: Interval = WHOLE_DAY) -> StageResult:  # fmt: skip
    """Score the day's verifiable forecasts (or those valid in ``interval``); commit atomically."""
    from pyspark.sql import functions as F

    from lakesight.spark import side_by_side

    steps = steps or Steps(STAGE.short)
    fs, forecasts_uri, issued = committed_input(spark, settings, datasets.FORECAST, dt)
    _, frames_uri, _ = committed_input(spark, settings, datasets.INGEST, dt)
    with steps.step("pair and score"):
        forecasts = spark.read.parquet(forecasts_uri)  # listed once, for both uses
        observed, issues = side_by_side(lambda: observed_day(spark, frames_uri),
                                        lambda: forecast_issues(forecasts))  # fmt: skip
        fresh, day_forecasts = scored_pairs(spark, settings, dt, forecasts, observed, issues,
                                            interval)  # fmt: skip
        result = merged_into_day(spark, fs, settings, STAGE, dt, fresh,
                                 time_column="valid_at", interval=interval)  # fmt: skip
        # A forecast is its error row (null threshold), or its one quarantine row.
        forecast_rows = F.col("reason").isNotNull() | F.col("threshold").isNull()
        counted = tally(result, ("issued_at", "model", "lead_min", "threshold"),
                        forecasts=F.sum(forecast_rows.cast("int")))  # fmt: skip
        day = day_forecasts()  # filled by the scoring job, which the tally ran
    with steps.step("summarise"):
        summary = day_summary(result)
    with steps.step("pictures"):
        pictured = write_pictures(fs, settings, dt, day.drawn, day.drawn_pixels, observed,
                                  summary, counted.fingerprint)  # fmt: skip
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
