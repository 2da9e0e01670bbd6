"""The lake: file systems behind one small interface, and the partition commit protocol.

Three file systems implement :class:`LakeFileSystem`:

- :class:`LocalFileSystem` for ``file://`` (the embedded default);
- :class:`WebHdfsFileSystem` for ``webhdfs://`` and ``hdfs://`` from plain Python
  (Airflow sensors, the CLI, consumers), through HdfsCLI;
- :class:`HadoopFileSystem` for any Hadoop scheme from a Spark driver, through the
  JVM's ``org.apache.hadoop.fs.FileSystem``, so a stage uses the very client that
  its executors write with.

Commit protocol (:class:`PartitionWriter`), the same on every file system::

    <dataset>/_leases/dt=D/<gen>.json   the writer's lease on the day (created
                                        exclusively, renewed; the generation fences)
    <dataset>/_staging/dt=D.<run_id>/   the stage writes here, then _manifest.json
                                        and _SUCCESS: the staged copy is whole
    <dataset>/dt=D/                     under the lease, rename the old partition to
                                        _trash/, then the staged one into place
    <dataset>/_trash/dt=D.<run_id>/     the previous partition, deleted last

Names starting with ``_`` are ignored by Spark, Hive and pyarrow's dataset
discovery, so neither staging, trash nor leases are ever read as data.

- A failure anywhere in the commit (an exception: disk full, an HDFS error, a
  timeout) puts the old partition back before the error propagates.
- A writer killed between the two renames (no ``except`` runs) leaves ``dt=D``
  absent and its last good copy in ``_trash/``: readers read that copy
  (:func:`resolve_partition`), and the day's next writer puts it back
  (:func:`recover_partition`, run first under the lease).
- Two writers of one ``(dataset, dt)`` never interleave: the second waits for the
  lease or fails fast naming the run that holds it (:class:`Lease`), and a writer
  that lost its lease while stalled is refused at commit.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import shutil
import time
import uuid
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Protocol
from urllib.parse import quote, unquote, urlparse

from lakesight.config import SUPPORTED_WEBHDFS_AUTH, ConfigError, Settings

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

SUCCESS_MARKER = "_SUCCESS"
MANIFEST_NAME = "_manifest.json"
STAGING_DIR = "_staging"
TRASH_DIR = "_trash"

# Default HTTP port of the namenode's WebHDFS endpoint (Hadoop 3).
DEFAULT_WEBHDFS_PORT = 9870


class StorageError(RuntimeError):
    """A file-system operation failed in a way the caller cannot repair."""


@dataclass(frozen=True)
class FileEntry:
    """One file of a listing: its URI (in the file system's own spelling) and size."""

    uri: str
    size: int
    # Last modification, seconds since the epoch, where the listing gives it (the DAGs'
    # sensors judge a raw drop's quiet period by it); not part of equality.
    mtime: float | None = field(default=None, compare=False)


class LakeFileSystem(Protocol):
    """The few operations the lake needs; every URI is absolute."""

    def exists(self, uri: str) -> bool: ...
    def list_files(self, uri: str) -> list[FileEntry]:
        """Every file under ``uri``, recursively, hidden names included."""
        ...

    def list_dirs(self, uri: str) -> list[str]:
        """Names (not URIs) of the immediate sub-directories of ``uri``."""
        ...

    def mkdirs(self, uri: str) -> None: ...
    def rename(self, src: str, dst: str) -> None:
        """Move ``src`` to ``dst``; ``dst`` must not exist."""
        ...

    def delete(self, uri: str) -> None:
        """Delete a file or a directory tree; missing is fine."""
        ...

    def write_bytes(self, uri: str, data: bytes) -> None: ...
    def read_bytes(self, uri: str) -> bytes:
        """The whole file; ``FileNotFoundError`` when ``uri`` is missing, on every file system."""
        ...

    def read_range(self, uri: str, offset: int, length: int) -> bytes:
        """``length`` bytes of ``uri`` from ``offset`` (within the file), never fewer."""
        ...

    def create_exclusive(self, uri: str, data: bytes) -> bool:
        """Create a file holding ``data`` only if nothing is there: True if this call
        created it, False if it existed. Atomic against other writers (leases rely on it)."""
        ...


def join(uri: str, *parts: str) -> str:
    """Join URI path segments with exactly one slash between them."""
    out = uri.rstrip("/")
    for part in parts:
        out = f"{out}/{part.strip('/')}"
    return out


def uri_path(uri: str) -> str:
    """The decoded path of a URI (``file:/a%20b`` and ``file:///a b`` give ``/a b``).

    Hadoop spells paths unencoded, so a file name may hold ``#`` or ``?``: only the
    scheme and authority are stripped, never a "fragment" or "query".
    """
    if "://" in uri:
        rest = uri.split("://", 1)[1]
        path = rest[rest.index("/") :] if "/" in rest else "/"
    elif ":" in uri.split("/", 1)[0]:  # file:/path, as Hadoop writes local paths
        path = uri.split(":", 1)[1]
    else:
        return uri
    return unquote(path)


# What path_uri leaves unencoded besides letters, digits and "-._~".
PATH_SAFE = "/!$&'()*,;=:@"


def path_uri(location: str) -> str:
    """The URI lakesight publishes in ``path`` columns for a file Hadoop spells ``location``.

    Hadoop and Spark print paths unencoded (``file:/d/a#b.jpg``, ``.../sale%20x.jpg``), which
    a URI parser (pyarrow, fsspec, urllib) reads as another file. Published paths are URIs:
    every character of the path percent-encoded as UTF-8 but ASCII letters, digits, ``/`` and
    the ones RFC 3986 allows in a path as they are (``-._~!$&'()*,;=:@``; ``dt=D`` stays
    readable): ``%``, ``#``, ``?``, spaces, ``+`` and non-ASCII letters are encoded (pyarrow
    refuses raw non-ASCII). Local files are spelled ``file:///``. :func:`uri_path` decodes
    them again; :func:`hadoop_location` gives Hadoop's spelling back."""
    head, path = _split_location(location)
    return head + quote(path, safe=PATH_SAFE)


def hadoop_location(uri: str) -> str:
    """Hadoop's (and Spark's ``binaryFile``) spelling of a published URI: ``Path(...)`` takes
    this decoded form; ``new Path(new URI(uri))`` would take the URI itself."""
    head, _ = _split_location(uri)
    return ("file:" if head == "file://" else head) + uri_path(uri)


def spelled_path(location: str) -> str:
    """The path part of a URI as spelled, nothing decoded (for comparing two Hadoop spellings)."""
    return _split_location(location)[1]


def _split_location(location: str) -> tuple[str, str]:
    """``(scheme://authority, path)`` of a URI or Hadoop location; ``file:/p`` gives ``file://``."""
    if "://" in location:
        scheme, rest = location.split("://", 1)
        cut = rest.find("/")
        authority, path = (rest, "/") if cut < 0 else (rest[:cut], rest[cut:])
        return f"{scheme}://{authority}", path
    if ":" in location.split("/", 1)[0]:  # file:/path, as Hadoop writes local paths
        scheme, path = location.split(":", 1)
        return f"{scheme}://", path
    return "", location


def is_hidden(relative_path: str) -> bool:
    """Whether Hadoop/Spark file listing skips this path (any component hidden)."""
    for part in PurePosixPath(relative_path).parts:
        if part.startswith(".") or part.endswith("._COPYING_"):
            return True
        if part.startswith("_") and "=" not in part:
            return True
    return False


def unread_files(
    raw_uri: str, listing: list[FileEntry], max_bytes: int
) -> list[tuple[FileEntry, str, str]]:
    """``(entry, reason, detail)`` of the listed files Spark's file sources will not read:
    hidden names (``hidden_file``), empty files (``empty_file``; Spark skips them, so they
    never reach a decoder) and files above ``max_bytes`` (``file_too_large``, left unread)."""
    # The listing spells paths as its file system does (Hadoop: unencoded); compare spellings.
    raw_prefix = spelled_path(raw_uri).rstrip("/") + "/"
    unread = []
    for entry in listing:
        if is_hidden(spelled_path(entry.uri).removeprefix(raw_prefix)):
            unread.append(
                (entry, "hidden_file", "hidden name (starts with '_' or '.'); never read")
            )
        elif entry.size == 0:
            unread.append((entry, "empty_file", "0 bytes"))
        elif entry.size > max_bytes:
            unread.append((entry, "file_too_large", f"{entry.size} bytes > {max_bytes}"))
    return unread


# --------------------------------------------------------------------------- local


class LocalFileSystem:
    """``file://`` URIs on a local or shared (NFS) disk."""

    @staticmethod
    def _path(uri: str) -> Path:
        return Path(uri_path(uri))

    def exists(self, uri: str) -> bool:
        return self._path(uri).exists()

    def list_files(self, uri: str) -> list[FileEntry]:
        root = self._path(uri)
        if root.is_file():
            st = root.stat()
            return [FileEntry(root.as_uri(), st.st_size, st.st_mtime)]
        entries = []
        for dirpath, _dirnames, filenames in os.walk(root):
            for name in filenames:
                path = Path(dirpath, name)
                try:
                    st = path.stat()
                except FileNotFoundError:  # renamed away since the walk saw it (a temp file)
                    continue
                entries.append(FileEntry(path.as_uri(), st.st_size, st.st_mtime))
        return sorted(entries, key=lambda e: e.uri)

    def list_dirs(self, uri: str) -> list[str]:
        root = self._path(uri)
        if not root.is_dir():
            return []
        return sorted(p.name for p in root.iterdir() if p.is_dir())

    def mkdirs(self, uri: str) -> None:
        self._path(uri).mkdir(parents=True, exist_ok=True)

    def rename(self, src: str, dst: str) -> None:
        src_path, dst_path = self._path(src), self._path(dst)
        if dst_path.exists():
            raise StorageError(f"rename {src} -> {dst}: destination exists")
        dst_path.parent.mkdir(parents=True, exist_ok=True)
        os.rename(src_path, dst_path)

    def delete(self, uri: str) -> None:
        path = self._path(uri)
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path)
        elif path.exists() or path.is_symlink():
            path.unlink()

    def write_bytes(self, uri: str, data: bytes) -> None:
        path = self._path(uri)
        path.parent.mkdir(parents=True, exist_ok=True)
        # Write-then-rename so a reader never sees a torn marker or manifest.
        tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp")
        tmp.write_bytes(data)
        os.replace(tmp, path)

    def read_bytes(self, uri: str) -> bytes:
        return self._path(uri).read_bytes()

    def read_range(self, uri: str, offset: int, length: int) -> bytes:
        with self._path(uri).open("rb") as file:
            file.seek(offset)
            data = file.read(length)
        if len(data) != length:
            raise StorageError(f"read {uri}: {len(data)} of {length} bytes at {offset}")
        return data

    def create_exclusive(self, uri: str, data: bytes) -> bool:
        path = self._path(uri)
        path.parent.mkdir(parents=True, exist_ok=True)
        # link(2) fails if the name exists, and the file it publishes is already whole.
        tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp")
        tmp.write_bytes(data)
        try:
            os.link(tmp, path)
        except FileExistsError:
            return False
        finally:
            tmp.unlink()
        return True


# --------------------------------------------------------------------------- webhdfs


def webhdfs_url_for(root: str, settings: Settings | None = None) -> str:
    """The WebHDFS HTTP endpoint serving ``root``.

    ``LAKESIGHT_WEBHDFS_URL`` wins. Otherwise ``webhdfs://host:port`` maps to
    ``http://host:port`` and ``hdfs://host[:rpc]`` to ``http://host:9870``,
    Hadoop 3's default namenode HTTP port.
    """
    if settings is not None and settings.webhdfs_url:
        return settings.webhdfs_url
    parsed = urlparse(root)
    if parsed.scheme == "webhdfs":  # Hadoop's webhdfs:// defaults to the namenode's HTTP port too
        return f"http://{parsed.hostname}:{parsed.port or DEFAULT_WEBHDFS_PORT}"
    if parsed.scheme == "hdfs":
        return f"http://{parsed.hostname}:{DEFAULT_WEBHDFS_PORT}"
    raise ConfigError(f"LAKESIGHT_ROOT: no WebHDFS endpoint for {root!r}")


@dataclass(frozen=True)
class WebHdfsPolicy:
    """How long one WebHDFS request may take, and how a transient failure is retried.

    Transient: an HTTP 5xx, a refused or reset connection, a timeout, an answer cut
    short of its Content-Length. A 4xx is an answer (a missing file is not retried).
    A call that keeps failing raises :class:`WebHdfsError` after ``retries + 1``
    attempts, so a stalled namenode costs at most about :meth:`bound_s`.
    """

    # Seconds to connect, and separately for each read of the answer (requests' pair).
    timeout_s: float = 30.0
    # Retries after the first attempt; 0 means one attempt.
    retries: int = 4
    # The first wait between attempts, doubled each retry, jittered down to half of it so
    # that many clients failed by one namenode hiccup do not come back in step.
    backoff_s: float = 0.5

    @classmethod
    def from_settings(cls, settings: Settings) -> WebHdfsPolicy:
        return cls(settings.webhdfs_timeout_s, settings.webhdfs_retries, settings.webhdfs_backoff_s)

    @property
    def attempts(self) -> int:
        return self.retries + 1

    def delay(self, retry: int, retry_after: float | None = None) -> float:
        """Seconds to wait before retry number ``retry`` (1, 2, ...).

        A 503's ``Retry-After`` is honoured, but never beyond the timeout: a server that
        asks for longer than we would wait for an answer counts as down.
        """
        import random

        wait = self.backoff_s * 2 ** (retry - 1) * random.uniform(0.5, 1.0)
        if retry_after is not None:
            wait = max(wait, min(retry_after, self.timeout_s))
        return wait

    def bound_s(self) -> float:
        """The longest one request can take before it fails: every attempt times out
        (a stalled server accepts the connection, then never answers) and every wait is
        its longest (the timeout, when a 503 asks for more)."""
        waits = sum(
            max(self.backoff_s * 2 ** (r - 1), self.timeout_s) for r in range(1, self.attempts)
        )
        return self.timeout_s * self.attempts + waits


class WebHdfsError(StorageError):
    """A WebHDFS call that failed transiently on every attempt; one line for the user."""

    def __init__(self, op: str, path: str, endpoint: str, cause: str, attempts: int) -> None:
        self.op, self.path, self.endpoint, self.cause, self.attempts = (
            op, path, endpoint, cause, attempts,
        )  # fmt: skip
        tries = f"{attempts} attempt{'s' if attempts != 1 else ''}"
        super().__init__(f"webhdfs {op} {path}: {cause} from {endpoint} after {tries}")

    def after(self, attempts: int, cause: str | None = None) -> WebHdfsError:
        """The same failure, counted over the caller's own attempts."""
        return WebHdfsError(self.op, self.path, self.endpoint, cause or self.cause, attempts)


# WebHDFS operations that change state in a way a blind resend can misreport: a RENAME
# whose answer was lost answers "false" the second time, a CREATE with overwrite=false
# "already exists". They get one attempt per request; WebHdfsFileSystem retries them
# after checking what the first attempt did.
_NOT_RESENT = frozenset({"RENAME", "APPEND", "CONCAT", "TRUNCATE", "CREATESNAPSHOT",
                         "RENAMESNAPSHOT"})  # fmt: skip


def _request_facts(method: str, url: str, params: dict | None) -> tuple[str, str, str, bool]:
    """(op, HDFS path, endpoint, resendable) of one WebHDFS request."""
    from urllib.parse import parse_qs

    parsed = urlparse(url)
    query = {k.lower(): v[-1] for k, v in parse_qs(parsed.query).items()}
    query.update({k.lower(): str(v) for k, v in (params or {}).items()})
    op = query.get("op", method).upper()
    path = unquote(parsed.path.split("/webhdfs/v1", 1)[-1]) or "/"
    resendable = op not in _NOT_RESENT and not (
        op == "CREATE" and query.get("overwrite", "false").lower() != "true"
    )
    return op, path, f"{parsed.scheme}://{parsed.netloc}", resendable


def _transient_cause(err: Exception, timeout_s: float) -> str | None:
    """What a requests/urllib3 error means, in words; None if it is not transient."""
    import http.client

    import requests
    import urllib3

    if not isinstance(err, OSError | urllib3.exceptions.HTTPError | http.client.HTTPException):
        return None  # requests' errors are OSErrors; anything else is not the network
    if isinstance(err, requests.exceptions.SSLError):
        return None  # a certificate or TLS setup error: the same on every attempt
    text = str(err).lower()
    if isinstance(err, requests.exceptions.Timeout) or "timed out" in text:
        return f"no answer within {timeout_s:g} s (LAKESIGHT_WEBHDFS_TIMEOUT_S)"
    if isinstance(
        err, requests.exceptions.ChunkedEncodingError | urllib3.exceptions.ProtocolError
    ) and ("incomplete" in text or "not enough" in text):
        return "answer cut short of its Content-Length"
    if isinstance(err, requests.exceptions.ConnectionError | urllib3.exceptions.HTTPError):
        if "refused" in text:
            return "connection refused"
        return "connection reset" if "reset" in text or "aborted" in text else "connection lost"
    if isinstance(err, requests.exceptions.ChunkedEncodingError | ConnectionError):
        return "connection lost"
    return None


def _retry_after(value: str | None) -> float | None:
    try:
        return max(0.0, float(value)) if value else None
    except ValueError:  # an HTTP date: rare from a namenode; the backoff applies
        return None


class _RetryingRequests:
    """HdfsCLI client mixin: every HTTP request has a timeout, and a transient failure of
    a request that can be resent is retried with backoff, on the next namenode of an HA
    pair when there is one. HdfsCLI sends every call, and the datanode step of a CREATE,
    through ``_request``, so no call escapes it."""

    policy: WebHdfsPolicy

    def _request(self, method, url, **kwargs):
        op, path, endpoint, resendable = _request_facts(method, url, kwargs.get("params"))
        # A streamed body (a generator, a file) is spent by the first attempt.
        resendable = resendable and isinstance(kwargs.get("data"), bytes | str | None)
        attempts = self.policy.attempts if resendable else 1
        namenodes = [u.rstrip("/") for u in self.urls]
        tried: list[str] = []
        cause, retry_after = "", None
        for attempt in range(1, attempts + 1):
            if attempt > 1:
                time.sleep(self.policy.delay(attempt - 1, retry_after))
                if endpoint in namenodes and len(namenodes) > 1:  # fail over (HA)
                    following = namenodes[(namenodes.index(endpoint) + 1) % len(namenodes)]
                    url, endpoint = following + url[len(endpoint) :], following
            tried.append(endpoint)
            retry_after = None
            try:
                res = super()._request(method, url, **kwargs)
            except Exception as err:
                cause = _transient_cause(err, self.policy.timeout_s)
                if cause is None:
                    raise
                continue
            if res.status_code < 500:
                if endpoint in namenodes and len(namenodes) > 1:
                    with self._lock:  # later calls start from the namenode that answered
                        while self._urls[0].rstrip("/") != endpoint:
                            self._urls.rotate(-1)
                return res
            cause, retry_after = (
                f"HTTP {res.status_code}",
                _retry_after(res.headers.get("Retry-After")),
            )
            res.close()
        raise WebHdfsError(op, path, ";".join(dict.fromkeys(tried)), cause, attempts)


def make_webhdfs_client(
    url: str,
    *,
    auth: str = "insecure",
    user: str | None = None,
    policy: WebHdfsPolicy | None = None,
):
    """An HdfsCLI client for ``url``: insecure (user.name) or Kerberos (SPNEGO), whose every
    request has ``policy``'s timeout and retries (default :class:`WebHdfsPolicy`)."""
    import hdfs

    if auth not in SUPPORTED_WEBHDFS_AUTH:
        raise ConfigError(
            f"LAKESIGHT_WEBHDFS_AUTH: expected one of {', '.join(SUPPORTED_WEBHDFS_AUTH)}, got {auth!r}"
        )
    policy = policy or WebHdfsPolicy()
    timeout = (policy.timeout_s, policy.timeout_s)  # (connect, read)
    if auth == "kerberos":
        try:
            from hdfs.ext.kerberos import KerberosClient
        except ImportError as err:
            raise ConfigError(
                "LAKESIGHT_WEBHDFS_AUTH=kerberos: install the kerberos extra "
                "(pip install 'lakesight[kerberos]'; needs libkrb5-dev)"
            ) from err
        client = _retrying(KerberosClient)(url, timeout=timeout)
    else:
        user = user or os.environ.get("USER") or "lakesight"
        client = _retrying(hdfs.InsecureClient)(url, user=user, timeout=timeout)
    client.policy = policy
    return client


def _retrying(base: type) -> type:
    """``base`` (an HdfsCLI client class) with :class:`_RetryingRequests` in front, made once."""
    made = _RETRYING_CLASSES.get(base)
    if made is None:
        import types

        made = types.new_class(f"Retrying{base.__name__}", (_RetryingRequests, base))
        _RETRYING_CLASSES[base] = made
    return made


_RETRYING_CLASSES: dict[type, type] = {}


def _hdfs_mtime(status: dict) -> float | None:
    """A WebHDFS FileStatus's modificationTime (milliseconds) in seconds."""
    millis = status.get("modificationTime")
    return millis / 1000 if millis is not None else None


class WebHdfsFileSystem:
    """``webhdfs://`` and ``hdfs://`` URIs through the namenode's REST API.

    Every request has a timeout and transient retries (see :class:`WebHdfsPolicy`). Three
    operations need more than resending a request: a read is retried whole when its body
    is cut short; a RENAME or an exclusive CREATE whose answer was lost is retried only
    after looking at what the lost attempt did, so a success is never reported as a
    failure, nor a failure as a success.
    """

    def __init__(self, client) -> None:
        self.client = client
        self.policy: WebHdfsPolicy = getattr(client, "policy", None) or WebHdfsPolicy()

    @classmethod
    def from_settings(cls, settings: Settings, root: str | None = None) -> WebHdfsFileSystem:
        url = webhdfs_url_for(root or settings.root, settings)
        return cls(
            make_webhdfs_client(
                url,
                auth=settings.webhdfs_auth,
                user=settings.webhdfs_user,
                policy=WebHdfsPolicy.from_settings(settings),
            )
        )

    @staticmethod
    def _path(uri: str) -> str:
        return uri_path(uri) or "/"

    def _status(self, uri: str) -> dict | None:
        return self.client.status(self._path(uri), strict=False)

    def exists(self, uri: str) -> bool:
        return self._status(uri) is not None

    def list_files(self, uri: str) -> list[FileEntry]:
        status = self._status(uri)
        if status is None:
            return []
        if status["type"] == "FILE":
            return [FileEntry(uri, int(status["length"]), _hdfs_mtime(status))]
        parsed = urlparse(uri)
        prefix = f"{parsed.scheme}://{parsed.netloc}" if parsed.scheme else ""
        entries = []
        for dirpath, _dirs, files in self.client.walk(self._path(uri), status=True):
            for name, st in files:
                entries.append(
                    FileEntry(
                        f"{prefix}{join(dirpath[0], name)}", int(st["length"]), _hdfs_mtime(st)
                    )
                )
        return sorted(entries, key=lambda e: e.uri)

    def list_dirs(self, uri: str) -> list[str]:
        if self._status(uri) is None:
            return []
        listing = self.client.list(self._path(uri), status=True)
        return sorted(name for name, st in listing if st["type"] == "DIRECTORY")

    def mkdirs(self, uri: str) -> None:
        self.client.makedirs(self._path(uri))

    def rename(self, src: str, dst: str) -> None:
        if self.exists(dst):
            raise StorageError(f"rename {src} -> {dst}: destination exists")
        parent = self._path(dst).rsplit("/", 1)[0] or "/"
        self.client.makedirs(parent)
        for attempt in range(1, self.policy.attempts + 1):
            try:
                self.client.rename(self._path(src), self._path(dst))
                return
            except WebHdfsError as err:
                # The answer was lost, not necessarily the rename: it happened if src is
                # gone and dst is there (the check above said dst was free).
                if not self.exists(src) and self.exists(dst):
                    return
                if attempt == self.policy.attempts:
                    raise err.after(attempt) from err
                time.sleep(self.policy.delay(attempt))

    def delete(self, uri: str) -> None:
        self.client.delete(self._path(uri), recursive=True)

    def write_bytes(self, uri: str, data: bytes) -> None:
        self.client.write(self._path(uri), data=data, overwrite=True)

    def read_bytes(self, uri: str) -> bytes:
        return self._read(uri)

    def read_range(self, uri: str, offset: int, length: int) -> bytes:
        return self._read(uri, offset, length)

    def _read(self, uri: str, offset: int = 0, length: int | None = None) -> bytes:
        from hdfs.util import HdfsError

        path = self._path(uri)
        for attempt in range(1, self.policy.attempts + 1):
            try:
                with self.client.read(path, offset=offset, length=length) as reader:
                    announced = reader.headers.get("Content-Length")
                    data = reader.read()
                if (announced is None or len(data) == int(announced)) and (
                    length is None or len(data) == length
                ):
                    return data
                cause = f"answer cut short ({len(data)} of {length or announced} bytes)"
            except WebHdfsError:
                raise  # the request itself was retried already
            except HdfsError as err:
                if err.exception == "FileNotFoundException":
                    # The namenode's own words ("File /p does not exist."), in one line.
                    said = (str(err).strip().splitlines() or ["no such file"])[0]
                    raise FileNotFoundError(f"webhdfs OPEN {path}: {said}") from err
                raise
            except Exception as err:
                cause = _transient_cause(err, self.policy.timeout_s)
                if cause is None:
                    raise
            # Never hand back part of a file as the file: read it again, whole.
            if attempt == self.policy.attempts:
                raise WebHdfsError("OPEN", path, self.client.url, cause, attempt)
            time.sleep(self.policy.delay(attempt))
        raise AssertionError("unreachable")

    def create_exclusive(self, uri: str, data: bytes) -> bool:
        """Create ``uri`` holding ``data`` unless it exists; True if this call created it.

        The namenode creates the file atomically: of two racing creates exactly one
        succeeds. A create whose answer was lost is not resent blindly (it would meet
        its own file and report "already exists"): if the file is absent, nothing was
        created and it is tried again; if it holds ``data``, this call made it; if it
        holds other bytes, another writer made it. If it is empty or holds the start of
        ``data`` (created, bytes not all written), nobody can tell whose it is: that is
        a :class:`WebHdfsError`, never a False.
        """
        from hdfs.util import HdfsError

        path = self._path(uri)
        for attempt in range(1, self.policy.attempts + 1):
            try:
                self.client.write(path, data=data, overwrite=False)
                return True
            except HdfsError as err:
                if "AlreadyExists" not in str(err) and "already exists" not in str(err):
                    raise
                if attempt == 1:
                    return False
                lost = None  # an earlier attempt of ours may have created it
            except WebHdfsError as err:
                lost = err
                if not self.exists(uri):  # nothing was created: try again cleanly
                    if attempt == self.policy.attempts:
                        raise err.after(attempt) from err
                    time.sleep(self.policy.delay(attempt))
                    continue
            found = self.read_bytes(uri)
            if found == data:
                return True
            if found and not data.startswith(found):
                return False
            cause = "the file exists, partly written: whether this create made it is unknown"
            raise WebHdfsError("CREATE", path, self.client.url, cause, attempt) from lost
        raise AssertionError("unreachable")


# --------------------------------------------------------------------------- hadoop (JVM)


class HadoopFileSystem:
    """Any Hadoop file system (file, hdfs, webhdfs, s3a, ...) through the Spark driver's JVM."""

    def __init__(self, spark: SparkSession) -> None:
        jvm = spark.sparkContext._jvm
        self._conf = spark.sparkContext._jsc.hadoopConfiguration()
        # Each dotted step of ``jvm.org.apache...`` is a round trip to the JVM (0.8 ms for a
        # class), and a stage's commit makes about a hundred file system calls.
        self._path_class = jvm.org.apache.hadoop.fs.Path
        self._io_utils = jvm.org.apache.commons.io.IOUtils

    def _fs_path(self, uri: str):
        path = self._path_class(uri)
        return path.getFileSystem(self._conf), path

    def exists(self, uri: str) -> bool:
        fs, path = self._fs_path(uri)
        return bool(fs.exists(path))

    def list_files(self, uri: str) -> list[FileEntry]:
        fs, path = self._fs_path(uri)
        if not fs.exists(path):
            return []
        # Directory by directory: ``listFiles`` also looks up every file's block locations,
        # which made a lease directory's listing 5-10 times slower than this.
        entries, directories = [], [path]
        while directories:
            for status in fs.listStatus(directories.pop()):
                if status.isDirectory():
                    directories.append(status.getPath())
                    continue
                entries.append(FileEntry(status.getPath().toString(), int(status.getLen()),
                                         status.getModificationTime() / 1000))  # fmt: skip
        return sorted(entries, key=lambda e: e.uri)

    def list_dirs(self, uri: str) -> list[str]:
        fs, path = self._fs_path(uri)
        if not fs.exists(path):
            return []
        return sorted(s.getPath().getName() for s in fs.listStatus(path) if s.isDirectory())

    def mkdirs(self, uri: str) -> None:
        fs, path = self._fs_path(uri)
        if not fs.mkdirs(path):
            raise StorageError(f"mkdirs {uri} failed")

    def rename(self, src: str, dst: str) -> None:
        fs, src_path = self._fs_path(src)
        _, dst_path = self._fs_path(dst)
        if fs.exists(dst_path):
            raise StorageError(f"rename {src} -> {dst}: destination exists")
        fs.mkdirs(dst_path.getParent())
        # Hadoop reports a failed rename by returning false, not by raising.
        if not fs.rename(src_path, dst_path):
            raise StorageError(f"rename {src} -> {dst} failed")

    def delete(self, uri: str) -> None:
        fs, path = self._fs_path(uri)
        fs.delete(path, True)

    def write_bytes(self, uri: str, data: bytes) -> None:
        fs, path = self._fs_path(uri)
        stream = fs.create(path, True)
        try:
            stream.write(bytearray(data))
        finally:
            stream.close()

    def create_exclusive(self, uri: str, data: bytes) -> bool:
        from py4j.protocol import Py4JJavaError

        if urlparse(uri).scheme == "file":
            # Hadoop's local file system checks, then creates: two threads both "create" the
            # same lease generation and interleave its bytes and checksum. link(2) is atomic.
            return LocalFileSystem().create_exclusive(uri, data)
        fs, path = self._fs_path(uri)
        try:
            stream = fs.create(path, False)  # overwrite=false: the namenode's atomic create
        except Py4JJavaError as err:
            if "FileAlreadyExistsException" in str(err.java_exception.getClass().getName()):
                return False
            raise
        try:
            stream.write(bytearray(data))
        finally:
            stream.close()
        return True

    def read_bytes(self, uri: str) -> bytes:
        from py4j.protocol import Py4JJavaError

        fs, path = self._fs_path(uri)
        try:
            stream = fs.open(path)
        except Py4JJavaError as err:
            if "FileNotFoundException" in str(err.java_exception.getClass().getName()):
                raise FileNotFoundError(f"open {uri}: {uri_path(uri)} does not exist") from err
            raise
        try:
            # py4j hands a Java byte[] back as Python bytes in one transfer.
            return bytes(self._io_utils.toByteArray(stream))
        finally:
            stream.close()

    def read_range(self, uri: str, offset: int, length: int) -> bytes:
        fs, path = self._fs_path(uri)
        stream = fs.open(path)
        try:
            stream.seek(offset)
            return bytes(self._io_utils.toByteArray(stream, length))  # fails if short
        finally:
            stream.close()


def filesystem_for(
    uri: str, settings: Settings, spark: SparkSession | None = None
) -> LakeFileSystem:
    """The file system serving ``uri``: the JVM's when a Spark session is given."""
    if spark is not None:
        return HadoopFileSystem(spark)
    scheme = urlparse(uri).scheme
    if scheme == "file":
        return LocalFileSystem()
    if scheme in ("hdfs", "webhdfs"):
        return WebHdfsFileSystem.from_settings(settings, uri)
    raise ConfigError(f"LAKESIGHT_ROOT: unknown URI scheme {scheme!r} in {uri!r}")


def check_reachable(fs: LakeFileSystem, root: str) -> None:
    """Fail fast, in one line naming the setting, if the storage root cannot be used."""
    try:
        fs.mkdirs(root)
        fs.exists(root)
    except Exception as err:  # any client error means the same thing to the user
        first_line = (str(err).strip().splitlines() or [type(err).__name__])[0][:200]
        raise ConfigError(f"LAKESIGHT_ROOT: cannot reach {root} ({first_line})") from err


# --------------------------------------------------------------------------- manifest


@dataclass
class Manifest:
    """The ``_manifest.json`` of one committed partition.

    ``counts`` must hold ``in``, ``out`` and ``quarantined`` with
    ``in == out + quarantined``; further counts (``reused``, per-reason) may follow.
    """

    dataset: str
    dt: str
    stage: str
    schema_version: str
    counts: dict[str, int]
    input_fingerprint: str
    code_version: str = field(default_factory=lambda: code_version())
    models: list[dict[str, str]] = field(default_factory=list)
    timings: dict[str, float] = field(default_factory=dict)
    outputs: dict[str, str] = field(default_factory=dict)
    extra: dict[str, object] = field(default_factory=dict)
    run_id: str = ""
    created_at: str = ""

    def check(self) -> None:
        missing = {"in", "out", "quarantined"} - set(self.counts)
        if missing:
            raise ValueError(f"manifest {self.dataset} dt={self.dt}: counts lack {sorted(missing)}")
        c = self.counts
        if c["in"] != c["out"] + c["quarantined"]:
            raise ValueError(
                f"manifest {self.dataset} dt={self.dt}: in={c['in']} != "
                f"out={c['out']} + quarantined={c['quarantined']}"
            )

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2, sort_keys=True, ensure_ascii=False)

    @classmethod
    def from_json(cls, text: str) -> Manifest:
        return cls(**json.loads(text))


def code_version() -> str:
    """``<package version>+g<git sha>`` when run from a git checkout, else the version."""
    from lakesight import __version__

    head = Path(__file__).resolve().parent.parent / ".git"
    with contextlib.suppress(OSError):
        ref = (head / "HEAD").read_text().strip()
        if ref.startswith("ref: "):
            ref = (head / ref[5:]).read_text().strip()
        return f"{__version__}+g{ref[:12]}"
    return __version__


# --------------------------------------------------------------------------- commit


def partition_name(dt: str) -> str:
    """Directory name of a date partition: ``dt=YYYY-MM-DD``."""
    return f"dt={dt}"


def new_run_id() -> str:
    """A sortable, unique id for one stage run (UTC time + random suffix)."""
    return f"{datetime.now(UTC).strftime('%Y%m%dT%H%M%S')}-{uuid.uuid4().hex[:8]}"


def _has_success(fs: LakeFileSystem, partition_uri: str) -> bool:
    return fs.exists(join(partition_uri, SUCCESS_MARKER))


def _split_partition_uri(partition_uri: str) -> tuple[str, str] | None:
    """``(dataset URI, dt)`` of ``<dataset>/dt=D``, or None for any other URI."""
    dataset_uri, _, name = partition_uri.rstrip("/").rpartition("/")
    return (dataset_uri, name[3:]) if name.startswith("dt=") and dataset_uri else None


def resolve_partition(fs: LakeFileSystem, partition_uri: str) -> str | None:
    """Where a reader finds the committed state of a partition, or None if it has none.

    Normally the partition itself. A writer killed between moving the old partition
    aside and moving the new one in (no ``except`` ran) leaves ``dt=D`` missing while
    the last good copy waits in ``_trash/`` for the next writer to put it back; readers
    read that copy meanwhile, so the day never looks missing or empty."""
    if _has_success(fs, partition_uri):
        return partition_uri
    parts = _split_partition_uri(partition_uri)
    if parts is None:
        return None
    dataset_uri, dt = parts
    trash_root = join(dataset_uri, TRASH_DIR)
    prefix = partition_name(dt) + "."
    for name in sorted((d for d in fs.list_dirs(trash_root) if d.startswith(prefix)), reverse=True):
        if _has_success(fs, join(trash_root, name)):
            return join(trash_root, name)
    return None


def is_committed(fs: LakeFileSystem, partition_uri: str) -> bool:
    """Whether a partition has a committed state to read (see :func:`resolve_partition`)."""
    return resolve_partition(fs, partition_uri) is not None


class ManifestError(StorageError):
    """A committed partition's ``_manifest.json`` cannot be read or parsed."""


def read_manifest(fs: LakeFileSystem, partition_uri: str) -> Manifest | None:
    """The manifest of a committed partition, or None if it is not committed.

    A manifest that cannot be parsed raises :class:`ManifestError` (one line naming the
    file): callers that can recompute treat it as absent, the service reports the day."""
    source = resolve_partition(fs, partition_uri)
    if source is None:
        return None
    uri = join(source, MANIFEST_NAME)
    try:
        return Manifest.from_json(fs.read_bytes(uri).decode())
    except (ValueError, TypeError, KeyError) as err:  # JSONDecodeError and UnicodeError too
        raise ManifestError(f"unreadable manifest {uri}: {type(err).__name__}: {err}") from err


def list_partitions(fs: LakeFileSystem, dataset_uri: str) -> list[str]:
    """Dates of the committed partitions of a dataset, oldest first (a partition whose
    commit was cut short between its two renames counts: its last good copy is read)."""
    dates = {d[3:] for d in fs.list_dirs(dataset_uri) if d.startswith("dt=")}
    trash_root = join(dataset_uri, TRASH_DIR)
    dates |= {d[3:].split(".", 1)[0] for d in fs.list_dirs(trash_root) if d.startswith("dt=")}
    return [dt for dt in sorted(dates) if is_committed(fs, join(dataset_uri, partition_name(dt)))]


def read_partition_arrow(fs: LakeFileSystem, partition_uri: str, columns: list[str] | None = None):
    """A partition's Parquet files as one pyarrow Table, read with plain pyarrow (no Spark):
    what a consumer or a query does. Hidden and staging files are not part of it; a
    partition without data files gives None."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    source = resolve_partition(fs, partition_uri)
    if source is None:
        return None
    tables = [
        pq.read_table(io.BytesIO(fs.read_bytes(entry.uri)), columns=columns)
        for entry in fs.list_files(source)
        if entry.uri.endswith(".parquet")
        and "/." not in entry.uri
        and "/_" not in entry.uri.rsplit("/", 1)[-1]
    ]
    return pa.concat_tables(tables) if tables else None


def read_partition_table(fs: LakeFileSystem, partition_uri: str, columns: list[str] | None = None):
    """:func:`read_partition_arrow` as a pandas DataFrame (empty, with ``columns``, if no files)."""
    import pandas as pd

    table = read_partition_arrow(fs, partition_uri, columns)
    return table.to_pandas() if table is not None else pd.DataFrame(columns=columns or [])


class RangedFile(io.RawIOBase):
    """A lake file as a read-only, seekable file whose every read is one ranged read
    through the lake's client (any :class:`LakeFileSystem`, none of which needs Spark): so
    pyarrow reads a Parquet file's footer and then only the column chunks asked for."""

    def __init__(self, fs: LakeFileSystem, uri: str) -> None:
        super().__init__()
        listed = fs.list_files(uri)
        if len(listed) != 1:
            raise StorageError(f"read {uri}: not a file")
        self._fs, self._uri, self._size, self._position = fs, uri, listed[0].size, 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._position

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self._position, io.SEEK_END: self._size}[whence]
        self._position = max(0, base + offset)
        return self._position

    def read(self, size: int | None = -1) -> bytes:
        left = max(0, self._size - self._position)
        wanted = left if size is None or size < 0 else min(size, left)
        if wanted == 0:
            return b""
        data = self._fs.read_range(self._uri, self._position, wanted)
        self._position += len(data)
        return data

    def readinto(self, buffer) -> int:
        data = self.read(len(buffer))
        memoryview(buffer).cast("B")[: len(data)] = data
        return len(data)


def read_parquet_slice(fs: LakeFileSystem, uri: str, part: int, parts: int,
                       columns: list[str] | None = None):  # fmt: skip
    """Rows ``[n * part / parts, n * (part + 1) / parts)`` of the Parquet file ``uri`` (of n
    rows), as pyarrow Tables of at most a row group each: what a Python worker reads of a
    file that ``parts`` workers share, through the lake's client with ranged reads. A row
    group the cut falls in is read by both its workers, so their shares stay equal."""
    import pyarrow.parquet as pq

    parquet = pq.ParquetFile(RangedFile(fs, uri))
    rows = parquet.metadata.num_rows
    low, high = rows * part // parts, rows * (part + 1) // parts
    first = 0
    for group in range(parquet.metadata.num_row_groups):
        size = parquet.metadata.row_group(group).num_rows
        start, stop = max(low, first), min(high, first + size)
        if start < stop:
            yield parquet.read_row_group(group, columns=columns).slice(start - first, stop - start)
        first += size


def recover_partition(fs: LakeFileSystem, dataset_uri: str, dt: str,
                      name: str | None = None) -> str | None:  # fmt: skip
    """Repair what a crash mid-commit left behind; return what was done, if anything.
    ``name``: the partition's directory when it is not ``dt=D`` (a stream's ``batch=B``).

    Only the holder of the day's lease may call it (:class:`PartitionWriter` does, first
    thing): another writer's ``_trash/`` copy may be part of a commit in flight.

    If the live partition is missing or lacks ``_SUCCESS`` while a committed copy
    sits in ``_trash/``, that copy is the last good state: put it back. Leftover
    trash of this date is then removed.
    """
    name = name or partition_name(dt)
    final = join(dataset_uri, name)
    trash_root = join(dataset_uri, TRASH_DIR)
    prefix = name + "."
    trashed = sorted(d for d in fs.list_dirs(trash_root) if d.startswith(prefix))
    if not trashed:
        return None
    action = None
    if not _has_success(fs, final):
        good = [d for d in trashed if _has_success(fs, join(trash_root, d))]
        if good:
            if fs.exists(final):
                fs.delete(final)  # a new partition whose commit never finished
            fs.rename(join(trash_root, good[-1]), final)
            trashed.remove(good[-1])
            action = f"restored {final} from {TRASH_DIR}/{good[-1]}"
    for name in trashed:
        fs.delete(join(trash_root, name))
    return action


# --------------------------------------------------------------------------- leases

LEASES_DIR = "_leases"


class LeaseError(StorageError):
    """Another run holds (or took over) the right to write a partition; one line."""


@dataclass(frozen=True)
class LeasePolicy:
    """How long a lease lives without renewal, and how long a writer waits for one."""

    # A holder renews every ttl/3; a holder silent for a whole ttl (killed, partitioned
    # away) loses the day to the next writer. Commits take seconds, so 2 min is generous.
    ttl_s: float = 120.0
    # 0: fail fast naming the holder; otherwise poll this long for the holder to finish.
    wait_s: float = 600.0
    poll_s: float = 1.0

    @classmethod
    def from_settings(cls, settings: Settings) -> LeasePolicy:
        return cls(ttl_s=settings.lease_ttl_s, wait_s=settings.lease_wait_s)


class Lease:
    """The exclusive right to write one ``(dataset, key)``, e.g. a date partition.

    Leases are numbered files, ``<dataset>/_leases/<key>/<generation>.json``, each
    created exclusively (``O_EXCL``; HDFS ``CREATE overwrite=false``), so of two writers
    racing for generation N+1 exactly one gets it. The holder of the highest generation
    holds the lease while its ``expires_at`` is in the future and it has not released
    it; it renews by rewriting its own file. The generation is the fencing token: a
    writer that stalled past its expiry and was overtaken finds a higher generation at
    :meth:`check` and must not commit. A holder on this host whose process is gone
    (SIGKILL, OOM) is treated as expired at once, so a laptop rerun does not wait.
    """

    def __init__(self, fs: LakeFileSystem, dataset_uri: str, key: str, run_id: str,
                 policy: LeasePolicy | None = None) -> None:  # fmt: skip
        self.fs = fs
        self.dataset_uri = dataset_uri.rstrip("/")
        self.key = key
        self.run_id = run_id
        self.policy = policy or LeasePolicy()
        self.dir_uri = join(self.dataset_uri, LEASES_DIR, key)
        self.generation: int | None = None
        self.owned = False  # False when adopted from an enclosing holder of the same run
        self._stop = None
        self._renewer = None

    def __str__(self) -> str:
        return f"{self.dataset_uri} {self.key}"

    # -- reading the state
    def _generations(self) -> list[int]:
        names = [e.uri.rsplit("/", 1)[-1] for e in self.fs.list_files(self.dir_uri)]
        return sorted(int(n[:-5]) for n in names if n.endswith(".json") and n[:-5].isdigit())

    def _read(self, generation: int, attempts: int = 3) -> dict:
        # A holder rewrites its file to renew and to release it; a read that meets the
        # rewrite sees it torn (Hadoop's local file system: a checksum error). Read again a
        # moment later before judging, or a waiting writer would take over a live lease and
        # fence its holder off.
        for attempt in range(attempts):
            if attempt:
                time.sleep(0.05 * attempt)
            try:
                return json.loads(self.fs.read_bytes(self._uri(generation)))
            except ValueError:
                continue  # torn JSON
            except Exception:
                if attempt + 1 == attempts:
                    raise
        # Still torn, or mid-creation (HDFS shows a file before its bytes): nobody can prove
        # they hold it. Taking it over is safe: fencing stops the older generation.
        return {}

    def _uri(self, generation: int) -> str:
        return join(self.dir_uri, f"{generation:012d}.json")

    @staticmethod
    def _alive(state: dict) -> bool:
        if not state or state.get("released") or state.get("expires_at", 0) <= time.time():
            return False
        if state.get("host") == _HOST:
            try:
                os.kill(int(state["pid"]), 0)
            except ProcessLookupError:
                return False
            except (PermissionError, KeyError, ValueError):
                pass
        return True

    def holder(self) -> tuple[int, dict] | None:
        """``(generation, state)`` of the live lease, if anyone holds it."""
        return self._look()[1]

    def _look(self) -> tuple[list[int], tuple[int, dict] | None]:
        generations = self._generations()
        if not generations:
            return generations, None
        state = self._read(generations[-1])
        return generations, ((generations[-1], state) if self._alive(state) else None)

    def _state(self, released: bool = False) -> bytes:
        now = time.time()
        return json.dumps(
            {"run_id": self.run_id, "generation": self.generation, "host": _HOST,
             "pid": os.getpid(), "renewed_at": now, "expires_at": now + self.policy.ttl_s,
             "released": released},
            sort_keys=True,
        ).encode()  # fmt: skip

    # -- acquiring, renewing, checking, releasing
    def acquire(self) -> Lease:
        deadline = time.monotonic() + self.policy.wait_s
        while True:
            generations, held = self._look()
            if held is not None and held[1].get("run_id") == self.run_id:
                self.generation, self.owned = held[0], False  # an enclosing writer of this run
                return self
            if held is None:
                # The successor of the generation just seen to be free: if anyone created
                # it meanwhile, the exclusive create fails and we look again.
                self.generation = (generations[-1] if generations else 0) + 1
                if self.fs.create_exclusive(self._uri(self.generation), self._state()):
                    self.owned = True
                    self._start_renewing()
                    self._forget_old(generations)
                    return self
                continue  # another writer took this generation first: look again
            if time.monotonic() >= deadline:
                state = held[1]
                until = datetime.fromtimestamp(state["expires_at"], UTC).isoformat(
                    timespec="seconds"
                )
                raise LeaseError(
                    f"{self} is being written by run {state.get('run_id')} "
                    f"(pid {state.get('pid')} on {state.get('host')}, lease until {until}); "
                    f"LAKESIGHT_LEASE_WAIT_S={self.policy.wait_s:g}"
                )
            time.sleep(self.policy.poll_s)

    def _start_renewing(self) -> None:
        import threading

        self._stop = threading.Event()

        def renew() -> None:
            while not self._stop.wait(self.policy.ttl_s / 3):
                with contextlib.suppress(Exception):  # a missed renewal is caught by check()
                    self.fs.write_bytes(self._uri(self.generation), self._state())

        self._renewer = threading.Thread(target=renew, name=f"lease {self}", daemon=True)
        self._renewer.start()

    def _forget_old(self, generations: list[int]) -> None:
        for generation in generations[:-4]:  # keep a few for the post-mortem
            with contextlib.suppress(Exception):
                self.fs.delete(self._uri(generation))

    def check(self) -> None:
        """The fencing check before a commit: this run still holds the newest generation."""
        generations = self._generations()
        state = self._read(generations[-1]) if generations else {}
        if (
            self.generation is None
            or generations[-1:] != [self.generation]
            or state.get("run_id") != self.run_id
            or state.get("expires_at", 0) <= time.time()
        ):
            raise LeaseError(
                f"{self}: run {self.run_id} lost its lease (generation {self.generation}) to "
                f"run {state.get('run_id')} (generation {generations[-1] if generations else None}); "
                "not committing"
            )

    def release(self) -> None:
        if self._stop is not None:
            self._stop.set()
            self._renewer.join()
        if self.owned and self.generation is not None:
            with contextlib.suppress(Exception):  # an unreleased lease just expires
                self.fs.write_bytes(self._uri(self.generation), self._state(released=True))
        self.owned = False

    def __enter__(self) -> Lease:
        return self.acquire()

    def __exit__(self, *exc) -> None:
        self.release()


_HOST = os.uname().nodename


# --------------------------------------------------------------------------- commit


class PartitionWriter:
    """Stage one date partition of a dataset and commit it atomically, under its lease.

    Use as a context manager: write files under :attr:`staging_uri`, then call
    :meth:`commit`. Entering takes the ``(dataset, dt)`` lease (:class:`Lease`; a writer
    of the same run id that already holds it, such as a stage merging an interval into
    its day, is reused) and repairs a crash of an earlier commit. ``name`` is the
    partition's directory when it is not ``dt=D``: a stream's ``batch=B`` inside its day
    (``dataset_uri`` is then the day). Leaving the block with
    an exception, or without committing, deletes the staging directory and leaves the
    committed partition untouched; the lease is released either way.
    """

    def __init__(self, fs: LakeFileSystem, dataset_uri: str, dt: str, run_id: str | None = None,
                 policy: LeasePolicy | None = None, *, name: str | None = None) -> None:  # fmt: skip
        self.fs = fs
        self.dataset_uri = dataset_uri.rstrip("/")
        self.dt = dt
        self.name = name or partition_name(dt)
        self.run_id = run_id or new_run_id()
        self.final_uri = join(self.dataset_uri, self.name)
        self.staging_uri = join(self.dataset_uri, STAGING_DIR, f"{self.name}.{self.run_id}")
        self.trash_uri = join(self.dataset_uri, TRASH_DIR, f"{self.name}.{self.run_id}")
        self.lease = Lease(fs, self.dataset_uri, self.name, self.run_id, policy)
        self.committed = False

    def __enter__(self) -> PartitionWriter:
        self.lease.acquire()
        try:
            # Repair a crash of an earlier commit of this date before anything else.
            recover_partition(self.fs, self.dataset_uri, self.dt, self.name)
            self.fs.mkdirs(join(self.dataset_uri, STAGING_DIR))
        except BaseException:
            self.lease.release()
            raise
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        try:
            if not self.committed:
                self.fs.delete(self.staging_uri)
        finally:
            self.lease.release()

    def commit(self, manifest: Manifest) -> Manifest:
        """Complete the staged partition (manifest, then ``_SUCCESS``), then swap it in.

        The staged copy is whole before it moves, so the only moment ``dt=D`` is absent
        is between the two renames, and readers then read the old copy in ``_trash/``
        (:func:`resolve_partition`). Any failure before the new partition is in place
        puts the old one back before the error propagates.
        """
        manifest.check()
        started = time.perf_counter()
        self.lease.check()
        if not self.fs.exists(self.staging_uri):
            # A stage with nothing to write still publishes an (empty) partition.
            self.fs.mkdirs(self.staging_uri)
        manifest.run_id = self.run_id
        manifest.created_at = datetime.now(UTC).isoformat(timespec="seconds")
        manifest.timings["commit_s"] = round(time.perf_counter() - started, 3)
        self.fs.write_bytes(join(self.staging_uri, MANIFEST_NAME), manifest.to_json().encode())
        self.fs.write_bytes(join(self.staging_uri, SUCCESS_MARKER), b"")
        self.lease.check()  # the fence: nobody took the day while we staged
        try:
            if self.fs.exists(self.final_uri):
                self.fs.rename(self.final_uri, self.trash_uri)
            self.fs.rename(self.staging_uri, self.final_uri)
        except BaseException:
            # Disk full, an HDFS error, a timeout: the old partition goes back first.
            with contextlib.suppress(Exception):
                recover_partition(self.fs, self.dataset_uri, self.dt, self.name)
            raise
        self.committed = True
        with contextlib.suppress(Exception):  # leftover trash is removed by the next commit
            self.fs.delete(self.trash_uri)
        return manifest
