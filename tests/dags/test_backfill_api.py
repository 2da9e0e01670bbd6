"""Backfills of image_features through the REST API, on the real Airflow components.

What a user does in the UI's backfill dialog: unpause the DAG, pick a date
range, "missing runs" first and "all runs" later. The dialog's calls are
``POST /api/v2/backfills/dry_run`` (the runs it announces) and
``POST /api/v2/backfills``; the scheduler then hands the runs to the
LocalExecutor, whose tasks spark-submit the stages against a file:// lake.

Airflow 3.3 reprocesses a completed date by clearing its existing run in place
(same run_id, state queued) rather than creating a second one, so the rerun is
recognised by its end dates, not by new run ids.

Only the DAG id and the lake's outputs are relied on, never task ids.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from lakesight.config import Settings
from lakesight.image_features.sample_data import write_images_partition
from lakesight.lake import (
    LEASES_DIR,
    STAGING_DIR,
    TRASH_DIR,
    LocalFileSystem,
    join,
    list_partitions,
    read_manifest,
    uri_path,
)
from tests.support.airflow_server import AirflowServer
from tests.support.postgres import unavailable_reason

pytestmark = [pytest.mark.airflow, pytest.mark.spark, pytest.mark.e2e, pytest.mark.slow]

DAG_ID = "image_features"
CONSUMER_ID = "example_images_consumer"
# Two days: a range, run side by side (max_active_runs); then the second day reprocessed
# alone, which must leave the first one as it was.
DATES = ["2026-02-02", "2026-02-03"]
REPROCESSED = DATES[-1:]
GOOD, BAD = 12, 3
BACKFILL_TIMEOUT_S = 15 * 60


@pytest.fixture
def airflow(settings: Settings, tmp_path: Path, airflow_database) -> Iterator[AirflowServer]:
    database = airflow_database()
    if database is None:
        # Airflow's own answer on SQLite is a 503 "not supported under concurrent access",
        # and a creation that collides with the scheduler can be left half applied.
        pytest.skip(f"backfills need Airflow on PostgreSQL: {unavailable_reason()}")
    env = {
        "LAKESIGHT_ROOT": settings.root,
        # The days were written whole before the backfill: no quiet period to wait for.
        "LAKESIGHT_DROP_QUIET_MIN": "0",
        # As the test session's Spark: no UI, so no port and a faster JVM start.
        "LAKESIGHT_SPARK_CONF": os.environ.get("LAKESIGHT_SPARK_CONF")
        or '{"spark.ui.enabled": "false"}',
    }
    with AirflowServer(tmp_path / "airflow", env=env, parallelism=2, database=database) as server:
        yield server


def ts(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def create_backfill(server: AirflowServer, body: dict) -> dict:
    """``POST /api/v2/backfills`` as the dialog does."""
    response = server.client.request("POST", "/api/v2/backfills", json=body)
    if response.status_code not in (200, 201):
        raise AssertionError(
            f"POST /api/v2/backfills: {response.status_code} {response.text[:2000]}\n"
            + server.diagnostics()
        )
    return response.json()


def backfill(
    server: AirflowServer, dates: list[str], reprocess_behavior: str, *, until_completed: bool
) -> list[dict]:
    """Create a backfill of ``dates`` as the UI does and wait until its runs succeed; return
    the runs of every one of DATES.

    ``until_completed`` also waits for the scheduler to mark the backfill completed,
    which it does every 30 s; another backfill of the DAG is refused (409) until then.
    """
    body = {
        "dag_id": DAG_ID,
        "from_date": f"{dates[0]}T00:00:00Z",
        "to_date": f"{dates[-1]}T00:00:00Z",
        "reprocess_behavior": reprocess_behavior,
        # All dates at once: a run's tasks are sequential, and with fewer active runs
        # than dates the last one would run alone on one of the two slots.
        "max_active_runs": len(dates),
        "run_backwards": False,
    }
    planned = server.api("POST", "/api/v2/backfills/dry_run", json=body)["backfills"]
    assert [b["logical_date"][:10] for b in planned] == dates, planned
    created = create_backfill(server, body)
    since = ts(created["created_at"])

    def finished() -> list[dict] | None:
        runs = [
            r
            for r in server.api("GET", f"/api/v2/dags/{DAG_ID}/dagRuns", params={"limit": 100})[
                "dag_runs"
            ]
            if (r["logical_date"] or "")[:10] in DATES
        ]
        # One run per date, ever: reprocessing must not add a second one.
        assert sorted(r["logical_date"][:10] for r in runs) == DATES, runs
        done = True
        for run in runs:
            if run["logical_date"][:10] not in dates:
                continue
            tis = server.api(
                "GET", f"/api/v2/dags/{DAG_ID}/dagRuns/{run['dag_run_id']}/taskInstances"
            )["task_instances"]
            broken = [t for t in tis if t["state"] in ("failed", "upstream_failed", "up_for_retry")]
            if run["state"] == "failed" or broken:
                states = {t["task_id"]: t["state"] for t in tis}
                raise AssertionError(
                    f"backfill {created['id']} run {run['dag_run_id']}: {run['state']}, tasks {states}\n"
                    + server.task_logs(
                        DAG_ID, run["dag_run_id"], [t["task_id"] for t in broken] or None
                    )
                    + "\n"
                    + server.diagnostics()
                )
            # The old attempt of a reprocessed run ended before the backfill existed.
            done = done and (
                run["state"] == "success"
                and ts(run["end_date"]) > since
                and all(
                    t["state"] in ("success", "skipped") and ts(t["end_date"]) > since for t in tis
                )
            )
        if not done:
            return None
        if until_completed:
            state = server.api("GET", f"/api/v2/backfills/{created['id']}")
            return runs if state["completed_at"] else None
        return runs

    return server.wait_for(
        finished,
        timeout=BACKFILL_TIMEOUT_S,
        what=f"backfill {created['id']} ({reprocess_behavior}) of {dates}",
        interval=3,
    )


def committed_outputs(settings: Settings) -> dict[str, list[tuple]]:
    """Check every output dataset holds DATES exactly once; return features' rows per date."""
    fs = LocalFileSystem()
    for zone in ("curated", "features"):
        for name in fs.list_dirs(join(settings.root, zone)):
            dataset = settings.dataset_uri(zone, name)
            assert list_partitions(fs, dataset) == DATES, dataset
            root = Path(uri_path(dataset))
            # The writers' bookkeeping (their leases on each day) sits beside the days.
            entries = {p.name for p in root.iterdir()} - {STAGING_DIR, TRASH_DIR, LEASES_DIR}
            assert entries == {f"dt={d}" for d in DATES}, f"strays in {root}: {sorted(entries)}"
            for leftover in (STAGING_DIR, TRASH_DIR):
                assert not list((root / leftover).glob("*")), f"{root / leftover} is not empty"

    rows = {}
    for dt in DATES:
        curated = read_manifest(fs, settings.partition_uri("curated", "images", dt))
        counts = {k: curated.counts[k] for k in ("in", "out", "quarantined")}
        assert counts == {"in": GOOD + BAD, "out": GOOD, "quarantined": BAD}, curated
        partition = settings.partition_uri("features", "images", dt)
        manifest = read_manifest(fs, partition)
        counts = manifest.counts
        assert counts["in"] == GOOD and counts["in"] == counts["out"] + counts["quarantined"]
        columns = ["image_id", "code", "embedding", "processed_at"]
        table = pq.read_table(uri_path(partition), columns=columns)
        assert table.num_rows == counts["out"]
        ids = table.column("image_id").to_pylist()
        assert len(set(ids)) == len(ids), f"duplicate image_id in {partition}"
        rows[dt] = sorted(
            zip(
                ids,
                table.column("code").to_pylist(),
                map(tuple, table.column("embedding").to_pylist()),
                table.column("processed_at").to_pylist(),
                strict=True,
            )
        )
    return rows


# Two backfills may each take BACKFILL_TIMEOUT_S before they fail with their logs.
@pytest.mark.timeout(2 * BACKFILL_TIMEOUT_S + 10 * 60)
def test_backfill_and_reprocess_through_the_rest_api(airflow, settings):
    fs = LocalFileSystem()
    for i, dt in enumerate(DATES):
        write_images_partition(fs, settings, dt, n=GOOD, bad=BAD, seed=40 + i)
    airflow.wait_for_dag(DAG_ID, filename="image_features.py")
    # A downstream team follows features/images (its asset) with a DAG of its own.
    airflow.wait_for_dag(CONSUMER_ID, filename="example_images_consumer.py")
    airflow.api("PATCH", f"/api/v2/dags/{CONSUMER_ID}", json={"is_paused": False})
    # The dialog's "unpause on trigger": tasks of a paused DAG are never scheduled.
    airflow.api("PATCH", f"/api/v2/dags/{DAG_ID}", json={"is_paused": False})
    # Unpausing makes the scheduler create the run of the last ended day at once (its
    # sensor then waits: that day has no data here).
    airflow.wait_for(
        lambda: airflow.api("GET", f"/api/v2/dags/{DAG_ID}/dagRuns")["total_entries"],
        timeout=120,
        what="the scheduled run of the last ended day",
    )

    first_runs = backfill(airflow, DATES, "none", until_completed=True)
    first = committed_outputs(settings)
    first_reads = consumer_reads(airflow, settings, runs_per_day=dict.fromkeys(DATES, 1))

    second_runs = backfill(airflow, REPROCESSED, "completed", until_completed=False)
    assert {r["dag_run_id"] for r in second_runs} == {r["dag_run_id"] for r in first_runs}
    # The day outside the range kept its run as it ended, and its commit.
    kept = {r["logical_date"][:10]: r["end_date"] for r in first_runs}
    for run in second_runs:
        day = run["logical_date"][:10]
        assert (run["end_date"] != kept[day]) == (day in REPROCESSED), (run, kept)
    assert committed_outputs(settings) == first
    for dt in REPROCESSED:  # and nothing was recomputed: every analysis came from the cache
        analyzed = read_manifest(fs, settings.partition_uri("curated", "descriptors", dt))
        assert (analyzed.counts["reused"], analyzed.counts["computed"]) == (GOOD, 0), analyzed
    # Republishing a day triggers that day's consumer again, which reads the new commit;
    # the other day's consumer does not run again.
    runs_per_day = {dt: 1 + (dt in REPROCESSED) for dt in DATES}
    second_reads = consumer_reads(airflow, settings, runs_per_day=runs_per_day)
    for dt in DATES:
        assert second_reads[dt][0] == first_reads[dt][0]
    for dt in REPROCESSED:
        assert second_reads[dt][1]["run_id"] != first_reads[dt][0]["run_id"]


def consumer_reads(server: AirflowServer, settings: Settings, runs_per_day: dict) -> dict:
    """Wait until the example consumer has run ``runs_per_day[dt]`` times for each of DATES,
    one run per publish of the day (partition key ``dt``); return what each run read, in order.
    Every read holds the rows the day's manifest published, from the announced commit."""
    fs = LocalFileSystem()

    def succeeded() -> dict | None:
        runs = server.api(
            "GET", f"/api/v2/dags/{CONSUMER_ID}/dagRuns", params={"limit": 100, "order_by": "id"}
        )["dag_runs"]
        failed = [r for r in runs if r["state"] == "failed"]
        assert not failed, server.task_logs(CONSUMER_ID, failed[0]["dag_run_id"])
        assert {r["partition_key"] for r in runs} <= set(DATES), runs
        done = [r for r in runs if r["state"] == "success"]
        per_day = {dt: [r for r in done if r["partition_key"] == dt] for dt in DATES}
        if any(len(per_day[dt]) < runs_per_day[dt] for dt in DATES):
            return None
        assert all(len(per_day[dt]) == runs_per_day[dt] for dt in DATES), per_day
        return per_day

    per_day = server.wait_for(
        succeeded, timeout=5 * 60, what=f"{runs_per_day} consumer run(s) per day", interval=3
    )
    reads = {}
    for dt, runs in per_day.items():
        reads[dt] = []
        for run in runs:
            entry = server.api(
                "GET",
                f"/api/v2/dags/{CONSUMER_ID}/dagRuns/{run['dag_run_id']}/taskInstances/"
                "read_published_day/xcomEntries/return_value",
                params={"deserialize": True},
            )
            read = entry["value"]
            reads[dt].append(read)
        manifest = read_manifest(fs, settings.partition_uri("features", "images", dt))
        assert reads[dt][-1] == {
            "dt": dt, "rows": manifest.counts["out"], "events": 1, "run_id": manifest.run_id,
        }  # fmt: skip
    return reads
