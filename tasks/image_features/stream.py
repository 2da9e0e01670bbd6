"""The streaming path: ``raw/images/dt=*/**`` → ``features/images_live/dt=D/batch=B``, exactly once.

A Spark Structured Streaming query with the file source (``binaryFile``, any nesting)
takes the files as they arrive and runs each micro-batch through the daily stages' own
batch functions inside ``foreachBatch``: ingest's content-based judgement
(:func:`.ingest.validate_batch`), analyze's cached analysis (:func:`.analyze.analyze_batch`
under the same analysis key, so the daily run reuses every live result and gets identical
values) and publish's contract (:func:`.publish.with_published_detections`). Each batch
commits, per day it touched, ``features/images_live/dt=D/batch=B`` and
``quarantine/images_live/dt=D/batch=B`` with a manifest (``in = out + quarantined``).

Exactly once. Spark's source log replays a batch that did not finish with the same id and
the same files. ``foreachBatch`` is at-least-once, so the commit is idempotent on (query
id, batch id), recorded in the batch's manifest as Delta records ``txnAppId``/``txnVersion``:
a replayed batch whose days are all committed by this query is skipped; one cut short is
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
import json
import statistics
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

STAGE = datasets.STREAM
DAY_GLOB = "dt=[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]"  # Hadoop glob of a day's folder
IN_FLIGHT_SUFFIXES = (".tmp",)
# The binaryFile source's fixed schema, which a streaming read must be given.
BINARY_FILE_SCHEMA = "path string, modificationTime timestamp, length long, content binary"  # Spark itself hides _x, .x and x._COPYING_
DAY_PATTERN = r"/raw/images/dt=(\d{4}-\d{2}-\d{2})/"  # the day a raw file belongs to


def batch_name(batch_id: int) -> str:
    """A micro-batch's directory inside its day: ``batch=00000042`` (sorts as it counts)."""
    return f"batch={batch_id:08d}"


def checkpoint_uri(settings: Settings) -> str:
    return join(settings.root, *datasets.STREAM_CHECKPOINT)


def query_id(fs: LakeFileSystem, checkpoint: str) -> str:
    """The stream's query id: Spark writes it to the checkpoint's ``metadata`` at the first
    start and keeps it across restarts (a run id changes at every start)."""
    return json.loads(fs.read_bytes(join(checkpoint, "metadata")).decode().splitlines()[0])["id"]


def replayed(fs: LakeFileSystem, settings: Settings, days: list[str], batch_id: int,
             query: str) -> bool:  # fmt: skip
    """Whether every day of batch ``batch_id`` is committed by this query: a replay to skip.
    A day committed under this batch number by another query is an error (one line)."""
    done = 0
    for dt in days:
        manifest = read_manifest(
            fs, join(STAGE.output.partition(settings, dt), batch_name(batch_id))
        )
        if manifest is None:
            continue
        owner = manifest.extra.get("stream", {}).get("query_id")
        if owner != query:
            raise StageError(
                f"{STAGE.output}/dt={dt}/{batch_name(batch_id)} was committed by stream query "
                f"{owner}, this checkpoint is query {query}: retire the live batches first"
            )
        done += 1
    return bool(days) and done == len(days)


def arrived_files(files: DataFrame) -> DataFrame:
    """The micro-batch's records: in-flight names dropped, each file's ``dt`` from its day's
    folder (the source reads only ``dt=YYYY-MM-DD`` folders: :data:`DAY_GLOB`)."""
    from pyspark.sql import functions as F

    in_flight = F.lit(False)
    for suffix in IN_FLIGHT_SUFFIXES:
        in_flight = in_flight | F.col("path").endswith(suffix)
    return files.where(~in_flight).withColumn("dt", F.regexp_extract("path", DAY_PATTERN, 1))


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


def judged_files(files: DataFrame, context: StreamContext, seen: dict[str, dict[str, str]]):
    """Ingest's judgement of the batch's files: :data:`datasets.VALIDATION_SCHEMA` rows plus
    ``dt``. ``duplicate`` as the daily ingest gives it (the smallest path of the batch is
    kept), and also for bytes already live that day."""
    from pyspark.sql import functions as F

    from lakesight.spark import without_duplicates

    limits, max_bytes = (
        DecodeLimits.from_settings(context.settings),
        context.settings.max_file_bytes,
    )
    readable = F.col("length") <= max_bytes
    validated = (
        files.where(readable)
        .select("path", "length", "content")
        .mapInPandas(
            lambda batches: (validate_batch(b, limits) for b in batches), datasets.VALIDATION_SCHEMA
        )
    )
    unread = (
        files.where(~readable)
        .select("path", "length")
        .mapInPandas(
            lambda batches: (unread_batch(b, max_bytes) for b in batches),
            datasets.VALIDATION_SCHEMA,
        )
    )
    judged = validated.unionByName(unread).withColumn(
        "dt", F.regexp_extract("path", DAY_PATTERN, 1)
    )
    judged = without_duplicates(judged, key=("dt", "image_id"))
    earlier = [(dt, image_id, path) for dt, ids in seen.items() for image_id, path in ids.items()]
    if not earlier:
        return judged
    live = judged.sparkSession.createDataFrame(earlier, "dt string, image_id string, _live string")
    is_copy = F.col("_live").isNotNull() & F.col("reason").isNull()
    return (
        judged.join(live, ["dt", "image_id"], "left")
        .withColumn("detail", F.when(is_copy, F.concat(F.lit("same bytes as "), "_live"))
                    .otherwise(F.col("detail")))
        .withColumn("reason", F.when(is_copy, F.lit("duplicate")).otherwise(F.col("reason")))
        .drop("_live")
    )  # fmt: skip


def analysed_rows(spark: SparkSession, fs: LakeFileSystem, context: StreamContext,
                  files: DataFrame, judged: DataFrame):  # fmt: skip
    """The batch's accepted images analysed as the daily analyze does, through the same cache
    (reused from it, the rest computed now): :data:`datasets.ANALYSIS_SCHEMA` rows with
    ``processed_at`` and ``dt``, and the cache."""
    from pyspark.sql import functions as F

    from lakesight.spark import ImageJob, cached_and_computed, hadoop_location_column, per_worker

    cache = analysis_cache(fs, context.settings, context.key)
    index = judged.where(F.col("reason").isNull()).select("image_id", "path", "dt")
    todo, reused = cache.split(spark, index.select("image_id", "path"))
    computed = None
    if todo.cache().count():
        job = ImageJob.for_models(context.settings, *(m["name"] for m in context.models))
        # The batch's own bytes (persisted by the caller), joined on Hadoop's spelling.
        content = files.select(F.col("path").alias("_hadoop_path"), "content")
        with_bytes = todo.withColumn("_hadoop_path", hadoop_location_column("path")).join(
            content, "_hadoop_path"
        )  # fmt: skip
        computed = with_bytes.select("image_id", "path", "content").mapInPandas(
            per_worker(functools.partial(load_models, variant=context.variant),
                       functools.partial(analyze_batch, policy=context.policy), job, BATCH_ROWS),
            datasets.ANALYSIS_SCHEMA,
        ).withColumn("processed_at", F.lit(None).cast("timestamp"))  # fmt: skip
    schema = f"{datasets.ANALYSIS_SCHEMA}, processed_at timestamp"
    rows = cached_and_computed(spark, reused, computed, schema)
    return rows.join(index.select("path", "dt"), "path"), cache


def batch_rows(judged: DataFrame, analysed: DataFrame, context: StreamContext, processed_at: str):
    """What a batch commits, one row per file: the contract's columns for published images,
    ``reason``/``detail`` for rejected files (ingest's judgement or the analysis')."""
    from pyspark.sql import functions as F

    stamped = datasets.stamped(analysed, None, context.models, processed_at)
    ok = F.col("reason").isNull()
    features = with_published_detections(stamped.where(ok), context.policy.min_score)
    rejected = judged.where(~ok).select("path", "dt", "image_id", "size", "reason", "detail")
    failed = stamped.where(~ok).select("path", "dt", "image_id", "reason", "detail")
    return features.unionByName(rejected, allowMissingColumns=True).unionByName(
        failed, allowMissingColumns=True
    ), stamped.where(ok & (F.col("processed_at") == F.lit(processed_at).cast("timestamp")))


def publish_batch(spark: SparkSession, fs: LakeFileSystem, context: StreamContext,
                  files: DataFrame, batch_id: int, query: str) -> list[StageResult]:  # fmt: skip
    """One micro-batch, judged, analysed and committed per day it touched (the cache's new
    run after them); ``[]`` for a replay of a batch already committed."""
    from datetime import UTC, datetime

    from pyspark.sql import functions as F

    steps = Steps(f"{STAGE.short} batch {batch_id}", quiet=True)
    files = arrived_files(files).persist()
    try:
        with steps.step("list days"):
            days = sorted(r["dt"] for r in files.select("dt").distinct().collect())
            if not days or replayed(fs, context.settings, days, batch_id, query):
                return []
            seen = {dt: context.seen_before(spark, fs, dt, batch_id) for dt in days}
        with steps.step("judge and analyse"):
            judged = judged_files(files, context, seen).cache()
            analysed, cache = analysed_rows(spark, fs, context, files, judged)
            # Cached: the commit's count, its rows and the cache's new run all read it once.
            analysed = analysed.cache()
            processed_at = datetime.now(UTC).isoformat(timespec="seconds")
            rows, fresh = batch_rows(judged, analysed, context, processed_at)
            n_fresh = fresh.count()
        results = []
        with cache.adding(fresh, n_fresh) as cache_writes:
            for dt in days:
                day = rows.where(F.col("dt") == dt)
                counted = tally(day, ("path", "image_id"))
                results.append(commit_stage(
                    fs, context.settings, STAGE, dt, day,
                    output_columns=datasets.CONTRACT_COLUMNS,
                    schema_version=datasets.LIVE_SCHEMA_VERSION, counts=counted.counts(),
                    input_fingerprint=counted.fingerprint, steps=steps,
                    models=context.models, batch=batch_name(batch_id),
                    extra={"stream": {"query_id": query, "batch_id": batch_id},
                           "analysis_key": context.key,
                           "detection_threshold": context.policy.min_score},
                    extra_writes=cache_writes if dt == days[0] else (),
                ))  # fmt: skip
        for row in rows.where(F.col("reason").isNull()).select("dt", "image_id", "path").collect():
            context.add(row["dt"], row["image_id"], row["path"], batch_id)
        return results
    finally:
        files.unpersist()


@dataclass(frozen=True)
class BatchReport:
    """One committed micro-batch, as ``lakesight stream`` prints it."""

    batch_id: int
    files: int
    images: int
    quarantined: int
    latency_p50_s: float  # from a file's last write (its rename) to its batch's commit
    lag_s: float  # the same for the batch's oldest file: how far the stream is behind
    replayed: bool = False

    def line(self) -> str:
        if self.replayed:
            return f"batch {self.batch_id}: already committed by this query (replay), skipped"
        return (f"batch {self.batch_id}: {self.files} files, {self.images} images, "
                f"{self.quarantined} quarantined, latency {self.latency_p50_s:.1f}s, "
                f"lag {self.lag_s:.1f}s")  # fmt: skip

    def to_dict(self) -> dict:
        return {k: getattr(self, k) for k in self.__dataclass_fields__}


def report(batch_id: int, results: list[StageResult], written: list) -> BatchReport:
    """The batch's line from its manifests and its files' modification times (ms)."""
    now = time.time()
    waits = [max(0.0, now - ms / 1000) for ms in written] or [0.0]
    counts = [r.manifest.counts for r in results]
    return BatchReport(
        batch_id, sum(c["in"] for c in counts), sum(c["out"] for c in counts),
        sum(c["quarantined"] for c in counts), round(statistics.median(waits), 3),
        round(max(waits), 3), replayed=not results and bool(written),
    )  # fmt: skip


def run_stream(settings: Settings, *, once: bool = False, trigger_s: float = 5.0,
               max_files: int = 1000, checkpoint: str | None = None,
               on_batch=None, spark: SparkSession | None = None) -> list[BatchReport]:  # fmt: skip
    """Run the stream until stopped (``once``: ``Trigger.AvailableNow``, what has arrived, then
    stop). ``on_batch(report)`` sees every batch; the reports are returned."""
    from lakesight.spark import get_spark
    from lakesight.stage import stage_filesystem

    spark = spark or get_spark("lakesight-image_features-stream", settings)
    fs = stage_filesystem(spark, settings)
    checkpoint = checkpoint or checkpoint_uri(settings)
    raw = datasets.RAW_IMAGES.uri(settings)
    fs.mkdirs(raw)
    context, reports = StreamContext.start(settings), []

    def each_batch(files: DataFrame, batch_id: int) -> None:
        written = [r["modificationTime"] for r in files.select("modificationTime").collect()]
        written = [t.timestamp() * 1000 for t in written]
        results = publish_batch(spark, fs, context, files, batch_id, query_id(fs, checkpoint))
        reports.append(report(batch_id, results, written))
        if on_batch is not None:
            on_batch(reports[-1])

    source = (
        spark.readStream.format("binaryFile")
        .schema(BINARY_FILE_SCHEMA)
        .option("recursiveFileLookup", "true")
        .option("maxFilesPerTrigger", str(max_files))
        .load(join(raw, DAY_GLOB))
    )
    writer = source.writeStream.foreachBatch(each_batch).option("checkpointLocation", checkpoint)
    trigger = {"availableNow": True} if once else {"processingTime": f"{trigger_s} seconds"}
    query = writer.trigger(**trigger).start()
    try:
        query.awaitTermination()
    finally:
        query.stop()
    return reports


def main(argv: list[str] | None = None) -> int:
    """``lakesight stream image_features`` and ``spark-submit tasks/image_features/stream.py``:
    one line per committed micro-batch (JSON with ``--json``) until stopped, or with
    ``--once`` until what has arrived is published. Bad arguments: one line, exit code 2."""
    import sys

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
        "--trigger-s", type=float, default=5.0, help="seconds between micro-batches"
    )
    parser.add_argument(
        "--max-files-per-batch",
        type=int,
        default=1000,
        help="files per micro-batch at most (a backlog is split)",
    )
    parser.add_argument(
        "--checkpoint", help="checkpoint URI (default <root>/_checkpoints/image_features_stream)"
    )
    parser.add_argument("--json", action="store_true", help="one JSON line per batch")
    args = parser.parse_args(argv)
    if args.trigger_s <= 0 or args.max_files_per_batch < 1:
        parser.error("--trigger-s must be > 0 and --max-files-per-batch >= 1")

    def say(report: BatchReport) -> None:
        print(json.dumps(report.to_dict()) if args.json else report.line(), flush=True)

    try:
        run_stream(
            load_settings(),
            once=args.once,
            trigger_s=args.trigger_s,
            max_files=args.max_files_per_batch,
            checkpoint=args.checkpoint,
            on_batch=say,
        )
    except (ConfigError, StageError) as err:
        print(f"lakesight: error: {err}", file=sys.stderr)
        return 2
    except StorageError as err:
        print(f"lakesight: error: {err}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        pass  # stopped by its user: every committed batch stays, the checkpoint resumes
    return 0


if __name__ == "__main__":
    import sys

    sys.exit(main())
