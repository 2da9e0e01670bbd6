"""Two runs of one radar day at once (a scheduled run and a manual rerun, a backfill): each
merges its interval into the day the other committed, and neither interval is lost."""

from __future__ import annotations

import threading

import pytest

from lakesight.lake import LocalFileSystem, read_manifest, read_partition_table
from lakesight.progress import Steps
from lakesight.radar_nowcast import datasets, ingest
from lakesight.radar_nowcast.sample_data import write_sample_radar
from lakesight.stage import Interval

pytestmark = [pytest.mark.spark, pytest.mark.faults]
DT = "2026-05-21"


def test_concurrent_interval_runs_of_one_day_both_survive(spark, settings):
    fs = LocalFileSystem()
    day = write_sample_radar(fs, settings, DT, size=64, end=120)
    start, results, errors = threading.Barrier(2), {}, []

    def run(interval: Interval) -> None:
        start.wait()  # both read the committed day at the same moment, as two runs would
        try:
            results[interval] = ingest.run(
                spark, settings, DT, steps=Steps("test", quiet=True), interval=interval
            )
        except Exception as err:  # surfaced below with the thread's own traceback
            errors.append(err)

    intervals = (Interval(0, 60), Interval(60, 120))
    threads = [threading.Thread(target=run, args=(i,)) for i in intervals]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=600)
    assert not errors, errors
    frames = read_partition_table(fs, datasets.FRAMES.partition(settings, DT), ["minute"])
    # Every frame of both intervals is in the committed day: the later run merged into
    # what the earlier one committed instead of both rewriting the empty day they found.
    assert sorted(frames["minute"]) == sorted(
        int(name[:2]) * 60 + int(name[2:4]) for name in day.written
    )
    assert {m for m in frames["minute"] if m < 60} and {m for m in frames["minute"] if m >= 60}
    manifest = read_manifest(fs, datasets.FRAMES.partition(settings, DT))
    assert manifest.counts["in"] == len(day.written) == manifest.counts["out"]
    run_ids = {r.manifest.run_id for r in results.values()}
    assert len(run_ids) == 2 and manifest.run_id in run_ids
