"""Airflow 3 as it is deployed, on loopback: api-server, scheduler and dag-processor.

`airflow dags test` runs a DAG inside one process; what users run is the
scheduler handing tasks to the LocalExecutor, whose task processes talk to the
api-server's execution API with a JWT the scheduler signed. This starts those
components as subprocesses in a fresh ``AIRFLOW_HOME`` (LocalExecutor, the
project's ``dags/`` and ``plugins/``, no connections) on a metadata database of
its own: PostgreSQL as deployed (:mod:`tests.support.postgres`), or SQLite where
the machine has no PostgreSQL server. It logs in as the UI does, and gives the
REST API to the test.

What Airflow 3.3 needs so that the separately started components agree:

- ``[api_auth] jwt_secret``: the api-server and the scheduler each generate a
  random one in memory when it is unset, so task tokens signed by the scheduler
  would be rejected by the api-server;
- ``[core] execution_api_server_url``: task processes reach the api-server
  there; it defaults to ``http://localhost:8080/execution/``;
- ``[core] simple_auth_manager_users`` and ``..._passwords_file``: the
  SimpleAuthManager's user, whose password is known in advance, so a token can
  be fetched with ``POST /auth/token`` as the UI's login form does.

Every process started here, and every process they start (task supervisors
move into process groups of their own, spark-submit starts JVMs), carries a
marker in its environment; teardown ends exactly those.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any, TypeVar

import httpx

from tests.support.processes import StartedProcesses, free_port

REPO = Path(__file__).resolve().parents[2]
COMPONENTS = ("api-server", "scheduler", "dag-processor")
MARKER_VAR = "LAKESIGHT_TEST_AIRFLOW_SERVER"
USER = "lakesight"
# A developer's or CI's Airflow settings, connections and PySpark overrides must
# not leak from the test process into a deployment meant to be fresh.
DROPPED_PREFIXES = ("AIRFLOW_CONN_", "AIRFLOW__", "PYSPARK_")

T = TypeVar("T")


def tail(path: Path, chars: int = 3000) -> str:
    try:
        text = path.read_text(errors="replace")
    except OSError as exc:
        return f"<{exc}>"
    return text[-chars:]


def task_log_text(path: Path, lines: int = 30) -> str:
    """The last lines of a task log, JSON records rendered as ``level: event`` plus the exception."""
    out = []
    for raw in tail(path, 200_000).splitlines():
        try:
            record = json.loads(raw)
        except ValueError:
            out.append(raw)
            continue
        text = f"{record.get('level', '?')}: {record.get('event', '')}"
        for error in record.get("error_detail") or []:
            # spark-submit's failure carries its output: the stage's own error is at the end.
            text += f"\n  {error.get('exc_type')}: ...{str(error.get('exc_value'))[-400:]}"
        out.append(text)
    return "\n".join(line[-2000:] for line in out[-lines:])


class AirflowServer(StartedProcesses):
    """The Airflow components on loopback; use as a context manager.

    :param home: a fresh directory for ``AIRFLOW_HOME``.
    :param env: extra environment for the components (e.g. ``LAKESIGHT_ROOT``).
    :param parallelism: LocalExecutor slots; every lakesight task starts a Spark JVM.
    :param database: the metadata database's SQLAlchemy URL (the ``airflow_database``
        fixture's); SQLite in ``home`` when None.
    """

    def __init__(
        self,
        home: Path,
        *,
        env: Mapping[str, str] | None = None,
        parallelism: int = 2,
        database: str | None = None,
    ) -> None:
        self.home = home
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.marker = uuid.uuid4().hex
        self.password = secrets.token_urlsafe(16)
        self.airflow = str(Path(sys.executable).with_name("airflow"))
        self.log_dir = home / "component-logs"
        self.procs: dict[str, subprocess.Popen] = {}
        self.client: httpx.Client | None = None
        self.env = {k: v for k, v in os.environ.items() if not k.startswith(DROPPED_PREFIXES)}
        self.env.update(
            {
                MARKER_VAR: self.marker,
                "AIRFLOW_HOME": str(home),
                "AIRFLOW__CORE__DAGS_FOLDER": str(REPO / "dags"),
                "AIRFLOW__CORE__PLUGINS_FOLDER": str(REPO / "plugins"),
                "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
                "AIRFLOW__CORE__EXECUTOR": "LocalExecutor",
                "AIRFLOW__CORE__PARALLELISM": str(parallelism),
                "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": database
                or f"sqlite:///{home / 'airflow.db'}",
                "AIRFLOW__CORE__AUTH_MANAGER": (
                    "airflow.api_fastapi.auth.managers.simple.simple_auth_manager.SimpleAuthManager"
                ),
                "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": f"{USER}:admin",
                "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE": str(home / "passwords.json"),
                "AIRFLOW__API_AUTH__JWT_SECRET": secrets.token_urlsafe(32),
                "AIRFLOW__API__HOST": "127.0.0.1",
                "AIRFLOW__API__PORT": str(self.port),
                "AIRFLOW__API__WORKERS": "1",
                # A database error's answer names the statement and the driver's message,
                # so a failing test shows the cause, not only a lookup id in the log.
                "AIRFLOW__API__EXPOSE_STACKTRACE": "True",
                "AIRFLOW__API__BASE_URL": self.url,
                "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"{self.url}/execution/",
                # One parse is enough for a test; re-parsing every 30 s takes CPU from
                # the Spark tasks on a two-core machine.
                "AIRFLOW__DAG_PROCESSOR__PARSING_PROCESSES": "1",
                "AIRFLOW__DAG_PROCESSOR__MIN_FILE_PROCESS_INTERVAL": "3600",
                # The user's shell: the venv is not activated (the operator copes).
                "PATH": "/usr/local/bin:/usr/bin:/bin",
            }
        )
        self.env.update(env or {})

    # ------------------------------------------------------------ lifecycle
    def start(self, timeout: float = 300) -> None:
        self.home.mkdir(parents=True, exist_ok=True)
        self.log_dir.mkdir(exist_ok=True)
        (self.home / "passwords.json").write_text(json.dumps({USER: self.password}))
        migrate = subprocess.run(
            [self.airflow, "db", "migrate"],
            env=self.env,
            cwd=self.home,
            capture_output=True,
            text=True,
            timeout=timeout,
        )
        assert migrate.returncode == 0, (
            f"airflow db migrate:\n{(migrate.stdout + migrate.stderr)[-4000:]}"
        )
        for name in COMPONENTS:
            with open(self.log_dir / f"{name}.log", "wb") as log:
                # A session of its own, so teardown can signal the component's whole group.
                self.procs[name] = subprocess.Popen(
                    [self.airflow, name],
                    env=self.env,
                    cwd=self.home,
                    stdin=subprocess.DEVNULL,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,
                )
        self.wait_for(
            self._healthy, timeout=timeout, what="healthy api-server, scheduler, dag-processor"
        )
        response = httpx.post(
            f"{self.url}/auth/token", json={"username": USER, "password": self.password}, timeout=30
        )
        assert response.status_code == 201, (
            f"POST /auth/token: {response.status_code} {response.text}"
        )
        token = response.json()["access_token"]
        self.client = httpx.Client(
            base_url=self.url, headers={"Authorization": f"Bearer {token}"}, timeout=60
        )

    def _healthy(self) -> bool:
        try:
            health = httpx.get(f"{self.url}/api/v2/monitor/health", timeout=10).json()
        except (httpx.HTTPError, ValueError):
            return False
        return all(
            (health.get(part) or {}).get("status") == "healthy"
            for part in ("metadatabase", "scheduler", "dag_processor")
        )

    def stop(self, grace: float = 15) -> None:
        if self.client is not None:
            self.client.close()
            self.client = None
        for proc in self.procs.values():
            self._signal_group(proc, signal.SIGTERM)
        deadline = time.monotonic() + grace
        for proc in self.procs.values():
            try:
                proc.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                self._signal_group(proc, signal.SIGKILL)
                proc.wait(timeout=30)
        # Task supervisors leave the components' groups, and a JVM may outlive
        # its spark-submit: end whatever still carries this server's marker.
        for _ in range(10):
            if not self._kill_marked():
                break
            time.sleep(0.5)

    @staticmethod
    def _signal_group(proc: subprocess.Popen, sig: signal.Signals) -> None:
        if proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, sig)

    def _kill_marked(self) -> int:
        needle = f"{MARKER_VAR}={self.marker}".encode()
        killed = 0
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit() or int(entry.name) == os.getpid():
                continue
            try:
                environ = (entry / "environ").read_bytes()
            except OSError:
                continue
            if needle in environ.split(b"\0"):
                try:
                    os.kill(int(entry.name), signal.SIGKILL)
                    killed += 1
                except ProcessLookupError:
                    pass
        return killed

    # ------------------------------------------------------------ REST API
    def api(self, method: str, path: str, *, ok: tuple[int, ...] = (200, 201), **kwargs) -> Any:
        """Call the REST API as the logged-in user; any other status fails with the logs."""
        assert self.client is not None, "the Airflow server is not started"
        response = self.client.request(method, path, **kwargs)
        if response.status_code not in ok:
            raise AssertionError(
                f"{method} {path}: {response.status_code} {response.text[:2000]}\n"
                + self.diagnostics()
            )
        return response.json() if response.content else None

    def wait_for_dag(self, dag_id: str, filename: str, timeout: float = 300) -> dict:
        """The DAG once the dag-processor has serialized it; an import error of its file fails at once."""

        def parsed() -> dict | None:
            errors = [
                e
                for e in self.api("GET", "/api/v2/importErrors")["import_errors"]
                if Path(e["filename"]).name == filename
            ]
            assert not errors, f"{filename} does not import:\n{errors[0]['stack_trace']}"
            response = self.client.get(f"/api/v2/dags/{dag_id}")
            return response.json() if response.status_code == 200 else None

        return self.wait_for(parsed, timeout=timeout, what=f"DAG {dag_id} parsed")

    def wait_for(
        self, probe: Callable[[], T], *, timeout: float, what: str, interval: float = 2
    ) -> T:
        """Poll ``probe`` until it returns something truthy; a component that dies fails at once."""
        deadline = time.monotonic() + timeout
        while True:
            for name, proc in self.procs.items():
                if proc.poll() is not None:
                    raise AssertionError(
                        f"airflow {name} exited with {proc.returncode} while waiting for {what}\n"
                        + self.diagnostics()
                    )
            result = probe()
            if result:
                return result
            if time.monotonic() > deadline:
                raise AssertionError(
                    f"timed out after {timeout:.0f}s waiting for {what}\n" + self.diagnostics()
                )
            time.sleep(interval)

    # ------------------------------------------------------------ diagnostics
    def task_logs(self, dag_id: str, run_id: str, task_ids: Iterable[str] | None = None) -> str:
        """Tails of the task logs of one DAG run, every attempt (the logs are local files here)."""
        run_dir = self.home / "logs" / f"dag_id={dag_id}" / f"run_id={run_id}"
        wanted = None if task_ids is None else {f"task_id={t}" for t in task_ids}
        logs = sorted(
            p
            for p in run_dir.rglob("*.log")
            if wanted is None or p.relative_to(run_dir).parts[0] in wanted
        )
        return "\n".join(f"--- {p.relative_to(run_dir)}\n{task_log_text(p)}" for p in logs)

    def diagnostics(self, chars: int = 3000) -> str:
        return "\n".join(
            f"--- airflow {name} (tail)\n{tail(self.log_dir / f'{name}.log', chars)}"
            for name in COMPONENTS
        )
