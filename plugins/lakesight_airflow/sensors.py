"""LakePartitionSensor: wait until a date partition of a lake dataset is whole."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta
from typing import TYPE_CHECKING

from airflow.sdk import BaseSensorOperator

from lakesight_airflow.hooks import LakeFileSystemHook

if TYPE_CHECKING:
    from airflow.sdk import Context

    from lakesight.lake import LakeFileSystem

# The day a daily run processes. Under CronDataIntervalTimetable a scheduled run is made
# once its interval [D, D+1) has ended, and D is the interval's start. A manual run
# (`airflow dags test DAG D`, the UI's trigger) processes the day D it names: Airflow
# gives it the interval *before* D, which is not what a person asking for D means. A
# manual run without a logical date (Airflow 3 allows it) takes its interval: the last
# ended day before it was triggered. Backfill runs have logical date == interval start.
DAY = (
    "{{ (data_interval_start if dag_run.run_type == 'scheduled' or not logical_date"
    " else logical_date) | ds }}"
)

# A poke lists one partition: far less than this, unless storage stalls. In reschedule
# mode each poke is a try of its own, so this bounds one poke, not the whole wait.
POKE_TIMEOUT = timedelta(minutes=10)


def in_flight(relative_path: str) -> bool:
    """Whether a file (path relative to the partition) is still being written by a copier:
    ``hdfs dfs -put``'s ``*._COPYING_``, ``*.tmp``, or anything under a ``_temporary/``
    folder (Hadoop's output committers). Hidden ``.``-prefixed files are not: tools leave
    lasting ones (``.crc`` checksums, ``.DS_Store``) that would hold a day forever; a
    partial file still growing is caught by the quiet period."""
    parts = relative_path.strip("/").split("/")
    return parts[-1].endswith(("._COPYING_", ".tmp")) or "_temporary" in parts[:-1]


def _folder_mtime(fs: LakeFileSystem, uri: str) -> float | None:
    """The partition folder's own modification time (it moves when an entry is added,
    renamed or removed), where the file system tells it."""
    import os

    from lakesight.lake import LocalFileSystem, WebHdfsFileSystem, uri_path

    if isinstance(fs, LocalFileSystem):
        return os.stat(uri_path(uri)).st_mtime
    if isinstance(fs, WebHdfsFileSystem):
        status = fs.client.status(uri_path(uri) or "/", strict=False)
        millis = (status or {}).get("modificationTime")
        return millis / 1000 if millis is not None else None
    return None


def drop_status(
    fs: LakeFileSystem,
    partition: str,
    *,
    marker: str | None,
    quiet_s: float | None,
    now: float,
    required_file: str | None = None,
) -> tuple[bool, str]:
    """``(whole, why)`` for a raw drop at ``partition``.

    Whole when ``required_file`` (if any) is there and either the producer's ``marker``
    is there, or (``quiet_s`` not None) no file is in flight and nothing was added or
    changed for ``quiet_s`` seconds before ``now``. An empty folder that stays quiet is
    a whole, empty day.
    """
    from lakesight.lake import uri_path

    if not fs.exists(partition):
        return False, "no partition yet"
    entries = fs.list_files(partition)
    prefix = uri_path(partition).rstrip("/") + "/"
    names = {uri_path(e.uri).removeprefix(prefix) for e in entries}
    if required_file and required_file not in names:
        return False, f"no {required_file} yet"
    if marker and marker in names:
        return True, f"whole: the producer's marker {marker} is there"
    if quiet_s is None:
        return False, f"no marker {marker} yet"
    flying = sorted(n for n in names if in_flight(n))
    if flying:
        return False, f"{len(flying)} file(s) still in flight, e.g. {flying[0]}"
    times = [e.mtime for e in entries if e.mtime is not None]
    folder = _folder_mtime(fs, partition)
    if folder is not None:
        times.append(folder)
    if not times:
        return False, f"no modification times from {type(fs).__name__}: waiting for {marker}"
    quiet_for = now - max(times)
    if quiet_for < quiet_s:
        return False, (
            f"{len(entries)} file(s), last change {quiet_for:.0f}s ago: "
            f"waiting for {quiet_s:.0f}s without changes (or {marker})"
        )
    return True, f"whole: {len(entries)} file(s), no change for {quiet_for:.0f}s"


class LakePartitionSensor(BaseSensorOperator):
    """Poke until the partition ``<root>/<dataset>/dt=<dt>`` is whole.

    Whole means: the producer's marker is there (``marker``, else ``LAKESIGHT_DROP_MARKER``,
    default ``_SUCCESS``); or, for a producer that writes none, no file is in flight
    (``*._COPYING_``, ``*.tmp``, ``_temporary/``) and nothing in the partition was added
    or changed for ``quiet_min`` minutes (else ``LAKESIGHT_DROP_QUIET_MIN``, default 10).

    How "changed" is observed across pokes: each poke compares the newest modification
    time in the partition (every file's, and the folder's own, which moves when an entry
    is added, renamed or removed) with the worker's clock. That needs no state carried
    from one poke to the next, so it holds in reschedule mode, across retries and on
    another worker. Local files give ``st_mtime``; WebHDFS gives each FileStatus's
    ``modificationTime`` (the namenode's clock: a skew between it and the worker
    lengthens or shortens the quiet period by as much). A copy still being written keeps
    moving its file's time; a copy stalled for longer than the quiet period is caught by
    its in-flight name.

    :param dataset: ``zone/name``, e.g. ``raw/images``.
    :param dt: partition date; templated, by default :data:`DAY`.
    :param required_file: a file the partition must hold as well, e.g. ``listings.csv``.
    :param marker: the producer's marker file name (default: the setting).
    :param quiet_min: minutes without changes (default: the setting); 0 means "as soon
        as nothing is in flight".
    :param whole: False waits only for the folder (and ``required_file``): for drops
        that grow all day and are read up to a time (radar frames).
    :param require_success: a lakesight output: only ``_SUCCESS`` counts, no quiet period.
    """

    template_fields: Sequence[str] = ("dataset", "dt")

    def __init__(
        self,
        *,
        dataset: str,
        dt: str = DAY,
        required_file: str | None = None,
        marker: str | None = None,
        quiet_min: float | None = None,
        whole: bool = True,
        require_success: bool = False,
        webhdfs_conn_id: str = LakeFileSystemHook.default_conn_name,
        **kwargs,
    ) -> None:
        super().__init__(**kwargs)
        self.dataset = dataset
        self.dt = dt
        self.required_file = required_file
        self.marker = marker
        self.quiet_min = quiet_min
        self.whole = whole
        self.require_success = require_success
        self.webhdfs_conn_id = webhdfs_conn_id
        if self.execution_timeout is None:
            # A stalled namenode must fail the poke, not hold a worker slot forever. In
            # poke mode the whole wait is one try: its own timeout, plus one poke.
            self.execution_timeout = (
                POKE_TIMEOUT
                if self.mode == "reschedule"
                else timedelta(seconds=self.timeout) + POKE_TIMEOUT
            )

    def poke(self, context: Context) -> bool:
        import time

        from lakesight.config import validate_dt
        from lakesight.lake import SUCCESS_MARKER, join

        hook = LakeFileSystemHook(self.webhdfs_conn_id)
        settings = hook.settings
        zone, _, name = self.dataset.partition("/")
        partition = settings.partition_uri(zone, name, validate_dt(self.dt))
        fs = hook.get_filesystem(partition)
        if not self.whole:
            target = join(partition, self.required_file) if self.required_file else partition
            self.log.info("Poking for %s", target)
            return fs.exists(target)
        if self.require_success:
            marker, quiet_s = SUCCESS_MARKER, None
        else:
            marker = self.marker or settings.drop_marker
            quiet_min = settings.drop_quiet_min if self.quiet_min is None else self.quiet_min
            quiet_s = quiet_min * 60
        done, why = drop_status(
            fs, partition, marker=marker, quiet_s=quiet_s, now=time.time(),
            required_file=self.required_file,
        )  # fmt: skip
        self.log.info("%s: %s", partition, why)
        return done
