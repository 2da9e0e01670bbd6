"""A WebHDFS-compatible server on loopback, backed by a local directory.

No HDFS can run on the development and CI machines, so the WebHDFS wire
protocol is tested against this server. It speaks the REST API as the namenode
does, for the operations lakesight uses: GETFILESTATUS, LISTSTATUS, MKDIRS,
CREATE and OPEN (both with the namenode → datanode 307 redirect), RENAME,
DELETE and GETHOMEDIRECTORY, with HDFS's semantics (RENAME into an existing
directory moves inside it; a failed RENAME answers ``{"boolean": false}``) and
its RemoteException error bodies. The same tests run against a real cluster
when ``LAKESIGHT_TEST_HDFS`` names one.
"""

from __future__ import annotations

import json
import shutil
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, quote, unquote, urlparse

PREFIX = "/webhdfs/v1"


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
        body = json.dumps(payload).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

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
        self.send_response(307)
        self.send_header("Location", location)
        self.send_header("Content-Length", "0")
        self.end_headers()

    # ------------------------------------------------------------ verbs
    def do_GET(self) -> None:
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
            body = data[offset : offset + length]
            self.send_response(200)
            self.send_header("Content-Type", "application/octet-stream")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
            return None
        return self._error(
            400, "IllegalArgumentException", f"Invalid value for webhdfs parameter op: {op}"
        )

    def do_PUT(self) -> None:
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
            self.send_response(201)
            self.send_header("Location", f"hdfs://{self.server.server_address[0]}{hdfs_path}")
            self.send_header("Content-Length", "0")
            self.end_headers()
            return None
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
