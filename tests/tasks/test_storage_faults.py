"""Storage faults on WebHDFS: each test injects its fault into the loopback server and
asserts what the caller sees (the right bytes after a transient fault, one line within
the bound after a permanent one) and what the server saw (the retries, or none)."""

from __future__ import annotations

import subprocess
import sys
import time
import uuid

import pytest

from lakesight.config import ConfigError, load_settings
from lakesight.lake import (
    StorageError,
    WebHdfsError,
    WebHdfsFileSystem,
    WebHdfsPolicy,
    join,
    make_webhdfs_client,
    uri_path,
)
from tests.support.webhdfs_server import Fault

pytestmark = [pytest.mark.hdfs, pytest.mark.faults]

# Short enough for a fast suite, long enough that loopback never times out by itself.
FAST = WebHdfsPolicy(timeout_s=0.5, retries=2, backoff_s=0.02)


@pytest.fixture
def fs_base(webhdfs_server) -> tuple[WebHdfsFileSystem, str]:
    """A retrying WebHDFS file system on the loopback server, and a fresh base URI."""
    fs = WebHdfsFileSystem(make_webhdfs_client(webhdfs_server.url, user="tester", policy=FAST))
    base = f"webhdfs://{webhdfs_server.url.removeprefix('http://')}/t/{uuid.uuid4().hex}"
    return fs, base


def _one_line(err: BaseException) -> str:
    text = str(err)
    assert "\n" not in text and text.strip() == text, text
    return text


# --------------------------------------------------------------- transient: retried, right bytes


def test_a_transient_503_is_retried_honouring_retry_after(webhdfs_server, fs_base):
    fs, base = fs_base
    fs.write_bytes(join(base, "a.bin"), b"payload")
    path = uri_path(join(base, "a.bin"))
    with webhdfs_server.faults(Fault("503", op="GETFILESTATUS", path=path, times=2,
                                     retry_after=0.2)) as (fault,):  # fmt: skip
        started = time.monotonic()
        assert fs.exists(join(base, "a.bin")) is True
        waited = time.monotonic() - started
    assert (fault.fired, fault.seen) == (2, 3)
    # Two waits of Retry-After (0.2 s), not the 0.02 s backoff: the server was heard.
    assert waited >= 0.4


def test_a_reset_connection_is_retried_and_the_read_returns_the_file(webhdfs_server, fs_base):
    fs, base = fs_base
    data = bytes(range(256)) * 64
    fs.write_bytes(join(base, "f.bin"), data)
    with webhdfs_server.faults(Fault("reset", op="OPEN", step="datanode", times=2)) as (fault,):
        assert fs.read_bytes(join(base, "f.bin")) == data
    assert (fault.fired, fault.seen) == (2, 3)


def test_a_truncated_body_is_read_again_never_returned(webhdfs_server, fs_base):
    fs, base = fs_base
    data = b"0123456789" * 1000
    fs.write_bytes(join(base, "f.bin"), data)
    with webhdfs_server.faults(Fault("truncate", op="OPEN", times=1)) as (fault,):
        assert fs.read_bytes(join(base, "f.bin")) == data
    assert (fault.fired, fault.seen) == (1, 2)


def test_a_truncated_ranged_read_is_read_again_never_returned(webhdfs_server, fs_base):
    # A Python worker reading a row group asks for its byte range only.
    fs, base = fs_base
    data = b"0123456789" * 1000
    fs.write_bytes(join(base, "f.bin"), data)
    with webhdfs_server.faults(Fault("truncate", op="OPEN", times=1)) as (fault,):
        assert fs.read_range(join(base, "f.bin"), 1234, 5000) == data[1234:6234]
    assert (fault.fired, fault.seen) == (1, 2)


def test_a_truncated_listing_is_retried(webhdfs_server, fs_base):
    fs, base = fs_base
    for name in ("dt=2026-03-01", "dt=2026-03-02"):
        fs.mkdirs(join(base, name))
    with webhdfs_server.faults(Fault("truncate", op="LISTSTATUS", times=1)) as (fault,):
        assert fs.list_dirs(base) == ["dt=2026-03-01", "dt=2026-03-02"]
    assert (fault.fired, fault.seen) == (1, 2)


def test_a_single_stall_times_out_and_the_retry_answers(webhdfs_server, fs_base):
    fs, base = fs_base
    fs.write_bytes(join(base, "a.bin"), b"x")
    with webhdfs_server.faults(Fault("stall", op="GETFILESTATUS", times=1)) as (fault,):
        assert [e.size for e in fs.list_files(join(base, "a.bin"))] == [1]
    assert (fault.fired, fault.seen) == (1, 2)


def test_a_write_survives_resets_on_both_steps(webhdfs_server, fs_base):
    fs, base = fs_base
    faults = (
        Fault("reset", op="CREATE", step="namenode"),
        Fault("reset", op="CREATE", step="datanode"),
    )
    with webhdfs_server.faults(*faults) as (namenode, datanode):
        fs.write_bytes(join(base, "w.bin"), b"written")
    assert (namenode.fired, datanode.fired) == (1, 1)
    assert fs.read_bytes(join(base, "w.bin")) == b"written"


# --------------------------------------------------------------- answers: not retried


def test_a_missing_file_is_an_answer_not_retried(webhdfs_server, fs_base):
    fs, base = fs_base
    # times=0: the fault never fires, it only counts the requests it matches.
    with webhdfs_server.faults(Fault("503", op="GETFILESTATUS", times=0),
                               Fault("503", op="OPEN", times=0)) as (status, opened):  # fmt: skip
        assert fs.exists(join(base, "missing.bin")) is False
        with pytest.raises(Exception, match="does not exist") as err:
            fs.read_bytes(join(base, "missing.bin"))
    assert not isinstance(err.value, WebHdfsError)
    assert (status.seen, opened.seen) == (1, 1)


# --------------------------------------------------------------- permanent: one line, in time


def test_a_stalled_namenode_fails_in_one_line_within_the_bound(webhdfs_server, fs_base):
    fs, base = fs_base
    uri = join(base, "dt=2026-03-02")
    with webhdfs_server.faults(Fault("stall", times=None)) as (fault,):
        started = time.monotonic()
        with pytest.raises(StorageError) as err:
            fs.exists(uri)
        took = time.monotonic() - started
    text = _one_line(err.value)
    assert text == (
        f"webhdfs GETFILESTATUS {uri_path(uri)}: "
        f"no answer within 0.5 s (LAKESIGHT_WEBHDFS_TIMEOUT_S) from {webhdfs_server.url} "
        f"after 3 attempts"
    )
    assert fault.seen == FAST.attempts
    assert FAST.timeout_s * FAST.attempts <= took <= FAST.bound_s() + 0.5


def test_503s_that_do_not_stop_fail_naming_the_status(webhdfs_server, fs_base):
    fs, base = fs_base
    faults = webhdfs_server.faults(Fault("503", op="MKDIRS", times=None))
    with faults as (fault,), pytest.raises(WebHdfsError) as err:
        fs.mkdirs(join(base, "d"))
    assert "webhdfs MKDIRS /t/" in _one_line(err.value)
    assert str(err.value).endswith(f"HTTP 503 from {webhdfs_server.url} after 3 attempts")
    assert fault.seen == 3


def test_a_stalled_namenode_fails_a_cli_command_in_one_line(webhdfs_server, tmp_path):
    root = f"webhdfs://{webhdfs_server.url.removeprefix('http://')}/cli/{uuid.uuid4().hex}"
    env = {"LAKESIGHT_ROOT": root, "LAKESIGHT_WEBHDFS_TIMEOUT_S": "0.5",
           "LAKESIGHT_WEBHDFS_RETRIES": "1", "LAKESIGHT_WEBHDFS_BACKOFF_S": "0.05",
           "PATH": "/usr/bin:/bin", "HOME": str(tmp_path)}  # fmt: skip
    with webhdfs_server.faults(Fault("stall", times=None)):
        done = subprocess.run(
            [sys.executable, "-m", "lakesight.cli", "partitions", "raw/images"],
            env=env, capture_output=True, text=True, timeout=60, check=False,
        )  # fmt: skip
    lines = done.stderr.strip().splitlines()
    assert done.returncode == 1, done.stderr
    assert lines == [
        f"lakesight: error: webhdfs GETFILESTATUS {uri_path(root)}/raw/images: "
        "no answer within 0.5 s (LAKESIGHT_WEBHDFS_TIMEOUT_S) "
        f"from {webhdfs_server.url} after 2 attempts"
    ], done.stderr


# --------------------------------------------------------------- non-idempotent calls


def test_a_rename_whose_answer_was_lost_is_not_reported_as_failed(webhdfs_server, fs_base):
    fs, base = fs_base
    fs.write_bytes(join(base, "src/x.bin"), b"x")
    with webhdfs_server.faults(Fault("lost", op="RENAME")) as (fault,):
        fs.rename(join(base, "src"), join(base, "dst"))
    assert fault.fired == 1
    assert fs.read_bytes(join(base, "dst/x.bin")) == b"x"
    assert not fs.exists(join(base, "src"))


def test_a_rename_refused_in_transit_is_tried_again(webhdfs_server, fs_base):
    fs, base = fs_base
    fs.write_bytes(join(base, "src/x.bin"), b"x")
    with webhdfs_server.faults(Fault("reset", op="RENAME")) as (fault,):
        fs.rename(join(base, "src"), join(base, "dst"))
    assert (fault.fired, fault.seen) == (1, 2)
    assert fs.read_bytes(join(base, "dst/x.bin")) == b"x"


def test_create_exclusive_retried_after_a_reset_before_the_namenode_acted(webhdfs_server, fs_base):
    fs, base = fs_base
    uri = join(base, "_leases/000000000001.json")
    with webhdfs_server.faults(Fault("reset", op="CREATE", step="namenode")) as (fault,):
        assert fs.create_exclusive(uri, b'{"run_id": "a"}') is True
    assert (fault.fired, fault.seen) == (1, 2)
    assert fs.read_bytes(uri) == b'{"run_id": "a"}'
    assert fs.create_exclusive(uri, b'{"run_id": "b"}') is False  # and a real rival still loses


def test_create_exclusive_whose_answer_was_lost_is_its_own(webhdfs_server, fs_base):
    """The file was created and written, only the answer was lost: a resend would meet the
    file and say "already exists"; reading it back says it is ours."""
    fs, base = fs_base
    uri = join(base, "_leases/000000000001.json")
    with webhdfs_server.faults(Fault("lost", op="CREATE", step="datanode")) as (fault,):
        assert fs.create_exclusive(uri, b'{"run_id": "a"}') is True
    assert fault.fired == 1
    assert fs.read_bytes(uri) == b'{"run_id": "a"}'


def test_create_exclusive_cut_after_the_namenode_step_is_an_error_never_false(
    webhdfs_server, fs_base
):
    """The namenode made the file, its bytes never arrived: whose file it is cannot be
    told, so the caller gets an error, not a "somebody else holds it"."""
    fs, base = fs_base
    uri = join(base, "_leases/000000000001.json")
    unknown = pytest.raises(WebHdfsError, match="whether this create made it is unknown")
    with webhdfs_server.faults(Fault("lost", op="CREATE", step="namenode")), unknown as err:
        fs.create_exclusive(uri, b'{"run_id": "a"}')
    _one_line(err.value)


def test_create_exclusive_meeting_a_rivals_file_after_a_lost_answer_says_false(
    webhdfs_server, fs_base
):
    fs, base = fs_base
    uri = join(base, "_leases/000000000001.json")
    # Our first attempt is refused unprocessed; a rival creates the file before our retry.
    rival = WebHdfsFileSystem(make_webhdfs_client(webhdfs_server.url, user="rival", policy=FAST))
    original = fs.client.write

    def write_then_rival_wins(*args, **kwargs):
        try:
            return original(*args, **kwargs)
        finally:
            if not rival.exists(uri):
                rival.create_exclusive(uri, b'{"run_id": "rival"}')

    fs.client.write = write_then_rival_wins
    with webhdfs_server.faults(Fault("reset", op="CREATE", step="namenode", times=1)):
        assert fs.create_exclusive(uri, b'{"run_id": "a"}') is False
    assert fs.read_bytes(uri) == b'{"run_id": "rival"}'


# --------------------------------------------------------------- HA, settings, Airflow side


def test_retries_fail_over_to_the_other_namenode(webhdfs_server):
    client = make_webhdfs_client(f"http://127.0.0.1:9;{webhdfs_server.url}", user="t", policy=FAST)
    fs = WebHdfsFileSystem(client)
    assert fs.exists("webhdfs://x/") is True
    # The namenode that answered goes first from now on: no second wait on the dead one.
    assert client._urls[0].rstrip("/") == webhdfs_server.url


def test_settings_give_the_policy_and_reject_bad_values():
    settings = load_settings({"LAKESIGHT_WEBHDFS_TIMEOUT_S": "2.5", "LAKESIGHT_WEBHDFS_RETRIES": "0",
                              "LAKESIGHT_WEBHDFS_BACKOFF_S": "0"})  # fmt: skip
    assert WebHdfsPolicy.from_settings(settings) == WebHdfsPolicy(2.5, 0, 0.0)
    assert settings.masked()["webhdfs_timeout_s"] == 2.5
    defaults = WebHdfsPolicy.from_settings(load_settings({}))
    assert (defaults.timeout_s, defaults.retries, defaults.backoff_s) == (30.0, 4, 0.5)
    for name, value in [("LAKESIGHT_WEBHDFS_TIMEOUT_S", "0"), ("LAKESIGHT_WEBHDFS_TIMEOUT_S", "inf"),
                        ("LAKESIGHT_WEBHDFS_RETRIES", "-1"), ("LAKESIGHT_WEBHDFS_RETRIES", "two"),
                        ("LAKESIGHT_WEBHDFS_BACKOFF_S", "-1")]:  # fmt: skip
        with pytest.raises(ConfigError) as err:
            load_settings({name: value})
        assert _one_line(err.value).startswith(f"{name}: expected ")


def test_backoff_grows_with_jitter_and_retry_after_is_capped():
    policy = WebHdfsPolicy(timeout_s=2.0, retries=4, backoff_s=0.5)
    waits = [policy.delay(n) for n in (1, 2, 3)]
    assert all(
        0.5 * 0.5 * 2 ** (n - 1) <= w <= 0.5 * 2 ** (n - 1)
        for n, w in zip((1, 2, 3), waits, strict=True)
    )
    assert policy.delay(1, retry_after=1.5) == 1.5
    assert policy.delay(1, retry_after=3600) == 2.0  # never beyond the timeout


@pytest.mark.airflow
def test_the_sensor_hook_file_system_has_the_timeouts(webhdfs_server, monkeypatch):
    from lakesight_airflow.hooks import LakeFileSystemHook

    monkeypatch.delenv("AIRFLOW_CONN_WEBHDFS_DEFAULT", raising=False)
    root = f"webhdfs://{webhdfs_server.url.removeprefix('http://')}/hook"
    settings = load_settings({"LAKESIGHT_ROOT": root, "LAKESIGHT_WEBHDFS_TIMEOUT_S": "0.5",
                              "LAKESIGHT_WEBHDFS_RETRIES": "1",
                              "LAKESIGHT_WEBHDFS_BACKOFF_S": "0.05"})  # fmt: skip
    fs = LakeFileSystemHook(settings=settings).get_filesystem()
    policy = WebHdfsPolicy.from_settings(settings)
    with webhdfs_server.faults(Fault("stall", times=None)) as (fault,):
        started = time.monotonic()
        with pytest.raises(StorageError) as err:
            fs.list_files(f"{root}/raw/images/dt=2026-03-02")
        took = time.monotonic() - started
    assert _one_line(err.value) == (
        "webhdfs GETFILESTATUS /hook/raw/images/dt=2026-03-02: no answer within 0.5 s "
        f"(LAKESIGHT_WEBHDFS_TIMEOUT_S) from {webhdfs_server.url} after 2 attempts"
    )
    assert fault.seen == 2
    assert took <= policy.bound_s() + 0.5


# --------------------------------------------------------------- the JVM's clients (Spark stages)


def test_hadoop_conf_carries_the_webhdfs_settings():
    from lakesight.spark import hadoop_storage_conf

    settings = load_settings({"LAKESIGHT_WEBHDFS_TIMEOUT_S": "2.5", "LAKESIGHT_WEBHDFS_RETRIES": "3",
                              "LAKESIGHT_WEBHDFS_BACKOFF_S": "0.25"})  # fmt: skip
    conf = hadoop_storage_conf(settings)
    assert conf["spark.hadoop.dfs.webhdfs.socket.connect-timeout"] == "2500ms"
    assert conf["spark.hadoop.dfs.webhdfs.socket.read-timeout"] == "2500ms"
    assert conf["spark.hadoop.dfs.http.client.retry.policy.spec"] == "250,3"
    assert conf["spark.hadoop.ipc.client.connect.max.retries.on.timeouts"] == "3"


@pytest.mark.spark
def test_the_jvm_webhdfs_client_gives_up_on_a_stalled_namenode(spark, webhdfs_server):
    """The session carries the settings, and they are the keys Hadoop's own WebHDFS client
    obeys: with them, a stalled namenode fails a JVM call within the bound."""
    from py4j.protocol import Py4JJavaError

    from lakesight.spark import hadoop_storage_conf

    session_conf = spark.sparkContext._jsc.hadoopConfiguration()
    assert (
        session_conf.get("dfs.webhdfs.socket.read-timeout")
        == (hadoop_storage_conf(load_settings())["spark.hadoop.dfs.webhdfs.socket.read-timeout"])
    )
    settings = load_settings({"LAKESIGHT_WEBHDFS_TIMEOUT_S": "0.5", "LAKESIGHT_WEBHDFS_RETRIES": "1",
                              "LAKESIGHT_WEBHDFS_BACKOFF_S": "0.05"})  # fmt: skip
    jvm = spark.sparkContext._jvm
    conf = jvm.org.apache.hadoop.conf.Configuration(session_conf)
    for key, value in hadoop_storage_conf(settings).items():
        conf.set(key.removeprefix("spark.hadoop."), value)
    uri = f"webhdfs://{webhdfs_server.url.removeprefix('http://')}/jvm"
    fs = jvm.org.apache.hadoop.fs.FileSystem.newInstance(jvm.java.net.URI(uri), conf)
    try:
        with webhdfs_server.faults(Fault("stall", op="GETFILESTATUS", times=None)) as (fault,):
            started = time.monotonic()
            with pytest.raises(Py4JJavaError, match=r"(?i)timed out"):
                fs.exists(jvm.org.apache.hadoop.fs.Path(f"{uri}/dt=2026-03-02"))
            took = time.monotonic() - started
    finally:
        fs.close()
    assert fault.seen >= 2  # retried, then gave up
    assert took <= WebHdfsPolicy.from_settings(settings).bound_s() + 2.0


@pytest.mark.airflow
def test_a_stalled_namenode_fails_a_sensor_poke_in_one_line(webhdfs_server, monkeypatch):
    from lakesight_airflow.sensors import LakePartitionSensor

    root = f"webhdfs://{webhdfs_server.url.removeprefix('http://')}/poke"
    monkeypatch.delenv("AIRFLOW_CONN_WEBHDFS_DEFAULT", raising=False)
    for name, value in {"LAKESIGHT_ROOT": root, "LAKESIGHT_WEBHDFS_TIMEOUT_S": "0.5",
                        "LAKESIGHT_WEBHDFS_RETRIES": "1",
                        "LAKESIGHT_WEBHDFS_BACKOFF_S": "0.05"}.items():  # fmt: skip
        monkeypatch.setenv(name, value)
    sensor = LakePartitionSensor(task_id="wait", dataset="raw/images", dt="2026-03-02")
    with webhdfs_server.faults(Fault("stall", times=None)):
        started = time.monotonic()
        with pytest.raises(StorageError) as err:
            sensor.poke({})
        took = time.monotonic() - started
    assert _one_line(err.value).startswith(
        "webhdfs GETFILESTATUS /poke/raw/images/dt=2026-03-02: no answer within 0.5 s"
    )
    assert took <= WebHdfsPolicy(0.5, 1, 0.05).bound_s() + 0.5
