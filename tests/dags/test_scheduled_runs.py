"""What the real scheduler does with the daily DAGs once a user unpauses them.

`airflow dags test DAG D` names the day itself; a scheduled run gets its day from the
timetable. Here the deployed components (api-server, scheduler, dag-processor, see
tests/support/airflow_server.py) parse the repository's own DAG files, the DAGs are
unpaused through the REST API, and the runs the scheduler makes are read back: which
day each processes (its sensor's rendered ``dt``) and when it was made (after that day
ended). The lake has no raw partitions, so the sensors keep waiting and no Spark starts.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta

import pytest

from tests.support.airflow_server import AirflowServer

pytestmark = [pytest.mark.airflow, pytest.mark.slow]

SENSORS = {
    "image_features": "wait_for_images",
    "house_similarity": "wait_for_listings",
    "listing_recs": "wait_for_interactions",
}


@pytest.fixture(scope="module")
def airflow(tmp_path_factory, airflow_database) -> Iterator[AirflowServer]:
    lake = tmp_path_factory.mktemp("lake")
    env = {"LAKESIGHT_ROOT": lake.as_uri()}
    home = tmp_path_factory.mktemp("airflow")
    with AirflowServer(home, env=env, database=airflow_database()) as server:
        yield server


def ts(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def test_unpaused_daily_dags_process_the_day_that_has_ended(airflow: AirflowServer):
    for dag_id in SENSORS:
        airflow.wait_for_dag(dag_id, f"{dag_id}.py")
    for dag_id in SENSORS:
        airflow.api("PATCH", f"/api/v2/dags/{dag_id}", json={"is_paused": False})

    def poked(dag_id: str) -> tuple[dict, dict] | None:
        runs = airflow.api("GET", f"/api/v2/dags/{dag_id}/dagRuns")["dag_runs"]
        if not runs:
            return None
        (run,) = runs  # catchup=False: the latest ended day only
        ti = airflow.api(
            "GET",
            f"/api/v2/dags/{dag_id}/dagRuns/{run['dag_run_id']}/taskInstances/{SENSORS[dag_id]}",
        )
        return (run, ti) if ti["state"] in ("up_for_reschedule", "failed", "success") else None

    seen = {
        dag_id: airflow.wait_for(lambda d=dag_id: poked(d), timeout=150, what=f"{dag_id} poked")
        for dag_id in SENSORS
    }
    for dag_id in SENSORS:  # no more runs: each has shown its first one
        airflow.api("PATCH", f"/api/v2/dags/{dag_id}", json={"is_paused": True})
    for dag_id, (run, ti) in seen.items():
        sensor, run_id = SENSORS[dag_id], run["dag_run_id"]
        logs = airflow.task_logs(dag_id, run_id, [sensor])
        assert ti["state"] == "up_for_reschedule", f"{dag_id}.{sensor}: {ti['state']}\n{logs}"
        start, end = ts(run["data_interval_start"]), ts(run["data_interval_end"])
        assert run["run_type"] == "scheduled"
        assert end - start == timedelta(days=1) and start.hour == start.minute == 0
        # The day processed is the interval's, and the run was made once it had ended.
        day = f"{start:%Y-%m-%d}"
        assert ti["rendered_fields"]["dt"] == day
        assert ts(run["run_after"]) >= end
        assert ts(run["queued_at"]) >= end and ts(ti["start_date"]) >= end
        # The sensor looked for that day, found nothing, and the next task never started.
        assert f"dt={day}: no partition yet" in logs, logs
        ingest = airflow.api("GET", f"/api/v2/dags/{dag_id}/dagRuns/{run_id}/taskInstances/ingest")
        assert ingest["state"] in (None, "scheduled", "no_status"), ingest["state"]
