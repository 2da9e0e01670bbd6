"""The stage framework: how every lakesight Spark stage is named, started, committed and summarised.

A stage is named ``PIPELINE.STAGE`` (``image_features.analyze``) and lives in the
module ``lakesight.PIPELINE.STAGE``, which holds

- ``STAGE``, its :class:`Stage` declaration (the dataset it writes, the one its
  rejects go to, and the words its summary uses);
- its pure batch functions, unit-tested without Spark;
- ``run(spark, settings, dt, *, steps=None, ...) -> StageResult``, a short driver:
  check the input (:func:`committed_input`), compute, commit (:func:`commit_stage`);
- ``main(argv)`` = :func:`stage_main`, what ``spark-submit tasks/PIPELINE/STAGE.py``
  and ``lakesight stage PIPELINE.STAGE`` run.

Every stage commits through :func:`commit_stage`: rows with a ``reason`` go to the
stage's quarantine dataset, ``quarantine/<dataset>/dt=D`` named by its pipeline,
the rest to its output, both atomically and quarantine first. Every stage
returns one :class:`StageResult`, built from the manifest it committed, so a
summary printed by the stage and one rebuilt later from the lake are the same.
"""

from __future__ import annotations

import contextlib
import contextvars
import functools
import importlib
import re
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import TYPE_CHECKING

from lakesight.config import ConfigError, Settings

if TYPE_CHECKING:
    from pathlib import Path

    from pyspark.sql import DataFrame, SparkSession

    from lakesight.lake import LakeFileSystem, Manifest
    from lakesight.progress import Steps

# The pipelines, each a package of lakesight whose ``STAGES`` lists its stages in DAG order.
PIPELINES = ("image_features", "radar_nowcast", "house_similarity", "listing_recs")
# Columns every quarantine row has; stages may add identifying columns (QUARANTINE_IDS).
QUARANTINE_COLUMNS = ("path", "dt", "stage", "reason", "detail")
QUARANTINE_IDS = ("image_id", "size")
QUARANTINE_SCHEMA_VERSION = "quarantine/v1"


# --------------------------------------------------------------------------- time of day

# Stages of time series (radar_nowcast) take an interval of their day, as a DAG's data
# interval; partitions stay whole days.
DAY_MINUTES = 1440


def day_time(dt: str, minute: int) -> datetime:
    """The UTC timestamp of a minute of day ``dt`` (1440 is the next midnight)."""
    return datetime.combine(date.fromisoformat(dt), datetime.min.time(), UTC) + timedelta(
        minutes=minute
    )


def clock(minute: int) -> str:
    return f"{minute // 60:02d}:{minute % 60:02d}"


@dataclass(frozen=True)
class Interval:
    """Minutes ``[start, end)`` of a day; the whole day by default."""

    start: int = 0
    end: int = DAY_MINUTES

    @property
    def whole_day(self) -> bool:
        return self.start == 0 and self.end == DAY_MINUTES

    def __contains__(self, minute: int) -> bool:
        return self.start <= minute < self.end

    def to_dict(self) -> dict:
        return {"start": clock(self.start), "end": clock(self.end)}


WHOLE_DAY = Interval()


def parse_interval(dt: str, start: str | None, end: str | None) -> Interval:
    """The interval of ``--start``/``--end`` on day ``dt``: ``HH:MM`` or ISO timestamps (the
    DAG passes its data interval), clipped to the day; either may be left out. One-line
    ConfigError for a malformed or empty one."""
    day = day_time(dt, 0)

    def minute_of(value: str | None, option: str, default: int) -> int:
        if value is None or value == "":
            return default
        try:
            if re.fullmatch(r"\d{1,2}:\d{2}", value):
                hours, minutes = map(int, value.split(":"))
                if hours > 24 or minutes >= 60:
                    raise ValueError(value)
                moment = day + timedelta(hours=hours, minutes=minutes)
            else:
                moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
                moment = moment if moment.tzinfo else moment.replace(tzinfo=UTC)
        except ValueError:
            raise ConfigError(
                f"{option}: expected HH:MM or an ISO timestamp, got {value!r}"
            ) from None
        minutes = (moment - day).total_seconds() / 60
        if minutes != int(minutes):
            raise ConfigError(f"{option}: {value!r} is not a whole minute")
        # An interval is clipped to its day: a DAG's "the hour before" may start the day before.
        return min(max(int(minutes), 0), DAY_MINUTES)

    interval = Interval(minute_of(start, "--start", 0), minute_of(end, "--end", DAY_MINUTES))
    if interval.start >= interval.end:
        raise ConfigError(f"--start/--end: empty interval {start!r} .. {end!r}")
    return interval


def schema_columns(schema: str) -> tuple[str, ...]:
    """The column names of a Spark DDL schema string (``"a int, b string"`` -> ``("a", "b")``)."""
    return tuple(column.split()[0] for column in schema.split(", "))


class StageError(RuntimeError):
    """A stage cannot run (as opposed to a bad record, which is quarantined)."""


@dataclass(frozen=True)
class Dataset:
    """A dataset of the lake: ``<zone>/<name>``, partitioned by ``dt``."""

    zone: str  # raw, curated, features, quarantine, pictures, cache, ...
    name: str

    def __str__(self) -> str:
        return f"{self.zone}/{self.name}"

    def uri(self, settings: Settings) -> str:
        return settings.dataset_uri(self.zone, self.name)

    def partition(self, settings: Settings, dt: str) -> str:
        return settings.partition_uri(self.zone, self.name, dt)


@dataclass(frozen=True)
class Stage:
    """What a stage is: its name, what it writes and how its summary reads."""

    name: str  # PIPELINE.STAGE
    output: Dataset
    label: str  # the output's name in summaries: "curated", "descriptors", "features"
    noun: str  # what its counts count: "files", "images"
    verb: str  # what "out" means for them: "curated", "described", "published"
    # Where its rejected records go; None when the stage rejects nothing itself
    # (its manifest then counts what upstream stages quarantined).
    quarantine: Dataset | None = None

    @property
    def pipeline(self) -> str:
        return self.name.split(".", 1)[0]

    @property
    def short(self) -> str:
        return self.name.split(".", 1)[1]


@dataclass(frozen=True)
class StageResult:
    """A stage run, as its committed manifest tells it; the one result type of every stage."""

    stage: Stage
    manifest: Manifest
    outputs: dict[str, str] = field(default_factory=dict)  # label -> URI

    @classmethod
    def from_manifest(cls, stage: Stage, manifest: Manifest, settings: Settings) -> StageResult:
        outputs = dict(manifest.outputs) or {
            stage.label: stage.output.partition(settings, manifest.dt)
        }
        return cls(stage, manifest, outputs)

    @property
    def output_uri(self) -> str:
        return self.outputs[self.stage.label]

    @property
    def quarantine_uri(self) -> str | None:
        return self.outputs.get("quarantine")

    def summary(self) -> dict:
        m = self.manifest
        return {
            "stage": self.stage.name,
            "dt": m.dt,
            "counts": dict(m.counts),
            "by_reason": dict(m.extra.get("quarantined_by_reason", {})),
            "models": [entry["name"] for entry in m.models],
            "outputs": dict(self.outputs),
            "run_id": m.run_id,
            "timings": dict(m.timings),
        }

    def format(self) -> str:
        """Three or four lines a person reads: the counts, then where each output is."""
        return format_summary(self.summary(), self.stage)


def format_summary(summary: dict, stage: Stage) -> str:
    """A stage's summary (:meth:`StageResult.summary`) as the lines a person reads."""
    counts = dict(summary["counts"])
    n_in, n_out, n_quarantined = counts.pop("in"), counts.pop("out"), counts.pop("quarantined")
    models = f" with {' + '.join(summary['models'])}" if summary["models"] else ""
    others = ", ".join(f"{v} {k}" for k, v in counts.items())
    lines = [
        f"{stage.short} dt={summary['dt']}{models}: {n_out} of {n_in} {stage.noun} {stage.verb}"
        + (f" ({others})" if others else "")
        + f", {n_quarantined} quarantined"
    ]
    for label, uri in summary["outputs"].items():
        line = f"  {label + ':':12} {uri}"
        if label == "quarantine":
            reasons = ", ".join(f"{k} {v}" for k, v in summary["by_reason"].items())
            line += f"  ({reasons or 'none'})"
        lines.append(line)
    return "\n".join(lines)


# --------------------------------------------------------------------------- registry


@functools.cache
def stage_modules() -> dict[str, str]:
    """Every stage, ``PIPELINE.STAGE`` -> module, in each pipeline's DAG order."""
    modules = {}
    for pipeline in PIPELINES:
        package = importlib.import_module(f"lakesight.{pipeline}")
        for stage in package.STAGES:
            modules[f"{pipeline}.{stage}"] = f"lakesight.{pipeline}.{stage}"
    return modules


def stage_module(name: str):
    """The module of stage ``PIPELINE.STAGE``; a one-line ConfigError for an unknown name."""
    modules = stage_modules()
    if name not in modules:
        raise ConfigError(f"stage: unknown stage {name!r}; known: {', '.join(modules)}")
    return importlib.import_module(modules[name])


def stage_application(name: str) -> str:
    """Path of the stage's module: the file spark-submit runs as the driver."""
    origin = stage_module(name).__file__
    if origin is None:
        raise ConfigError(f"stage: module of {name} has no file")
    return origin


def stage_main(stage: Stage, run: Callable, argv: list[str] | None = None, *,
               interval: bool = False, options: Sequence[tuple[str, dict]] = ()) -> int:  # fmt: skip
    """The ``main()`` of every stage: ``--dt D [--json]``, one-line errors, the summary.

    ``interval``: the stage also takes ``--start``/``--end`` (``HH:MM`` or ISO timestamps,
    as a DAG passes its data interval) and is run with ``interval=``; without them it
    covers the whole day. ``options``: the stage's own ``(flag, argparse keywords)``,
    passed to ``run`` by their ``dest``."""
    import json

    from lakesight.cli import OneLineParser
    from lakesight.config import load_settings, validate_dt
    from lakesight.lake import StorageError
    from lakesight.progress import Steps
    from lakesight.spark import check_java, get_spark

    module = sys.modules.get(run.__module__)
    description = ((module.__doc__ if module else None) or stage.name).splitlines()[0]
    parser = OneLineParser(prog=f"lakesight stage {stage.name}", description=description)
    parser.add_argument("--dt", required=True, help="partition date, YYYY-MM-DD")
    parser.add_argument("--json", action="store_true", help="print the summary as JSON")
    if interval:
        parser.add_argument("--start", help="first minute of the interval (default 00:00)")
        parser.add_argument("--end", help="end of the interval, excluded (default 24:00)")
    for flag, keywords in options:
        parser.add_argument(flag, **keywords)
    args = parser.parse_args(argv)
    try:
        dt = validate_dt(args.dt)
        extra = {a.dest: getattr(args, a.dest) for a in parser._actions if a.option_strings
                 and a.option_strings[0] in {flag for flag, _ in options}}  # fmt: skip
        if interval:
            extra["interval"] = parse_interval(dt, args.start, args.end)
        settings = load_settings()
        check_java()
        steps = Steps(stage.short)
        with steps.step("start spark"):
            spark = get_spark(f"lakesight-{stage.name}-{dt}", settings)
        result = run(spark, settings, dt, steps=steps, **extra)
    except (ConfigError, StageError) as err:
        print(f"lakesight: error: {err}", file=sys.stderr)
        return 2
    except StorageError as err:  # a busy day (lease), unreachable storage: not a usage error
        print(f"lakesight: error: {err}", file=sys.stderr)
        return 1
    print(json.dumps(result.summary(), ensure_ascii=False) if args.json else result.format())
    return 0


def frees_cached_data(run: Callable) -> Callable:
    """Decorate a stage's ``run(spark, ...)``: a stage owns its session, so on any exit,
    failures included, what it cached (rows counted once and written twice) is freed."""

    @functools.wraps(run)
    def run_and_free(spark: SparkSession, *args, **kwargs):
        try:
            return run(spark, *args, **kwargs)
        finally:
            spark.catalog.clearCache()

    return run_and_free


# --------------------------------------------------------------------------- input, models


def stage_filesystem(spark: SparkSession, settings: Settings) -> LakeFileSystem:
    """A stage's file system: the driver JVM's Hadoop client, checked to reach the lake's
    root, so an unreachable lake fails in one line before any work."""
    from lakesight.lake import HadoopFileSystem, check_reachable

    fs = HadoopFileSystem(spark)
    check_reachable(fs, settings.root)
    return fs


def committed_input(spark: SparkSession, settings: Settings, upstream: Stage, dt: str):
    """A stage's start: its file system (:func:`stage_filesystem`), and the URI and manifest
    of the partition the ``upstream`` stage committed. Fails fast, in one line, when that
    input is not committed, naming the stage to run first."""
    from lakesight.lake import read_manifest, resolve_partition

    fs = stage_filesystem(spark, settings)
    partition = upstream.output.partition(settings, dt)
    manifest = read_manifest(fs, partition)
    if manifest is None:
        raise StageError(f"input partition not committed: {partition} (run {upstream.name} first)")
    # Its last good copy when a commit of it was cut short (lakesight.lake.resolve_partition).
    return fs, resolve_partition(fs, partition), manifest


# What in a card changes a model's answer besides its files (imported and fitted models).
DECODING_FIELDS = ("head", "input", "thresholds", "classes", "outputs", "hashing", "layer",
                   "pooling")  # fmt: skip


def model_entries(refs: Sequence[str]) -> tuple[list[dict], list[dict]]:
    """Resolve models on the driver (failing fast when one is missing): their manifest
    entries ``{"name": "name@version", "sha256": <its weights>}`` and their cards. The
    weights are the card's ``fp32`` file, or a TF model's ``weights``; a model of several
    files that are all needed (a Caffe prototxt and caffemodel, an embedder and its
    ``itq.npz``) is the digest of them all. A card that decodes outputs (a head, its
    thresholds and input) adds ``card_sha256``, so a changed card is a new key too."""
    import hashlib
    import json

    from lakesight.models.runtime import load_card, resolve

    entries, cards = [], []
    for ref in refs:
        resolved, directory = resolve(ref)
        card = load_card(directory)
        files = card["files"]
        weights = files.get("fp32") or files.get("weights")
        runs = [f for role, f in files.items() if role not in ("int8", "torch")]
        digest = (
            card["sha256"][weights] if weights and len(runs) == 1 else hashlib.sha256(
                "".join(f"{f}:{card['sha256'][f]}\n" for f in sorted(runs)).encode()
            ).hexdigest()
        )  # fmt: skip
        entry = {"name": str(resolved), "sha256": digest}
        decoding = {k: card[k] for k in DECODING_FIELDS if k in card}
        if "head" in decoding or "hashing" in decoding:  # imported or fitted models
            entry["card_sha256"] = hashlib.sha256(
                json.dumps(decoding, sort_keys=True).encode()
            ).hexdigest()
        entries.append(entry)
        cards.append(card)
    return entries, cards


def promote_if_better(settings: Settings, name: str, better: bool,
                      write_release: Callable[[Path], object]) -> str | None:  # fmt: skip
    """The train stages' last step. A candidate the stage's rule found ``better`` than the
    current model is written by ``write_release`` into a scratch directory and promoted
    as the next version of ``name`` (:func:`lakesight.models.runtime.promote_release`):
    returns ``name@version``, or None when it was not better (nothing is written)."""
    import tempfile
    from pathlib import Path

    from lakesight.lake import filesystem_for
    from lakesight.models.runtime import promote_release

    if not better:
        return None
    registry = settings.model_registry
    with tempfile.TemporaryDirectory(prefix="lakesight-release-") as scratch:
        release_dir = Path(scratch, "release")
        write_release(release_dir)
        return promote_release(filesystem_for(registry, settings), registry, name, release_dir)


# --------------------------------------------------------------------------- commit


def quarantine_counts(result: DataFrame) -> dict[str, int]:
    """Rejected rows per reason (``reason`` not null), sorted by reason."""
    from pyspark.sql import functions as F

    rows = result.where(F.col("reason").isNotNull()).groupBy("reason").count().collect()
    return {r["reason"]: int(r["count"]) for r in sorted(rows, key=lambda r: r["reason"])}


@dataclass(frozen=True)
class Tally:
    """What one Spark job counted of a stage's rows before the commit: how many there are,
    how many have a ``reason`` (go to quarantine), their fingerprint over the stage's
    identifying columns, and any other aggregates the stage asked for (``values``)."""

    rows: int
    quarantined: int
    fingerprint: str
    values: dict = field(default_factory=dict)

    def counts(self, **more: int) -> dict[str, int]:
        """The manifest's counts when a row is a record: ``in = out + quarantined``."""
        return {"in": self.rows, "out": self.rows - self.quarantined,
                "quarantined": self.quarantined, **more}  # fmt: skip


def tally(result: DataFrame, identity: Sequence[str], **aggregates) -> Tally:
    """Count ``result`` (cached by the caller) in one job: its rows, its rejects and the
    fingerprint of ``identity`` (:func:`lakesight.spark.fingerprint_aggregates`), plus the
    named Spark ``aggregates``."""
    from pyspark.sql import functions as F

    from lakesight.spark import fingerprint_aggregates, fingerprint_from

    rejected = F.col("reason").isNotNull() if "reason" in result.columns else F.lit(False)
    row = result.agg(
        F.sum(rejected.cast("int")).alias("_quarantined"),
        *fingerprint_aggregates(*identity),
        *(column.alias(name) for name, column in aggregates.items()),
    ).first()
    return Tally(int(row["_fp_n"] or 0), int(row["_quarantined"] or 0), fingerprint_from(row),
                 {name: row[name] for name in aggregates})  # fmt: skip


def commit_stage(
    fs: LakeFileSystem,
    settings: Settings,
    stage: Stage,
    dt: str,
    result: DataFrame,
    *,
    output_columns: Sequence[str],
    schema_version: str,
    counts: dict[str, int],
    input_fingerprint: str,
    steps: Steps,
    models: Sequence[dict] = (),
    extra: dict | None = None,
    extra_writes: Sequence[tuple] = (),
    more_outputs: dict[str, str] | None = None,
    quarantine_columns: Sequence[str] = QUARANTINE_IDS,
    run_id: str | None = None,
    batch: str | None = None,
) -> StageResult:
    """Write and commit a stage's rows: those with a ``reason`` to its quarantine, the rest
    (``output_columns`` of them) to its output.

    ``result`` is cached and counted by the caller (``counts`` holds ``in``, ``out`` and
    ``quarantined``). The quarantine is committed first: the output's ``_SUCCESS`` is what
    the next stage waits for. ``extra_writes``, ``(DataFrame, uri)`` pairs, are written
    alongside, before either commit; ``more_outputs`` (label -> URI) names what a stage
    committed besides its output, for its summary; ``quarantine_columns`` are what a
    quarantine row keeps besides the common columns (those ``result`` has). A stage that
    quarantines nothing itself may leave out the ``reason`` column.
    ``batch`` (``batch=B``): commit a stream's micro-batch, ``<dataset>/dt=D/batch=B`` in
    the output and the quarantine, instead of the whole day.
    """
    from pyspark.sql import functions as F

    from lakesight.lake import LeasePolicy, Manifest, PartitionWriter
    from lakesight.spark import output_files, spark_facts, write_parquet_side_by_side

    def writer_for(dataset: Dataset, run_id: str | None) -> PartitionWriter:
        if batch is None:
            return PartitionWriter(fs, dataset.uri(settings), dt, run_id, policy)
        return PartitionWriter(fs, dataset.partition(settings, dt), dt, run_id, policy, name=batch)

    def partition_of(dataset: Dataset) -> str:
        day = dataset.partition(settings, dt)
        return day if batch is None else f"{day}/{batch}"

    outputs = {stage.label: partition_of(stage.output)}
    if stage.quarantine is not None:
        outputs["quarantine"] = partition_of(stage.quarantine)
    outputs.update(more_outputs or {})
    extra = dict(extra or {})
    if stage.quarantine is not None and counts["quarantined"]:
        # Reasons make a quarantine actionable; counted here, for every stage, and only
        # when there is something to count.
        extra["quarantined_by_reason"] = quarantine_counts(result)
    common = {
        "dt": dt,
        "stage": stage.name,
        "counts": dict(counts),
        "input_fingerprint": input_fingerprint,
        "models": list(models),
        "outputs": outputs,
        "extra": {**extra, **spark_facts(result.sparkSession)},
    }
    rejects = "reason" in result.columns
    kept = (result.where(F.col("reason").isNull()) if rejects else result).select(*output_columns)
    policy, run_id = LeasePolicy.from_settings(settings), run_id or _DAY_RUN.get()
    output_writer = writer_for(stage.output, run_id)
    quarantine_writer = (
        writer_for(stage.quarantine, output_writer.run_id)
        if stage.quarantine is not None
        else contextlib.nullcontext()
    )
    with steps.step("write and commit"), output_writer as writer, quarantine_writer as q_writer:
        # ``result`` is cached: coalescing only merges its blocks into fewer, larger files.
        writes = [(kept.coalesce(output_files(counts["out"])), writer.staging_uri)]
        if q_writer is not None and rejects:
            ids = [c for c in quarantine_columns if c in result.columns]
            failed = result.where(F.col("reason").isNotNull()).select(
                "path", F.lit(dt).alias("dt"), F.lit(stage.name).alias("stage"),
                "reason", "detail", *ids,
            )  # fmt: skip
            writes.append((failed.coalesce(1), q_writer.staging_uri))
        write_parquet_side_by_side([*writes, *extra_writes])
        timings = dict(steps.timings)
        if q_writer is not None:
            q_writer.commit(
                Manifest(
                    dataset=str(stage.quarantine),
                    schema_version=QUARANTINE_SCHEMA_VERSION,
                    timings=timings,
                    **common,
                )
            )
        manifest = writer.commit(
            Manifest(
                dataset=str(stage.output), schema_version=schema_version, timings=timings, **common
            )
        )
    return StageResult(stage, manifest, outputs)


# The run id of the enclosing writing_day, which commit_stage then commits under.
_DAY_RUN: contextvars.ContextVar[str | None] = contextvars.ContextVar("day_run", default=None)


def merges_into_day(run: Callable) -> Callable:
    """Decorate an interval stage's ``run(spark, settings, dt, ...)``: the whole run, from
    reading the committed day to committing it, holds the day (:func:`writing_day`)."""

    @functools.wraps(run)
    def run_holding_day(spark: SparkSession, settings: Settings, dt: str, *args, **kwargs):
        from lakesight.lake import HadoopFileSystem

        stage = sys.modules[run.__module__].STAGE
        with writing_day(HadoopFileSystem(spark), settings, stage, dt) as run_id:
            token = _DAY_RUN.set(run_id)
            try:
                return run(spark, settings, dt, *args, **kwargs)
            finally:
                _DAY_RUN.reset(token)

    return run_holding_day


@contextlib.contextmanager
def writing_day(fs: LakeFileSystem, settings: Settings, stage: Stage, dt: str):
    """Hold the leases on a stage's output and quarantine partitions of ``dt`` across a
    read-merge-commit (radar runs merge their interval into the committed day): yields the
    run id to pass to :func:`commit_stage`. Two runs of one day then take turns, and each
    merges into what the other committed instead of both rewriting the day they read."""
    from lakesight.lake import Lease, LeasePolicy, new_run_id, partition_name, recover_partition

    run_id, policy = new_run_id(), LeasePolicy.from_settings(settings)
    datasets = [stage.output] + ([stage.quarantine] if stage.quarantine is not None else [])
    with contextlib.ExitStack() as held:
        for dataset in datasets:  # always in this order: two runs cannot deadlock
            held.enter_context(Lease(fs, dataset.uri(settings), partition_name(dt), run_id, policy))
            # The day is read next: put back a copy an interrupted commit left in _trash/.
            recover_partition(fs, dataset.uri(settings), dt)
        yield run_id


def commit_pictures(fs: LakeFileSystem, settings: Settings, dataset: Dataset, dt: str, *,
                    stage: str, files: dict[str, bytes], input_fingerprint: str,
                    pictured: int | None = None, extra: dict | None = None) -> Manifest:  # fmt: skip
    """Commit a day of a pipeline's pictures (``pictures/<pipeline>/dt=D``: name -> PNG bytes)
    like any partition: staged, renamed into place, then its manifest and ``_SUCCESS``.
    Its counts are of what was drawn: ``pictured`` records, by default one per file."""
    n = len(files) if pictured is None else pictured
    from lakesight.lake import LeasePolicy, Manifest, PartitionWriter, join

    policy = LeasePolicy.from_settings(settings)
    with PartitionWriter(fs, dataset.uri(settings), dt, policy=policy) as writer:
        fs.mkdirs(writer.staging_uri)
        for name, data in files.items():
            fs.write_bytes(join(writer.staging_uri, name), data)
        return writer.commit(
            Manifest(
                dataset=str(dataset), dt=dt, stage=stage, schema_version="pictures/v1",
                counts={"in": n, "out": n, "quarantined": 0},
                input_fingerprint=input_fingerprint, extra=dict(extra or {}),
            )
        )  # fmt: skip
