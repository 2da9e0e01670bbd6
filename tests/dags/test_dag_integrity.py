"""Every DAG file imports cleanly, cheaply and without side effects, and follows the conventions."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.airflow

DAGS = Path(__file__).resolve().parents[2] / "dags"
DAG_FILES = sorted(p for p in DAGS.glob("*.py") if not p.name.startswith("_"))
# Modules a DAG file must not pull in while the scheduler parses it.
HEAVY = {
    "pyspark",
    "torch",
    "numpy",
    "pandas",
    "cv2",
    "onnxruntime",
    "PIL",
    "pyarrow",
    "hdfs",
    "lakesight",
}


@pytest.fixture(scope="module")
def dagbag():
    from airflow.dag_processing.dagbag import DagBag
    from airflow.sdk import BaseHook

    def no_connections_at_parse_time(*args, **kwargs):
        raise AssertionError("a DAG file looked up a Connection while being parsed")

    original = BaseHook.get_connection
    BaseHook.get_connection = no_connections_at_parse_time
    try:
        return DagBag(dag_folder=str(DAGS))
    finally:
        BaseHook.get_connection = original


def test_there_are_dags():
    assert [p.stem for p in DAG_FILES] == [
        "example_images_consumer", "house_similarity", "image_features",
        "image_features_stream", "listing_recs", "radar_nowcast", "radar_nowcast_train",
    ]  # fmt: skip


@pytest.mark.parametrize("dag_file", DAG_FILES, ids=lambda p: p.name)
def test_no_import_errors(dagbag, dag_file):
    errors = {Path(k).name: v for k, v in dagbag.import_errors.items()}
    assert dag_file.name not in errors, errors.get(dag_file.name)


@pytest.mark.parametrize("dag_file", DAG_FILES, ids=lambda p: p.name)
def test_one_dag_per_file_named_after_it(dagbag, dag_file):
    dags = [d for d in dagbag.dags.values() if Path(d.fileloc).name == dag_file.name]
    assert [d.dag_id for d in dags] == [dag_file.stem]


def test_conventions(dagbag):
    for dag in dagbag.dags.values():
        assert dag.tags and "lakesight" in dag.tags, dag.dag_id
        assert dag.doc_md and dag.doc_md.strip(), dag.dag_id
        assert dag.catchup is False
        # A schedule of its own, or the assets it follows.
        follows_assets = bool(getattr(dag.timetable, "asset_condition", None))
        assert dag.timetable.can_be_scheduled or follows_assets, f"{dag.dag_id} has no schedule"
        for task in dag.tasks:
            assert task.retries >= 1, f"{dag.dag_id}.{task.task_id} has no retries"
            # A stalled namenode or a hung JVM must fail the task, not hold its slot.
            assert task.execution_timeout, f"{dag.dag_id}.{task.task_id} has no execution_timeout"
        # topological_sort raises on a cycle; every task is reachable in order.
        assert len(dag.topological_sort()) == len(dag.tasks)


def test_image_features_waits_then_ingests(dagbag):
    from airflow.timetables.interval import CronDataIntervalTimetable

    from lakesight_airflow.sensors import DAY

    dag = dagbag.dags["image_features"]
    # Daily data intervals: the run for D is made at D+1 00:00 (tests/dags/test_schedules.py).
    assert isinstance(dag.timetable, CronDataIntervalTimetable)
    assert dag.timetable.summary == "0 0 * * *"
    assert dag.get_task("ingest").upstream_task_ids == {"wait_for_images"}
    assert dag.get_task("analyze").upstream_task_ids == {"ingest"}
    assert dag.get_task("publish").upstream_task_ids == {"analyze"}
    assert [t.task_id for t in dag.topological_sort()] == [
        "wait_for_images", "ingest", "analyze", "publish",
    ]  # fmt: skip
    assert {t.dt for t in dag.tasks} == {DAY}
    from lakesight.stage import stage_application

    for task_id in ("ingest", "analyze", "publish"):
        stage = dag.get_task(task_id).stage
        assert stage == f"image_features.{task_id}"
        assert stage_application(stage).endswith(f"image_features/{task_id}.py")


def test_radar_nowcast_runs_every_30_minutes_over_its_data_interval(dagbag):
    from lakesight.stage import stage_application

    dag = dagbag.dags["radar_nowcast"]
    assert dag.timetable.summary == "*/30 * * * *" and dag.max_active_runs == 1
    order = [t.task_id for t in dag.topological_sort()]
    assert order == ["wait_for_frames", "ingest", "forecast", "verify"]
    # Frames arrive all day and ingest reads them up to the interval's end: the folder is enough.
    assert dag.get_task("wait_for_frames").whole is False
    for task_id in order[1:]:
        task = dag.get_task(task_id)
        assert stage_application(task.stage).endswith(f"radar_nowcast/{task_id}.py")
        assert set(task.stage_options) == {"--start", "--end"}
    assert "data_interval_start" in dag.get_task("forecast").stage_options["--start"]
    train = dagbag.dags["radar_nowcast_train"]
    assert train.timetable.expression == "0 0 * * 0"  # @weekly
    assert [t.stage for t in train.tasks] == ["radar_nowcast.train"]


@pytest.mark.parametrize("dag_file", DAG_FILES, ids=lambda p: p.name)
def test_dag_files_stay_thin(dag_file):
    # Wiring, schedule and templated paths only: the work lives in tasks/<pipeline>/.
    assert len(dag_file.read_text().splitlines()) <= 60


@pytest.mark.parametrize("dag_file", DAG_FILES, ids=lambda p: p.name)
def test_no_heavy_imports_at_parse_time(dag_file):
    probe = (
        "import json, runpy, sys\n"
        "import airflow.sdk\n"
        "before = set(sys.modules)\n"
        f"runpy.run_path({str(dag_file)!r})\n"
        "print(json.dumps(sorted({m.split('.')[0] for m in set(sys.modules) - before})))\n"
    )
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    imported = set(json.loads(out.stdout.strip().splitlines()[-1]))
    assert not imported & HEAVY, f"{dag_file.name} imports {sorted(imported & HEAVY)} at parse time"


def test_house_similarity_waits_for_the_listings_then_runs_its_stages_in_order(dagbag):
    from airflow.timetables.interval import CronDataIntervalTimetable

    from lakesight.stage import stage_application
    from lakesight_airflow.sensors import DAY

    dag = dagbag.dags["house_similarity"]
    assert isinstance(dag.timetable, CronDataIntervalTimetable)
    assert dag.timetable.summary == "0 0 * * *"
    assert {t.dt for t in dag.tasks} == {DAY}
    assert [t.task_id for t in dag.topological_sort()] == [
        "wait_for_listings", "ingest", "embed", "train", "publish",
    ]  # fmt: skip
    assert dag.get_task("wait_for_listings").required_file == "listings.csv"
    assert dag.max_active_runs == 1  # train may promote heads the next day's publish uses
    for task_id in ("ingest", "embed", "train", "publish"):
        stage = dag.get_task(task_id).stage
        assert stage == f"house_similarity.{task_id}"
        assert stage_application(stage).endswith(f"house_similarity/{task_id}.py")


def test_listing_recs_waits_for_interactions_and_published_listings_then_runs_in_order(dagbag):
    from airflow.timetables.interval import CronDataIntervalTimetable

    from lakesight.stage import stage_application
    from lakesight_airflow.sensors import DAY

    dag = dagbag.dags["listing_recs"]
    assert isinstance(dag.timetable, CronDataIntervalTimetable)
    assert dag.timetable.summary == "0 0 * * *"
    assert {t.dt for t in dag.tasks} == {DAY}
    order = [t.task_id for t in dag.topological_sort()]
    assert set(order[:2]) == {"wait_for_interactions", "wait_for_listings"}
    assert order[2:] == ["ingest", "train", "recommend"]
    assert dag.get_task("ingest").upstream_task_ids == {
        "wait_for_interactions",
        "wait_for_listings",
    }
    assert dag.get_task("wait_for_listings").dataset == "features/listings"
    assert dag.get_task("wait_for_listings").require_success is True
    assert dag.max_active_runs == 1
    for task_id in ("ingest", "train", "recommend"):
        stage = dag.get_task(task_id).stage
        assert stage_application(stage).endswith(f"listing_recs/{task_id}.py")


def test_every_contract_is_the_asset_of_the_one_task_that_commits_it(dagbag):
    from lakesight_airflow.assets import CONTRACTS, contract_asset

    outlets = {
        (dag.dag_id, task.task_id): (getattr(task, "stage", None), list(task.outlets))
        for dag in dagbag.dags.values()
        for task in dag.tasks
        if task.outlets
    }
    assert sorted(stage for stage, _ in outlets.values()) == sorted(CONTRACTS.values())
    for stage, assets in outlets.values():
        contract = next(c for c, s in CONTRACTS.items() if s == stage)
        assert assets == [contract_asset(contract)], stage
    # The asset names the contract, not a location: the same on a laptop and a cluster.
    assert contract_asset("features/images").uri == "x-lakesight://features/images"
    with pytest.raises(ValueError, match="not a lakesight contract"):
        contract_asset("curated/images")


def test_the_stream_catches_up_every_five_minutes_one_run_at_a_time(dagbag):
    from airflow.timetables.trigger import CronTriggerTimetable

    from lakesight_airflow.assets import contract_asset

    dag = dagbag.dags["image_features_stream"]
    assert isinstance(dag.timetable, CronTriggerTimetable)
    assert dag.timetable.summary == "*/5 * * * *"
    assert dag.max_active_runs == 1  # two queries on one checkpoint would fight over it
    (task,) = dag.tasks
    assert (task.task_id, task.stage) == ("catch_up", "image_features.stream")
    assert list(task.outlets) == [contract_asset("features/images_live")]


def test_the_example_consumer_runs_once_per_published_day_of_features_images(dagbag):
    from airflow.sdk import PartitionedAssetTimetable

    from lakesight_airflow.assets import contract_asset

    dag = dagbag.dags["example_images_consumer"]
    assert isinstance(dag.timetable, PartitionedAssetTimetable)
    assert dag.timetable.asset_condition == contract_asset("features/images")
