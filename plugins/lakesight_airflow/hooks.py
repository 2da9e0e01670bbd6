"""LakeFileSystemHook: the lake's storage from an Airflow worker (no JVM there).

It owns the ``webhdfs_default`` connection, the one Airflow's HDFS provider
uses too. Resolution order, as in the providers: explicit arguments, then the
connection, then lakesight settings (``LAKESIGHT_WEBHDFS_*``), then defaults
derived from ``LAKESIGHT_ROOT``. A missing connection is not an error: the
embedded defaults apply.

Connection fields: host (comma-separated for HA namenodes, each optionally
``host:port``), port (default
9870), login (the HDFS user for insecure clusters), extras ``use_ssl`` and
``auth`` ("insecure" or "kerberos").

Every request the file system makes has lakesight's WebHDFS timeout and retries
(``LAKESIGHT_WEBHDFS_TIMEOUT_S``, ``_RETRIES``, ``_BACKOFF_S``), so a stalled
namenode fails a sensor's poke with one line instead of holding a worker slot.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any
from urllib.parse import urlparse

from airflow.sdk import BaseHook

if TYPE_CHECKING:
    from lakesight.config import Settings
    from lakesight.lake import LakeFileSystem


class LakeFileSystemHook(BaseHook):
    """File-system access to a lakesight root: local, or WebHDFS (optionally Kerberos)."""

    conn_name_attr = "webhdfs_conn_id"
    default_conn_name = "webhdfs_default"
    conn_type = "webhdfs"
    hook_name = "lakesight lake (WebHDFS)"

    def __init__(
        self,
        webhdfs_conn_id: str = default_conn_name,
        *,
        url: str | None = None,
        user: str | None = None,
        auth: str | None = None,
        settings: Settings | None = None,
    ) -> None:
        super().__init__()
        self.webhdfs_conn_id = webhdfs_conn_id
        self._url, self._user, self._auth = url, user, auth
        self._settings = settings

    @property
    def settings(self) -> Settings:
        if self._settings is None:
            from lakesight.config import load_settings

            self._settings = load_settings()
        return self._settings

    def _connection_params(self) -> dict[str, Any]:
        from airflow.sdk.exceptions import AirflowNotFoundException

        try:
            conn = self.get_connection(self.webhdfs_conn_id)
        except AirflowNotFoundException:
            self.log.info("No %s connection; using lakesight settings", self.webhdfs_conn_id)
            return {}
        extra = conn.extra_dejson
        scheme = (
            "https" if str(extra.get("use_ssl", "")).lower() in ("1", "true", "yes") else "http"
        )
        port = conn.port or 9870
        hosts = [h.strip() for h in (conn.host or "").split(",") if h.strip()]
        params: dict[str, Any] = {}
        if hosts:
            # HdfsCLI tries ';'-separated URLs in turn: that is its HA namenode support.
            params["url"] = ";".join(
                f"{scheme}://{h if ':' in h else f'{h}:{port}'}" for h in hosts
            )
        if conn.login:
            params["user"] = conn.login
        if extra.get("auth"):
            from lakesight.config import SUPPORTED_WEBHDFS_AUTH, ConfigError

            params["auth"] = str(extra["auth"]).lower()
            if params["auth"] not in SUPPORTED_WEBHDFS_AUTH:
                raise ConfigError(
                    f"{self.webhdfs_conn_id} connection: extra 'auth' must be one of "
                    f"{', '.join(SUPPORTED_WEBHDFS_AUTH)}, got {extra['auth']!r}"
                )
        return params

    def get_filesystem(self, uri: str | None = None) -> LakeFileSystem:
        """The file system for ``uri`` (default: the lake root)."""
        from lakesight.lake import (
            LocalFileSystem,
            WebHdfsFileSystem,
            WebHdfsPolicy,
            make_webhdfs_client,
            webhdfs_url_for,
        )

        uri = uri or self.settings.root
        if urlparse(uri).scheme == "file":
            return LocalFileSystem()
        conn = self._connection_params()
        url = self._url or conn.get("url") or webhdfs_url_for(uri, self.settings)
        auth = self._auth or conn.get("auth") or self.settings.webhdfs_auth
        user = self._user or conn.get("user") or self.settings.webhdfs_user
        policy = WebHdfsPolicy.from_settings(self.settings)
        return WebHdfsFileSystem(make_webhdfs_client(url, auth=auth, user=user, policy=policy))
