"""The streaming path on real Spark Structured Streaming: the daily rows within seconds, exactly
once across replays, restarts and a SIGKILL, bad files quarantined, sealed by the daily run."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from lakesight.image_features import analyze, datasets, ingest, publish
from lakesight.image_features.live import committed_batches
from lakesight.image_features.sample_data import write_images_partition
from lakesight.image_features.stream import (
    StreamContext,
    batch_name,
    publish_batch,
    run_stream,
)
from lakesight.lake import STAGING_DIR, HadoopFileSystem, LocalFileSystem, read_manifest, uri_path
from lakesight.stage import StageError

pytestmark = pytest.mark.spark

DT = "2026-07-11"
COLUMNS = list(datasets.CONTRACT_COLUMNS)


def live_table(fs, settings, dt: str, dataset=datasets.LIVE) -> pa.Table:
    batches = committed_batches(fs, settings, dt, dataset)
    tables = [pq.read_table(uri_path(b)) for b in batches]
    return pa.concat_tables(tables) if tables else pa.table({})


def rows(table: pa.Table) -> list[dict]:
    return table.select(COLUMNS).sort_by("image_id").to_pylist()


def raw_day(settings, dt: str) -> Path:
    return Path(uri_path(settings.partition_uri("raw", "images", dt)))


def new_images(settings, n: int, seed: int) -> list[bytes]:
    """The bytes of ``n`` generated scenes not in any day of the test (written to a scratch day)."""
    scratch = "2020-01-01"
    write_images_partition(LocalFileSystem(), settings, scratch, n=n, bad=0, seed=seed)
    files = sorted(p for p in raw_day(settings, scratch).rglob("*") if p.is_file())
    data = [p.read_bytes() for p in files]
    shutil.rmtree(raw_day(settings, scratch))
    return data


def started_stream(lake_root: str, *options: str) -> subprocess.Popen:
    """``lakesight stream image_features --json`` as users start it, in a session of its own
    (so a test can signal it with its JVM), a micro-batch every 0.5 s."""
    command = [sys.executable, "-m", "lakesight.cli", "stream", "image_features", "--json",
               "--trigger-s", "0.5", *options]  # fmt: skip
    return subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
        env={**os.environ, "LAKESIGHT_ROOT": lake_root}, start_new_session=True,
    )  # fmt: skip


def test_stream_publishes_the_daily_rows_and_the_daily_run_seals_them(spark, settings):
    fs = LocalFileSystem()
    write_images_partition(fs, settings, DT, n=14, bad=8, seed=31)

    reports = run_stream(settings, once=True, max_files=6, spark=spark)

    # 22 files: the empty and the hidden one never reach Spark's file source (the daily finds them).
    assert [r.batch_id for r in reports] == [0, 1, 2, 3]
    assert sum(r.files for r in reports) == 20 and sum(r.images for r in reports) == 14
    manifests = [read_manifest(fs, b) for b in committed_batches(fs, settings, DT)]
    assert [m.extra["stream"]["batch_id"] for m in manifests] == [0, 1, 2, 3]
    assert all(m.counts["in"] == m.counts["out"] + m.counts["quarantined"] for m in manifests)
    live = live_table(fs, settings, DT)
    assert live.num_rows == 14 and len(set(live["image_id"].to_pylist())) == 14
    quarantined = live_table(fs, settings, DT, datasets.QUARANTINED_LIVE)
    assert sorted(quarantined["reason"].to_pylist()) == sorted(
        ["corrupt", "decompression_bomb", "duplicate", "not_an_image", "too_small", "truncated"]
    )

    # The daily run of the same day reuses every live analysis and publishes identical rows.
    ingest.run(spark, settings, DT)
    analysed = analyze.run(spark, settings, DT)
    assert (analysed.manifest.counts["reused"], analysed.manifest.counts["computed"]) == (14, 0)
    live_rows = rows(live)
    published = publish.run(spark, settings, DT)
    assert rows(pq.read_table(uri_path(published.output_uri))) == live_rows

    # ... and seals the day: the comparison in its manifest, the live batches retired.
    assert published.manifest.extra["sealed"] == {
        "batches": 4, "rows": 14, "identical": 14, "missing": 0, "overwritten": 0, "differing": 0,
    }  # fmt: skip
    assert committed_batches(fs, settings, DT) == []
    assert committed_batches(fs, settings, DT, datasets.QUARANTINED_LIVE) == []


def test_a_replayed_batch_is_skipped_a_cut_short_one_redone_and_another_query_refused(
    spark, settings
):
    fs = LocalFileSystem()
    write_images_partition(fs, settings, DT, n=4, bad=0, seed=32)
    files = spark.read.format("binaryFile").option("recursiveFileLookup", "true")
    files = files.load(settings.partition_uri("raw", "images", DT))
    context, fs = StreamContext.start(settings), HadoopFileSystem(spark)  # as the stream's

    first = publish_batch(spark, fs, context, files, DT, 7, "query-a")
    assert [r.manifest.counts["out"] for r in first] == [4]
    batch = f"{datasets.LIVE.partition(settings, DT)}/{batch_name(7)}"
    # Replayed by Spark after a crash between our commit and its own: nothing is rewritten.
    assert publish_batch(spark, fs, context, files, DT, 7, "query-a") == []
    assert read_manifest(fs, batch).run_id == first[0].manifest.run_id

    # Cut short before its _SUCCESS: the replay redoes it in place, one copy of each row.
    Path(uri_path(batch), "_SUCCESS").unlink()
    redone = publish_batch(spark, fs, context, files, DT, 7, "query-a")
    assert redone[0].manifest.run_id != first[0].manifest.run_id
    assert live_table(fs, settings, DT).num_rows == 4

    # A new checkpoint numbers its batches from 0 again: it may not overwrite another query's.
    with pytest.raises(StageError, match="committed by stream query query-a"):
        publish_batch(spark, fs, context, files, DT, 7, "query-b")


def test_restart_takes_only_new_files_skips_in_flight_ones_and_judges_copies(spark, settings):
    fs = LocalFileSystem()
    write_images_partition(fs, settings, DT, n=3, bad=0, seed=33)
    assert [r.images for r in run_stream(settings, once=True, spark=spark)] == [3]

    day = raw_day(settings, DT)
    first_file = sorted(p for p in day.rglob("*") if p.is_file())[0]
    fresh = new_images(settings, 2, seed=34)
    (day / "late" / "upload_1.jpg").parent.mkdir()
    (day / "late" / "upload_1.jpg").write_bytes(fresh[0])
    (day / "late" / "upload_2.jpg.tmp").write_bytes(fresh[1])  # still being written
    (day / "late" / "again.png").write_bytes(first_file.read_bytes())
    (day / "late" / "broken.jpg").write_bytes(b"a shopping list, not a photo\n" * 4)

    (report,) = run_stream(settings, once=True, spark=spark)
    assert (report.batch_id, report.files, report.images, report.quarantined) == (1, 3, 1, 2)
    quarantined = live_table(fs, settings, DT, datasets.QUARANTINED_LIVE).to_pylist()
    reasons = {Path(uri_path(r["path"])).name: r["reason"] for r in quarantined}
    assert reasons == {"again.png": "duplicate", "broken.jpg": "not_an_image"}

    # The uploader renames its file into place: the next run takes it, and only it.
    (day / "late" / "upload_2.jpg.tmp").rename(day / "late" / "upload_2.jpg")
    (report,) = run_stream(settings, once=True, spark=spark)
    assert (report.batch_id, report.files, report.images) == (2, 1, 1)
    assert run_stream(settings, once=True, spark=spark) == []
    assert live_table(fs, settings, DT).num_rows == 5


def test_sigkill_mid_stream_then_restart_loses_and_doubles_nothing(spark, settings, lake_root):
    fs = LocalFileSystem()
    write_images_partition(fs, settings, DT, n=12, bad=2, seed=35)
    stream = started_stream(lake_root, "--max-files-per-batch", "2")
    try:
        first = json.loads(stream.stdout.readline())  # a batch committed: the stream is running
        # Kill it mid-commit of a later batch: once its rows are staged, before they are in place.
        staging = Path(uri_path(datasets.LIVE.partition(settings, DT)), STAGING_DIR)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not any(staging.glob("batch=*")):
            time.sleep(0.005)
    finally:
        os.killpg(stream.pid, signal.SIGKILL)  # the driver and its JVM, with no chance to tidy
        stream.wait()
    assert first["batch_id"] == 0
    killed_at = len(committed_batches(fs, settings, DT))

    reports = run_stream(settings, once=True, spark=spark)
    assert reports, f"the restart had nothing left after {killed_at} batches"
    live = live_table(fs, settings, DT)
    assert live.num_rows == 12 and len(set(live["image_id"].to_pylist())) == 12
    quarantined = live_table(fs, settings, DT, datasets.QUARANTINED_LIVE)
    assert quarantined.num_rows == 1  # the zero-byte and hidden files never reach the stream;
    # one of the two broken files is the truncated JPEG, the other the empty file.
    batches = [
        read_manifest(fs, b).extra["stream"]["batch_id"]
        for b in committed_batches(fs, settings, DT)
    ]
    assert batches == list(range(len(batches)))


def test_marked_copies_keep_the_smallest_path_and_what_is_already_live():
    from lakesight.image_features.stream import marked_copies

    def row(path, image_id, reason=None):
        return {"path": path, "image_id": image_id, "reason": reason, "detail": None}

    rows = marked_copies(
        [row("b.jpg", "x"), row("a.jpg", "x"), row("c.jpg", "y"), row("d.jpg", "z", "corrupt"),
         row("e.jpg", "z", "corrupt"), row("f.jpg", "w")],
        seen={"y": "earlier.jpg"},
    )  # fmt: skip
    judged = {r["path"]: (r["reason"], r["detail"]) for r in rows}
    assert judged == {
        "a.jpg": (None, None), "b.jpg": ("duplicate", "same bytes as a.jpg"),
        "c.jpg": ("duplicate", "same bytes as earlier.jpg"),
        "d.jpg": ("corrupt", None), "e.jpg": ("corrupt", None),  # a copy keeps its own reason
        "f.jpg": (None, None),
    }  # fmt: skip


def test_the_streams_small_cache_runs_are_merged_and_the_daily_run_still_reuses_them(
    spark, settings, monkeypatch
):
    from lakesight.image_features import stream
    from lakesight.image_features.cache import analysis_cache

    monkeypatch.setattr(stream, "COMPACT_RUNS", 2)
    write_images_partition(LocalFileSystem(), settings, DT, n=5, bad=0, seed=36)
    reports = run_stream(settings, once=True, max_files=1, spark=spark)
    assert [r.images for r in reports] == [1] * 5

    # 5 one-image runs: 1+1 -> a level-1 run, twice; two level-1 runs -> a level-2 run; + 1.
    context = StreamContext.start(settings)
    cache = analysis_cache(HadoopFileSystem(spark), settings, context.key)
    runs = cache.committed_runs()
    assert len(runs) == 2
    assert len(cache.ids(spark)) == 5
    ingest.run(spark, settings, DT)
    analysed = analyze.run(spark, settings, DT)
    assert (analysed.manifest.counts["reused"], analysed.manifest.counts["computed"]) == (5, 0)


def test_the_service_serves_live_batches_within_one_live_refresh_until_the_day_is_sealed(
    spark, settings
):
    from lakesight.serve.catalogue import Catalogues

    fs = LocalFileSystem()
    write_images_partition(fs, settings, DT, n=4, bad=0, seed=37)
    run_stream(settings, once=True, spark=spark)
    catalogues = Catalogues(settings)
    health = catalogues.health()["images"]
    assert (health["images"], health["days"], health["live"]) == (4, [], {DT: 1})

    # A new upload: committed by the stream, served after one live tick (no full refresh).
    (fresh,) = new_images(settings, 1, seed=38)
    (raw_day(settings, DT) / "late.jpg").write_bytes(fresh)
    run_stream(settings, once=True, spark=spark)
    assert catalogues.refresh_live() is True
    image_id = hashlib.sha256(fresh).hexdigest()
    assert len(catalogues.images.positions_of(image_id)) == 1
    assert catalogues.health()["images"]["live"] == {DT: 2}
    assert catalogues.refresh_live() is False  # nothing new: the catalogue stays as it is

    # The daily run seals the day: the same images, now served from features/images.
    ingest.run(spark, settings, DT)
    analyze.run(spark, settings, DT)
    publish.run(spark, settings, DT)
    assert catalogues.refresh() is True
    health = catalogues.health()["images"]
    assert (health["images"], health["days"], health["live"]) == (5, [DT], {})
    assert len(catalogues.images.positions_of(image_id)) == 1


def test_the_stream_watches_the_newest_days_and_moves_on_to_a_new_one(spark, settings):
    fs, next_day = LocalFileSystem(), "2026-07-12"
    write_images_partition(fs, settings, DT, n=2, bad=0, seed=39)
    assert [r.images for r in run_stream(settings, once=True, days_back=0, spark=spark)] == [2]
    # The next day appears: it gets a query (and a checkpoint) of its own; the day left
    # behind is no longer watched.
    (fresh,) = new_images(settings, 1, seed=40)
    (raw_day(settings, DT) / "late.jpg").write_bytes(fresh)  # a late file of a day left behind
    write_images_partition(fs, settings, next_day, n=3, bad=0, seed=41)
    reports = run_stream(settings, once=True, days_back=0, spark=spark)
    assert [(r.batch_id, r.images) for r in reports] == [(0, 3)]
    assert live_table(fs, settings, next_day).num_rows == 3
    # The late file is the daily run's: it reads the whole day.
    assert live_table(fs, settings, DT).num_rows == 2


def test_the_explorer_overview_shows_the_streams_last_batch_lag_and_rate(spark, settings):
    from lakesight_airflow.explorer.overview import stream_html, stream_status

    assert stream_status(settings) is None
    write_images_partition(LocalFileSystem(), settings, DT, n=6, bad=1, seed=42)
    reports = run_stream(settings, once=True, max_files=3, spark=spark)
    status = stream_status(settings)
    assert (status["dt"], status["batch"], status["batches_live"]) == (DT, 1, 2)
    assert status["counts"] == {"in": 3, "out": 3 - reports[-1].quarantined,
                                "quarantined": reports[-1].quarantined}  # fmt: skip
    assert status["lag_s"] >= 0
    page = stream_html("/lakesight", status)
    assert f"dt={DT} batch 1" in page and "class='lag'" in page


def test_bench_stream_measures_latency_rate_and_restarts(tmp_path):
    """A smoke run of `lakesight bench stream`: every upload committed and found by the
    service's catalogue, both paths' rates, restart times and checkpoint sizes."""
    out = tmp_path / "bench.json"
    command = ["bench", "stream", "--rate", "5", "--seconds", "3", "--trigger-s", "1",
               "--backlog", "8", "--seen", "5,20", "--workdir", str(tmp_path / "lake"), "--json"]  # fmt: skip
    result = subprocess.run([sys.executable, "-m", "lakesight.cli", *command],
                            capture_output=True, text=True, timeout=600)  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    out.write_text(result.stdout)
    figures = json.loads(result.stdout)
    latency = figures["latency"]
    assert latency["files"] == latency["committed"] == latency["answered"] == 15
    assert 0 < latency["commit_p50_s"] <= latency["commit_p95_s"] <= latency["commit_max_s"]
    assert latency["commit_p50_s"] <= latency["service_p50_s"]
    sustained = figures["sustained"]
    assert sustained["published"] == 8 and sustained["stream_vs_daily"] > 0
    assert set(figures["restart"]) == {"5", "20", "20 over 10 days"}
    assert figures["restart"]["20"]["checkpoint_kb"] > figures["restart"]["5"]["checkpoint_kb"]


def test_a_file_overwritten_in_place_is_never_streamed_again_and_the_seal_reports_it(
    spark, settings
):
    fs = LocalFileSystem()
    write_images_partition(fs, settings, DT, n=3, bad=0, seed=43)
    run_stream(settings, once=True, spark=spark)
    # An uploader rewrites a file under the same name: the file source knows it by name only.
    target = sorted(p for p in raw_day(settings, DT).rglob("*") if p.is_file())[0]
    (other,) = new_images(settings, 1, seed=44)
    target.write_bytes(other)
    assert run_stream(settings, once=True, spark=spark) == []

    ingest.run(spark, settings, DT)
    analyze.run(spark, settings, DT)
    sealed = publish.run(spark, settings, DT).manifest.extra["sealed"]
    assert sealed == {"batches": 1, "rows": 3, "identical": 2, "missing": 0, "overwritten": 1,
                      "differing": 0}  # fmt: skip


def test_a_running_stream_starts_a_query_for_a_new_day_and_drops_the_old_one(settings, lake_root):
    """The long-running mode, as users start it: when the next day's folder appears, it gets
    a query (and a checkpoint) of its own, and its files are published within seconds."""
    fs, next_day = LocalFileSystem(), "2026-07-12"
    write_images_partition(fs, settings, DT, n=2, bad=0, seed=45)
    stream = started_stream(lake_root, "--days-back", "0")
    try:
        first = json.loads(stream.stdout.readline())
        write_images_partition(fs, settings, next_day, n=3, bad=0, seed=46)
        second = json.loads(stream.stdout.readline())
    finally:
        os.killpg(stream.pid, signal.SIGTERM)
        stream.wait(timeout=60)
    assert (first["dt"], first["batch_id"], first["images"]) == (DT, 0, 2)
    assert (second["dt"], second["batch_id"], second["images"]) == (next_day, 0, 3)
    assert live_table(fs, settings, next_day).num_rows == 3
    checkpoints = Path(uri_path(settings.root), "_checkpoints", "image_features_stream")
    assert sorted(p.name for p in checkpoints.iterdir()) == [f"dt={DT}", f"dt={next_day}"]
