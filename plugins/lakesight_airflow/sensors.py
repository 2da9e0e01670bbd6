"""LakePartitionSensor: wait until a date partition of a lake dataset is there."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from airflow.sdk import BaseSensorOperator

from lakesight_airflow.hooks import LakeFileSystemHook

if TYPE_CHECKING:
    from airflow.sdk import Context


class LakePartitionSensor(BaseSensorOperator):
    """Poke until ``<root>/<dataset>/dt=<dt>`` exists (and holds ``_SUCCESS`` if asked).

    :param dataset: ``zone/name``, e.g. ``raw/images``.
    :param dt: partition date; templated, usually ``{{ ds }}``.
    :param require_success: wait for the ``_SUCCESS`` marker, as for a lakesight
        output. Raw drops from outside usually have none, so the default is False.
    :param required_file: a file the partition must hold, e.g. ``listings.csv``: the
        file an exporter writes last, or the one a day cannot start without.
    """

    template_fields: Sequence[str] = ("dataset", "dt")

    def __init__(
        self,
        *,
        dataset: str,
        dt: str = "{{ ds }}",
        require_success: bool = False,
        required_file: str | None = None,
        webhdfs_conn_id: str = LakeFileSystemHook.default_conn_name,
        **kwargs,
    ) -> None:
        super().__init__(**kwargs)
        self.dataset = dataset
        self.dt = dt
        self.require_success = require_success
        self.required_file = required_file
        self.webhdfs_conn_id = webhdfs_conn_id

    def poke(self, context: Context) -> bool:
        from lakesight.config import validate_dt
        from lakesight.lake import SUCCESS_MARKER, join

        hook = LakeFileSystemHook(self.webhdfs_conn_id)
        zone, _, name = self.dataset.partition("/")
        partition = hook.settings.partition_uri(zone, name, validate_dt(self.dt))
        fs = hook.get_filesystem(partition)
        marker = SUCCESS_MARKER if self.require_success else self.required_file
        target = join(partition, marker) if marker else partition
        self.log.info("Poking for %s", target)
        return fs.exists(target)
