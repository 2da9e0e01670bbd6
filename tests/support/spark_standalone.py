"""A real Spark standalone cluster on loopback: one master and one worker, from the installed pyspark.

``local-cluster`` runs its executors with the driver's environment; a standalone
worker is a separate daemon that launches executors with *its own* environment,
as on a real cluster. The daemons get a scrubbed environment (no ``PYSPARK_*``,
``PYTHONPATH`` or ``LAKESIGHT_*``) and an empty ``SPARK_CONF_DIR``, so nothing
the test process knows leaks into the executors unless spark-submit sends it.

:func:`deps_only_python` builds an interpreter that imports the project's
dependencies but not lakesight itself, for executors that must prove the code
reached them through ``--py-files``.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import sysconfig
import time
import urllib.request
from pathlib import Path

from tests.support.processes import StartedProcesses, free_port

# The environment of the test process that must not reach the daemons (and so the executors).
SCRUBBED_PREFIXES = ("PYSPARK_", "LAKESIGHT_", "SPARK_")
SCRUBBED = {"PYTHONPATH", "PYTHONHOME", "PYTHONSTARTUP", "VIRTUAL_ENV"}


def tail(path: Path, lines: int = 40) -> str:
    if not path.exists():
        return f"({path} does not exist)"
    text = path.read_text(errors="replace").splitlines()[-lines:]
    return f"--- {path} (last {len(text)} lines)\n" + "\n".join(text)


def installed_spark_home() -> str:
    """The Spark distribution inside the installed pyspark package."""
    import pyspark

    return str(Path(pyspark.__file__).resolve().parent)


def deps_only_python(directory: Path) -> Path:
    """A Python that imports everything installed in this venv except the editable lakesight.

    A venv of the same base interpreter, whose ``deps.pth`` names this venv's
    site-packages as a plain line: ``site`` appends that directory to
    ``sys.path`` but does not process the ``.pth`` files inside it, so the
    editable install's import hook is never installed.
    """
    python = directory / "bin" / "python"
    if not python.exists():
        base = getattr(sys, "_base_executable", None) or sys.executable
        subprocess.run([base, "-m", "venv", "--without-pip", str(directory)], check=True)
    purelib = subprocess.run(
        [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()
    (Path(purelib) / "deps.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    return python


class StandaloneCluster(StartedProcesses):
    """``with StandaloneCluster(tmp) as cluster: ... cluster.master_url ...``

    Starts the master, then the worker, and returns once the worker has
    registered with ``cores`` cores; stops both process groups (the worker's
    holds its executors and their Python workers) on exit. Failures carry the
    tails of the daemons' logs.
    """

    def __init__(
        self,
        base_dir: Path,
        *,
        cores: int = 2,
        memory: str = "2g",
        spark_home: str | None = None,
        start_timeout: float = 120.0,
    ) -> None:
        self.base_dir = Path(base_dir)
        self.cores = cores
        self.memory = memory
        self.spark_home = spark_home or installed_spark_home()
        self.spark_class = Path(self.spark_home) / "bin" / "spark-class"
        self.start_timeout = start_timeout
        self.log_dir = self.base_dir / "logs"
        self.work_dir = self.base_dir / "work"
        self.local_dir = self.base_dir / "local"
        self.conf_dir = self.base_dir / "conf"
        self.host = "127.0.0.1"
        self.port = 0
        self.webui_port = 0
        self.worker_webui_port = 0
        self._procs: dict[str, subprocess.Popen] = {}

    @property
    def master_url(self) -> str:
        return f"spark://{self.host}:{self.port}"

    @property
    def json_url(self) -> str:
        return f"http://{self.host}:{self.webui_port}/json/"

    # ------------------------------------------------------------ lifecycle
    def start(self, attempts: int = 3) -> None:
        for d in (self.log_dir, self.work_dir, self.local_dir, self.conf_dir):
            d.mkdir(parents=True, exist_ok=True)
        for attempt in range(1, attempts + 1):
            try:
                self._start_daemons()
                return
            except RuntimeError as err:
                self.stop()
                # Another process may take a port between free_port() and the bind.
                if attempt == attempts or "BindException" not in str(err):
                    raise

    def _start_daemons(self) -> None:
        self.port, self.webui_port, self.worker_webui_port = (free_port() for _ in range(3))
        deadline = time.monotonic() + self.start_timeout
        self._spawn(
            "master",
            "org.apache.spark.deploy.master.Master",
            ["--host", self.host, "--port", str(self.port), "--webui-port", str(self.webui_port)],
        )
        self._wait(deadline, lambda state: state.get("status") == "ALIVE", "the master to start")
        self._spawn(
            "worker",
            "org.apache.spark.deploy.worker.Worker",
            [
                self.master_url,
                *("--host", self.host),
                *("--cores", str(self.cores)),
                *("--memory", self.memory),
                *("--webui-port", str(self.worker_webui_port)),
                *("--work-dir", str(self.work_dir)),
            ],
        )
        self._wait(
            deadline,
            lambda state: state.get("aliveworkers", 0) >= 1 and state.get("cores", 0) >= self.cores,
            f"a worker with {self.cores} cores to register",
        )

    def stop(self) -> None:
        # Worker first: its group holds the executors, which would otherwise outlive it.
        for name in ("worker", "master"):
            proc = self._procs.pop(name, None)
            if proc is None:
                continue
            pgid = proc.pid  # start_new_session: the group id is the spawned process's id
            with contextlib.suppress(ProcessLookupError):
                os.killpg(pgid, signal.SIGTERM)
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(timeout=15)
            # Executors and Python workers may outlive the daemon in its group.
            with contextlib.suppress(ProcessLookupError):
                os.killpg(pgid, signal.SIGKILL)
            proc.wait(timeout=15)

    # ------------------------------------------------------------ state and logs
    def state(self) -> dict:
        """The master's JSON status (workers, cores, apps)."""
        with urllib.request.urlopen(self.json_url, timeout=5) as response:
            return json.load(response)

    def log_tails(self, lines: int = 40) -> str:
        """The daemons' logs and the stderr of the most recent executors, for failure messages."""
        parts = [tail(self.log_dir / f"{name}.log", lines) for name in ("master", "worker")]
        apps = sorted(self.work_dir.glob("app-*"), key=lambda p: p.stat().st_mtime)
        if apps:
            parts += [tail(path, lines) for path in sorted(apps[-1].glob("*/stderr"))]
        return "\n".join(parts)

    def _env(self) -> dict[str, str]:
        env = {
            k: v
            for k, v in os.environ.items()
            if k not in SCRUBBED and not k.startswith(SCRUBBED_PREFIXES)
        }
        # JAVA_HOME is kept: the daemons need the same Java 17/21 as spark-submit.
        env.update(
            # spark-class would look for it with whichever python is on PATH.
            SPARK_HOME=self.spark_home,
            SPARK_CONF_DIR=str(self.conf_dir),  # empty: no spark-env.sh or spark-defaults
            SPARK_LOG_DIR=str(self.log_dir),
            SPARK_WORKER_DIR=str(self.work_dir),
            SPARK_LOCAL_DIRS=str(self.local_dir),
            SPARK_LOCAL_IP=self.host,
            # A taken port must fail the start (which is retried on fresh ports), not
            # silently move to the next one, where nobody would look for the daemon.
            SPARK_MASTER_OPTS="-Dspark.port.maxRetries=0",
            SPARK_WORKER_OPTS="-Dspark.port.maxRetries=0",
            # The daemons' own heap; executors get theirs from spark.executor.memory.
            SPARK_DAEMON_MEMORY="256m",
        )
        return env

    def _spawn(self, name: str, main_class: str, args: list[str]) -> None:
        log = open(self.log_dir / f"{name}.log", "ab")  # noqa: SIM115 - the child keeps it
        try:
            self._procs[name] = subprocess.Popen(
                [str(self.spark_class), main_class, *args],
                cwd=self.base_dir,
                env=self._env(),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        finally:
            log.close()

    def _wait(self, deadline: float, ready, what: str) -> None:
        last_error: Exception | None = None
        while time.monotonic() < deadline:
            for name, proc in self._procs.items():
                if proc.poll() is not None:
                    raise RuntimeError(
                        f"spark standalone: the {name} exited with {proc.returncode} while "
                        f"waiting for {what}\n{self.log_tails()}"
                    )
            try:
                if ready(self.state()):
                    return
            except OSError as err:  # not listening yet
                last_error = err
            time.sleep(0.5)
        raise RuntimeError(
            f"spark standalone: timed out after {self.start_timeout:.0f}s waiting for {what} "
            f"(last error: {last_error})\n{self.log_tails()}"
        )
