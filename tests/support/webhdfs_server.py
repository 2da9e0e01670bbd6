"""A WebHDFS-compatible server on loopback, backed by a local directory.

No HDFS can run on the development and CI machines, so the WebHDFS wire
protocol is tested against this server. It speaks the REST API as the namenode
does, for the operations lakesight uses: GETFILESTATUS, LISTSTATUS, MKDIRS,
CREATE and OPEN (both with the namenode → datanode 307 redirect), RENAME,
DELETE and GETHOMEDIRECTORY, with HDFS's semantics (RENAME into an existing
directory moves inside it; a failed RENAME answers ``{"boolean": false}``) and
its RemoteException error bodies. The same tests run against a real cluster
when ``LAKESIGHT_TEST_HDFS`` names one.

Faults: a test switches them on for the requests it names, and only inside
``with server.faults(Fault("503", op="GETFILESTATUS", times=2)) as (fault,):``; on
exit they are cleared and any stalled request is released, so tests sharing the
session's server never see another test's faults. Each :class:`Fault` counts the
matching requests it saw and the ones it spoiled, for the test to assert on.
"""

from __future__ import annotations

import contextlib
import fnmatch
import json
import shutil
import socket
import struct
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, quote, unquote, urlparse

PREFIX = "/webhdfs/v1"
FAULT_KINDS = ("503", "reset", "stall", "truncate", "lost")


@dataclass
class Fault:
    """One fault for the requests that match ``op``, ``path`` and ``step``.

    - ``"503"``: answer 503 Service Unavailable with ``Retry-After: retry_after``;
    - ``"reset"``: close the connection with a TCP reset, unanswered;
    - ``"stall"``: answer nothing for ``stall_s`` seconds (None: until the ``faults``
      block ends), then close;
    - ``"truncate"``: announce the whole body's Content-Length, send half, close (only
      requests whose answer has a body are spoiled);
    - ``"lost"``: carry the request out, then close the connection unanswered (the
      answer lost on its way back: the case a retry must not misreport).

    ``times`` is how many matching requests are spoiled (None: all of them).
    """

    kind: str
    op: str | None = None  # WebHDFS op, e.g. "OPEN"; None matches any
    path: str = "*"  # fnmatch pattern on the HDFS path
    step: str | None = None  # "namenode" or "datanode" (the redirected step); None: both
    times: int | None = 1
    retry_after: float = 0
    stall_s: float | None = None
    seen: int = 0  # matching requests received
    fired: int = 0  # matching requests spoiled

    def __post_init__(self) -> None:
        if self.kind not in FAULT_KINDS:
            raise ValueError(f"fault kind {self.kind!r}: expected one of {FAULT_KINDS}")

    def matches(self, op: str, path: str, step: str) -> bool:
        return (
            (self.op is None or self.op.upper() == op)
            and fnmatch.fnmatchcase(path, self.path)
            and (self.step is None or self.step == step)
        )


class _Reset(Exception):
    """Raised inside a handler to drop the connection unanswered."""


def _status(path: Path, suffix: str = "") -> dict:
    st = path.stat()
    is_dir = path.is_dir()
    return {
        "accessTime": int(st.st_atime * 1000),
        "blockSize": 0 if is_dir else 134217728,
        "childrenNum": len(list(path.iterdir())) if is_dir else 0,
        "fileId": st.st_ino,
        "group": "supergroup",
        "length": 0 if is_dir else st.st_size,
        "modificationTime": int(st.st_mtime * 1000),
        "owner": "lakesight",
        "pathSuffix": suffix,
        "permission": "755" if is_dir else "644",
        "replication": 0 if is_dir else 1,
        "storagePolicy": 0,
        "type": "DIRECTORY" if is_dir else "FILE",
    }


class WebHdfsHandler(BaseHTTPRequestHandler):
    server: WebHdfsServer
    protocol_version = "HTTP/1.1"

    def log_message(self, *args) -> None:  # keep test output quiet
        pass

    # ------------------------------------------------------------ helpers
    def _parse(self) -> tuple[str, dict[str, str], Path]:
        url = urlparse(self.path)
        if not url.path.startswith(PREFIX):
            raise FileNotFoundError(url.path)
        hdfs_path = unquote(url.path[len(PREFIX) :]) or "/"
        params = {k.lower(): v[-1] for k, v in parse_qs(url.query).items()}
        local = self.server.local_path(hdfs_path)
        return hdfs_path, params, local

    def _json(self, code: int, payload: dict) -> None:
        self._send(code, json.dumps(payload).encode(), "application/json")

    def _send(
        self, code: int, body: bytes, content_type: str, headers: dict[str, str] | None = None
    ) -> None:
        if self._fault({"lost"}):
            raise _Reset
        truncate = body and self._fault({"truncate"})
        self.send_response(code)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        if truncate:
            self.wfile.write(body[: len(body) // 2])
            self.close_connection = True  # the client sees the end before Content-Length
            return
        self.wfile.write(body)

    # ------------------------------------------------------------ faults
    def _request_facts(self) -> tuple[str, str, str]:
        url = urlparse(self.path)
        params = {k.lower(): v[-1] for k, v in parse_qs(url.query).items()}
        step = "datanode" if "datanode" in params else "namenode"
        return params.get("op", "").upper(), unquote(url.path[len(PREFIX) :]) or "/", step

    def _fault(self, kinds: set[str]) -> bool:
        """Take a matching fault of one of ``kinds`` and inject it, except truncate and
        lost, which the caller injects."""
        fault = self.server.take_fault(*self._request_facts(), kinds=kinds)
        if fault is None:
            return False
        if fault.kind == "503":
            if self.command == "PUT":
                self._read_body()
            body = json.dumps({"RemoteException": {
                "exception": "RetriableException", "message": "injected 503",
                "javaClassName": "org.apache.hadoop.ipc.RetriableException"}}).encode()  # fmt: skip
            self.send_response(503)
            self.send_header("Retry-After", f"{fault.retry_after:g}")
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.send_header("Connection", "close")
            self.end_headers()
            self.wfile.write(body)
            self.close_connection = True
        elif fault.kind == "stall":
            self.server.released.wait(fault.stall_s)
            raise _Reset
        elif fault.kind == "reset":
            raise _Reset
        return True

    def handle_one_request(self) -> None:
        try:
            super().handle_one_request()
        except _Reset:
            # SO_LINGER 0: close() sends RST, as a crashed or overloaded namenode does.
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            self.close_connection = True
            self.connection.close()

    def _error(self, code: int, exception: str, message: str) -> None:
        self._json(
            code,
            {
                "RemoteException": {
                    "exception": exception,
                    "javaClassName": f"java.io.{exception}",
                    "message": message,
                }
            },
        )

    def _read_body(self) -> bytes:
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            chunks = []
            while True:
                size = int(self.rfile.readline().strip(), 16)
                if size == 0:
                    self.rfile.readline()
                    break
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
            return b"".join(chunks)
        return self.rfile.read(int(self.headers.get("Content-Length") or 0))

    def _redirect(self, hdfs_path: str, query: str) -> None:
        host, port = self.server.server_address[:2]
        location = f"http://{host}:{port}{PREFIX}{quote(hdfs_path)}?{query}&datanode=true"
        self._send(307, b"", "application/octet-stream", {"Location": location})

    # ------------------------------------------------------------ verbs
    def do_GET(self) -> None:
        if self._fault({"503", "reset", "stall"}):
            return None
        hdfs_path, params, local = self._parse()
        op = params.get("op", "").upper()
        if op == "GETHOMEDIRECTORY":
            return self._json(200, {"Path": f"/user/{params.get('user.name', 'lakesight')}"})
        if not local.exists():
            return self._error(404, "FileNotFoundException", f"File does not exist: {hdfs_path}")
        if op == "GETFILESTATUS":
            return self._json(200, {"FileStatus": _status(local)})
        if op == "LISTSTATUS":
            if local.is_file():
                return self._json(200, {"FileStatuses": {"FileStatus": [_status(local)]}})
            entries = [_status(p, p.name) for p in sorted(local.iterdir())]
            return self._json(200, {"FileStatuses": {"FileStatus": entries}})
        if op == "OPEN":
            if "datanode" not in params:
                return self._redirect(hdfs_path, urlparse(self.path).query)
            data = local.read_bytes()
            offset = int(params.get("offset", 0))
            length = int(params["length"]) if "length" in params else len(data) - offset
            return self._send(200, data[offset : offset + length], "application/octet-stream")
        return self._error(
            400, "IllegalArgumentException", f"Invalid value for webhdfs parameter op: {op}"
        )

    def do_PUT(self) -> None:
        if self._fault({"503", "reset", "stall"}):
            return None
        hdfs_path, params, local = self._parse()
        op = params.get("op", "").upper()
        if op == "MKDIRS":
            if local.is_file():
                return self._error(403, "FileAlreadyExistsException", f"{hdfs_path} is a file")
            local.mkdir(parents=True, exist_ok=True)
            return self._json(200, {"boolean": True})
        if op == "CREATE":
            if "datanode" not in params:
                self._read_body()  # the namenode step carries no data
                overwrite = params.get("overwrite", "false").lower() == "true"
                if local.is_dir():
                    return self._error(
                        403, "FileAlreadyExistsException", f"{hdfs_path} is a directory"
                    )
                if not overwrite:
                    # As the namenode does, the file exists from this step on, created
                    # atomically: of two racing creates exactly one succeeds (leases).
                    local.parent.mkdir(parents=True, exist_ok=True)
                    try:
                        with open(local, "xb"):
                            pass
                    except FileExistsError:
                        return self._error(
                            403, "FileAlreadyExistsException", f"{hdfs_path} already exists"
                        )
                return self._redirect(hdfs_path, urlparse(self.path).query)
            data = self._read_body()
            local.parent.mkdir(parents=True, exist_ok=True)
            local.write_bytes(data)
            location = f"hdfs://{self.server.server_address[0]}{hdfs_path}"
            return self._send(201, b"", "application/octet-stream", {"Location": location})
        if op == "RENAME":
            destination = params.get("destination")
            if not destination or not local.exists():
                return self._json(200, {"boolean": False})
            target = self.server.local_path(destination)
            if target.is_dir():
                target = target / local.name  # HDFS moves into an existing directory
            if target.exists() or not target.parent.is_dir():
                return self._json(200, {"boolean": False})
            local.rename(target)
            return self._json(200, {"boolean": True})
        return self._error(
            400, "IllegalArgumentException", f"Invalid value for webhdfs parameter op: {op}"
        )

    def do_DELETE(self) -> None:
        if self._fault({"503", "reset", "stall"}):
            return None
        hdfs_path, params, local = self._parse()
        if not local.exists():
            return self._json(200, {"boolean": False})
        if local.is_dir():
            if params.get("recursive", "false").lower() != "true" and any(local.iterdir()):
                return self._error(
                    403, "PathIsNotEmptyDirectoryException", f"{hdfs_path} is non empty"
                )
            shutil.rmtree(local)
        else:
            local.unlink()
        return self._json(200, {"boolean": True})


class WebHdfsServer(ThreadingHTTPServer):
    """Serve ``root`` over WebHDFS on 127.0.0.1; use as a context manager."""

    daemon_threads = True

    def __init__(self, root: Path, port: int = 0) -> None:
        super().__init__(("127.0.0.1", port), WebHdfsHandler)
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)
        self._thread = threading.Thread(target=self.serve_forever, daemon=True)
        self._faults: list[Fault] = []
        self._faults_lock = threading.Lock()
        # Set when a faults block ends: stalled requests stop waiting and close.
        self.released = threading.Event()

    @contextlib.contextmanager
    def faults(self, *faults: Fault) -> Iterator[tuple[Fault, ...]]:
        """Inject ``faults`` until the block ends (the first that matches and is not used up
        spoils a request); yields them."""
        with self._faults_lock:
            if self._faults:
                raise RuntimeError("faults blocks do not nest")
            self.released.clear()
            self._faults = list(faults)
        try:
            yield faults
        finally:
            with self._faults_lock:
                self._faults = []
            self.released.set()

    def take_fault(self, op: str, path: str, step: str, *, kinds: set[str]) -> Fault | None:
        """The fault to inject into this request, counted; None to serve it normally."""
        with self._faults_lock:
            for fault in self._faults:
                if fault.kind in kinds and fault.matches(op, path, step):
                    fault.seen += 1
                    if fault.times is None or fault.fired < fault.times:
                        fault.fired += 1
                        return fault
        return None

    @property
    def url(self) -> str:
        host, port = self.server_address[:2]
        return f"http://{host}:{port}"

    def local_path(self, hdfs_path: str) -> Path:
        resolved = (self.root / hdfs_path.lstrip("/")).resolve()
        if self.root.resolve() not in (resolved, *resolved.parents):
            raise PermissionError(hdfs_path)
        return resolved

    def __enter__(self) -> WebHdfsServer:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.shutdown()
        self.server_close()
