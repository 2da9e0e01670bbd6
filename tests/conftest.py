"""Shared fixtures: a throwaway lake per test, the lake file systems, one Spark session."""

from __future__ import annotations

import logging
import os
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from lakesight.config import Settings, load_settings
from lakesight.lake import (
    HadoopFileSystem,
    LakeFileSystem,
    LocalFileSystem,
    WebHdfsFileSystem,
    make_webhdfs_client,
)
from tests.support.postgres import PostgresServer, unavailable_reason
from tests.support.webhdfs_server import WebHdfsServer

REPO = Path(__file__).resolve().parent.parent

# Airflow reads its home when first imported: give the test session its own,
# never ~/airflow, and no example DAGs.
os.environ.setdefault("AIRFLOW_HOME", tempfile.mkdtemp(prefix="lakesight-airflow-"))
os.environ["AIRFLOW__CORE__LOAD_EXAMPLES"] = "False"
os.environ.setdefault("AIRFLOW__CORE__DAGS_FOLDER", str(REPO / "dags"))
os.environ.setdefault("AIRFLOW__CORE__PLUGINS_FOLDER", str(REPO / "plugins"))
# py4j logs from __del__ at interpreter exit, after pytest has closed the streams.
logging.getLogger("py4j").setLevel(logging.WARNING)


@pytest.fixture
def lake_root(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """A fresh file:// lake root, exported as LAKESIGHT_ROOT for code and subprocesses."""
    root = (tmp_path / "lake").as_uri()
    monkeypatch.setenv("LAKESIGHT_ROOT", root)
    return root


@pytest.fixture
def settings(lake_root: str) -> Settings:
    return load_settings()


@pytest.fixture(scope="session")
def webhdfs_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[WebHdfsServer]:
    with WebHdfsServer(tmp_path_factory.mktemp("webhdfs")) as server:
        yield server


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer | None]:
    """One PostgreSQL server for the session's Airflow deployments; None where the machine
    has none (``unavailable_reason``)."""
    if unavailable_reason():
        yield None
        return
    with PostgresServer() as server:
        yield server


@pytest.fixture(scope="session")
def airflow_database(postgres_server: PostgresServer | None):
    """``new()`` → a fresh metadata database URL for an ``AirflowServer``: a PostgreSQL
    database of its own, or None (SQLite) where there is no PostgreSQL server."""

    def new() -> str | None:
        return postgres_server.new_database() if postgres_server else None

    return new


def real_hdfs_url() -> str | None:
    """LAKESIGHT_TEST_HDFS as an http(s) WebHDFS URL (webhdfs://h:p is accepted too)."""
    value = os.environ.get("LAKESIGHT_TEST_HDFS")
    if not value:
        return None
    return value.replace("webhdfs://", "http://", 1).rstrip("/")


@pytest.fixture(
    params=[
        "local",
        "webhdfs-loopback",
        "webhdfs-cluster",
        pytest.param("hadoop-jvm", marks=pytest.mark.spark),
    ]
)
def lake_fs(request, tmp_path: Path) -> tuple[LakeFileSystem, str]:
    """(file system, base URI) for each way lakesight reaches storage from Python."""
    if request.param == "local":
        return LocalFileSystem(), (tmp_path / "fs").as_uri()
    if request.param == "hadoop-jvm":
        # The stages' own client: Hadoop's FileSystem in the Spark driver's JVM.
        return HadoopFileSystem(request.getfixturevalue("spark")), (tmp_path / "fs").as_uri()
    if request.param == "webhdfs-loopback":
        server = request.getfixturevalue("webhdfs_server")
        base = f"webhdfs://{server.url.removeprefix('http://')}/t/{uuid.uuid4().hex}"
        return WebHdfsFileSystem(make_webhdfs_client(server.url, user="tester")), base
    url = real_hdfs_url()
    if url is None:
        pytest.skip("no real HDFS: set LAKESIGHT_TEST_HDFS=http://namenode:9870 to run against one")
    client = make_webhdfs_client(url, user=os.environ.get("LAKESIGHT_TEST_HDFS_USER", "lakesight"))
    base = f"webhdfs://{url.split('://', 1)[1]}/tmp/lakesight-tests/{uuid.uuid4().hex}"
    fs = WebHdfsFileSystem(client)
    request.addfinalizer(lambda: fs.delete(base))
    return fs, base


@pytest.fixture(scope="session")
def spark():
    """One local[2] session for the Spark tests (the UI is off: no port, faster start)."""
    from lakesight.spark import get_spark

    session = get_spark(
        "lakesight-tests",
        master="local[2]",
        conf={"spark.ui.enabled": "false", "spark.sql.shuffle.partitions": "4"},
    )
    yield session
    session.stop()
