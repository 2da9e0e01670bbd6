"""LakePartitionSensor waits for a whole raw drop: the producer's marker, or a quiet
period with nothing in flight; on a file:// lake and over WebHDFS (loopback server).

Time passes by moving modification times back (``os.utime`` on the files behind the
lake), so the quiet period is judged exactly as in production: from the listing."""

from __future__ import annotations

import os
import time
import uuid
from pathlib import Path

import pytest

from lakesight.config import ConfigError, load_settings
from lakesight.lake import join, uri_path
from lakesight_airflow.hooks import LakeFileSystemHook
from lakesight_airflow.sensors import POKE_TIMEOUT, LakePartitionSensor, in_flight

pytestmark = pytest.mark.airflow

DT = "2026-03-02"


class Drop:
    """``raw/images/dt=DT`` of a fresh lake, and what a producer does to it."""

    def __init__(self, root: str, local_of) -> None:
        self.settings = load_settings()
        assert self.settings.root == root
        self.partition = self.settings.partition_uri("raw", "images", DT)
        self.fs = LakeFileSystemHook().get_filesystem(self.partition)
        self._local_of = local_of

    def write(self, name: str, data: bytes = b"\xff\xd8 bytes") -> None:
        self.fs.write_bytes(join(self.partition, name), data)

    def age(self, minutes: float) -> None:
        """Every file and folder of the partition last changed ``minutes`` ago."""
        then = time.time() - minutes * 60
        top = self._local_of(self.partition)
        for dirpath, _dirs, files in os.walk(top):
            for name in files:
                os.utime(Path(dirpath, name), (then, then))
        for dirpath, _dirs, _files in sorted(os.walk(top), reverse=True):  # deepest first
            os.utime(dirpath, (then, then))

    def poke(self, **kwargs) -> bool:
        sensor = LakePartitionSensor(
            task_id=f"wait_{uuid.uuid4().hex[:6]}", dataset="raw/images", dt=DT, **kwargs
        )
        return sensor.poke({})


@pytest.fixture(params=["local", pytest.param("webhdfs-loopback", marks=pytest.mark.hdfs)])
def drop(request, tmp_path, monkeypatch) -> Drop:
    monkeypatch.delenv("AIRFLOW_CONN_WEBHDFS_DEFAULT", raising=False)
    for name in ("LAKESIGHT_DROP_MARKER", "LAKESIGHT_DROP_QUIET_MIN"):
        monkeypatch.delenv(name, raising=False)
    if request.param == "local":
        root = (tmp_path / "lake").as_uri()
        local_of = lambda uri: Path(uri_path(uri))  # noqa: E731
    else:
        server = request.getfixturevalue("webhdfs_server")
        root = f"webhdfs://{server.url.removeprefix('http://')}/t/{uuid.uuid4().hex}"
        local_of = lambda uri: server.local_path(uri_path(uri))  # noqa: E731
    monkeypatch.setenv("LAKESIGHT_ROOT", root)
    return Drop(root, local_of)


def test_no_partition_is_not_a_drop(drop):
    assert drop.poke() is False
    assert drop.poke(whole=False) is False


def test_the_producers_marker_makes_a_drop_whole_at_once(drop):
    drop.write("a.jpg")
    assert drop.poke() is False  # just written, no marker: not quiet yet
    drop.write("_SUCCESS", b"")
    assert drop.poke() is True


def test_a_marker_named_in_the_settings_or_on_the_sensor(drop, monkeypatch):
    drop.write("a.jpg")
    drop.write("_DONE", b"")
    assert drop.poke() is False  # _SUCCESS is the default marker, _DONE is just a file
    assert drop.poke(marker="_DONE") is True
    monkeypatch.setenv("LAKESIGHT_DROP_MARKER", "_DONE")
    assert drop.poke() is True


def test_without_a_marker_a_drop_is_whole_once_quiet(drop):
    drop.write("a.jpg")
    drop.write("sub/b.jpg")
    drop.age(minutes=9)
    assert drop.poke() is False  # default quiet period: 10 minutes
    drop.age(minutes=11)
    assert drop.poke() is True


def test_the_quiet_period_is_a_setting_and_a_sensor_argument(drop, monkeypatch):
    drop.write("a.jpg")
    drop.age(minutes=3)
    assert drop.poke() is False
    assert drop.poke(quiet_min=2) is True
    monkeypatch.setenv("LAKESIGHT_DROP_QUIET_MIN", "2.5")
    assert drop.poke() is True
    assert drop.poke(quiet_min=5) is False  # the sensor's own wins over the setting


@pytest.mark.parametrize("name", ["x.jpg._COPYING_", "y.tmp", "_temporary/0/task_1/z.jpg"])
def test_a_file_in_flight_holds_the_drop_even_when_quiet(drop, name):
    drop.write("a.jpg")
    drop.write(name)
    drop.age(minutes=60)
    assert drop.poke() is False
    assert drop.poke(quiet_min=0) is False
    drop.fs.delete(join(drop.partition, name.split("/")[0]))  # the copier finished or gave up
    drop.age(minutes=60)
    assert drop.poke() is True


def test_a_late_file_starts_the_quiet_period_again(drop):
    drop.write("a.jpg")
    drop.age(minutes=11)
    assert drop.poke() is True
    drop.write("late.jpg")  # the producer was not done after all
    assert drop.poke() is False
    drop.age(minutes=11)
    assert drop.poke() is True


def test_a_quiet_empty_folder_is_a_whole_empty_day(drop):
    drop.fs.mkdirs(drop.partition)
    assert drop.poke() is False  # just created: a producer may be about to copy
    drop.age(minutes=11)
    assert drop.poke() is True


def test_a_required_file_is_needed_as_well(drop):
    drop.write("photos/a.jpg")
    drop.write("_SUCCESS", b"")
    drop.age(minutes=60)
    assert drop.poke(required_file="listings.csv") is False
    drop.write("listings.csv", b"listing_id\n")
    assert drop.poke(required_file="listings.csv") is True  # the marker says whole
    assert drop.poke(required_file="listings.csv", marker="_NONE") is False  # not quiet


def test_whole_false_waits_for_the_folder_only(drop):
    drop.write("0000.png")
    assert drop.poke() is False
    assert drop.poke(whole=False) is True


def test_require_success_takes_only_the_marker(drop):
    drop.write("a.jpg")
    drop.age(minutes=60)
    assert drop.poke(require_success=True) is False
    drop.write("_SUCCESS", b"")
    assert drop.poke(require_success=True) is True


def test_in_flight_names():
    assert in_flight("x.jpg._COPYING_") and in_flight("y.tmp")
    assert in_flight("_temporary/0/_temporary/attempt_1/part-0000")
    assert in_flight("photos/a.jpg.tmp")
    assert not in_flight("a.jpg") and not in_flight("tmp.jpg") and not in_flight("_temporary")
    assert not in_flight(".a.jpg.crc")  # lasting hidden files must not hold a day forever


def test_every_sensor_has_an_execution_timeout():
    from datetime import timedelta

    rescheduled = LakePartitionSensor(task_id="a", dataset="raw/images", mode="reschedule")
    assert rescheduled.execution_timeout == POKE_TIMEOUT
    poking = LakePartitionSensor(task_id="b", dataset="raw/images", timeout=timedelta(hours=1))
    assert poking.execution_timeout == timedelta(hours=1) + POKE_TIMEOUT
    explicit = LakePartitionSensor(
        task_id="c", dataset="raw/images", execution_timeout=timedelta(minutes=1)
    )
    assert explicit.execution_timeout == timedelta(minutes=1)


@pytest.mark.parametrize(
    ("name", "value", "error"),
    [
        ("LAKESIGHT_DROP_QUIET_MIN", "-1", "LAKESIGHT_DROP_QUIET_MIN: expected minutes >= 0"),
        ("LAKESIGHT_DROP_QUIET_MIN", "soon", "LAKESIGHT_DROP_QUIET_MIN: expected minutes >= 0"),
        ("LAKESIGHT_DROP_MARKER", "a/_SUCCESS", "LAKESIGHT_DROP_MARKER: expected a file name"),
    ],
)
def test_drop_settings_are_checked(name, value, error):
    with pytest.raises(ConfigError, match=error) as err:
        load_settings({name: value})
    assert "\n" not in str(err.value)


def test_drop_settings_defaults_and_values():
    assert (load_settings({}).drop_marker, load_settings({}).drop_quiet_min) == ("_SUCCESS", 10.0)
    custom = load_settings({"LAKESIGHT_DROP_MARKER": "_DONE", "LAKESIGHT_DROP_QUIET_MIN": "0"})
    assert (custom.drop_marker, custom.drop_quiet_min) == ("_DONE", 0.0)
