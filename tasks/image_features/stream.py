"""The streaming path: ``raw/images/dt=*/**`` → ``features/images_live/dt=D/batch=B``, exactly once.

A Spark Structured Streaming query with the file source (``binaryFile``, any nesting)
takes the files as they arrive and runs each micro-batch through the daily stages' own
batch functions inside ``foreachBatch``: ingest's content-based judgement
(:func:`.ingest.validate_batch`), analyze's cached analysis (:func:`.analyze.analyze_batch`
under the same analysis key, so the daily run reuses every live result and gets identical
values) and publish's contract (:func:`.publish.with_published_detections`). Each batch
commits, for the day its query reads, ``features/images_live/dt=D/batch=B`` and
``quarantine/images_live/dt=D/batch=B`` with a manifest (``in = out + quarantined``).

Exactly once. Spark's source log replays a batch that did not finish with the same id and
the same files. ``foreachBatch`` is at-least-once, so the commit is idempotent on (query
id, batch id), recorded in the batch's manifest as Delta records ``txnAppId``/``txnVersion``:
a replayed batch already committed by this query is skipped; one cut short is
redone and replaces its own directory, never adds a second copy. A batch directory
committed by *another* query (the checkpoint was replaced) stops the stream with one line
rather than mix two queries' batch numbers.

What the file source does, and what follows (see the README's "The streaming path"):
- it identifies a file by name only, so a file overwritten in place is never seen again:
  the daily seal finds it by content hash (``overwritten`` in its manifest);
- it expects files to appear atomically (written elsewhere, then renamed). In-flight names
  are skipped: Spark hides ``_x``, ``.x`` and ``x._COPYING_``; ``*.tmp`` is dropped here;
- a day's second copy of the same bytes is judged as the daily ingest judges it
  (``duplicate``) within a batch and against the batches already live that day.

Run: ``lakesight stream image_features [--once] [--trigger-s 5] [--max-files-per-batch N]``.
"""

from __future__ import annotations

import functools
import itertools
import json
import statistics
import threading
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import pandas as pd

from lakesight.config import Settings
from lakesight.image_features import datasets
from lakesight.image_features.analysis import CropPolicy
from lakesight.image_features.analyze import (
    BATCH_ROWS,
    analyze_batch,
    detector_variant,
    load_models,
)
from lakesight.image_features.cache import analysis_cache, analysis_key
from lakesight.image_features.ingest import validate_batch
from lakesight.image_features.live import live_rows
from lakesight.image_features.publish import with_published_detections
from lakesight.imaging import DecodeLimits
from lakesight.lake import join, path_uri, read_manifest
from lakesight.progress import Steps
from lakesight.stage import StageError, StageResult, commit_stage, model_entries, tally

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

    from lakesight.lake import LakeFileSystem
    from lakesight.spark import KeyedCache

STAGE = datasets.STREAM
IN_FLIGHT_SUFFIXES = (".tmp",)  # Spark itself hides _x, .x and x._COPYING_
# A micro-batch adds a small cache run; this many runs of one level merge into one.
COMPACT_RUNS = 32
# The binaryFile source's fixed schema, which a streaming read must be given.
BINARY_FILE_SCHEMA = "path string, modificationTime timestamp, length long, content binary"


def batch_name(batch_id: int) -> str:
    """A micro-batch's directory inside its day: ``batch=00000042`` (sorts as it counts)."""
    return f"batch={batch_id:08d}"


def checkpoint_uri(settings: Settings) -> str:
    """The stream's checkpoints: one per raw day it watches, ``<this>/dt=D``."""
    return join(settings.root, *datasets.STREAM_CHECKPOINT)


def query_id(fs: LakeFileSystem, checkpoint: str) -> str:
    """The stream's query id: Spark writes it to the checkpoint's ``metadata`` at the first
    start and keeps it across restarts (a run id changes at every start)."""
    return json.loads(fs.read_bytes(join(checkpoint, "metadata")).decode().splitlines()[0])["id"]


def replayed(fs: LakeFileSystem, settings: Settings, dt: str, batch_id: int, query: str) -> bool:
    """Whether batch ``batch_id`` of day ``dt`` is committed by this query: a replay to skip.
    One committed under this number by another query is an error (one line)."""
    manifest = read_manifest(fs, join(STAGE.output.partition(settings, dt), batch_name(batch_id)))
    if manifest is None:
        return False
    owner = manifest.extra.get("stream", {}).get("query_id")
    if owner != query:
        raise StageError(
            f"{STAGE.output}/dt={dt}/{batch_name(batch_id)} was committed by stream query "
            f"{owner}, this checkpoint is query {query}: retire the live batches first"
        )
    return True


def arrived_files(files: DataFrame) -> DataFrame:
    """The micro-batch's records: in-flight names dropped."""
    from pyspark.sql import functions as F

    in_flight = F.lit(False)
    for suffix in IN_FLIGHT_SUFFIXES:
        in_flight = in_flight | F.col("path").endswith(suffix)
    return files.where(~in_flight)


@dataclass
class StreamContext:
    """What every micro-batch shares, resolved once when the stream starts: the models (and
    the detector file this CPU runs faster), the analysis cache's key, the published score
    threshold, and the image ids already live per day (for ``duplicate``)."""

    settings: Settings
    models: list[dict]
    variant: str
    key: str
    policy: CropPolicy = field(default_factory=CropPolicy)
    # dt -> image_id -> (path, batch id) of the images already live that day
    live_ids: dict[str, dict[str, tuple[str, int]]] = field(default_factory=dict)
    cached: set[str] | None = None  # the ids cached under the key (read at the first batch)
    # The cache runs this stream wrote, by level: COMPACT_RUNS runs of one level are
    # merged into one of the next, so runs grow geometrically and stay few.
    runs: list[list[str]] = field(default_factory=list)
    written: list[float] = field(default_factory=list)  # the last batch's files' mtimes (epoch s)

    @classmethod
    def start(cls, settings: Settings, policy: CropPolicy | None = None) -> StreamContext:
        policy = policy or CropPolicy()
        models, cards = model_entries([settings.detector, settings.descriptor])
        models, variant = detector_variant(models, cards)
        key = analysis_key(models, cards[1]["default_bits"], policy)
        return cls(settings, models, variant["variant"], key, policy)

    def seen_before(self, spark: SparkSession, fs: LakeFileSystem, dt: str,
                    batch_id: int) -> dict[str, str]:  # fmt: skip
        """The image ids (-> path) other batches of the day committed: a batch redone after
        a crash mid-commit must not find its own rows there. Read from the lake once per
        day and stream, then kept up to date by :meth:`add`."""
        if dt not in self.live_ids:
            self.live_ids[dt] = {}
            for image_id, path, batch in live_rows(spark, fs, self.settings, dt):
                self.live_ids[dt].setdefault(image_id, (path, batch))
        return {i: path for i, (path, batch) in self.live_ids[dt].items() if batch != batch_id}

    def add(self, dt: str, image_id: str, path: str, batch_id: int) -> None:
        self.live_ids.setdefault(dt, {}).setdefault(image_id, (path, batch_id))

    def cached_ids(self, spark: SparkSession, cache: KeyedCache) -> set[str]:
        if self.cached is None:
            self.cached = cache.ids(spark)
        return self.cached

    def added_run(self, spark: SparkSession, cache: KeyedCache, ids: set[str]) -> None:
        """Record a batch's new cache run (``cache.last_run``) and its ids; merge runs a
        level holds :data:`COMPACT_RUNS` of."""
        self.cached_ids(spark, cache).update(ids)
        run = cache.last_run
        for level in itertools.count():
            if len(self.runs) == level:
                self.runs.append([])
            self.runs[level].append(run)
            if len(self.runs[level]) < COMPACT_RUNS:
                return
            run, self.runs[level] = cache.compact(spark, self.runs[level]), []


def unread_batch(batch: pd.DataFrame, max_bytes: int) -> pd.DataFrame:
    """Files above the size limit, as :data:`datasets.VALIDATION_SCHEMA` rows quarantined
    ``file_too_large`` without reading their bytes, as the daily ingest does. In: ``path``,
    ``length``."""
    rows = []
    for path, length in zip(batch["path"], batch["length"], strict=True):
        row = dict.fromkeys(datasets.VALIDATION_COLUMNS)
        row.update(path=path_uri(path), size=int(length), reason="file_too_large",
                   detail=f"{length} bytes, over {max_bytes}")  # fmt: skip
        rows.append(row)
    return pd.DataFrame(rows, columns=list(datasets.VALIDATION_COLUMNS)).astype({"size": "int64"})


def marked_copies(rows: list[dict], seen: dict[str, str]) -> list[dict]:
    """``duplicate`` as the daily ingest gives it, on a batch's judged rows (``path``,
    ``image_id``, ``reason``, ``detail``): of the accepted files with the same bytes the
    smallest path is kept, and bytes already live that day (``seen``: image_id -> path, from
    other batches) are copies too."""
    kept: dict[str, str] = {}
    for row in sorted(rows, key=lambda r: r["path"]):
        if row["reason"] is not None:
            continue
        first = seen.get(row["image_id"]) or kept.get(row["image_id"])
        if first is None:
            kept[row["image_id"]] = row["path"]
        else:
            row["reason"], row["detail"] = "duplicate", f"same bytes as {first}"
    return rows


def judged_files(spark: SparkSession, files: DataFrame, context: StreamContext,
                 seen: dict[str, str]) -> list[dict]:  # fmt: skip
    """Ingest's judgement of the batch's files, in one Spark job: rows of
    :data:`datasets.VALIDATION_SCHEMA`, collected (a batch is small and its rows hold no
    bytes), copies marked on the driver (:func:`marked_copies`)."""
    from pyspark.sql import functions as F

    limits, max_bytes = (
        DecodeLimits.from_settings(context.settings),
        context.settings.max_file_bytes,
    )
    readable = F.col("length") <= max_bytes
    validated = files.where(readable).select("path", "length", "content").mapInPandas(
        lambda batches: (validate_batch(b, limits) for b in batches), datasets.VALIDATION_SCHEMA
    )  # fmt: skip
    unread = files.where(~readable).select("path", "length").mapInPandas(
        lambda batches: (unread_batch(b, max_bytes) for b in batches), datasets.VALIDATION_SCHEMA
    )  # fmt: skip
    judged = validated.unionByName(unread)
    return marked_copies([row.asDict() for row in judged.collect()], seen)


def analysed_rows(spark: SparkSession, fs: LakeFileSystem, context: StreamContext,
                  files: DataFrame, judged: list[dict]):  # fmt: skip
    """The batch's accepted images analysed as the daily analyze does, through the same cache
    (reused from it, the rest computed now): :data:`datasets.ANALYSIS_SCHEMA` rows with
    ``processed_at``, and the cache."""
    from pyspark.sql import functions as F

    from lakesight.lake import hadoop_location
    from lakesight.spark import ImageJob, cached_and_computed, per_worker

    cache = analysis_cache(fs, context.settings, context.key)
    accepted = [(r["image_id"], r["path"]) for r in judged if r["reason"] is None]
    # Most images are new: the cache is read only when the batch holds bytes it knows.
    hits = {image_id for image_id, _ in accepted} & context.cached_ids(spark, cache)
    reused = None
    if hits:
        index = spark.createDataFrame(
            [a for a in accepted if a[0] in hits], "image_id string, path string"
        )
        reused = cache.split(spark, index)[1]
    todo = [(i, p, hadoop_location(p)) for i, p in accepted if i not in hits]
    computed = None
    if todo:
        job = ImageJob.for_models(context.settings, *(m["name"] for m in context.models))
        # The batch's own bytes (persisted by the caller), joined on Hadoop's spelling; the
        # batch's index is small (at most --max-files-per-batch rows), so it is broadcast.
        wanted = spark.createDataFrame(todo, "image_id string, path string, _hadoop_path string")
        content = files.select(F.col("path").alias("_hadoop_path"), "content")
        computed = content.join(F.broadcast(wanted), "_hadoop_path").select(
            "image_id", "path", "content"
        ).mapInPandas(
            per_worker(functools.partial(load_models, variant=context.variant),
                       functools.partial(analyze_batch, policy=context.policy), job, BATCH_ROWS),
            datasets.ANALYSIS_SCHEMA,
        ).withColumn("processed_at", F.lit(None).cast("timestamp"))  # fmt: skip
    schema = f"{datasets.ANALYSIS_SCHEMA}, processed_at timestamp"
    return cached_and_computed(spark, reused, computed, schema), cache


def batch_rows(spark: SparkSession, judged: list[dict], analysed: DataFrame, dt: str,
               context: StreamContext, processed_at: str):  # fmt: skip
    """What a batch commits, one row per file: the contract's columns for published images,
    ``reason``/``detail`` for rejected files (ingest's judgement or the analysis'); and the
    rows computed now, for the cache."""
    from pyspark.sql import functions as F

    stamped = datasets.stamped(analysed, dt, context.models, processed_at)
    ok = F.col("reason").isNull()
    features = with_published_detections(stamped.where(ok), context.policy.min_score)
    rejected = spark.createDataFrame(
        [r for r in judged if r["reason"] is not None], datasets.VALIDATION_SCHEMA
    )
    failed = stamped.where(~ok).select("path", "image_id", "reason", "detail")
    rows = features.unionByName(rejected, allowMissingColumns=True).unionByName(
        failed, allowMissingColumns=True
    )  # fmt: skip
    return rows, stamped.where(
        ok & (F.col("processed_at") == F.lit(processed_at).cast("timestamp"))
    )


def publish_batch(spark: SparkSession, fs: LakeFileSystem, context: StreamContext,
                  files: DataFrame, dt: str, batch_id: int, query: str) -> list[StageResult]:  # fmt: skip
    """One micro-batch of day ``dt`` (a query reads one day), judged, analysed and committed
    (the cache's new run after it): ``[result]``, or ``[]`` for a replay of a batch already
    committed or a batch of in-flight files only."""
    from datetime import UTC, datetime

    steps = Steps(f"{STAGE.short} dt={dt} batch {batch_id}", quiet=True)
    files = arrived_files(files).persist()
    try:
        with steps.step("list files"):
            context.written = [r[0].timestamp() for r in files.select("modificationTime").collect()]
            if not context.written or replayed(fs, context.settings, dt, batch_id, query):
                return []
            seen = context.seen_before(spark, fs, dt, batch_id)
        with steps.step("judge and analyse"):
            judged = judged_files(spark, files, context, seen)
            analysed, cache = analysed_rows(spark, fs, context, files, judged)
            # Cached: the commit's count, its rows and the cache's new run all read it once.
            analysed = analysed.cache()
            processed_at = datetime.now(UTC).isoformat(timespec="seconds")
            published = analysed.select("image_id", "path", "reason", "processed_at").collect()
            rows, fresh = batch_rows(spark, judged, analysed, dt, context, processed_at)
        # Computed now: accepted, and no processed_at from the cache.
        fresh_ids = {r["image_id"] for r in published
                     if r["reason"] is None and r["processed_at"] is None}  # fmt: skip
        with cache.adding(fresh, len(fresh_ids)) as cache_writes:
            result = commit_batch(fs, context, rows, dt, batch_id, query, steps, cache_writes)
        if fresh_ids:
            context.added_run(spark, cache, fresh_ids)
        for row in published:
            if row["reason"] is None:
                context.add(dt, row["image_id"], row["path"], batch_id)
        return [result]
    finally:
        files.unpersist()


def commit_batch(fs: LakeFileSystem, context: StreamContext, rows: DataFrame, dt: str,
                 batch_id: int, query: str, steps: Steps, cache_writes) -> StageResult:  # fmt: skip
    """Commit a batch, ``dt=D/batch=B`` in the live output and its quarantine; the manifest
    records the (query id, batch id) and when its files were written."""
    counted = tally(rows, ("path", "image_id"))
    stream = {"query_id": query, "batch_id": batch_id,
              "first_written_at": min(context.written), "last_written_at": max(context.written)}  # fmt: skip
    return commit_stage(
        fs, context.settings, STAGE, dt, rows, output_columns=datasets.CONTRACT_COLUMNS,
        schema_version=datasets.LIVE_SCHEMA_VERSION, counts=counted.counts(),
        input_fingerprint=counted.fingerprint, steps=steps, models=context.models,
        batch=batch_name(batch_id), extra_writes=cache_writes,
        extra={"stream": stream, "analysis_key": context.key,
               "detection_threshold": context.policy.min_score},
    )  # fmt: skip


@dataclass(frozen=True)
class BatchReport:
    """One committed micro-batch, as ``lakesight stream`` prints it."""

    dt: str  # the raw day of the query (one query per watched day)
    batch_id: int
    files: int
    images: int
    quarantined: int
    latency_p50_s: float  # from a file's last write (its rename) to its batch's commit
    lag_s: float  # the same for the batch's oldest file: how far the stream is behind
    replayed: bool = False
    committed_at: float = 0.0  # epoch seconds

    def line(self) -> str:
        if self.replayed:
            return f"dt={self.dt} batch {self.batch_id}: already committed (replay), skipped"
        return (f"dt={self.dt} batch {self.batch_id}: {self.files} files, {self.images} images, "
                f"{self.quarantined} quarantined, latency {self.latency_p50_s:.1f}s, "
                f"lag {self.lag_s:.1f}s")  # fmt: skip

    def to_dict(self) -> dict:
        return {k: getattr(self, k) for k in self.__dataclass_fields__}


def report(dt: str, batch_id: int, results: list[StageResult], written: list[float]) -> BatchReport:
    """The batch's line from its manifests and its files' modification times (epoch s)."""
    now = time.time()
    waits = [max(0.0, now - t) for t in written] or [0.0]
    counts = [r.manifest.counts for r in results]
    return BatchReport(
        dt, batch_id, sum(c["in"] for c in counts), sum(c["out"] for c in counts),
        sum(c["quarantined"] for c in counts), round(statistics.median(waits), 3),
        round(max(waits), 3), replayed=not results and bool(written), committed_at=now,
    )  # fmt: skip


def warm_workers(spark: SparkSession, context: StreamContext) -> None:
    """Before the query starts, run one generated image through a batch's own functions in
    every Python worker: the workers start, the models load and run once (their first run
    allocates), so the first files to arrive do not wait seconds for all that."""
    import hashlib
    import io

    import numpy as np
    from PIL import Image

    from lakesight.spark import ImageJob

    job = ImageJob.for_models(context.settings, *(m["name"] for m in context.models))
    variant, workers, policy = (
        context.variant,
        spark.sparkContext.defaultParallelism,
        context.policy,
    )
    limits = DecodeLimits.from_settings(context.settings)
    image = io.BytesIO()
    noise = np.random.default_rng(0).integers(0, 256, (96, 128, 3), dtype=np.uint8)
    Image.fromarray(noise).save(image, "JPEG")
    content = image.getvalue()

    def warmed(batches):
        models = load_models(*job.models, registry=job.registry, variant=variant)
        sample = pd.DataFrame({"path": ["file:/warm-up.jpg"], "length": [len(content)],
                               "content": [content],
                               "image_id": [hashlib.sha256(content).hexdigest()]})  # fmt: skip
        validate_batch(sample, limits)
        analyze_batch(sample, models, job, policy)
        yield from batches

    spark.range(workers, numPartitions=workers).mapInPandas(warmed, "id long").collect()


def watched_days(fs: LakeFileSystem, settings: Settings, days_back: int) -> list[str]:
    """The days the source lists at every trigger: the newest ``days_back + 1`` day folders
    under ``raw/images`` (today and yesterday, by default). The file source lists every file
    its path matches at every trigger and remembers each in its log (SPARK-30462), so a
    glob over the whole raw zone would grow both with the lake's history."""
    import re

    names = fs.list_dirs(datasets.RAW_IMAGES.uri(settings))
    days = sorted(n[3:] for n in names if re.fullmatch(r"dt=\d{4}-\d{2}-\d{2}", n))
    return days[-(days_back + 1) :]


def start_day_query(spark: SparkSession, settings: Settings, day: str, checkpoint: str,
                    max_files: int, trigger: dict, each_batch):  # fmt: skip
    """The query over one raw day, ``raw/images/dt=D/**``, with its own checkpoint,
    ``<checkpoint>/dt=D``: the file source's log then holds one day's files, and a restart
    reads only the watched days' logs, however long the stream has run."""
    day_checkpoint = join(checkpoint, f"dt={day}")
    source = (
        spark.readStream.format("binaryFile").schema(BINARY_FILE_SCHEMA)
        .option("recursiveFileLookup", "true").option("maxFilesPerTrigger", str(max_files))
        .load(datasets.RAW_IMAGES.partition(settings, day))
    )  # fmt: skip
    writer = source.writeStream.foreachBatch(
        lambda files, batch_id: each_batch(files, batch_id, day, day_checkpoint)
    )  # fmt: skip
    return writer.option("checkpointLocation", day_checkpoint).trigger(**trigger).start()


def run_stream(settings: Settings, *, once: bool = False, trigger_s: float = 2.0,
               max_files: int = 1000, days_back: int = 1, checkpoint: str | None = None,
               on_batch=None, spark: SparkSession | None = None,
               stop: threading.Event | None = None) -> list[BatchReport]:  # fmt: skip
    """Run the stream until stopped: by its user, by ``stop`` being set, or (``once``:
    ``Trigger.AvailableNow``) once what has arrived is published. One query per watched day
    (the newest ``days_back + 1``, :func:`watched_days`); a new day gets its query, a day
    that leaves the window loses its own. ``on_batch(report)`` sees every batch; the
    reports are returned."""
    from lakesight.spark import get_spark
    from lakesight.stage import stage_filesystem

    spark = spark or get_spark("lakesight-image_features-stream", settings)
    fs = stage_filesystem(spark, settings)
    checkpoint = checkpoint or checkpoint_uri(settings)
    fs.mkdirs(datasets.RAW_IMAGES.uri(settings))
    context, reports, one_at_a_time = StreamContext.start(settings), [], threading.Lock()
    warm_workers(spark, context)

    def each_batch(files: DataFrame, batch_id: int, day: str, day_checkpoint: str) -> None:
        with one_at_a_time:  # the day queries share the context (cache runs, live ids)
            query = query_id(fs, day_checkpoint)
            results = publish_batch(spark, fs, context, files, day, batch_id, query)
            reports.append(report(day, batch_id, results, context.written))
            if on_batch is not None:
                on_batch(reports[-1])

    trigger = {"availableNow": True} if once else {"processingTime": f"{trigger_s} seconds"}
    queries: dict = {}
    try:
        while stop is None or not stop.is_set():
            days = watched_days(fs, settings, days_back)
            for day in [d for d in queries if d not in days]:
                queries.pop(day).stop()
            for day in [d for d in days if d not in queries]:
                queries[day] = start_day_query(spark, settings, day, checkpoint, max_files,
                                               trigger, each_batch)  # fmt: skip
            if once:
                for query in queries.values():
                    query.awaitTermination()  # raises if a batch failed
                return reports
            if not queries:  # no raw day yet
                time.sleep(0.5)
            for query in queries.values():
                query.awaitTermination(0.5 / len(queries))  # raises if a batch failed
    finally:
        for query in queries.values():
            query.stop()
    return reports


def main(argv: list[str] | None = None) -> int:
    """``lakesight stream image_features`` and ``spark-submit tasks/image_features/stream.py``:
    one line per committed micro-batch (JSON with ``--json``) until stopped, or with
    ``--once`` until what has arrived is published. Bad arguments: one line, exit code 2."""
    import sys

    from pyspark.errors import StreamingQueryException

    from lakesight.cli import OneLineParser
    from lakesight.config import ConfigError, load_settings
    from lakesight.lake import StorageError

    parser = OneLineParser(
        prog="lakesight stream image_features", description=__doc__.splitlines()[0]
    )
    parser.add_argument(
        "--once",
        action="store_true",
        help="publish what has arrived, then stop (Trigger.AvailableNow)",
    )
    parser.add_argument(
        "--trigger-s", type=float, default=2.0, help="seconds between micro-batches"
    )
    parser.add_argument(
        "--max-files-per-batch",
        type=int,
        default=1000,
        help="files per micro-batch at most (a backlog is split)",
    )
    parser.add_argument("--days-back", type=int, default=1,
                        help="days before the newest raw day to watch too (default 1)")  # fmt: skip
    parser.add_argument(
        "--checkpoint", help="checkpoint URI (default <root>/_checkpoints/image_features_stream)"
    )
    parser.add_argument("--json", action="store_true", help="one JSON line per batch")
    args = parser.parse_args(argv)
    if args.trigger_s <= 0 or args.max_files_per_batch < 1 or args.days_back < 0:
        parser.error("--trigger-s must be > 0, --max-files-per-batch >= 1, --days-back >= 0")

    def say(report: BatchReport) -> None:
        print(json.dumps(report.to_dict()) if args.json else report.line(), flush=True)

    try:
        run_stream(
            load_settings(),
            once=args.once,
            trigger_s=args.trigger_s,
            max_files=args.max_files_per_batch,
            days_back=args.days_back,
            checkpoint=args.checkpoint,
            on_batch=say,
        )
    except (ConfigError, StageError) as err:
        print(f"lakesight: error: {err}", file=sys.stderr)
        return 2
    except StorageError as err:
        print(f"lakesight: error: {err}", file=sys.stderr)
        return 1
    except StreamingQueryException as err:  # a batch failed: its cause, in one line
        cause = next((line for line in str(err).splitlines() if "Error" in line), str(err))
        print(f"lakesight: error: stream stopped: {cause.strip()[:300]}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        pass  # stopped by its user: every committed batch stays, the checkpoint resumes
    return 0


if __name__ == "__main__":
    import sys

    sys.exit(main())
