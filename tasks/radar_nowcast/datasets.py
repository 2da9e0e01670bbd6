"""radar_nowcast's datasets and their schemas: the one place a column of this pipeline is named.

- ``raw/radar/dt=D/HHMM.png``: input frames, one per step of the cadence (8-bit, HKO-7);
- ``curated/radar_frames``: one row per accepted frame, decoded (:data:`FRAME_COLUMNS`);
- ``forecasts/radar``: the consumer contract, one row per issue time, model and lead;
- ``scores/radar``: the consumer contract, verification counts and error sums
  (:mod:`.verification` describes its two kinds of rows);
- ``curated/radar_training``: the windows a training run used, its decision in the manifest;
- ``pictures/radar_nowcast``: forecast panels and CSI by lead, PNG;
- ``quarantine/radar_frames`` (ingest's rejects), ``quarantine/radar_windows`` (issue
  times skipped for an incomplete input window), ``quarantine/radar_verification``
  (forecasts whose valid time has no frame).

Every partition is one day ``dt=D``. A stage given an interval (``--start``/``--end``)
rewrites its rows of that interval and keeps the rest of the day as committed
(:func:`lakesight.radar_nowcast.frames.merge_interval`).
"""

from __future__ import annotations

from lakesight.stage import Dataset, Stage, schema_columns

RAW_RADAR = Dataset("raw", "radar")
FRAMES = Dataset("curated", "radar_frames")
FORECASTS = Dataset("forecasts", "radar")
SCORES = Dataset("scores", "radar")
TRAINING = Dataset("curated", "radar_training")
PICTURES = Dataset("pictures", "radar_nowcast")
QUARANTINED_FRAMES = Dataset("quarantine", "radar_frames")
QUARANTINED_WINDOWS = Dataset("quarantine", "radar_windows")
QUARANTINED_VERIFICATION = Dataset("quarantine", "radar_verification")

# --------------------------------------------------------------------------- curated/radar_frames

FRAMES_SCHEMA_VERSION = "curated.radar_frames/v1"
# One row per raw file. ``minute`` (of the day) is null for names that are not a step;
# reason is null for accepted frames. ``pixels``: H×W uint8, row-major, the input encoding.
VALIDATION_SCHEMA = (
    "path string, minute int, size long, sha256 string, height int, width int, "
    "pixels binary, reason string, detail string"
)
VALIDATION_SCHEMA_COLUMNS = schema_columns(VALIDATION_SCHEMA)
FRAME_COLUMNS = (
    "frame_time",
    "minute",
    "path",
    "size",
    "sha256",
    "height",
    "width",
    "pixels",
    "dt",
)
# What a quarantined frame keeps besides path/reason/detail: enough to merge intervals.
QUARANTINED_FRAME_COLUMNS = ("frame_time", "minute", "size", "sha256")

# --------------------------------------------------------------------------- forecasts/radar

FORECASTS_SCHEMA_VERSION = "forecasts.radar/v1"
FORECAST_SCHEMA = (
    "issued_at timestamp, lead_min int, valid_at timestamp, model string, height int, "
    "width int, pixels binary"
)
FORECAST_COLUMNS = (*schema_columns(FORECAST_SCHEMA), "dt")
# What the forecast stage computes before its commit splits it: forecast rows, and a
# quarantine row (path, reason, detail) for each issue time it skipped.
FORECAST_RESULT_SCHEMA = f"{FORECAST_SCHEMA}, path string, reason string, detail string"
FORECAST_RESULT_COLUMNS = (*schema_columns(FORECAST_RESULT_SCHEMA), "dt")

# --------------------------------------------------------------------------- scores/radar

SCORES_SCHEMA_VERSION = "scores.radar/v1"
# Count rows have a threshold and null error sums; one error row per forecast has a null
# threshold and null counts (see lakesight.radar_nowcast.verification).
SCORE_SCHEMA = (
    "issued_at timestamp, lead_min int, valid_at timestamp, model string, threshold double, "
    "hits long, misses long, false_alarms long, correct_negatives long, n_pixels long, "
    "sum_squared_error double, sum_abs_error double"
)
SCORE_COLUMNS = (*schema_columns(SCORE_SCHEMA), "dt")
# The verify stage's rows before its commit splits them: scores, and a quarantine row for
# each forecast whose valid time was not observed.
SCORE_RESULT_SCHEMA = f"{SCORE_SCHEMA}, path string, reason string, detail string"
SCORE_RESULT_COLUMNS = (*schema_columns(SCORE_RESULT_SCHEMA), "dt")
COUNT_COLUMNS = ("hits", "misses", "false_alarms", "correct_negatives")
ERROR_COLUMNS = ("n_pixels", "sum_squared_error", "sum_abs_error")
# What a day's summary reads of its score rows (lakesight.radar_nowcast.verification.summarise).
SUMMARISED_COLUMNS = ("issued_at", "model", "lead_min", "threshold", *COUNT_COLUMNS, *ERROR_COLUMNS)

# --------------------------------------------------------------------------- curated/radar_training

TRAINING_SCHEMA_VERSION = "curated.radar_training/v1"
# One row per window a training run used: its end (minute of the day) and its role.
TRAINING_COLUMNS = ("end_minute", "role", "dt")

# --------------------------------------------------------------------------- stages

INGEST = Stage(
    "radar_nowcast.ingest",
    output=FRAMES,
    label="frames",
    noun="files",
    verb="curated",
    quarantine=QUARANTINED_FRAMES,
)
FORECAST = Stage(
    "radar_nowcast.forecast",
    output=FORECASTS,
    label="forecasts",
    noun="issue times",
    verb="forecast",
    quarantine=QUARANTINED_WINDOWS,
)
VERIFY = Stage(
    "radar_nowcast.verify",
    output=SCORES,
    label="scores",
    noun="forecasts",
    verb="verified",
    quarantine=QUARANTINED_VERIFICATION,
)
TRAIN = Stage("radar_nowcast.train", output=TRAINING, label="training", noun="windows", verb="used")
