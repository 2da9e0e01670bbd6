"""The Spark install itself: JVM and Python halves agree, Arrow UDFs run, Java is checked."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from lakesight.spark import parse_java_major

pytestmark = pytest.mark.spark


def test_pyspark_python_matches_jvm_and_map_in_pandas_works(spark):
    # pyspark-client shares pyspark's folder; a mismatch shows up exactly here
    # ("Constructor ... UserDefinedPythonFunction(...) does not exist").
    import pyspark

    assert spark.version == pyspark.__version__
    doubled = spark.range(100).mapInPandas(
        lambda it: (b.assign(id=b.id * 2) for b in it), "id long"
    )
    assert doubled.agg({"id": "sum"}).first()[0] == 2 * sum(range(100))


@pytest.mark.unit
@pytest.mark.parametrize(
    ("text", "major"),
    [
        ('openjdk version "17.0.15" 2025-04-15', 17),
        ('openjdk version "21" 2023-09-19', 21),
        ('java version "1.8.0_401"', 8),
        ("garbage", None),
    ],
)
def test_parse_java_major(text, major):
    assert parse_java_major(text) == major


@pytest.mark.parametrize("lake", ["local", "hdfs-through-webhdfs"])
def test_workers_read_each_rows_file_and_leave_out_the_missing(spark, settings, tmp_path, lake,
                                                                request):  # fmt: skip
    # map_files: the stages' photos reach the model in the worker that reads them; on HDFS
    # through the lake's WebHDFS endpoint (LAKESIGHT_WEBHDFS_URL), never through Spark.
    import dataclasses

    from lakesight.lake import LocalFileSystem, WebHdfsFileSystem, join, make_webhdfs_client
    from lakesight.spark import READ_ROWS, map_files

    if lake == "local":
        fs, root = LocalFileSystem(), (tmp_path / "lake").as_uri()
        settings = dataclasses.replace(settings, root=root)
    else:
        server = request.getfixturevalue("webhdfs_server")
        fs = WebHdfsFileSystem(make_webhdfs_client(server.url, user="tester"))
        root = f"hdfs://namenode:8020/t/{tmp_path.name}"
        settings = dataclasses.replace(settings, root=root, webhdfs_url=server.url)
    paths = [join(root, "raw", f"photo {i:03d}.jpg") for i in range(150)]
    for i, path in enumerate(paths):
        if i % 50 != 7:  # three files are gone since the index was made
            fs.write_bytes(path, f"bytes of {i}".encode())

    def contents(batches):
        for batch in batches:
            assert len(batch) <= READ_ROWS
            yield batch[["n", "content"]]

    index = spark.createDataFrame([(i, p) for i, p in enumerate(paths)], "n int, path string")
    read = map_files(index.coalesce(1), settings, contents, "n int, content binary")
    assert read.rdd.getNumPartitions() == spark.sparkContext.defaultParallelism
    rows = {r["n"]: bytes(r["content"]) for r in read.collect()}
    assert rows == {i: f"bytes of {i}".encode() for i in range(150) if i % 50 != 7}


@pytest.mark.unit
def test_the_next_slice_is_read_while_the_caller_works_on_this_one():
    import threading

    from lakesight.spark import read_ahead

    started = {k: threading.Event() for k in range(4)}
    drawn = []

    def read(k):
        started[k].set()
        if k == 3:
            raise OSError("the store failed")
        return k * 10

    def items():
        for k in range(4):
            drawn.append(k)
            yield k

    reads = read_ahead(items(), read)
    assert next(reads) == 0
    # While the caller holds slice 0, slice 1 is already being read, and no further one.
    assert started[1].wait(timeout=5) and drawn == [0, 1]
    assert next(reads) == 10 and next(reads) == 20
    with pytest.raises(OSError, match="the store failed"):
        next(reads)


def test_duplicates_are_marked_in_one_pass_keeping_the_smallest_path(spark):
    from lakesight.spark import without_duplicates

    rows = [  # path, image_id, reason, detail
        ("b.png", "x", None, None), ("a.png", "x", None, None), ("c.png", "x", None, None),
        ("d.png", "y", None, None), ("0.png", "x", "truncated", "cut at 10 bytes"),
    ]  # fmt: skip

    def decode(batches):  # a stand-in for the decode a stage's Python UDF does
        yield from batches

    schema = "path string, image_id string, reason string, detail string"
    validated = spark.createDataFrame(rows, schema).mapInPandas(decode, schema)
    marked = without_duplicates(validated, key=("image_id",))
    # The decode under it runs once: Spark would run each branch of a split and union.
    assert marked._jdf.queryExecution().executedPlan().toString().count("MapInPandas") == 1
    got = {r["path"]: (r["reason"], r["detail"]) for r in marked.collect()}
    assert marked.columns == ["path", "image_id", "reason", "detail"]
    assert got == {
        "a.png": (None, None), "d.png": (None, None),
        "b.png": ("duplicate", "same bytes as a.png"), "c.png": ("duplicate", "same bytes as a.png"),
        "0.png": ("truncated", "cut at 10 bytes"),  # a rejected file is never the one kept
    }  # fmt: skip


@pytest.mark.slow
def test_spark_submit_on_a_local_master_gets_the_local_defaults_under_its_own(tmp_path):
    """What Airflow's stage tasks run without a spark_default connection: spark-submit on
    local[*]. The one-machine defaults apply, and what spark-submit was given wins."""
    script = tmp_path / "conf.py"
    script.write_text(
        "import json\nfrom lakesight.spark import get_spark\nconf = get_spark('conf').conf\n"
        "print(json.dumps({k: conf.get(k) for k in ("
        "'spark.sql.shuffle.partitions', 'spark.sql.sources.parallelPartitionDiscovery.threshold',"
        "'spark.sql.session.timeZone')}))\n"
    )
    done = subprocess.run(
        [str(Path(sys.executable).with_name("spark-submit")), "--master", "local[2]",
         "--conf", "spark.ui.enabled=false", "--conf", "spark.sql.shuffle.partitions=7",
         str(script)],
        env={**os.environ, "PYSPARK_PYTHON": sys.executable}, cwd=tmp_path,
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    assert json.loads(done.stdout.strip().splitlines()[-1]) == {
        "spark.sql.shuffle.partitions": "7",
        "spark.sql.sources.parallelPartitionDiscovery.threshold": "10000",
        "spark.sql.session.timeZone": "UTC",
    }
