"""Contingency counts, error sums and their summary, checked against hand-computed values."""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest

from lakesight.radar_nowcast.datasets import SUMMARISED_COLUMNS
from lakesight.radar_nowcast.encoding import ZR, threshold_pixel
from lakesight.radar_nowcast.verification import (
    contingency,
    csi,
    error_sums,
    far,
    pod,
    score_rows,
    summarise,
    threshold_key,
)

pytestmark = pytest.mark.unit

AT_2 = threshold_pixel(2.0)  # 118: the first pixel whose rain rate is >= 2 mm/h
BELOW_2 = AT_2 - 1

# Events at 2 mm/h:   forecast [[x . x] [. x .]]   observed [[x x .] [. . x]]
FORECAST = np.array([[AT_2, BELOW_2, 200], [0, AT_2, 50]], dtype=np.uint8)
OBSERVED = np.array([[AT_2, AT_2, BELOW_2], [BELOW_2, 0, 255]], dtype=np.uint8)


def test_threshold_pixels_are_the_boundary():
    assert (AT_2, threshold_pixel(0.5), threshold_pixel(30.0)) == (118, 84, 185)


def test_contingency_by_hand():
    tables = contingency(FORECAST, OBSERVED, thresholds=(0.5, 2.0, 30.0))
    assert tables == [
        # >= 84: every pixel but 0 and 50 is an event.
        {"threshold": 0.5, "hits": 3, "misses": 2, "false_alarms": 1, "correct_negatives": 0},
        # >= 118: 117 is not an event, 118 is (rain >= t, not > t).
        {"threshold": 2.0, "hits": 1, "misses": 2, "false_alarms": 2, "correct_negatives": 1},
        # >= 185: only 200 (forecast) and 255 (observed).
        {"threshold": 30.0, "hits": 0, "misses": 1, "false_alarms": 1, "correct_negatives": 4},
    ]
    assert all(
        type(value) is int for table in tables for key, value in table.items() if key != "threshold"
    )


def test_contingency_follows_the_zr_relation():
    # With a larger `a`, a pixel means less rain: 118 is no longer a 2 mm/h event.
    zr = ZR(a=200.0)
    assert threshold_pixel(2.0, zr) > AT_2
    (table,) = contingency(FORECAST, OBSERVED, thresholds=(2.0,), zr=zr)
    assert (table["hits"], table["misses"], table["false_alarms"]) == (0, 1, 1)


def rain_rate(pixel: int) -> float:
    """The encoding written out in float64: dBZ, then Z = 10^(dBZ/10) = 58.53 R^1.56."""
    if pixel == 0:
        return 0.0
    dbz = 70 * pixel / 255 - 10
    return (10 ** (dbz / 10) / 58.53) ** (1 / 1.56)


def test_error_sums_by_hand():
    forecast = np.array([[0, 100, 150]], dtype=np.uint8)
    observed = np.array([[50, 100, 0]], dtype=np.uint8)
    sums = error_sums(forecast, observed)
    errors = [-rain_rate(50), 0.0, rain_rate(150)]  # mm/h: 0.128, 0, 7.34
    assert sums["n_pixels"] == 3
    assert sums["sum_squared_error"] == pytest.approx(sum(e * e for e in errors), rel=1e-6)
    assert sums["sum_abs_error"] == pytest.approx(sum(abs(e) for e in errors), rel=1e-6)
    assert type(sums["sum_squared_error"]) is float


def test_contingency_rejects_mismatched_pair():
    with pytest.raises(ValueError, match="shape"):
        contingency(FORECAST, OBSERVED[:, :2])
    with pytest.raises(ValueError, match="uint8"):
        error_sums(FORECAST.astype(np.int64), OBSERVED)


def test_ratios_on_numbers():
    assert csi(3, 1, 2) == 0.5
    assert pod(3, 1) == 0.75
    assert far(3, 2) == 0.4
    assert pod(0, 4) == 0.0  # observed events all missed: defined, and no skill


def test_undefined_ratios_are_nan():
    assert math.isnan(csi(0, 0, 0)) and math.isnan(pod(0, 0)) and math.isnan(far(0, 0))
    ratios = csi(np.array([3, 0]), np.array([1, 0]), np.array([2, 0]))
    assert ratios[0] == 0.5 and np.isnan(ratios[1])


def test_threshold_key():
    assert [threshold_key(t) for t in (0.5, 2.0, 5, 10.0, 30.0)] == ["0.5", "2", "5", "10", "30"]


def test_score_rows_layout():
    rows = score_rows(FORECAST, OBSERVED)
    assert len(rows) == 6 and all(set(row) == set(SUMMARISED_COLUMNS[3:]) for row in rows)
    count_rows, (error_row,) = rows[:-1], rows[-1:]
    assert [row["threshold"] for row in count_rows] == [0.5, 2.0, 5.0, 10.0, 30.0]
    assert all(row["n_pixels"] is None and row["sum_squared_error"] is None for row in count_rows)
    assert error_row["threshold"] is None and error_row["hits"] is None
    assert error_row == {**error_row, **error_sums(FORECAST, OBSERVED)}


T1, T2 = pd.Timestamp("2024-06-01 00:00", tz="UTC"), pd.Timestamp("2024-06-01 00:06", tz="UTC")
# (issued_at, model, lead_min, threshold) → hits, misses, false_alarms (100 pixels).
COUNTS = {
    (T1, "flow", 6, 0.5): (1, 0, 0),  # CSI 1.0 ...
    (T2, "flow", 6, 0.5): (1, 9, 0),  # ... and 0.1: mean 0.55, but summed 2 / 11
    (T1, "flow", 6, 2.0): (0, 0, 0),
    (T2, "flow", 6, 2.0): (0, 0, 0),  # no event anywhere: undefined
    (T1, "flow", 12, 0.5): (3, 1, 2),
    (T2, "flow", 12, 0.5): (0, 0, 0),
    (T1, "flow", 12, 2.0): (0, 2, 0),
    (T2, "flow", 12, 2.0): (2, 0, 6),
    (T1, "persistence", 6, 0.5): (1, 1, 0),
    (T1, "persistence", 6, 2.0): (0, 1, 0),  # persistence: one issue, no lead 12
}
# (issued_at, model, lead_min) → n_pixels, sum_squared_error, sum_abs_error.
ERRORS = {
    (T1, "flow", 6): (100, 10.0, 5.0),
    (T2, "flow", 6): (100, 30.0, 15.0),
    (T1, "flow", 12): (100, 1.0, 1.0),
    (T2, "flow", 12): (100, 2.0, 2.0),
    (T1, "persistence", 6): (100, 12.3456789, 7.0),
}


def score_table() -> pd.DataFrame:
    rows = [
        {
            "issued_at": t,
            "model": m,
            "lead_min": lead,
            "threshold": thr,
            "hits": h,
            "misses": mi,
            "false_alarms": f,
            "correct_negatives": 100 - h - mi - f,
        }
        for (t, m, lead, thr), (h, mi, f) in COUNTS.items()
    ] + [
        {
            "issued_at": t,
            "model": m,
            "lead_min": lead,
            "threshold": None,
            "n_pixels": n,
            "sum_squared_error": sse,
            "sum_abs_error": sae,
        }
        for (t, m, lead), (n, sse, sae) in ERRORS.items()
    ]
    return pd.DataFrame(rows, columns=list(SUMMARISED_COLUMNS))


def test_summarise_sums_before_ratios():
    summary = summarise(score_table())
    assert summary == {
        "leads_min": [6, 12],
        "models": ["flow", "persistence"],
        "csi": {
            "flow": {"0.5": [0.1818, 0.5], "2": [None, 0.2]},
            "persistence": {"0.5": [0.5, None], "2": [0.0, None]},
        },
        "pod": {
            "flow": {"0.5": [0.1818, 0.75], "2": [None, 0.5]},
            "persistence": {"0.5": [0.5, None], "2": [0.0, None]},
        },
        "far": {
            "flow": {"0.5": [0.0, 0.4], "2": [None, 0.75]},
            "persistence": {"0.5": [0.0, None], "2": [None, None]},
        },
        "mse": {"flow": [0.2, 0.015], "persistence": [0.1235, None]},
        "mae": {"flow": [0.1, 0.015], "persistence": [0.07, None]},
        "issues": {"flow": 2, "persistence": 1},
    }
    mean_of_ratios = (csi(1, 0, 0) + csi(1, 9, 0)) / 2
    assert summary["csi"]["flow"]["0.5"][0] == round(2 / 11, 4) != round(mean_of_ratios, 4)
    json.dumps(summary, allow_nan=False)  # plain JSON: no NaN, no numpy types


def test_summarise_round_trip_from_score_rows():
    rows = [
        {"issued_at": T1, "model": "flow", "lead_min": 6, **row}
        for row in score_rows(FORECAST, OBSERVED, thresholds=(2.0,))
    ]
    summary = summarise(pd.DataFrame(rows))
    sums = error_sums(FORECAST, OBSERVED)
    assert summary["csi"] == {"flow": {"2": [0.2]}}  # 1 / (1 + 2 + 2)
    assert summary["mse"]["flow"] == [round(sums["sum_squared_error"] / 6, 4)]


def test_summarise_empty_and_malformed():
    empty = summarise(pd.DataFrame(columns=list(SUMMARISED_COLUMNS)))
    assert empty["models"] == [] and empty["csi"] == {} and empty["leads_min"] == []
    with pytest.raises(ValueError, match="sum_abs_error"):
        summarise(score_table().drop(columns="sum_abs_error"))


class Gathered:
    """A stand-in for a Spark accumulator of :class:`verify.UnionOfDicts`: what ``add`` gets."""

    def __init__(self) -> None:
        self.value: dict = {}

    def add(self, value: dict) -> None:
        self.value.update(value)


def test_a_worker_sorts_each_forecast_by_its_valid_time():
    """Scored when its frame was observed, ``not_observed`` when the frame is missing,
    pending after the latest frame, untouched outside the run's interval; the drawn issue's
    pixels and the pending keys are gathered."""
    from lakesight.radar_nowcast.verify import ScoringWindow, micros, score_forecasts

    at = [pd.Timestamp(f"2026-01-02 {hhmm}", tz="UTC") for hhmm in ("00:06", "00:12", "00:18",
                                                                   "00:24", "00:30")]  # fmt: skip
    issued = pd.Timestamp("2026-01-02 00:00", tz="UTC")
    pixels = np.full((4, 3), 200, np.uint8).tobytes()
    forecasts = pd.DataFrame({
        "issued_at": [issued] * 5, "lead_min": [6, 12, 18, 24, 30], "valid_at": at,
        "model": "flow", "height": 4, "width": 3, "pixels": [pixels] * 5,
    })  # fmt: skip
    # Frames at 00:06 and 00:18 (00:12 is missing); the run's interval ends before 00:30.
    observed = {micros(at[0]): pixels, micros(at[2]): bytes(12)}
    window = ScoringWindow(micros(at[0]), micros(at[4]), micros(at[2]), micros(issued), "raw/d")
    drawn, pending = Gathered(), Gathered()
    rows = pd.concat(list(score_forecasts(forecasts, observed, window, drawn, pending)))

    scored = rows[rows["reason"].isna()]
    assert sorted(set(scored["lead_min"])) == [6, 18]
    hits = scored.dropna(subset=["threshold"]).set_index(["lead_min", "threshold"])["hits"]
    assert hits[(6, 0.5)] == 12 and hits[(18, 0.5)] == 0  # observed there: rain, then none
    quarantined = rows[rows["reason"].notna()]
    assert quarantined[["lead_min", "reason", "path"]].values.tolist() == [
        [12, "not_observed", "raw/d/0012.png"]
    ]
    assert list(pending.value) == [(issued, 24, "flow")]  # 00:30 is outside the interval
    assert sorted(drawn.value) == [("flow", lead) for lead in (6, 12, 18, 24, 30)]
    assert drawn.value[("flow", 6)] == (4, 3, pixels)
