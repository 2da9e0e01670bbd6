"""Every stage task has an execution_timeout: the operator's default, or what a DAG says."""

from __future__ import annotations

from datetime import timedelta

import pendulum
import pytest

from lakesight_airflow.operators import DEFAULT_STAGE_TIMEOUT, LakesightStageOperator

pytestmark = pytest.mark.airflow


def test_a_stage_task_without_a_timeout_gets_the_default():
    op = LakesightStageOperator(task_id="analyze", stage="image_features.analyze")
    assert op.execution_timeout == DEFAULT_STAGE_TIMEOUT == timedelta(hours=3)


def test_a_dag_overrides_the_default_by_argument_or_default_args():
    from airflow.sdk import DAG

    explicit = LakesightStageOperator(
        task_id="a", stage="image_features.analyze", execution_timeout=timedelta(minutes=20)
    )
    assert explicit.execution_timeout == timedelta(minutes=20)
    with DAG("t", schedule=None, start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
             default_args={"execution_timeout": timedelta(hours=7)}):  # fmt: skip
        from_defaults = LakesightStageOperator(task_id="b", stage="image_features.analyze")
    assert from_defaults.execution_timeout == timedelta(hours=7)
