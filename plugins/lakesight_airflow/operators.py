"""LakesightStageOperator: run one lakesight Spark stage with spark-submit.

It is the Spark provider's SparkSubmitOperator, so ``spark_default`` (master,
deploy mode, queue, Kerberos, spark-binary) works as users know it. On top it

- points spark-submit at the stage's module (``tasks/<pipeline>/<stage>.py``) and ships the
  lakesight code to the executors as a zip (``--py-files``), so nothing depends
  on the driver's working directory;
- falls back to ``LAKESIGHT_SPARK_MASTER`` (default ``local[*]``) when no
  ``spark_default`` connection is defined, where the provider would assume YARN;
- on a local or loopback master, runs the executors with this interpreter;
- gives every stage task an ``execution_timeout`` (:data:`DEFAULT_STAGE_TIMEOUT`), so a
  stage stuck on storage or on a lost executor fails and is retried instead of holding
  its day and a worker slot forever;
- for a stage that commits a consumer contract, declares the contract's Asset as the
  task's outlet and, once the stage has committed the day, emits one event for it with
  partition key ``dt`` and the day's location and counts (:mod:`lakesight_airflow.assets`).
"""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from airflow.providers.apache.spark.operators.spark_submit import SparkSubmitOperator

if TYPE_CHECKING:
    from airflow.sdk import Context

LOCAL_MASTER_PREFIXES = ("local", "spark://127.", "spark://localhost")
# A constant, not a setting: DAG files are parsed without reading settings. Three hours
# is many times a day's stage on one machine; a DAG that needs more says so with
# execution_timeout= (or default_args, or Airflow's [core] default_task_execution_timeout).
DEFAULT_STAGE_TIMEOUT = timedelta(hours=3)


def connection_defined(conn_id: str) -> bool:
    """Whether an Airflow connection exists (looked up at run time, never at parse time)."""
    from airflow.sdk import BaseHook
    from airflow.sdk.exceptions import AirflowNotFoundException

    try:
        BaseHook.get_connection(conn_id)
    except AirflowNotFoundException:
        return False
    return True


class LakesightStageOperator(SparkSubmitOperator):
    """Run stage ``PIPELINE.STAGE`` for one date partition through spark-submit.

    :param stage: stage name, e.g. ``image_features.analyze``.
    :param dt: partition date; templated, default ``{{ ds }}``.
    :param stage_options: the stage's own options, ``{"--start": "{{ ... }}"}``; templated.
        An option whose value renders empty (or ``None``) is left out, so a DAG param
        left unset means the stage's default.

    ``execution_timeout``: as given (argument or ``default_args``), else Airflow's
    ``[core] default_task_execution_timeout``, else :data:`DEFAULT_STAGE_TIMEOUT`. Airflow
    kills spark-submit when it runs out; the task's retries then rerun the stage, whose
    commit restores or replaces the day whole.
    """

    template_fields: Sequence[str] = (*SparkSubmitOperator.template_fields, "dt", "stage_options")

    def __init__(self, *, stage: str, dt: str = "{{ ds }}",
                 stage_options: dict[str, str] | None = None, **kwargs: Any) -> None:  # fmt: skip
        from lakesight_airflow.assets import contract_asset, published_by

        kwargs.setdefault("name", f"lakesight-{stage.replace('.', '-')}")
        publishes = published_by(stage)
        if publishes is not None:
            kwargs["outlets"] = [*(kwargs.get("outlets") or []), contract_asset(publishes)]
        kwargs.setdefault("conn_id", "spark_default")
        self._extra_args = list(kwargs.pop("application_args", None) or [])
        super().__init__(application="", **kwargs)
        self.stage = stage
        self.dt = dt
        self.stage_options = dict(stage_options or {})
        self.publishes = publishes
        if self.execution_timeout is None:
            self.execution_timeout = DEFAULT_STAGE_TIMEOUT

    def _get_hook(self):
        hook = super()._get_hook()
        if not connection_defined(self._conn_id):
            from lakesight.config import load_settings

            hook._connection["master"] = load_settings().spark_master
            self.log.info("No %s connection; master %s", self._conn_id, hook._connection["master"])
        return hook

    def execute(self, context: Context) -> None:
        from lakesight.stage import stage_application

        options = [
            part
            for flag, value in self.stage_options.items()
            if str(value).strip() not in ("", "None")
            for part in (flag, str(value).strip())
        ]
        self.log.info("Stage %s dt=%s", self.stage, self.dt)
        self._submit(context, stage_application(self.stage), ["--dt", self.dt, *options])
        if self.publishes is not None:
            self._announce(context)

    def _submit(self, context: Context, application: str, arguments: list[str]) -> None:
        """spark-submit ``application`` with ``arguments``, the lakesight code as --py-files."""
        from lakesight.spark import code_archive

        self.application = application
        self.py_files = code_archive()
        self.application_args = [*self._extra_args, *arguments]
        bindir = os.path.dirname(sys.executable)
        # spark-submit must be found on PATH (the provider refuses a full path),
        # and the worker may run from a virtualenv that is not activated.
        if bindir not in os.environ.get("PATH", "").split(os.pathsep):
            os.environ["PATH"] = bindir + os.pathsep + os.environ.get("PATH", "")
        master = self._get_hook()._connection["master"]
        if master.startswith(LOCAL_MASTER_PREFIXES):
            # Executors on this machine run this interpreter; on a cluster the
            # connection or spark-defaults say which Python the nodes have.
            self.env_vars = {"PYSPARK_PYTHON": sys.executable, **(self.env_vars or {})}
        self._hook = None  # rebuilt by execute() with the settings above
        self.log.info("spark-submit %s on %s", os.path.basename(application), master)
        super().execute(context)

    def _announce(self, context: Context) -> None:
        """The contract's Asset event for the day just committed: key ``dt``, its extra."""
        from lakesight_airflow.assets import contract_asset, published_day
        from lakesight_airflow.hooks import LakeFileSystemHook

        hook = LakeFileSystemHook()
        extra = published_day(hook.get_filesystem(), hook.settings, self.publishes, self.dt)
        event = context["outlet_events"][contract_asset(self.publishes)]
        event.add_partitions(self.dt)
        event.extra = extra
        self.log.info("Announced %s dt=%s: %s", self.publishes, self.dt, extra["counts"])


class LakesightStreamOperator(LakesightStageOperator):
    """Catch a pipeline's stream up once: ``spark-submit tasks/<pipeline>/stream.py --once``
    (``Trigger.AvailableNow``: what has arrived since the checkpoint, then stop), so a DAG
    run every few minutes keeps ``features/images_live`` fresh without a long-running job.

    The task's outlet is the live contract's Asset. A run that committed batches emits one
    event for them all, partitioned by the days they touched, never one per image;
    ``extra`` lists the batches (``dt``, ``batch``, counts)."""

    def __init__(self, *, pipeline: str = "image_features", **kwargs: Any) -> None:
        super().__init__(stage=f"{pipeline}.stream", dt="", **kwargs)
        self.pipeline = pipeline

    def execute(self, context: Context) -> None:
        import importlib

        from lakesight_airflow.assets import live_batch_keys
        from lakesight_airflow.hooks import LakeFileSystemHook

        hook = LakeFileSystemHook()
        fs, settings = hook.get_filesystem(), hook.settings
        before = live_batch_keys(fs, settings, self.publishes)
        application = importlib.import_module(f"lakesight.{self.pipeline}.stream").__file__
        self._submit(context, application, ["--once", "--json"])
        new = live_batch_keys(fs, settings, self.publishes) - before
        self._announce_batches(context, fs, settings, new)

    def _announce_batches(self, context: Context, fs, settings, keys: set) -> None:
        from lakesight_airflow.assets import contract_asset, live_batches

        new = live_batches(fs, settings, self.publishes, keys)
        if not new:
            self.log.info("No new batch of %s", self.publishes)
            return
        event = context["outlet_events"][contract_asset(self.publishes)]
        for dt in sorted({b["dt"] for b in new}):
            event.add_partitions(dt)
        event.extra = {"batches": new}
        self.log.info("Announced %d batches of %s", len(new), self.publishes)
