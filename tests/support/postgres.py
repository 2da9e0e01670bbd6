"""A private PostgreSQL server on loopback: the metadata database of the Airflow the tests start.

Airflow is deployed on PostgreSQL (``docker-compose.yml``). On SQLite its backfill creation
"is not supported under concurrent access" (its route's own 503 says so), and CI saw worse
than the refusal: a creation that collided with the scheduler was half applied (one of its
runs cleared, the backfill left open) and the api-server then failed every request for a
minute. The components the tests start therefore use this server, one database each.

It is Debian's ``postgresql`` (``scripts/ensure-postgres.sh`` installs it where apt may),
run from a fresh data directory on a free port with durability off: a test's database
lives as long as the test session. PostgreSQL refuses to run as root, so under root the
server runs as the ``postgres`` user the package creates.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import signal
import subprocess
import tempfile
import time
from pathlib import Path

from tests.support.processes import StartedProcesses, free_port

SUPERUSER = "postgres"


def server_bindir() -> Path | None:
    """The directory of ``initdb`` and ``postgres``: Debian keeps them off PATH, per version."""
    for candidate in sorted(Path("/usr/lib/postgresql").glob("*/bin"), reverse=True):
        if (candidate / "initdb").exists() and (candidate / "postgres").exists():
            return candidate
    initdb = shutil.which("initdb")
    return Path(initdb).parent if initdb and shutil.which("postgres") else None


def unavailable_reason() -> str | None:
    """Why this machine cannot start the server, in one line; None when it can."""
    if server_bindir() is None:
        return "PostgreSQL's server is not installed (Debian: apt-get install postgresql)"
    if os.geteuid() == 0:
        try:
            pwd.getpwnam(SUPERUSER)
        except KeyError:
            return "running as root, and there is no 'postgres' user to run PostgreSQL as"
        if shutil.which("runuser") is None:
            return "running as root without runuser to start PostgreSQL as 'postgres'"
    return None


class PostgresServer(StartedProcesses):
    """``initdb`` + ``postgres`` in a temporary directory; :meth:`new_database` gives URLs."""

    def __init__(self) -> None:
        self.port = free_port()
        self.home = Path(tempfile.mkdtemp(prefix="lakesight-postgres-"))
        self.proc: subprocess.Popen | None = None
        self.databases = 0

    def _as_server_user(self, argv: list[str]) -> list[str]:
        return ["runuser", "-u", SUPERUSER, "--", *argv] if os.geteuid() == 0 else argv

    def start(self, timeout: float = 60) -> None:
        bindir = server_bindir()
        assert bindir is not None, unavailable_reason()
        if os.geteuid() == 0:  # the server's user must own its directory
            owner = pwd.getpwnam(SUPERUSER)
            os.chown(self.home, owner.pw_uid, owner.pw_gid)
        data = self.home / "data"
        initdb = subprocess.run(
            self._as_server_user(
                [str(bindir / "initdb"), "-D", str(data), "-U", SUPERUSER, "--auth=trust",
                 "-E", "UTF8", "--no-sync"]
            ),
            capture_output=True, text=True, timeout=timeout,
        )  # fmt: skip
        assert initdb.returncode == 0, f"initdb:\n{(initdb.stdout + initdb.stderr)[-3000:]}"
        settings = {
            "listen_addresses": "127.0.0.1",
            "unix_socket_directories": str(self.home),
            # A test database is thrown away: no waiting for the disk.
            "fsync": "off",
            "synchronous_commit": "off",
            "full_page_writes": "off",
            "max_connections": "200",
        }
        argv = [str(bindir / "postgres"), "-D", str(data), "-p", str(self.port)]
        for key, value in settings.items():
            argv += ["-c", f"{key}={value}"]
        with open(self.home / "server.log", "wb") as log:
            # A session of its own: stop() signals the server and not the test process.
            self.proc = subprocess.Popen(
                self._as_server_user(argv), stdin=subprocess.DEVNULL, stdout=log,
                stderr=subprocess.STDOUT, start_new_session=True,
            )  # fmt: skip
        deadline = time.monotonic() + timeout
        while True:
            try:
                self._connect("postgres").close()
                return
            except Exception as exc:
                if self.proc.poll() is not None or time.monotonic() > deadline:
                    log_text = (self.home / "server.log").read_text(errors="replace")
                    raise AssertionError(f"PostgreSQL did not start:\n{log_text[-3000:]}") from exc
                time.sleep(0.2)

    def _connect(self, database: str):
        import psycopg2

        return psycopg2.connect(
            host="127.0.0.1", port=self.port, user=SUPERUSER, dbname=database, connect_timeout=5
        )

    def new_database(self) -> str:
        """An empty database of its own; its SQLAlchemy URL, as Airflow's setting takes it."""
        self.databases += 1
        name = f"airflow_{self.databases}"
        connection = self._connect("postgres")
        try:
            connection.autocommit = True  # CREATE DATABASE cannot run inside a transaction
            with connection.cursor() as cursor:
                cursor.execute(f"CREATE DATABASE {name}")
        finally:
            connection.close()
        return f"postgresql+psycopg2://{SUPERUSER}@127.0.0.1:{self.port}/{name}"

    def stop(self, grace: float = 30) -> None:
        if self.proc is not None and self.proc.poll() is None:
            # SIGINT is PostgreSQL's fast shutdown: clients are disconnected, not waited for.
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGINT)
            try:
                self.proc.wait(timeout=grace)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=30)
        shutil.rmtree(self.home, ignore_errors=True)
