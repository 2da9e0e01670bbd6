"""image_features stages through spark-submit on a real standalone master and worker.

Unlike local-cluster, a standalone worker launches executors with its own
environment, and here they run a Python that has every dependency but not
lakesight: the stages can only work if ``--py-files`` ships the code.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from lakesight.config import Settings, load_settings
from lakesight.image_features.sample_data import write_images_partition
from lakesight.lake import LocalFileSystem, read_manifest, uri_path
from lakesight.spark import code_archive
from lakesight.stage import stage_application
from tests.support.spark_standalone import StandaloneCluster, deps_only_python

pytestmark = [pytest.mark.spark, pytest.mark.distributed, pytest.mark.slow]

DT = "2026-05-07"
N, BAD = 24, 6

# Runs on an executor: which Python it is and where lakesight came from.
PROBE = """
import json
from pyspark.sql import SparkSession

def where(_):
    import os, sys
    import lakesight
    yield {"python": sys.executable, "lakesight": lakesight.__file__, "cwd": os.getcwd()}

spark = SparkSession.builder.getOrCreate()
print(json.dumps(spark.sparkContext.parallelize([0], 1).mapPartitions(where).collect()))
spark.stop()
"""


@pytest.fixture(scope="module")
def executor_python(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return deps_only_python(tmp_path_factory.mktemp("executor-venv") / "venv")


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory):
    with StandaloneCluster(tmp_path_factory.mktemp("standalone"), cores=2, memory="2g") as running:
        yield running


@pytest.fixture(scope="module")
def lake(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    root = (tmp_path_factory.mktemp("standalone-lake") / "lake").as_uri()
    settings = load_settings({**os.environ, "LAKESIGHT_ROOT": root})
    write_images_partition(LocalFileSystem(), settings, DT, n=N, bad=BAD, seed=11)
    return settings


def submit(
    cluster: StandaloneCluster,
    executor_python: Path,
    application: str,
    args: list[str],
    cwd: Path,
    settings: Settings | None = None,
    archive: str | None = None,
) -> subprocess.CompletedProcess:
    """spark-submit in client mode: the driver runs this venv's Python, the executors ``executor_python``."""
    # Nothing of the test process's Spark or lakesight settings, except the lake root.
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYSPARK_", "LAKESIGHT_"))}
    # spark-submit finds SPARK_HOME with whichever python3 is on PATH, maybe not this venv's.
    env["SPARK_HOME"] = cluster.spark_home
    env["LAKESIGHT_SPARK_LOG_LEVEL"] = "WARN"
    # The driver too listens on loopback only, like the master and the worker.
    env["SPARK_LOCAL_IP"] = cluster.host
    if settings is not None:
        env["LAKESIGHT_ROOT"] = settings.root
    cwd.mkdir(parents=True, exist_ok=True)
    assert not any(cwd.iterdir()), "spark-submit must start from an empty directory"
    conf = {
        "spark.ui.enabled": "false",
        "spark.executor.memory": "1g",
        # spark.pyspark.python becomes the driver's PYSPARK_PYTHON, which the driver
        # sends along with every Python function: the executors run that interpreter.
        # (spark.executorEnv.PYSPARK_PYTHON alone is ignored: they would run python3.)
        "spark.pyspark.python": str(executor_python),
        "spark.pyspark.driver.python": sys.executable,
    }
    result = subprocess.run(
        [
            str(Path(sys.executable).with_name("spark-submit")),
            *("--master", cluster.master_url),
            *(arg for key, value in conf.items() for arg in ("--conf", f"{key}={value}")),
            *("--py-files", archive or code_archive()),
            application,
            *args,
        ],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, f"{result.stderr[-3000:]}\n{cluster.log_tails()}"
    return result


def last_json(result: subprocess.CompletedProcess):
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_executor_python_has_the_dependencies_but_not_lakesight(executor_python):
    missing = subprocess.run(
        [str(executor_python), "-c", "import lakesight"], capture_output=True, text=True
    )
    assert missing.returncode != 0 and "No module named 'lakesight'" in missing.stderr
    deps = subprocess.run(
        [str(executor_python), "-c", "import numpy, onnxruntime, pyspark, pandas, pyarrow, PIL"],
        capture_output=True,
        text=True,
    )
    assert deps.returncode == 0, deps.stderr


def test_executors_run_that_python_and_import_lakesight_from_py_files(
    cluster, executor_python, tmp_path
):
    probe = tmp_path / "probe.py"
    probe.write_text(PROBE)
    archive = code_archive()
    result = submit(cluster, executor_python, str(probe), [], tmp_path / "cwd", archive=archive)
    [where] = last_json(result)
    assert where["python"] == str(executor_python)
    # The executor's own directory under the worker, not the driver's.
    assert Path(where["cwd"]).is_relative_to(cluster.work_dir)
    # Imported from the archive the executor fetched, e.g. ./lakesight-<hash>.zip/lakesight/__init__.py.
    assert Path(archive).name in Path(where["lakesight"]).parts


def test_image_features_stages_on_standalone_cluster(cluster, executor_python, lake, tmp_path):
    from lakesight.image_features import analyze, ingest, publish

    fs = LocalFileSystem()
    summaries = {}
    for stage in ("ingest", "analyze", "publish"):  # the DAG's stages (fit_codes is on demand)
        result = submit(
            cluster,
            executor_python,
            stage_application(f"image_features.{stage}"),
            ["--dt", DT, "--json"],
            tmp_path / f"cwd-{stage}",
            lake,
        )
        summaries[stage] = last_json(result)

    counts = summaries["ingest"]["counts"]
    assert (counts["in"], counts["out"], counts["quarantined"]) == (N + BAD, N, BAD)
    manifests = {
        module.STAGE.short: read_manifest(fs, module.STAGE.output.partition(lake, DT))
        for module in (ingest, analyze, publish)
    }
    for stage, manifest in manifests.items():
        assert manifest is not None, f"{stage}: output partition not committed"
        c = manifest.counts
        assert c["in"] == c["out"] + c["quarantined"], (stage, c)
        assert manifest.extra["spark_master"].startswith("spark://127.0.0.1"), stage
        assert manifest.extra["spark_master"] == cluster.master_url, stage
        assert manifest.extra["executors"] >= 1, stage
        assert summaries[stage]["counts"] == manifest.counts, stage
    assert manifests["ingest"].counts == {"in": N + BAD, "out": N, "quarantined": BAD}
    for stage in ("analyze", "publish"):
        assert manifests[stage].counts["in"] == N, (stage, manifests[stage].counts)
        names = [m["name"] for m in manifests[stage].models]
        assert names == ["ssd_scenes@1", "deepbit_scenes@1"], stage
        assert summaries[stage]["models"] == names

    def image_ids(zone: str, dataset: str) -> set[str]:
        table = pq.read_table(uri_path(lake.partition_uri(zone, dataset, DT)))
        return set(table.column("image_id").to_pylist())

    curated = image_ids("curated", "images")
    assert len(curated) == N
    assert image_ids("curated", "descriptors") == curated == image_ids("features", "images")
