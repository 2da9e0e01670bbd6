"""Which day a scheduled run processes, and when the scheduler makes it, asked of each
DAG's timetable as the scheduler sees it (serialized and decoded), with the run's
templated ``dt`` rendered as a worker renders it."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from types import SimpleNamespace

import pytest

pytestmark = pytest.mark.airflow

DAGS = Path(__file__).resolve().parents[2] / "dags"
DAILY = ["house_similarity", "image_features", "listing_recs"]


@pytest.fixture(scope="module")
def dagbag():
    from airflow.dag_processing.dagbag import DagBag

    return DagBag(dag_folder=str(DAGS))


def scheduled_runs(dag, earliest: datetime, count: int):
    """The first ``count`` scheduled runs from ``earliest`` on, as the scheduler plans them."""
    import pendulum
    from airflow.serialization.decoders import decode_timetable
    from airflow.serialization.encoders import encode_timetable
    from airflow.timetables.base import TimeRestriction

    timetable = decode_timetable(encode_timetable(dag.timetable))
    restriction = TimeRestriction(earliest=pendulum.instance(earliest), latest=None, catchup=True)
    runs, last = [], None
    for _ in range(count):
        info = timetable.next_dagrun_info(
            last_automated_data_interval=last, restriction=restriction
        )
        runs.append(info)
        last = info.data_interval
    return runs


def rendered_dts(dag, info, run_type: str = "scheduled") -> dict[str, str]:
    """Every task's ``dt``, rendered in the context a worker gives a run made from ``info``."""
    from airflow.sdk import macros

    interval = info.data_interval
    logical_date = info.logical_date
    context = {
        "data_interval_start": interval.start,
        "data_interval_end": interval.end,
        "logical_date": logical_date,
        "ds": logical_date and logical_date.strftime("%Y-%m-%d"),
        "dag_run": SimpleNamespace(run_type=run_type),
        "params": {name: param.value for name, param in dag.params.items()},
        "macros": macros,
    }
    env = dag.get_template_env()
    return {t.task_id: env.from_string(t.dt).render(**context) for t in dag.tasks}


@pytest.mark.parametrize("dag_id", DAILY)
def test_the_scheduled_run_of_a_day_starts_once_the_day_has_ended(dagbag, dag_id):
    dag = dagbag.dags[dag_id]
    runs = scheduled_runs(dag, datetime(2026, 2, 27, tzinfo=UTC), count=8)
    processing = {}
    for info in runs:
        days = set(rendered_dts(dag, info).values())
        assert len(days) == 1, f"{dag_id}: tasks of one run disagree on dt: {days}"
        processing[days.pop()] = info
    # Every day once, in order: no day skipped or processed twice.
    assert list(processing) == [f"2026-{m:02d}-{d:02d}" for m, d in
                                [(2, 27), (2, 28), (3, 1), (3, 2), (3, 3), (3, 4), (3, 5), (3, 6)]]  # fmt: skip
    run = processing["2026-03-02"]
    assert run.run_after >= datetime(2026, 3, 3, tzinfo=UTC), run
    assert run.data_interval.start == datetime(2026, 3, 2, tzinfo=UTC)
    assert run.data_interval.end == datetime(2026, 3, 3, tzinfo=UTC)


@pytest.mark.parametrize("dag_id", DAILY)
def test_a_manual_run_processes_the_day_it_names(dagbag, dag_id):
    # `airflow dags test DAG 2026-01-01` and the UI's trigger: Airflow gives a manual run
    # the interval before its logical date; the day named is still the day processed.
    from airflow.serialization.decoders import decode_timetable
    from airflow.serialization.encoders import encode_timetable

    dag = dagbag.dags[dag_id]
    timetable = decode_timetable(encode_timetable(dag.timetable))
    named = datetime(2026, 1, 1, tzinfo=UTC)
    interval = timetable.infer_manual_data_interval(run_after=named)
    assert interval.start < named  # the difference the template has to bridge
    info = SimpleNamespace(data_interval=interval, logical_date=named)
    assert set(rendered_dts(dag, info, run_type="manual").values()) == {"2026-01-01"}
    # Triggered without a logical date (the run's interval comes from when it was made):
    # the last day that had ended.
    made = datetime(2026, 3, 3, 9, 30, tzinfo=UTC)
    dateless = SimpleNamespace(
        data_interval=timetable.infer_manual_data_interval(run_after=made), logical_date=None
    )
    assert set(rendered_dts(dag, dateless, run_type="manual").values()) == {"2026-03-02"}


def test_radar_runs_process_a_half_hour_after_it_has_ended(dagbag):
    dag = dagbag.dags["radar_nowcast"]
    runs = scheduled_runs(dag, datetime(2026, 3, 2, 23, 0, tzinfo=UTC), count=3)
    for info in runs:
        assert info.run_after >= info.data_interval.end
        # The day is the interval's: the run at 03-03 00:00 finishes 03-02.
        assert set(rendered_dts(dag, info).values()) == {f"{info.data_interval.start:%Y-%m-%d}"}
    last_of_day = next(i for i in runs if i.data_interval.end == datetime(2026, 3, 3, tzinfo=UTC))
    assert set(rendered_dts(dag, last_of_day).values()) == {"2026-03-02"}


def test_the_weekly_training_reads_only_ended_days(dagbag):
    # radar_nowcast.train reads the frames of the weeks *before* its dt (exclusive), so a
    # run whose dt is its run time's own day has every day it reads already ended.
    dag = dagbag.dags["radar_nowcast_train"]
    for info in scheduled_runs(dag, datetime(2026, 3, 1, tzinfo=UTC), count=3):
        (dt,) = set(rendered_dts(dag, info).values())
        assert info.run_after >= datetime.fromisoformat(dt).replace(tzinfo=UTC)
