"""The `lakesight` command as users meet it: demo summary, JSON output, one-line errors."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from lakesight.lake import LocalFileSystem, is_committed

LAKESIGHT = str(Path(sys.executable).with_name("lakesight"))


def run(*args: str, env: dict | None = None, timeout: int = 600) -> subprocess.CompletedProcess:
    return subprocess.run(
        [LAKESIGHT, *args],
        env={**os.environ, **(env or {})},
        capture_output=True,
        text=True,
        timeout=timeout,
    )


@pytest.mark.e2e
@pytest.mark.spark
@pytest.mark.airflow
def test_demo_prints_what_it_read_wrote_and_quarantined(lake_root, settings):
    """image_features' DAG on its embedded defaults (no settings, no connections), as
    `make demo` runs it through `airflow dags test`: every stage commits, and the
    manifests account for every file."""
    from lakesight.lake import read_manifest

    result = run("demo", "--n", "16", "--bad", "9")
    assert result.returncode == 0, result.stderr[-3000:]
    out = result.stdout
    assert "read:" in out and "curated:" in out and "quarantine:" in out
    assert "ingest dt=2026-01-01: 16 of 25 files curated, 9 quarantined" in out
    assert f"{lake_root}/curated/images/dt=2026-01-01" in out
    assert is_committed(LocalFileSystem(), f"{lake_root}/curated/images/dt=2026-01-01")
    assert f"features:    {lake_root}/features/images/dt=2026-01-01" in out
    assert is_committed(LocalFileSystem(), f"{lake_root}/features/images/dt=2026-01-01")
    # Through Airflow as users run it, then a similarity query with its picture.
    assert "through airflow dags test" in out and "16 of 16 images described" in out
    assert f"pictures:    {lake_root}/pictures/image_features/dt=2026-01-01/detections.png" in out
    sheet = out.split("contact sheet: ", 1)[1].split()[0]
    assert Path(sheet).read_bytes().startswith(b"\x89PNG")
    # Signs of life while Airflow runs: each DAG task as it starts and ends, with its time.
    for task in ("wait_for_images", "ingest", "analyze", "publish"):
        assert f"[demo] task {task} started" in result.stderr
        assert re.search(rf"\[demo\] task {task} success in \d+\.\ds", result.stderr), task
    assert result.stderr.index("task ingest started") < result.stderr.index("task publish started")
    fs, dt = LocalFileSystem(), "2026-01-01"
    curated = read_manifest(fs, settings.partition_uri("curated", "images", dt))
    assert curated.counts == {"in": 25, "out": 16, "quarantined": 9}
    assert curated.extra["spark_master"] == "local[*]"  # the embedded default
    analyzed = read_manifest(fs, settings.partition_uri("curated", "descriptors", dt))
    assert analyzed.stage == "image_features.analyze"
    assert analyzed.counts == {"in": 16, "out": 16, "quarantined": 0, "reused": 0, "computed": 16}
    features = read_manifest(fs, settings.partition_uri("features", "images", dt))
    assert features.counts == {"in": 16, "out": 16, "quarantined": 0, "pictured": 12}
    assert [m["name"] for m in features.models] == ["ssd_scenes@1", "deepbit_scenes@1"]
    pictures = read_manifest(fs, settings.partition_uri("pictures", "image_features", dt))
    assert pictures.counts["out"] == 12


@pytest.mark.e2e
@pytest.mark.spark
@pytest.mark.airflow
def test_radar_demo_runs_the_dag_and_says_where_everything_is(lake_root):
    # Frames 00:00-02:00 and 6 broken files, 2 of them named for times after 02:00.
    result = run("demo", "radar_nowcast", "--end", "02:00")
    assert result.returncode == 0, result.stderr[-3000:]
    out = result.stdout
    assert "radar_nowcast dt=2026-01-01" in out and "through airflow dags test" in out
    assert "ingest dt=2026-01-01: 19 of 23 files curated, 4 quarantined" in out
    assert f"forecasts:   {lake_root}/forecasts/radar/dt=2026-01-01" in out
    assert f"scores:      {lake_root}/scores/radar/dt=2026-01-01" in out
    assert re.search(r"CSI >= 2 mm/h  advection_radar@\d+", out), out
    for name in ("panels.png", "csi_by_lead.png"):
        picture = f"{lake_root}/pictures/radar_nowcast/dt=2026-01-01/{name}"
        assert f"picture:     {picture}" in out
        assert Path(picture.removeprefix("file://")).read_bytes().startswith(b"\x89PNG")
    for task in ("wait_for_frames", "ingest", "forecast", "verify"):
        assert re.search(rf"\[demo\] task {task} success in \d+\.\ds", result.stderr), task


@pytest.mark.e2e
@pytest.mark.spark
@pytest.mark.airflow
def test_house_demo_runs_the_dag_and_a_query(lake_root, settings, tmp_path):
    """house_similarity's and then listing_recs' DAGs as an Airflow user runs them (`airflow
    dags test`, no connections), each through its demo: the manifests account for every
    record, and the registry holds exactly what the decisions say."""
    from lakesight.house_similarity import datasets as houses
    from lakesight.lake import read_manifest
    from lakesight.listing_recs import datasets as recs_data
    from tests.support.lakes import shipped_registry_copy

    fs, dt = LocalFileSystem(), "2026-01-01"
    # Promotions (house_tags, then listing_recs) go to a copy, never to the repository's.
    registry = shipped_registry_copy(tmp_path / "registry")
    env = {"LAKESIGHT_MODEL_REGISTRY": registry.as_uri()}
    # Smoke steps for the fine-tuned heads, through the DAG's tune_steps param.
    result = run("demo", "house_similarity", "--n", "12", "--tune-steps", "20", env=env)
    assert result.returncode == 0, result.stderr[-3000:]
    out = result.stdout
    assert f"house_similarity dt={dt}" in out and "through airflow dags test" in out
    assert f"listings:    {lake_root}/curated/listings/dt={dt}" in out
    assert f"features:    {lake_root}/features/listings/dt={dt}" in out
    assert "heads:" in out and "listings like " in out
    for task in ("wait_for_listings", "ingest", "embed", "train", "publish"):
        assert re.search(rf"\[demo\] task {task} success in \d+\.\ds", result.stderr), task
    ingested = read_manifest(fs, houses.LISTINGS.partition(settings, dt))
    assert ingested.counts["in"] == ingested.counts["out"] + ingested.counts["quarantined"]
    assert ingested.counts["listings"] == 12 and ingested.counts["quarantined"] > 0
    # The sample has labels: train refits the heads and promotes them only if they hold up.
    decision = read_manifest(fs, houses.TRAINING.partition(settings, dt)).extra["decision"]
    assert decision["retrained"] is True, decision
    assert decision["tuned_steps"] == {"style": 20, "stories": 20}, decision
    heads = decision["promoted"] or "house_tags@2"
    published = read_manifest(fs, houses.FEATURES.partition(settings, dt))
    assert [m["name"] for m in published.models] == ["places_backbone@1", heads]
    assert published.counts["out"] == ingested.counts["photos"]  # every curated photo
    versions = sorted(p.name for p in (registry / "house_tags").iterdir() if p.name.isdigit())
    assert versions == sorted({"2", heads.split("@")[1]}), versions  # nothing else released
    # The query is a photo of the first listing: that listing answers first.
    first = out.split("listings like ", 1)[1].splitlines()[1].split()
    assert first[2] == "MLS-20260101-0001", out
    sheet = out.split("contact sheet: ", 1)[1].split()[0]
    assert Path(sheet).read_bytes().startswith(b"\x89PNG")
    # A day never published: one line, exit 2.
    bad = run("houses", "similar", "--photo", sheet, "--dt", "2020-01-01", env=env, timeout=120)
    assert bad.returncode == 2 and bad.stderr.startswith("lakesight: error: --dt: no published")

    # listing_recs' demo on the day these listings were published: it reuses them (the
    # house DAG is not run again), then its users browse them and its own DAG runs: its
    # sensors find both inputs, and its first recommender is trained and promoted.
    recs = run("demo", "listing_recs", "--n", "3", env=env)
    assert recs.returncode == 0, recs.stderr[-3000:]
    assert "the day's 12 sample listings are published already: reused" in recs.stderr
    assert "airflow dags test house_similarity" not in recs.stderr
    assert f"recommendations: {lake_root}/features/recommendations/dt={dt}" in recs.stdout
    user_line = next(x for x in recs.stdout.splitlines() if x.strip().startswith("U-"))
    assert "MLS-20260101-" in user_line and "(cf)" in user_line, recs.stdout
    for task in ("wait_for_interactions", "wait_for_listings", "ingest", "train", "recommend"):
        assert re.search(rf"\[demo\] task {task} success in \d+\.\ds", recs.stderr), task
    events = read_manifest(fs, recs_data.INTERACTIONS.partition(settings, dt)).counts
    assert events["in"] == events["out"] + events["quarantined"] and events["quarantined"] > 0
    decision = read_manifest(fs, recs_data.TRAINING.partition(settings, dt)).extra["decision"]
    assert decision["promoted"] == "listing_recs@1", decision
    assert (registry / "listing_recs" / "1" / "model.onnx").exists()
    recommended = read_manifest(fs, recs_data.RECOMMENDATIONS.partition(settings, dt))
    assert recommended.counts["in"] == events["users"] and recommended.counts["from_cf"] > 0
    assert [m["name"] for m in recommended.models] == ["listing_recs@1"]


@pytest.mark.e2e
@pytest.mark.spark
def test_stage_ingest_json(lake_root):
    assert (
        run(
            "sample-data", "images", "--dt", "2026-02-01", "--n", "6", "--bad", "3", "--json"
        ).returncode
        == 0
    )
    result = run("stage", "image_features.ingest", "--dt", "2026-02-01", "--json")
    assert result.returncode == 0, result.stderr[-3000:]
    summary = json.loads(result.stdout)
    c = summary["counts"]
    assert (c["in"], c["out"], c["quarantined"]) == (9, 6, 3)
    assert summary["stage"] == "image_features.ingest"
    listing = json.loads(run("partitions", "curated/images", "--json").stdout)
    assert [p["dt"] for p in listing["partitions"]] == ["2026-02-01"]


@pytest.mark.unit
def test_task_progress_reads_airflow_dags_test_lines(capsys):
    from lakesight.cli import TaskProgress
    from lakesight.progress import Steps

    progress = TaskProgress(Steps("demo"))
    for line in (
        "[info] [DAG TEST] starting task_id=ingest map_index=-1 [airflow.sdk.definitions.dag]",
        "[info] Stage image_features.ingest dt=2026-01-01 on local[*]",
        "[info] Task instance state updated [airflow.api_fastapi] new_state=failed rows_affected=1",
        "[info] [DAG TEST] end task task_id=ingest map_index=-1 [airflow.sdk.definitions.dag]",
        "[info] [DAG TEST] end task task_id=never_started map_index=-1",
    ):
        progress.feed(line)
    lines = capsys.readouterr().err.splitlines()
    assert lines[0] == "[demo] task ingest started"
    assert re.fullmatch(r"\[demo\] task ingest failed in \d+\.\ds", lines[1])
    assert len(lines) == 2


@pytest.mark.unit
@pytest.mark.parametrize(
    ("args", "env", "starts"),
    [
        (
            ["config"],
            {"LAKESIGHT_ROOT": "s3://bucket/lake"},
            "lakesight: error: LAKESIGHT_ROOT: unknown URI scheme",
        ),
        (["stage", "image_features.ingest", "--dt", "2026-13-01"], {}, "lakesight: error: --dt"),
        # Bad arguments: one line too, never a usage dump; stages are PIPELINE.STAGE.
        (["stage", "ingest", "--dt", "2026-01-01"], {}, "lakesight: error: stage: argument"),
        (["stage", "image_features.ingest"], {}, "lakesight: error: stage image_features.ingest:"),
        (
            ["stage", "image_features.ingest", "--dt", "2026-01-01"],
            {"JAVA_HOME": "/nonexistent"},
            "lakesight: error: Java:",
        ),
        (
            ["stage", "radar_nowcast.forecast", "--dt", "2026-01-01", "--start", "25:00"],
            {},
            "lakesight: error: --start:",
        ),
        (
            ["sample-data", "radar", "--dt", "2026-01-01", "--gaps", "noon"],
            {},
            "lakesight: error: --gaps:",
        ),
        (
            ["sample-data", "radar", "--dt", "2026-01-01"],
            {"LAKESIGHT_RADAR_CADENCE_MIN": "7"},
            "lakesight: error: LAKESIGHT_RADAR_CADENCE_MIN:",
        ),
        (["eval", "nowcast", "--days", "0"], {}, "lakesight: error: --days:"),
        (["eval", "nowcast", "--seed", "7"], {}, "lakesight: error: --seed/--start:"),
        (
            ["eval", "nowcast", "--family", "all", "--start", "2026-02-30"],
            {},
            "lakesight: error: --start:",
        ),
        (["eval", "houses", "--tune-steps", "0"], {}, "lakesight: error: --tune-steps:"),
        (
            ["demo", "house_similarity", "--tune-steps", "0"],
            {},
            "lakesight: error: demo house_similarity: argument --tune-steps:",
        ),
        (["eval", "houses", "--tune-steps", "5", "--record"], {}, "lakesight: error: --record:"),
        (["houses", "similar", "--photo", "/nonexistent.jpg"], {}, "lakesight: error: --photo:"),
        (["houses", "similar", "--photo", __file__], {}, "lakesight: error: --photo:"),
        (["houses", "similar", "--photo", "x.jpg", "-k", "0"], {}, "lakesight: error: -k:"),
        (["houses", "similar", "--photo", "x.jpg", "--dt", "soon"], {}, "lakesight: error: --dt:"),
        (
            ["sample-data", "listings", "--dt", "2026-01-01", "--n", "0"],
            {},
            "lakesight: error: --n:",
        ),
        (
            ["sample-data", "interactions", "--dt", "2026-01-01", "--market-days", "0"],
            {},
            "lakesight: error: --market-days:",
        ),
        (["bench", "recs", "--repeats", "0"], {}, "lakesight: error: --repeats:"),
        (
            ["sample-data", "interactions", "--dt", "2026-02-30"],
            {},
            "lakesight: error: --dt:",
        ),
        (
            ["stage", "listing_recs.train", "--dt", "2026-01-01", "--growth", "lots"],
            {},
            "lakesight: error: stage listing_recs.train: argument --growth",
        ),
        (
            ["sample-data", "images", "--dt", "2026-01-01", "--n", "1"],
            {"LAKESIGHT_ROOT": "webhdfs://127.0.0.1:9/lake"},
            "lakesight: error: LAKESIGHT_ROOT: cannot reach",
        ),
        (["serve", "--port", "99999"], {}, "lakesight: error: --port:"),
        (["serve", "--port", "http"], {}, "lakesight: error: serve: argument --port"),
        (["serve", "--from", "yesterday"], {}, "lakesight: error: --from:"),
        (["serve", "--from", "2026-02-01", "--to", "2026-01-01"], {}, "lakesight: error: --from"),
        (["serve", "--max-upload-mb", "0"], {}, "lakesight: error: --max-upload-mb:"),
        (
            ["serve"],
            {"LAKESIGHT_ROOT": "webhdfs://127.0.0.1:9/lake"},
            "lakesight: error: LAKESIGHT_ROOT: cannot reach",
        ),
        (["bench", "serve", "--users", "0"], {}, "lakesight: error: --users:"),
        (["serve", "--live-refresh-s", "0"], {}, "lakesight: error: --live-refresh-s:"),
        (["bench", "stream", "--rate", "0"], {}, "lakesight: error: --rate:"),
        (
            ["stream", "image_features", "--trigger-s", "0"],
            {},
            "lakesight: error: stream image_features: --trigger-s must be > 0",
        ),
        (
            ["stream", "image_features", "--max-files-per-batch", "many"],
            {},
            "lakesight: error: stream image_features: argument --max-files-per-batch",
        ),
        (["stream", "nowcasts"], {}, "lakesight: error: stream: argument pipeline"),
    ],
)
def test_bad_settings_fail_fast_with_one_line(args, env, starts):
    result = run(*args, env=env, timeout=120)
    assert result.returncode == 2
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith(starts), result.stderr
