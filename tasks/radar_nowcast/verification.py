"""Verification of radar nowcasts: counts and sums per forecast, ratios only at the end.

Every forecast is scored against the frame observed at its valid time by quantities that
can be summed over any window (issue times, days, weeks), as pysteps' ``*_accum`` /
``*_merge`` split does: the contingency table of events at each threshold, and the sums
of squared and absolute rain-rate errors. CSI, POD, FAR, MSE and MAE are computed from
the summed quantities by :func:`summarise`, never averaged from per-forecast ratios
(a mean of ratios weights a forecast with one wet pixel like one with a thousand).

Events are ``rain rate >= threshold`` (HKO-7's convention, see :mod:`.encoding`),
tested on pixels with :func:`.encoding.threshold_pixel`, which is exact. Errors are in
rain rate (mm/h) from :func:`.encoding.pixel_to_rain`, summed in float64.

Row layout of ``scores/radar`` (what :func:`score_rows` returns and :func:`summarise`
reads). The contract holds counts per (issue time, model, lead, threshold) "plus" error
sums per (issue time, model, lead). Repeating the error sums on every threshold row
would count them once per threshold when summed, so one table holds two kinds of rows,
each with ``issued_at``, ``model`` and ``lead_min``:

- count rows: ``threshold`` (mm/h, not null) with ``hits``, ``misses``,
  ``false_alarms``, ``correct_negatives``; the error columns are null;
- error rows: ``threshold`` null with ``n_pixels``, ``sum_squared_error``,
  ``sum_abs_error``; the count columns are null.

One forecast therefore gives ``len(thresholds) + 1`` rows.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np

from lakesight.radar_nowcast.datasets import COUNT_COLUMNS, ERROR_COLUMNS, SUMMARISED_COLUMNS
from lakesight.radar_nowcast.encoding import THRESHOLDS_MM_H, ZR, pixel_to_rain, threshold_pixel

if TYPE_CHECKING:
    import pandas as pd

# HKO-7's relation; ZR is frozen, so one shared default instance is safe.
DEFAULT_ZR = ZR()
# Enough for scores in [0, 1] and for MSE/MAE in mm/h; keeps the JSON small and stable.
SUMMARY_DECIMALS = 4


def contingency(
    forecast: np.ndarray,
    observed: np.ndarray,
    thresholds: Sequence[float] = THRESHOLDS_MM_H,
    zr: ZR = DEFAULT_ZR,
) -> list[dict]:
    """The contingency table of events ``rain >= t`` for each threshold ``t`` (mm/h).

    ``forecast`` and ``observed``: uint8 pixels of equal shape. Returns one dict per
    threshold: ``threshold``, ``hits``, ``misses``, ``false_alarms``,
    ``correct_negatives`` (python ints).
    """
    forecast, observed = _check_pair(forecast, observed)
    n_pixels = forecast.size
    tables = []
    for threshold in thresholds:
        event_pixel = threshold_pixel(threshold, zr)
        forecast_event = forecast >= event_pixel
        observed_event = observed >= event_pixel
        hits = int(np.count_nonzero(forecast_event & observed_event))
        misses = int(np.count_nonzero(observed_event)) - hits
        false_alarms = int(np.count_nonzero(forecast_event)) - hits
        tables.append(
            {
                "threshold": float(threshold),
                "hits": hits,
                "misses": misses,
                "false_alarms": false_alarms,
                "correct_negatives": n_pixels - hits - misses - false_alarms,
            }
        )
    return tables


def error_sums(forecast: np.ndarray, observed: np.ndarray, zr: ZR = DEFAULT_ZR) -> dict:
    """Sums of squared and absolute rain-rate errors (mm/h), in float64.

    Returns ``n_pixels`` (int), ``sum_squared_error`` and ``sum_abs_error`` (floats).
    """
    forecast, observed = _check_pair(forecast, observed)
    rain = _rain_lookup(zr)
    error = (rain[forecast] - rain[observed]).ravel()
    return {
        "n_pixels": int(error.size),
        "sum_squared_error": float(np.dot(error, error)),
        "sum_abs_error": float(np.abs(error).sum()),
    }


def score_rows(
    forecast: np.ndarray,
    observed: np.ndarray,
    thresholds: Sequence[float] = THRESHOLDS_MM_H,
    zr: ZR = DEFAULT_ZR,
) -> list[dict]:
    """The ``scores/radar`` rows of one forecast, in the module's layout.

    One count row per threshold (error columns None) and one error row (threshold and
    count columns None). The caller adds ``issued_at``, ``model`` and ``lead_min``.
    """
    no_errors = dict.fromkeys(ERROR_COLUMNS)
    rows = [{**table, **no_errors} for table in contingency(forecast, observed, thresholds, zr)]
    rows.append(
        {"threshold": None, **dict.fromkeys(COUNT_COLUMNS), **error_sums(forecast, observed, zr)}
    )
    return rows


# Fractions skill score (Roberts & Lean 2008) at these thresholds (mm/h) and square windows
# (pixels): the issue's 5 and 10 mm/h over 8 and 16 px.
FSS_THRESHOLDS_MM_H = (5.0, 10.0)
FSS_WINDOWS_PX = (8, 16)


def fss_sums(
    forecast: np.ndarray,
    observed: np.ndarray,
    thresholds: Sequence[float] = FSS_THRESHOLDS_MM_H,
    windows: Sequence[int] = FSS_WINDOWS_PX,
    zr: ZR = DEFAULT_ZR,
) -> list[dict]:
    """The summable parts of the FSS of one forecast, per (threshold, window).

    The event fractions ``F`` (forecast) and ``O`` (observed) in every ``w x w`` window
    (the domain padded with no event, as pysteps' ``fss`` does) give ``numerator =
    sum (F - O)^2`` and ``denominator = sum F^2 + sum O^2``; FSS = 1 - numerator /
    denominator over any sum of forecasts. Returns dicts with ``threshold``, ``window``,
    ``fss_numerator``, ``fss_denominator``.
    """
    import cv2

    forecast, observed = _check_pair(forecast, observed)
    out = []
    for threshold in thresholds:
        event = threshold_pixel(threshold, zr)
        f_event = (forecast >= event).astype(np.float32)
        o_event = (observed >= event).astype(np.float32)
        for window in windows:

            def fractions(events: np.ndarray, w: int = window) -> np.ndarray:
                return cv2.boxFilter(events, -1, (w, w), normalize=True,
                                     borderType=cv2.BORDER_CONSTANT).astype(np.float64)  # fmt: skip

            f, o = fractions(f_event), fractions(o_event)
            out.append({"threshold": float(threshold), "window": int(window),
                        "fss_numerator": float(np.sum((f - o) ** 2)),
                        "fss_denominator": float(np.sum(f * f) + np.sum(o * o))})  # fmt: skip
    return out


def fss(numerator, denominator):
    """FSS from summed parts: 1 - numerator / denominator (NaN where no event anywhere)."""
    return 1.0 - _ratio(numerator, denominator)


# The ratios below are NaN when their denominator is 0: a window with no observed and no
# forecast events has no skill to measure, and 0 or 1 would both be made up. A NaN
# propagates through any later arithmetic instead of silently looking like a score.


def csi(hits, misses, false_alarms):
    """Critical success index ``H / (H + M + F)``; NaN where ``H + M + F = 0``."""
    hits = np.asarray(hits, dtype=np.float64)
    return _ratio(hits, hits + misses + false_alarms)


def pod(hits, misses):
    """Probability of detection ``H / (H + M)``; NaN where no event was observed."""
    hits = np.asarray(hits, dtype=np.float64)
    return _ratio(hits, hits + misses)


def far(hits, false_alarms):
    """False alarm ratio ``F / (H + F)``; NaN where no event was forecast."""
    hits = np.asarray(hits, dtype=np.float64)
    return _ratio(false_alarms, hits + false_alarms)


def threshold_key(threshold: float) -> str:
    """The summary's key of a threshold: ``0.5 → "0.5"``, ``2.0 → "2"``."""
    return f"{float(threshold):g}"


def summarise(scores: pd.DataFrame) -> dict:
    """Scores per model and lead, from ``scores/radar`` rows summed over issue times.

    ``scores``: a DataFrame in the module's row layout with the columns
    :data:`~lakesight.radar_nowcast.datasets.SUMMARISED_COLUMNS`. Counts are summed per (model, lead, threshold) and error sums
    per (model, lead) before any ratio is taken. Returns a JSON-friendly dict::

        {"leads_min": [sorted leads], "models": [sorted names],
         "csi" | "pod" | "far": {model: {threshold_key: [one value per lead]}},
         "mse" | "mae": {model: [one value per lead]},
         "issues": {model: number of distinct issued_at}}

    Values are rounded to :data:`SUMMARY_DECIMALS`; undefined ones (no events, or a
    model without scores at a lead) are None.
    """
    import pandas as pd

    missing = [column for column in SUMMARISED_COLUMNS if column not in scores.columns]
    if missing:
        raise ValueError(f"scores lacks the columns {missing} of the scores/radar layout")
    is_count_row = scores["threshold"].notna()
    leads = sorted(scores["lead_min"].unique().tolist())
    models = sorted(scores["model"].unique().tolist())
    thresholds = sorted(scores.loc[is_count_row, "threshold"].unique().tolist())

    # Every (model, lead, threshold) gets a row, NaN where there is none, so that the
    # arrays below have a fixed (models, leads, thresholds) shape.
    counts = (
        scores[is_count_row]
        .groupby(["model", "lead_min", "threshold"])[list(COUNT_COLUMNS)]
        .sum()
        .reindex(pd.MultiIndex.from_product([models, leads, thresholds]))
    )
    shape = (len(models), len(leads), len(thresholds))
    hits, misses, false_alarms = (
        counts[column].to_numpy(dtype=np.float64).reshape(shape)
        for column in ("hits", "misses", "false_alarms")
    )
    errors = (
        scores[~is_count_row]
        .groupby(["model", "lead_min"])[list(ERROR_COLUMNS)]
        .sum()
        .reindex(pd.MultiIndex.from_product([models, leads]))
    )
    n_pixels, squared, absolute = (
        errors[column].to_numpy(dtype=np.float64).reshape(shape[:2]) for column in ERROR_COLUMNS
    )
    issues = scores.groupby("model")["issued_at"].nunique()

    def per_threshold(values: np.ndarray) -> dict:
        return {
            model: {
                threshold_key(threshold): _json_numbers(values[m, :, t])
                for t, threshold in enumerate(thresholds)
            }
            for m, model in enumerate(models)
        }

    return {
        "leads_min": leads,
        "models": models,
        "csi": per_threshold(csi(hits, misses, false_alarms)),
        "pod": per_threshold(pod(hits, misses)),
        "far": per_threshold(far(hits, false_alarms)),
        "mse": {
            model: _json_numbers(row)
            for model, row in zip(models, _ratio(squared, n_pixels), strict=True)
        },
        "mae": {
            model: _json_numbers(row)
            for model, row in zip(models, _ratio(absolute, n_pixels), strict=True)
        },
        "issues": {model: int(issues[model]) for model in models},
    }


def _ratio(numerator, denominator):
    """``numerator / denominator`` in float64, NaN where the denominator is not > 0
    (or NaN); a float for scalar input, an array otherwise."""
    numerator = np.asarray(numerator, dtype=np.float64)
    denominator = np.asarray(denominator, dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = np.where(denominator > 0, numerator / denominator, np.nan)
    return float(ratio) if ratio.ndim == 0 else ratio


def _json_numbers(values: np.ndarray) -> list[float | None]:
    return [None if np.isnan(value) else round(float(value), SUMMARY_DECIMALS) for value in values]


@functools.lru_cache(maxsize=8)
def _rain_lookup(zr: ZR) -> np.ndarray:
    """Rain rate (mm/h, float64) of every pixel value: indexing it is exact and fast."""
    rain = pixel_to_rain(np.arange(256, dtype=np.uint8), zr).astype(np.float64)
    rain.setflags(write=False)  # shared by every call through the cache
    return rain


def _check_pair(forecast: np.ndarray, observed: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    forecast, observed = np.asarray(forecast), np.asarray(observed)
    if forecast.shape != observed.shape:
        raise ValueError(f"forecast {forecast.shape} and observed {observed.shape} differ in shape")
    for name, pixels in (("forecast", forecast), ("observed", observed)):
        if pixels.dtype != np.uint8:
            raise ValueError(f"{name} must be uint8 pixels (HKO-7 encoding), got {pixels.dtype}")
    return forecast, observed
