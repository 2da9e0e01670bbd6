"""The ``lakesight`` command: what users, CI and benchmarks run.

Every command prints a short human summary, or one JSON object with ``--json``.
Progress goes to stderr. A wrong setting exits 2 with one line naming it.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import json
import os
import re
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from lakesight.config import ConfigError, load_settings, validate_dt
from lakesight.progress import Steps
from lakesight.stage import Stage, StageError, stage_module, stage_modules

if TYPE_CHECKING:
    from lakesight.config import Settings
    from lakesight.lake import LakeFileSystem

DEMO_DT = "2026-01-01"


def emit(payload: dict, as_json: bool, human: Callable[[dict], str]) -> None:
    """Print one JSON object with ``--json``, else the human summary."""
    print(json.dumps(payload, ensure_ascii=False, default=str) if as_json else human(payload))


@contextlib.contextmanager
def stdout_to_stderr():
    """Send everything written to file descriptor 1 (child processes included: torchrun,
    the JVM) to stderr for the block, so that ``--json`` leaves stdout one JSON object."""
    sys.stdout.flush()
    saved = os.dup(1)
    os.dup2(2, 1)
    try:
        yield
    finally:
        sys.stdout.flush()
        os.dup2(saved, 1)
        os.close(saved)


def cmd_config(args: argparse.Namespace) -> int:
    """``lakesight config``: the resolved settings."""
    settings = load_settings()
    emit(
        settings.masked(),
        args.json,
        lambda d: "\n".join(f"{k:18} {v}" for k, v in d.items()),
    )
    return 0


def cmd_stage(args: argparse.Namespace, rest: list[str]) -> int:
    """``lakesight stage <name>``: run one Spark stage in this process."""
    return int(stage_module(args.stage).main(rest))


def cmd_partitions(args: argparse.Namespace) -> int:
    """``lakesight partitions``: committed partitions and their counts."""
    from lakesight.lake import filesystem_for, join, list_partitions, read_manifest

    settings = load_settings()
    zone, _, dataset = args.dataset.partition("/")
    dataset_uri = settings.dataset_uri(zone, dataset)
    fs = filesystem_for(dataset_uri, settings)
    rows = []
    for dt in list_partitions(fs, dataset_uri):
        manifest = read_manifest(fs, join(dataset_uri, f"dt={dt}"))
        rows.append({"dt": dt, "counts": manifest.counts if manifest else None})
    emit(
        {"dataset": dataset_uri, "partitions": rows},
        args.json,
        lambda d: "\n".join(
            [d["dataset"]] + [f"  dt={r['dt']}  {r['counts']}" for r in d["partitions"]]
        ),
    )
    return 0


def airflow_dags_test(dag_id: str, dt: str, log_path, steps: Steps | None = None,
                      conf: dict | None = None) -> None:  # fmt: skip
    """Run one DAG for ``dt`` the way its users test it: ``airflow dags test``, with this
    repository's dags/ and plugins/, in ``AIRFLOW_HOME`` (default ``var/airflow``).

    Airflow's output goes to ``log_path``; each task's start and end (with its time) is
    said on ``steps`` as it happens, so a person always sees where the run is. ``conf``
    is the run's configuration (the UI's "Trigger DAG w/ config"), for DAG params.
    """
    import json
    import os
    import subprocess
    from pathlib import Path

    from lakesight.config import REPO_ROOT

    if not (REPO_ROOT / "dags" / f"{dag_id}.py").exists():
        raise ConfigError(
            f"demo: no dags/{dag_id}.py under {REPO_ROOT} (run the demo from a checkout)"
        )
    airflow = str(Path(sys.executable).with_name("airflow"))
    env = dict(os.environ)
    env.setdefault("AIRFLOW_HOME", str(REPO_ROOT / "var" / "airflow"))
    env.setdefault("AIRFLOW__CORE__DAGS_FOLDER", str(REPO_ROOT / "dags"))
    env.setdefault("AIRFLOW__CORE__PLUGINS_FOLDER", str(REPO_ROOT / "plugins"))
    env.setdefault("AIRFLOW__CORE__LOAD_EXAMPLES", "False")
    # The demo wrote its sample day whole just before: the sensor need not wait for quiet.
    env.setdefault("LAKESIGHT_DROP_QUIET_MIN", "0")
    log_path.parent.mkdir(parents=True, exist_ok=True)
    tasks = TaskProgress(steps or Steps(dag_id))
    with open(log_path, "w") as log:
        for command in ([airflow, "db", "migrate"], [airflow, "dags", "test", dag_id, dt,
                         *(["-c", json.dumps(conf)] if conf else [])]):  # fmt: skip
            log.write(f"$ {' '.join(command)}\n")
            log.flush()
            with subprocess.Popen(
                command, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                errors="replace",
            ) as process:  # fmt: skip
                for line in process.stdout:
                    log.write(line)
                    tasks.feed(line)
            if process.returncode != 0:
                raise StageError(
                    f"{' '.join(command[1:])} failed (exit {process.returncode}); see {log_path}"
                )
    if "state=success" not in log_path.read_text():
        raise StageError(f"airflow dags test {dag_id} {dt} did not succeed; see {log_path}")


class TaskProgress:
    """Says each task's start and end (with its state and time), read from the lines
    ``airflow dags test`` logs: ``[DAG TEST] starting task_id=X``, the task instance's
    ``new_state=...``, then ``[DAG TEST] end task task_id=X``."""

    STARTING = re.compile(r"\[DAG TEST\] starting task_id=(\S+)")
    NEW_STATE = re.compile(r"Task instance state updated.*\bnew_state=(\w+)")
    ENDING = re.compile(r"\[DAG TEST\] end task task_id=(\S+)")

    def __init__(self, steps: Steps) -> None:
        self.steps = steps
        self.started: dict[str, float] = {}
        self.state = "done"

    def feed(self, line: str) -> None:
        if match := self.STARTING.search(line):
            self.started[match.group(1)] = time.perf_counter()
            self.state = "done"
            self.steps.say(f"task {match.group(1)} started")
        elif match := self.NEW_STATE.search(line):
            self.state = match.group(1)
        elif (match := self.ENDING.search(line)) and match.group(1) in self.started:
            elapsed = time.perf_counter() - self.started.pop(match.group(1))
            self.steps.say(f"task {match.group(1)} {self.state} in {elapsed:.1f}s")


@dataclass
class DemoRun:
    """A demo as far as it has gone: what its part's steps read."""

    args: argparse.Namespace
    settings: Settings
    fs: LakeFileSystem
    dt: str
    steps: Steps
    sample: Any = None  # what the part's write_sample wrote (its second value)
    manifests: dict = field(default_factory=dict)  # each stage's committed manifest, by short name


@dataclass(frozen=True)
class DemoPart:
    """What one pipeline's ``lakesight demo <pipeline>`` does that the others do not.

    :func:`run_demo` does the rest, the same for every pipeline: the settings, the sample
    day (its step says ``sample_text``, formatted with the command's options), the DAG
    through ``airflow dags test``, each stage's summary from its committed manifest, then
    ``finish`` and the lines it returns."""

    pipeline: str  # the lakesight package, and its DAG dags/<pipeline>.py
    help: str  # the command's one-line help
    stages: tuple[Stage, ...]  # the DAG's stages, in order: each one's summary is printed
    sample_text: str  # what the sample day holds, e.g. "{n} scenes"
    write_sample: Callable[[DemoRun], tuple[str, Any]]  # -> (raw partition URI, the sample)
    finish: Callable[[DemoRun], tuple[dict, list[str]]]  # after the DAG: (payload entries, lines)
    logical_date: str = "{dt}"  # the DAG run's logical date, formatted with dt
    conf: Callable[[argparse.Namespace], dict] | None = None  # the DAG run's params


def add_demo(groups: dict, part: DemoPart) -> argparse.ArgumentParser:
    """Add ``lakesight demo <pipeline>`` with the options every demo has (``--dt``,
    ``--json``) and return its parser, for the pipeline's own options."""
    parser = groups["demo"].add_parser(part.pipeline, help=part.help)
    parser.add_argument("--dt", default=DEMO_DT)
    parser.add_argument("--json", action="store_true")
    parser.set_defaults(func=run_demo, demo=part)
    return parser


def run_demo(args: argparse.Namespace) -> int:
    """``lakesight demo <pipeline>``: a sample day, the pipeline's DAG through ``airflow dags
    test``, what each stage committed, then the part's own ending (:class:`DemoPart`)."""
    from lakesight.config import REPO_ROOT
    from lakesight.lake import filesystem_for, read_manifest
    from lakesight.spark import check_java
    from lakesight.stage import StageResult, format_summary

    part: DemoPart = args.demo
    settings = load_settings()
    dt = validate_dt(args.dt)
    check_java()
    run = DemoRun(args, settings, filesystem_for(settings.root, settings), dt,
                  Steps("demo", quiet=args.json))  # fmt: skip
    with run.steps.step(f"sample data: {part.sample_text.format(**vars(args))}"):
        input_uri, run.sample = part.write_sample(run)
    log_path = REPO_ROOT / "var" / "logs" / f"demo-{part.pipeline}-{dt}.log"
    with run.steps.step(f"airflow dags test {part.pipeline} {dt} (log: {log_path})"):
        airflow_dags_test(part.pipeline, part.logical_date.format(dt=dt), log_path, run.steps,
                          conf=part.conf(args) if part.conf else None)  # fmt: skip
    summaries = {}
    for stage in part.stages:
        manifest = read_manifest(run.fs, stage.output.partition(settings, dt))
        run.manifests[stage.short] = manifest
        summaries[stage.short] = StageResult.from_manifest(stage, manifest, settings).summary()
    entries, lines = part.finish(run)
    payload = {"dt": dt, "root": settings.root, "input": input_uri, **summaries, **entries,
               "airflow_log": str(log_path), "seconds": run.steps.total_s}  # fmt: skip

    def human(d: dict) -> str:
        return "\n".join([
            f"lakesight demo {part.pipeline} dt={d['dt']} on {d['root']} ({d['seconds']:.0f}s), "
            f"through airflow dags test (log: {d['airflow_log']})",
            f"  read:        {d['input']}",
            *(format_summary(d[stage.short], stage) for stage in part.stages),
            *lines,
        ])  # fmt: skip

    emit(payload, args.json, human)
    return 0


# The packages whose commands the CLI offers (the pipelines, the similarity service and the
# model registry); each has a ``cli`` module with ``register``.
COMMAND_PACKAGES = (
    "image_features", "radar_nowcast", "house_similarity", "listing_recs", "serve", "models"
)  # fmt: skip
DEFAULT_DEMO = "image_features"


class OneLineParser(argparse.ArgumentParser):
    """argparse, but a bad argument is answered with one line (and exit code 2), no usage dump."""

    def error(self, message: str):
        self.exit(2, f"lakesight: error: {self.prog.removeprefix('lakesight ')}: {message}\n")


def build_parser() -> argparse.ArgumentParser:
    parser = OneLineParser(prog="lakesight", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("config", help="show the resolved settings")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_config)

    p = sub.add_parser(
        "stage", help="run one Spark stage in-process (also: spark-submit tasks/PIPELINE/STAGE.py)"
    )
    p.add_argument("stage", choices=list(stage_modules()), metavar="PIPELINE.STAGE")
    p.set_defaults(func=cmd_stage, passthrough=True)

    p = sub.add_parser(
        "partitions", help="list committed partitions of a dataset, e.g. curated/images"
    )
    p.add_argument("dataset")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_partitions)

    groups = {}
    for name, help_text, dest in (
        (
            "demo",
            f"a pipeline end to end on embedded defaults (default {DEFAULT_DEMO})",
            "pipeline",
        ),
        ("sample-data", "generate a raw partition", "kind"),
        ("eval", "model quality on held-out data", "target"),
        ("bench", "speed against baselines measured in the same run", "target"),
    ):
        groups[name] = sub.add_parser(name, help=help_text).add_subparsers(dest=dest, required=True)
    for package in COMMAND_PACKAGES:
        importlib.import_module(f"lakesight.{package}.cli").register(sub, groups)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["demo"] and (len(argv) == 1 or argv[1].startswith("-")):
        argv.insert(1, DEFAULT_DEMO)  # `lakesight demo` is the main pipeline's demo
    args, rest = parser.parse_known_args(argv)
    from lakesight.lake import StorageError

    try:
        if getattr(args, "passthrough", False):
            return args.func(args, rest)
        if rest:
            parser.error(f"unrecognized arguments: {' '.join(rest)}")
        return args.func(args)
    except ConfigError as err:
        print(f"lakesight: error: {err}", file=sys.stderr)
        return 2
    except StorageError as err:  # e.g. a stalled namenode: one line, as `lakesight stage` says it
        print(f"lakesight: error: {err}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
