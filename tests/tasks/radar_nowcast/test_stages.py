"""radar_nowcast's stages on Spark: ingest → forecast → verify, their faults and their reruns."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from lakesight.lake import LocalFileSystem, read_manifest, uri_path
from lakesight.progress import Steps
from lakesight.radar_nowcast import datasets, forecast, ingest, verify
from lakesight.radar_nowcast.frames import frame_minute, spark_windows, window_ends
from lakesight.radar_nowcast.sample_data import write_sample_radar
from lakesight.stage import WHOLE_DAY, Interval
from tests.support.lakes import partition_table

pytestmark = [pytest.mark.spark, pytest.mark.slow]
DT = "2026-05-20"
QUIET = Steps("test", quiet=True)


def table(settings, dataset, dt=DT):
    return partition_table(settings, dataset, dt)


def run_day(spark, settings, dt=DT, interval=WHOLE_DAY):
    return [
        stage.run(spark, settings, dt, steps=QUIET, interval=interval)
        for stage in (ingest, forecast, verify)
    ]


@pytest.fixture
def odd_day(settings):
    """00:00-02:00 of 96x80 frames (any size works) with a gap at 00:48 and every broken kind."""
    fs = LocalFileSystem()
    day = write_sample_radar(fs, settings, DT, size=96, end=120, gaps=(48,), bad=6)
    # Make the frames non-square: crop every good frame to 96 x 80 in place.

    from PIL import Image

    for name in day.written:
        path = uri_path(day.uri) + "/" + name
        image = Image.open(path)
        image.crop((0, 0, 80, 96)).save(path)
    return day


def test_the_day_runs_through_and_every_record_is_accounted_for(spark, settings, odd_day):
    ingested, forecasted, verified = run_day(spark, settings)
    reasons = ingested.manifest.extra["quarantined_by_reason"]
    good = len(odd_day.written)  # 00:48 left out, 01:06 arrived at the wrong size
    assert good == 18
    assert ingested.manifest.counts == {"in": good + 6, "out": good, "quarantined": 6}
    assert set(reasons) == {
        "truncated",
        "wrong_size",
        "not_a_step",
        "bad_name",
        "not_a_png",
        "wrong_encoding",
    }
    assert ingested.manifest.extra["frame_size"] == [96, 80]

    # Issue times are the good frames; those whose window lacks a frame (00:48, 01:06, or the
    # night before) are skipped.
    observed = [frame_minute(name, 6)[0] for name in odd_day.written]
    complete, incomplete = window_ends(observed, 5, 6)
    counts = forecasted.manifest.counts
    assert counts["in"] == good and counts["out"] == len(complete) == 8
    assert counts["quarantined"] == len(incomplete) == 10
    skipped = table(settings, datasets.QUARANTINED_WINDOWS)
    assert set(skipped["reason"]) == {"incomplete_window"}
    assert skipped.loc[skipped["issued_at"].dt.strftime("%H:%M") == "00:54", "detail"].item() == (
        "input window lacks 00:48"
    )
    at_0112 = skipped["issued_at"].dt.strftime("%H:%M") == "01:12"
    assert skipped.loc[at_0112, "detail"].item() == "input window lacks 00:48, 01:06"
    rows = table(settings, datasets.FORECASTS)
    assert len(rows) == len(complete) * 3 * 10
    models = set(rows["model"]) - {"persistence", "flow"}
    assert len(models) == 1 and models.pop().startswith(f"{forecast.DEFAULT_MODEL}@")
    assert (rows["height"] == 96).all() and (rows["width"] == 80).all()
    assert all(len(p) == 96 * 80 for p in rows["pixels"])

    # Verified: forecasts valid up to the last frame (01:54), except at the gap.
    v = verified.manifest.counts
    assert v["in"] == v["out"] + v["quarantined"] and v["quarantined"] > 0 and v["pending"] > 0
    unobserved = table(settings, datasets.QUARANTINED_VERIFICATION)
    assert set(unobserved["valid_at"].dt.strftime("%H:%M")) == {"00:48", "01:06"}
    assert {p.rsplit("/", 1)[1] for p in unobserved["path"]} == {"0048.png", "0106.png"}
    # Pending: every forecast valid after the last frame (01:54), to be scored by a later run.
    assert v["pending"] == (rows["valid_at"].dt.strftime("%H:%M") > "01:54").sum()
    assert v["in"] + v["pending"] == len(rows)
    scores = table(settings, datasets.SCORES)
    counted = scores[scores["threshold"].notna()]
    assert (
        (
            counted["hits"]
            + counted["misses"]
            + counted["false_alarms"]
            + counted["correct_negatives"]
        )
        == 96 * 80
    ).all()
    assert verified.manifest.extra["summary"]["leads_min"][0] == 6
    pictures = uri_path(datasets.PICTURES.partition(settings, DT))
    for name in ("panels.png", "csi_by_lead.png"):
        assert Path(pictures, name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_the_bench_baseline_scores_what_the_verify_stage_commits(
    spark, settings, odd_day, tmp_path
):
    """``bench nowcast`` compares the stage with :func:`bare_verify`: it must do the same
    work, so its score rows are the stage's, pair for pair (the gap's forecasts, quarantined
    by the stage, have no pair)."""
    from lakesight.radar_nowcast.evaluation import bare_verify

    _, _, verified = run_day(spark, settings)
    steps = Steps("bare", quiet=True)
    pairs = bare_verify(settings, DT, steps, str(tmp_path / "scores.parquet"))
    assert pairs == verified.manifest.counts["out"] > 0
    assert set(steps.timings) == {
        "read_s",
        "pair_and_score_s",
        "summarise_s",
        "pictures_s",
        "write_s",
    }
    key = ["issued_at", "model", "lead_min", "threshold"]
    values = [*key, *datasets.COUNT_COLUMNS, *datasets.ERROR_COLUMNS]
    ours = table(settings, datasets.SCORES)[values].sort_values(key, na_position="first")
    theirs = pd.read_parquet(tmp_path / "scores.parquet")[values]
    theirs = theirs.sort_values(key, na_position="first")
    pd.testing.assert_frame_equal(
        ours.reset_index(drop=True).astype(float, errors="ignore"),
        theirs.reset_index(drop=True).astype(float, errors="ignore"),
        check_dtype=False,
    )


def test_an_interval_run_draws_the_latest_fully_verified_issue(spark, settings, odd_day):
    """The pictures draw the latest issue whose every lead is observed, with its pixels as
    the forecast stage wrote them, also when a run scores only a later interval: its pixels
    come from the scoring job (outside the interval too), not from a second scan."""
    run_day(spark, settings)
    rescored = verify.run(spark, settings, DT, steps=QUIET, interval=Interval(90, 120))
    # The last frame is 01:54 and the leads reach 60 min, so the cutoff is 00:54; its
    # window lacks 00:48, as do 00:48 and the issues between: the latest issue is 00:42.
    assert rescored.manifest.extra["pictured_issue"] == "2026-05-20T00:42:00"
    forecasts = table(settings, datasets.FORECASTS)
    issue = forecasts[forecasts["issued_at"] == pd.Timestamp("2026-05-20 00:42")]
    assert sorted(issue["valid_at"].dt.strftime("%H:%M").unique())[-1] == "01:42"
    frames = table(settings, datasets.FRAMES)
    observed = {
        t.to_pydatetime(): p for t, p in zip(frames["frame_time"], frames["pixels"], strict=True)
    }
    expected = verify.picture_files(
        pd.Timestamp("2026-05-20 00:42").to_pydatetime(), issue, observed,
        rescored.manifest.extra["summary"], settings.radar_cadence_min,
    )  # fmt: skip
    pictures = Path(uri_path(datasets.PICTURES.partition(settings, DT)))
    assert (pictures / "panels.png").read_bytes() == expected["panels.png"]


def test_reruns_are_idempotent_and_an_interval_replaces_only_itself(spark, settings, odd_day):
    run_day(spark, settings)
    before = {d: table(settings, d) for d in (datasets.FRAMES, datasets.FORECASTS, datasets.SCORES)}
    run_day(spark, settings)
    for dataset, rows in before.items():
        again = table(settings, dataset)
        key = [c for c in ("minute", "issued_at", "model", "lead_min", "threshold") if c in rows]
        pd_equal = (
            rows.sort_values(key)
            .reset_index(drop=True)
            .equals(again.sort_values(key).reset_index(drop=True))
        )
        assert pd_equal, dataset
    # Rerun 01:00-01:30 only: its forecasts are rewritten, the others keep their bytes.
    forecast.run(
        spark, settings, DT, steps=QUIET, interval=Interval(60, 90), model=forecast.DEFAULT_MODEL
    )
    after = table(settings, datasets.FORECASTS)
    assert len(after) == len(before[datasets.FORECASTS])
    manifest = read_manifest(LocalFileSystem(), datasets.FORECASTS.partition(settings, DT))
    assert manifest.extra["interval"] == {"start": "01:00", "end": "01:30"}
    assert manifest.counts["in"] == 18  # the whole day's issue times, not only the interval's


def test_windows_in_spark_match_the_pure_windows(spark):
    observed = [m for m in range(0, 180, 6) if m not in (48, 120)]
    frames = spark.createDataFrame(
        [(m, bytes([m % 256])) for m in observed], "minute int, pixels binary"
    )
    rows = spark_windows(frames, 5, 6).collect()
    complete, incomplete = window_ends(observed, 5, 6)
    assert sorted(r["end_minute"] for r in rows if r["frames"] is not None) == complete
    assert {r["end_minute"]: list(r["missing"]) for r in rows if r["frames"] is None} == incomplete
    window = next(r for r in rows if r["end_minute"] == 30)
    assert [f["pixels"][0] for f in window["frames"]] == [6, 12, 18, 24, 30]


def test_a_clear_day_forecasts_zeros_and_verifies(spark, settings):
    write_sample_radar(LocalFileSystem(), settings, DT, end=60, clear=True, size=64)
    _, forecasted, verified = run_day(spark, settings)
    rows = table(settings, datasets.FORECASTS)
    assert forecasted.manifest.counts["out"] == 6 and len(rows) == 6 * 30
    assert not any(np.frombuffer(p, np.uint8).any() for p in rows["pixels"])
    scores = table(settings, datasets.SCORES)
    counted = scores[scores["threshold"].notna()]
    assert (counted["hits"] + counted["misses"] + counted["false_alarms"] == 0).all()
    assert (scores.loc[scores["threshold"].isna(), "sum_squared_error"] == 0).all()
    assert verified.manifest.counts["out"] > 0


def test_files_spark_never_reads_are_quarantined_not_lost(spark, settings):
    """Spark's file sources skip hidden and empty files: the listing still accounts for them,
    and an oversized file is quarantined unread."""
    settings = dataclasses.replace(settings, max_file_bytes=100_000)
    day = write_sample_radar(LocalFileSystem(), settings, DT, end=30, size=64)
    raw = Path(uri_path(day.uri))
    (raw / "0030.png").write_bytes(b"")
    (raw / "_0036.png").write_bytes((raw / day.written[0]).read_bytes())
    (raw / "0042.png").write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(100_001))
    ingested = ingest.run(spark, settings, DT, steps=QUIET)
    good = len(day.written)
    assert ingested.manifest.counts == {"in": good + 3, "out": good, "quarantined": 3}
    assert ingested.manifest.extra["quarantined_by_reason"] == {
        "empty_file": 1, "file_too_large": 1, "hidden_file": 1,
    }  # fmt: skip
    assert ingested.manifest.extra["input_change"]["added"] == good + 3


def test_a_day_shorter_than_a_window_issues_nothing_and_says_so(spark, settings):
    write_sample_radar(LocalFileSystem(), settings, DT, end=24, size=64)
    _, forecasted, verified = run_day(spark, settings)
    assert forecasted.manifest.counts == {"in": 4, "out": 0, "quarantined": 4, "rows": 0}
    assert forecasted.manifest.extra["quarantined_by_reason"] == {"incomplete_window": 4}
    assert "nothing issued" in forecasted.manifest.extra["note"]
    assert verified.manifest.counts["in"] == 0


def test_a_stage_killed_mid_write_leaves_the_day_as_it_was(spark, settings, odd_day, monkeypatch):
    run_day(spark, settings)
    fs = LocalFileSystem()
    before = read_manifest(fs, datasets.FORECASTS.partition(settings, DT))

    def crash(*args, **kwargs):
        raise RuntimeError("killed while writing")

    monkeypatch.setattr("lakesight.spark.write_parquet_side_by_side", crash)
    with pytest.raises(RuntimeError, match="killed"):
        forecast.run(spark, settings, DT, steps=QUIET)
    after = read_manifest(fs, datasets.FORECASTS.partition(settings, DT))
    assert after.run_id == before.run_id
    assert len(table(settings, datasets.FORECASTS)) == before.counts["rows"]


@pytest.mark.unit
def test_a_promoted_model_becomes_the_next_version(tmp_path):
    from lakesight.models.runtime import promote_release

    registry = tmp_path / "registry"
    (registry / "m" / "1").mkdir(parents=True)
    (registry / "m" / "_staging.7").mkdir()  # a copy that died half-way is never a version
    release = tmp_path / "release"
    release.mkdir()
    (release / "card.json").write_text('{"name": "m", "version": "candidate"}')
    (release / "model.onnx").write_bytes(b"onnx")
    assert promote_release(LocalFileSystem(), registry.as_uri(), "m", release) == "m@2"
    assert (registry / "m" / "2" / "model.onnx").read_bytes() == b"onnx"
    assert '"version": "2"' in (registry / "m" / "2" / "card.json").read_text()
