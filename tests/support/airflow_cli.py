"""`airflow dags test` as a user runs it: fresh AIRFLOW_HOME, the repo's DAGs, no connections."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def dags_test(settings, airflow_home: Path, dag_id: str, when: str, conf: dict | None = None,
              **env_extra: str) -> str:  # fmt: skip
    """Run ``airflow dags test DAG WHEN [-c CONF]`` on ``settings.root``; assert it succeeded
    and return its log."""
    airflow = str(Path(sys.executable).with_name("airflow"))
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("AIRFLOW_CONN_", "AIRFLOW__", "PYSPARK_"))
    }
    env.update(
        AIRFLOW_HOME=str(airflow_home),
        AIRFLOW__CORE__DAGS_FOLDER=str(REPO / "dags"),
        AIRFLOW__CORE__PLUGINS_FOLDER=str(REPO / "plugins"),
        AIRFLOW__CORE__LOAD_EXAMPLES="False",
        LAKESIGHT_ROOT=settings.root,
        # What a user's shell has: the venv is not activated, so PATH lacks spark-submit.
        PATH="/usr/local/bin:/usr/bin:/bin",
        # The test wrote the day whole just before: no quiet period to wait for.
        LAKESIGHT_DROP_QUIET_MIN="0",
    )
    env.update(env_extra)
    subprocess.run(
        [airflow, "db", "migrate"], env=env, check=True, capture_output=True, timeout=300
    )
    command = [airflow, "dags", "test", dag_id, when, *(["-c", json.dumps(conf)] if conf else [])]
    run = subprocess.run(command, env=env, capture_output=True, text=True, timeout=900)
    log = run.stdout + run.stderr
    assert run.returncode == 0, log[-4000:]
    assert "state=success" in log
    return log
