"""The Airflow side: connection resolution of the stage operator, the lake hook and sensor."""

from __future__ import annotations

import pytest

from lakesight.lake import LocalFileSystem, WebHdfsFileSystem, join
from lakesight_airflow.hooks import LakeFileSystemHook
from lakesight_airflow.operators import LakesightStageOperator
from lakesight_airflow.sensors import LakePartitionSensor

pytestmark = pytest.mark.airflow


def test_stage_operator_without_connection_uses_lakesight_master(monkeypatch):
    monkeypatch.delenv("AIRFLOW_CONN_SPARK_DEFAULT", raising=False)
    monkeypatch.setenv("LAKESIGHT_SPARK_MASTER", "local[3]")
    op = LakesightStageOperator(task_id="ingest", stage="image_features.ingest")
    assert op._get_hook()._connection["master"] == "local[3]"


def test_stage_operator_honours_spark_default(monkeypatch):
    monkeypatch.setenv("AIRFLOW_CONN_SPARK_DEFAULT", "spark://spark-master:7077?deploy-mode=client")
    monkeypatch.setenv("LAKESIGHT_SPARK_MASTER", "local[3]")
    op = LakesightStageOperator(task_id="ingest", stage="image_features.ingest")
    hook = op._get_hook()
    assert hook._connection["master"] == "spark://spark-master:7077"
    assert hook._connection["deploy_mode"] == "client"


def test_hook_builds_ha_webhdfs_client_from_connection(monkeypatch, webhdfs_server):
    host_port = webhdfs_server.url.removeprefix("http://")
    host, port = host_port.split(":")
    # Two namenodes, the first one dead: HdfsCLI must fail over to the second.
    monkeypatch.setenv(
        "AIRFLOW_CONN_WEBHDFS_DEFAULT",
        f'{{"conn_type": "webhdfs", "host": "127.0.0.1:9,{host}", "port": {port}, "login": "etl"}}',
    )
    monkeypatch.setenv("LAKESIGHT_ROOT", "hdfs://namenode:8020/lake")
    hook = LakeFileSystemHook()
    fs = hook.get_filesystem()
    assert isinstance(fs, WebHdfsFileSystem)
    fs.write_bytes("hdfs://namenode:8020/lake/probe.txt", b"hi")
    assert fs.read_bytes("hdfs://namenode:8020/lake/probe.txt") == b"hi"


def test_hook_without_connection_uses_local_fs_for_file_root(lake_root, monkeypatch):
    monkeypatch.delenv("AIRFLOW_CONN_WEBHDFS_DEFAULT", raising=False)
    assert isinstance(LakeFileSystemHook().get_filesystem(), LocalFileSystem)


def test_sensor_pokes_partition(settings, monkeypatch):
    # The full rules of a whole drop: tests/plugins/test_drop_sensor.py.
    monkeypatch.delenv("AIRFLOW_CONN_WEBHDFS_DEFAULT", raising=False)
    sensor = LakePartitionSensor(task_id="wait", dataset="raw/images", dt="2026-02-03")
    folder = LakePartitionSensor(task_id="w", dataset="raw/images", dt="2026-02-03", whole=False)
    assert sensor.poke({}) is False and folder.poke({}) is False
    LocalFileSystem().write_bytes(
        join(settings.partition_uri("raw", "images", "2026-02-03"), "a.jpg"), b"x"
    )
    assert folder.poke({}) is True
    assert sensor.poke({}) is False  # just written: not quiet for 10 minutes yet
    strict = LakePartitionSensor(
        task_id="wait2", dataset="raw/images", dt="2026-02-03", require_success=True
    )
    assert strict.poke({}) is False
