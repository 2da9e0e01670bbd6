"""The Spark session factory: one place for masters, Java checks and defaults.

Under ``spark-submit`` the master and resources come from spark-submit (that is,
from Airflow's ``spark_default`` connection or the cluster's spark-defaults), and
the factory only adds defaults the user has not set. Run directly (``lakesight
stage …``, tests), it uses ``LAKESIGHT_SPARK_MASTER`` (default ``local[*]``).
"""

from __future__ import annotations

import contextlib
import functools
import logging
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from lakesight.config import ConfigError, Settings, load_settings
from lakesight.imaging import DecodeLimits
from lakesight.lake import (
    STAGING_DIR,
    SUCCESS_MARKER,
    LakeFileSystem,
    is_committed,
    is_hidden,
    join,
    new_run_id,
)

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

    from lakesight.progress import Steps

log = logging.getLogger(__name__)
SUPPORTED_JAVA = (17, 21)

# Defaults every stage relies on; a user's LAKESIGHT_SPARK_CONF or spark-submit
# --conf wins over these.
DEFAULT_CONF = {
    "spark.sql.execution.arrow.pyspark.enabled": "true",
    "spark.sql.session.timeZone": "UTC",
    # We write our own _SUCCESS after the manifest; Spark's would appear too early.
    "spark.hadoop.mapreduce.fileoutputcommitter.marksuccessfuljobs": "false",
    "spark.sql.parquet.compression.codec": "zstd",
    # Images are small files: with Spark's 4 MB "cost" per opened file, a day of
    # 2000 photos is cut into 64 tasks of ~30 images, and their start-up, small
    # model batches and 64 output files cost more than the inference. 128 KiB is
    # nearer what opening a file really costs next to reading it.
    "spark.sql.files.openCostInBytes": "131072",
    # Spark keeps every file status it lists in a driver-wide cache (up to 250 MB) so a
    # table listed again is not listed twice. A stage lists each day once, so the cache
    # only made the driver's heap grow with the day's file count (bench scale: 0.8 KB
    # per file kept after the stage). 0 turns it off for path-based reads.
    "spark.sql.hive.filesourcePartitionFileCacheSize": "0",
}
# Added when the master is local[...], whether spark-submit started the driver or not.
LOCAL_CONF = {
    # Small shuffles on one machine; the default 200 partitions is for clusters.
    "spark.sql.shuffle.partitions": str(max(4, 2 * (os.cpu_count() or 2))),
    # Above 32 folders Spark lists a directory tree with a Spark job. On one machine that
    # job runs in this JVM anyway and only adds its scheduling: a day of 600 listing
    # folders took 1.7 s to list that way and 0.14 s on the driver, on every read of the
    # raw day. Clusters keep Spark's 32, where tasks list in parallel.
    "spark.sql.sources.parallelPartitionDiscovery.threshold": "10000",
}
# Parquet files per stage output: tens of MB each, never thousands of tiny ones.
ROWS_PER_FILE = 500_000
# Readers split a Parquet file only between row groups. A day of image-sized cells (a
# forecast's pixels, 16 KB each) held 116 MB in one row group, so the next stage read it
# as one task on one core; row groups of 8 MiB let it spread over the cores.
ROW_GROUP_BYTES = 8 * 1024 * 1024


def output_files(rows: int) -> int:
    """How many Parquet files ``rows`` rows are written as."""
    return max(1, -(-rows // ROWS_PER_FILE))


def running_under_spark_submit() -> bool:
    """True in a driver launched by spark-submit (it hands us its JVM gateway)."""
    return "PYSPARK_GATEWAY_PORT" in os.environ


def java_executable() -> str | None:
    """The java Spark will start: ``$JAVA_HOME/bin/java`` when set, else the one on PATH."""
    java_home = os.environ.get("JAVA_HOME")
    if java_home:
        candidate = os.path.join(java_home, "bin", "java")
        return candidate if os.access(candidate, os.X_OK) else None
    return shutil.which("java")


def parse_java_major(version_output: str) -> int | None:
    """Major version from ``java -version`` output (``"17.0.15"`` → 17, ``"1.8.0"`` → 8)."""
    match = re.search(r'version "(\d+)(?:\.(\d+))?', version_output)
    if not match:
        return None
    major = int(match.group(1))
    return int(match.group(2) or 0) if major == 1 else major


@functools.cache
def check_java() -> int:
    """Fail fast, in one line, unless Java 17 or 21 is what Spark will start."""
    java = java_executable()
    where = "JAVA_HOME" if os.environ.get("JAVA_HOME") else "PATH"
    if java is None:
        raise ConfigError(
            f"Java: no java on {where}; Spark 4 needs Java 17 or 21 "
            "(install openjdk-17-jre-headless, or set JAVA_HOME)"
        )
    result = subprocess.run([java, "-version"], capture_output=True, text=True, check=False)
    major = parse_java_major(result.stderr + result.stdout)
    if major not in SUPPORTED_JAVA:
        raise ConfigError(
            f"Java: {java} is Java {major or 'unknown'}; Spark 4 needs Java 17 or 21 "
            "(install openjdk-17-jre-headless, or set JAVA_HOME)"
        )
    return major


def hadoop_storage_conf(settings: Settings) -> dict[str, str]:
    """Hadoop client timeouts and retries from lakesight's WebHDFS settings, so the JVM's
    clients give up on a stalled namenode as the Python one does, instead of Hadoop's
    defaults (a 60 s WebHDFS read; 45 RPC connect retries of 20 s each, 15 minutes)."""
    timeout_ms = str(max(1, round(settings.webhdfs_timeout_s * 1000)))
    retries = str(settings.webhdfs_retries)
    conf = {
        # webhdfs:// from the driver and executors.
        "dfs.webhdfs.socket.connect-timeout": f"{timeout_ms}ms",
        "dfs.webhdfs.socket.read-timeout": f"{timeout_ms}ms",
        "dfs.http.client.retry.policy.enabled": "true",
        # Hadoop's MultipleLinearRandomRetry: "sleep-ms,retries" (randomised sleeps).
        "dfs.http.client.retry.policy.spec": (
            f"{max(1, round(settings.webhdfs_backoff_s * 1000))},{retries}"
        ),
        "dfs.http.client.retry.max.attempts": str(settings.webhdfs_retries + 1),
        # hdfs:// (RPC to the namenode).
        "ipc.client.connect.timeout": timeout_ms,
        "ipc.client.connect.max.retries.on.timeouts": retries,
        "ipc.client.connect.max.retries": retries,
    }
    return {f"spark.hadoop.{key}": value for key, value in conf.items()}


def get_spark(
    app_name: str,
    settings: Settings | None = None,
    *,
    master: str | None = None,
    conf: dict[str, str] | None = None,
) -> SparkSession:
    """Get or create the process's SparkSession for a lakesight stage.

    Precedence, highest first: ``conf``, ``LAKESIGHT_SPARK_CONF``, what spark-submit
    was given (``--conf``, spark-defaults.conf), then :data:`DEFAULT_CONF`.
    """
    from pyspark import SparkConf, SparkContext
    from pyspark.sql import SparkSession

    settings = settings or load_settings()
    check_java()
    builder = SparkSession.builder.appName(app_name)
    defaults = dict(DEFAULT_CONF)
    # Progress bars help a person at a terminal and only clutter CI and Airflow logs.
    defaults["spark.ui.showConsoleProgress"] = str(sys.stderr.isatty()).lower()
    defaults.update(hadoop_storage_conf(settings))
    if running_under_spark_submit():
        # Connect to spark-submit's JVM so its settings are visible before we add ours.
        SparkContext._ensure_initialized()
        launched = SparkConf()
        # spark-submit on one machine (Airflow without a spark_default connection) gets the
        # same defaults as a local session: with a cluster's 200 shuffle partitions, the
        # decode of a 15-file day took 16 s instead of 9 s in image_features' ingest.
        if launched.get("spark.master", "").startswith("local"):
            defaults.update(LOCAL_CONF)
        defaults = {k: v for k, v in defaults.items() if not launched.contains(k)}
    else:
        chosen = master or settings.spark_master
        builder = builder.master(chosen)
        if chosen.startswith("local"):
            # Executors on this machine run this interpreter (the project's venv).
            os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
            defaults.update(LOCAL_CONF)
    for key, value in {**defaults, **settings.spark_conf, **(conf or {})}.items():
        builder = builder.config(key, value)
    spark = builder.getOrCreate()
    spark.sparkContext.setLogLevel(settings.spark_log_level)
    if spark.conf.get("spark.sql.files.minPartitionNum", None) is None:
        # Two file splits per core at least, so both halves of a small day run at once.
        spark.conf.set(
            "spark.sql.files.minPartitionNum", str(2 * spark.sparkContext.defaultParallelism)
        )
    return spark


def lineage_checkpoints(spark: SparkSession) -> str | None:
    """The session's checkpoint directory, where iterative algorithms cut their lineage: on a
    local master without one (``spark.checkpoint.dir``), a temporary directory removed when
    the process ends. On a cluster, set ``spark.checkpoint.dir`` to shared storage.

    Why: ALS (``models.recommendation.als``) only checkpoints with a directory, and without
    it every iteration lengthens the lineage each task carries until its serialisation
    overflows the JVM's stack: ``StackOverflowError`` at 50 iterations every time, and at
    ``eval recs``' 15 now and then (a fresh clone's ``make test``, 7 December 2026).
    """
    import atexit
    import tempfile

    context = spark.sparkContext
    if context.getCheckpointDir() is None and context.master.startswith("local"):
        directory = tempfile.mkdtemp(prefix="lakesight-checkpoints-")
        atexit.register(shutil.rmtree, directory, ignore_errors=True)
        context.setCheckpointDir(directory)
    return context.getCheckpointDir()


def bench_session(name: str, workdir: str | None, steps: Steps):
    """A bench's scratch lake (``var/<name>``, or ``workdir``) and its Spark session on
    ``local[2]``: the machine's 2 cores, as the bare loops it is compared with get them as
    threads. Returns ``(spark, settings, fs)``."""
    import dataclasses

    from lakesight.config import scratch_settings
    from lakesight.lake import HadoopFileSystem

    settings = dataclasses.replace(scratch_settings(workdir, name), spark_master="local[2]")
    with steps.step("start spark local[2]"):
        spark = get_spark(f"lakesight-{name}", settings)
    return spark, settings, HadoopFileSystem(spark)


def fingerprint_aggregates(*columns: str) -> list:
    """The two aggregate columns of a fingerprint (``_fp_n``, ``_fp_sum``), to compute it in
    the same job as other aggregates; :func:`fingerprint_from` turns the row into the string."""
    from pyspark.sql import functions as F

    cells = [F.coalesce(F.col(c).cast("string"), F.lit("")) for c in columns]
    row_hash = F.sha2(F.concat_ws("\t", *cells), 256)
    part = F.conv(F.substring(row_hash, 1, 15), 16, 10).cast("decimal(38,0)")
    return [F.count(F.lit(1)).alias("_fp_n"), F.sum(part).alias("_fp_sum")]


def fingerprint_from(row) -> str:
    return f"sum60:{row['_fp_n']}:{int(row['_fp_sum'] or 0):x}"


def fingerprint_of(df, *columns: str) -> str:
    """Order-independent fingerprint of a DataFrame's rows over ``columns``.

    Each row hashes to 60 bits and the hashes are summed in Spark, so the
    fingerprint is computed where the data is, whatever its size or partitioning.
    """
    return fingerprint_from(df.agg(*fingerprint_aggregates(*columns)).first())


def parquet_write_options(schema) -> dict[str, str]:
    """Parquet writer options for a stage output of ``schema``: row groups of
    :data:`ROW_GROUP_BYTES`, and no dictionary for vectors of floats (embeddings). Such
    values never repeat: the writer filled a dictionary for every element before falling
    back to plain encoding, a third of the time to write a day of 2304-float embeddings.
    The files' encodings are the same either way."""
    from pyspark.sql.types import ArrayType, DoubleType, FloatType

    options = {"parquet.block.size": str(ROW_GROUP_BYTES)}
    for field in schema.fields:
        kind = field.dataType
        if isinstance(kind, ArrayType) and isinstance(kind.elementType, FloatType | DoubleType):
            # Spark writes an array as the standard three-level list: <name>.list.element.
            options[f"parquet.enable.dictionary#{field.name}.list.element"] = "false"
    return options


def side_by_side(*calls: Callable[[], object]) -> list:
    """Each call's result, the calls made from threads of their own: Spark schedules the
    jobs of several threads side by side, so small jobs that do not need each other's
    results pay their start-up once instead of one after the other."""
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(max_workers=max(1, len(calls))) as pool:
        futures = [pool.submit(call) for call in calls]
        return [future.result() for future in futures]  # re-raises the first failure


def write_parquet_side_by_side(writes) -> None:
    """Write several ``(DataFrame, uri)`` pairs as concurrent Spark jobs (:func:`side_by_side`):
    the outputs of a stage are small next to its compute and come from one cached result;
    one after the other, each write is mostly job start-up and file commits."""

    def write(df, uri):
        return lambda: (
            df.write.mode("overwrite").options(**parquet_write_options(df.schema)).parquet(uri)
        )

    side_by_side(*(write(df, uri) for df, uri in writes))


def worker_read_slices(spark: SparkSession, files: Sequence[str]) -> tuple[DataFrame, list]:
    """For a Python job whose workers read Parquet files themselves
    (:func:`lakesight.lake.read_parquet_slice`) instead of being handed Spark's decoded rows:
    each file cut into one slice per core, ``(uri, part, parts)``, and a DataFrame of the
    slices' indices (``id``), one per partition, for ``mapInPandas`` to run over.

    Wide binary columns cost more to decode in the JVM and pass through Arrow than to read
    in the worker with pyarrow: a day's forecast pixels at 128 px (113 MB) took 0.85-0.93 s
    to reach two workers, against about 0.5 s to read in one process."""
    parts = spark.sparkContext.defaultParallelism
    slices = [(uri, part, parts) for uri in files for part in range(parts)]
    return spark.range(len(slices), numPartitions=max(1, len(slices))), slices


def without_duplicates(validated: DataFrame, key: Sequence[str], *, reason: str = "duplicate",
                       same: str = "same bytes as ") -> DataFrame:  # fmt: skip
    """Accepted rows (``reason`` null) whose ``key`` an earlier path (in path order) already
    has become ``reason``, their detail ``same`` + that path: the smallest path is kept, so
    reruns keep the same one."""
    from pyspark.sql import Window
    from pyspark.sql import functions as F

    # One pass over ``validated``: rejected rows rank among themselves and are left as they
    # are. Splitting it into accepted and rejected and taking the union would make Spark run
    # the plan under it twice, and that plan is the decode of every file.
    accepted = F.col("_accepted")
    group = Window.partitionBy(*key, accepted).orderBy("path")
    ranked = (
        validated.withColumn("_accepted", F.col("reason").isNull())
        .withColumn("_copy", accepted & (F.row_number().over(group) > 1))
        .withColumn("_kept", F.first("path").over(group))
    )
    is_copy = F.col("_copy")
    return (
        ranked.withColumn("reason", F.when(is_copy, F.lit(reason)).otherwise(F.col("reason")))
        .withColumn(
            "detail",
            F.when(is_copy, F.concat(F.lit(same), F.col("_kept")))
            .when(accepted, F.lit(None))
            .otherwise(F.col("detail")),
        )
        .drop("_accepted", "_copy", "_kept")
    )


def code_archive(cache_dir: str | None = None) -> str:
    """A zip of the lakesight code for ``--py-files``, so executors import what the driver runs.

    The zip holds ``lakesight/`` (with ``lakesight/models/``) as installed, minus
    model weights (stages load those from the registry) and caches. It is named
    by its content hash, so a changed checkout gives a new archive and an
    unchanged one is built once.
    """
    import hashlib
    import json
    import tempfile
    import zipfile
    from pathlib import Path

    import lakesight
    import lakesight.models

    roots = {
        "lakesight": Path(lakesight.__file__).parent,
        "lakesight/models": Path(lakesight.models.__file__).parent,
    }
    members: list[tuple[str, Path]] = []
    for arc_root, root in roots.items():
        for path in sorted(root.rglob("*.py")):
            relative = path.relative_to(root)
            if "__pycache__" in relative.parts or (
                arc_root == "lakesight" and root / "models" in path.parents
            ):
                continue
            members.append((f"{arc_root}/{relative.as_posix()}", path))
    from lakesight.config import ORIGIN_FILE, REPO_ROOT, default_model_registry

    origin = json.dumps(
        {"repo_root": str(REPO_ROOT), "model_registry": default_model_registry()}
    ).encode()
    digest = hashlib.sha256(origin)
    for name, path in members:
        digest.update(name.encode() + b"\0" + path.read_bytes())
    out_dir = Path(cache_dir or tempfile.gettempdir()) / "lakesight-code"
    out_dir.mkdir(parents=True, exist_ok=True)
    target = out_dir / f"lakesight-{digest.hexdigest()[:16]}.zip"
    if not target.exists():
        tmp = target.with_suffix(f".{os.getpid()}.tmp")
        with zipfile.ZipFile(tmp, "w", zipfile.ZIP_DEFLATED) as archive:
            for name, path in members:
                archive.write(path, name)
            archive.writestr(ORIGIN_FILE, origin)
        os.replace(tmp, target)
    return str(target)


def spark_facts(spark: SparkSession) -> dict[str, object]:
    """Where a stage ran, for its manifest: master, Spark version, executor processes."""
    sc = spark.sparkContext
    # getExecutorMemoryStatus lists block managers: the driver's plus one per executor.
    executors = max(0, sc._jsc.sc().getExecutorMemoryStatus().size() - 1)
    return {"spark_master": sc.master, "spark_version": spark.version, "executors": executors}


@dataclass(frozen=True)
class ImageJob:
    """What a model stage's executors need: the models (resolved on the driver) and the decoder's limits."""

    models: tuple[str, ...]  # name@version in the registry, in the order ``load`` takes them
    # The driver's registry: executors do not see the driver's LAKESIGHT_* environment.
    registry: str
    limits: DecodeLimits

    @classmethod
    def for_models(cls, settings: Settings, *models: str) -> ImageJob:
        return cls(tuple(models), settings.model_registry, DecodeLimits.from_settings(settings))

    def decode(self, content: bytes, path: str):
        """RGB pixels of one file, with ingest's rules; raises ``ImageRejected``."""
        return self.limits.decode(content, path).pixels


def per_worker(load: Callable[..., object], batch_fn: Callable, job: ImageJob, rows: int):
    """A ``mapInPandas`` function that loads ``job.models`` from ``job.registry`` once per Python
    worker (``load`` caches them) and calls ``batch_fn(slice, loaded, job)`` on slices of at most ``rows`` rows."""

    def apply(batches):
        loaded = load(*job.models, registry=job.registry)
        for rows_slice in row_slices(batches, rows):
            yield batch_fn(rows_slice, loaded, job)

    return apply


# Files a worker reads at a time: a slice of a model's batch. With one slice read ahead
# (read_ahead), a worker holds the bytes of at most two slices.
READ_ROWS = 64


def map_files(index: DataFrame, settings: Settings, apply: Callable, schema: str) -> DataFrame:
    """``apply`` (a ``mapInPandas`` function, such as :func:`per_worker`'s) over ``index``
    rows (with ``path``, a published URI), each row given its file's bytes as ``content``.

    Each Python worker reads its rows' files itself, through the lake's own client
    (:func:`lakesight.lake.filesystem_for`, on HDFS the ``LAKESIGHT_WEBHDFS_URL`` every
    worker needs), :data:`READ_ROWS` files at a time, the next slice in a thread while
    ``apply`` works on this one (:func:`read_ahead`); the index is first spread round robin
    over the cores, one task each. Spark's own binaryFile scan, joined to the index by
    path, read every file in the JVM (the day's quarantined ones too) and passed it through
    Arrow: a day of 2,649 photos took 3.96 s to embed that way against 3.02 s read by the
    workers (``bench houses``' day, 5 passes each).
    A row whose file is gone is left out, as that join left it out: the stages count their
    rows against the index and name what is missing."""
    parts = index.sparkSession.sparkContext.defaultParallelism

    def read_then_apply(batches):
        from lakesight.lake import filesystem_for

        fs = filesystem_for(settings.root, settings)  # the day's raw files are under the root
        slices = row_slices(batches, READ_ROWS)
        return apply(read_ahead(slices, functools.partial(with_contents, fs=fs)))

    return index.repartition(parts).mapInPandas(read_then_apply, schema)


def row_slices(batches, rows: int):
    """The rows of ``mapInPandas`` batches, in order, as slices of at most ``rows`` rows."""
    for batch in batches:
        for start in range(0, len(batch), rows):
            yield batch.iloc[start : start + rows]


def read_ahead(items: Iterator, read: Callable) -> Iterator:
    """``read(item)`` of each item in order, the next one read in a thread while the caller
    uses this one. A worker's model runs while its next files arrive: Spark's scan read
    ahead of the Python worker too, and on HDFS a file is two HTTP requests away. The
    items are drawn here, in the caller's thread; one item is read ahead, no more."""
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(max_workers=1) as pool:
        pending = None
        for item in items:
            upcoming = pool.submit(read, item)
            if pending is not None:
                yield pending.result()
            pending = upcoming
        if pending is not None:
            yield pending.result()


def with_contents(batch, fs: LakeFileSystem):
    """``batch`` (rows with ``path``) with each file's bytes as ``content``, read through
    ``fs``; rows whose file is missing are left out."""
    contents = []
    for path in batch["path"]:
        try:
            contents.append(fs.read_bytes(path))
        except FileNotFoundError:
            contents.append(None)
    found = [content is not None for content in contents]
    return batch.assign(content=contents)[found]


def code_sources(code: Sequence[str]) -> dict[str, str]:
    """The source text of each of ``code``: a module (``pkg.mod``) or one of its top-level
    functions or classes (``pkg.mod:Name``)."""
    import importlib
    import inspect

    sources = {}
    for name in code:
        module_name, _, attr = name.partition(":")
        obj = importlib.import_module(module_name)
        sources[name] = inspect.getsource(getattr(obj, attr) if attr else obj)
    return sources


def code_fingerprint(sources: dict[str, str]) -> str:
    """A short sha256 of named source texts (:func:`code_sources`): any edit changes it."""
    import hashlib

    digest = hashlib.sha256()
    for name in sorted(sources):
        digest.update(name.encode() + b"\0" + sources[name].encode() + b"\0")
    return digest.hexdigest()[:16]


def check_content_id(content: bytes, content_id: str) -> None:
    """Raise ``ImageRejected("changed_since_ingest")`` unless ``content`` hashes to its
    sha256 id: a raw file replaced after ingest must not be analysed, nor cached, under the
    id of the bytes ingest saw (a cache entry is reused for every later file of that id)."""
    import hashlib

    from lakesight.imaging import ImageRejected

    actual = hashlib.sha256(content).hexdigest()
    if actual != content_id:
        raise ImageRejected(
            "changed_since_ingest",
            f"sha256 {actual[:12]}... read, {content_id[:12]}... at ingest",
        )


def cached_and_computed(spark: SparkSession, reused: DataFrame | None,
                        computed: DataFrame | None, schema: str) -> DataFrame:  # fmt: skip
    """A cached stage's rows of the day (``schema``, ``processed_at`` included): the
    ``reused`` rows with their cached results (a cached result has no reason), then the
    ``computed`` ones; no rows, in the same columns, when neither has any (an empty day)."""
    import functools

    from pyspark.sql import functions as F

    from lakesight.stage import schema_columns

    parts = []
    if reused is not None:
        no_reason = F.lit(None).cast("string")
        parts.append(
            reused.withColumn("reason", no_reason)
            .withColumn("detail", no_reason)
            .select(*schema_columns(schema))
        )
    if computed is not None:
        parts.append(computed)
    if not parts:
        parts.append(spark.createDataFrame([], schema))
    return functools.reduce(lambda a, b: a.unionByName(b), parts)


class KeyedCache:
    """Results by content id under one key, append-only: ``<dataset>/key=K/run=R/`` per run.

    The *key* names everything a result depends on besides the content (models' files,
    options, the code's version): a new key recomputes, nothing else does. Runs are
    immutable directories, each committed by rename and ``_SUCCESS`` and never rewritten,
    so runs for other dates may read the cache while one adds to it (backfills run side by
    side), and deleting a published partition never loses work.

    A cache is an optimisation, never a reason to fail: a file of a committed run whose
    Parquet footer does not read (truncated, overwritten with garbage) is left out with a
    warning (logged, and kept in :attr:`warnings` for the stage's manifest), so its
    entries are recomputed; damage past a good footer is skipped by Spark's
    ``ignoreCorruptFiles`` on the same read.
    """

    def __init__(
        self, fs: LakeFileSystem, dataset_uri: str, key: str, columns: Sequence[str]
    ) -> None:
        self.fs = fs
        self.key = key
        self.columns = tuple(columns)  # the content id first, then what is cached for it
        self.dataset_uri = dataset_uri
        self.key_uri = join(self.dataset_uri, f"key={key}")
        self.warnings: list[str] = []  # unreadable files left out by the last read
        self.last_run: str | None = None  # the run this object committed last

    def committed_runs(self) -> list[str]:
        runs = [d for d in self.fs.list_dirs(self.key_uri) if d.startswith("run=")]
        return [
            join(self.key_uri, r)
            for r in sorted(runs)
            if is_committed(self.fs, join(self.key_uri, r))
        ]

    def read(self, spark: SparkSession) -> DataFrame | None:
        """One row per cached id (the earliest computation), or None when the key is new."""
        from pyspark.sql import functions as F

        files = self.readable_files(spark, self.committed_runs())
        if not files:
            return None
        # A run merged away by compact() since it was listed is gone: its rows are in the
        # merged run (or, if that was listed too late, are recomputed).
        rows = spark.read.options(ignoreCorruptFiles="true", ignoreMissingFiles="true").parquet(
            *files
        )
        rows = rows.select(*self.columns)
        # Two runs may have computed the same new bytes side by side: keep one, always the same.
        first = rows.groupBy(self.columns[0]).agg(
            F.min_by(F.struct(*self.columns[1:]), "processed_at").alias("cached")
        )
        return first.select(self.columns[0], "cached.*")

    def readable_files(self, spark: SparkSession, runs: Sequence[str]) -> list[str]:
        """The data files of ``runs`` whose Parquet footer reads; the others become warnings."""
        from py4j.protocol import Py4JJavaError

        jvm, conf = spark._jvm, spark._jsc.hadoopConfiguration()
        parquet = jvm.org.apache.parquet.hadoop
        readable, self.warnings = [], []
        for run in runs:
            for entry in self.fs.list_files(run):
                # A run's files sit flat in its directory (`_SUCCESS`, `.crc`s are hidden).
                if is_hidden(entry.uri.rsplit("/", 1)[-1]):
                    continue
                try:
                    path = jvm.org.apache.hadoop.fs.Path(entry.uri)
                    # Opening reads (and checks) the footer only: cheap next to the data.
                    parquet.ParquetFileReader.open(
                        parquet.util.HadoopInputFile.fromPath(path, conf)
                    ).close()
                except Py4JJavaError as err:
                    cause = str(err.java_exception.toString()).splitlines()[0]
                    self.warnings.append(f"skipped unreadable cache file {entry.uri}: {cause}")
                    log.warning("%s", self.warnings[-1])
                else:
                    readable.append(entry.uri)
        return readable

    def manifest_extra(self) -> dict[str, list[str]]:
        """What a stage's manifest says of this cache: the files its read left out, if any."""
        return {"cache_warnings": list(self.warnings)} if self.warnings else {}

    def split(self, spark: SparkSession, index: DataFrame) -> tuple[DataFrame, DataFrame | None]:
        """``index`` rows (the id column, ``path``...) not computed under this key yet, and the
        others joined to their cached results (None when the key is new)."""
        cached = self.read(spark)
        if cached is None:
            return index, None
        todo = index.join(cached.select(self.columns[0]), self.columns[0], "left_anti")
        return todo, index.join(cached, self.columns[0], "inner")

    @contextlib.contextmanager
    def adding(self, rows: DataFrame, count: int) -> Iterator[list[tuple[DataFrame, str]]]:
        """A new run of ``count`` results: yields the ``(DataFrame, uri)`` writes for the
        caller to make with its own outputs, and commits the run when the block succeeds."""
        run_id = new_run_id()
        writes = [(self.rows_to_write(rows, count), self.staging_uri(run_id))] if count else []
        try:
            yield writes
            if writes:
                self.commit(run_id)
        finally:
            # Gone after a commit; leftovers after a failure.
            self.fs.delete(self.staging_uri(run_id))

    def staging_uri(self, run_id: str) -> str:
        return join(self.dataset_uri, STAGING_DIR, f"{self.key_uri.rsplit('/', 1)[1]}.{run_id}")

    def rows_to_write(self, rows: DataFrame, count: int) -> DataFrame:
        return rows.select(*self.columns).coalesce(output_files(count))

    def commit(self, run_id: str) -> None:
        """Move a written staging directory into place as a new committed run."""
        final = join(self.key_uri, f"run={run_id}")
        self.fs.mkdirs(self.key_uri)
        self.fs.rename(self.staging_uri(run_id), final)
        self.fs.write_bytes(join(final, SUCCESS_MARKER), b"")
        self.last_run = final

    def ids(self, spark: SparkSession) -> set[str]:
        """Every content id cached under the key (one job over the id column only)."""
        files = self.readable_files(spark, self.committed_runs())
        if not files:
            return set()
        reader = spark.read.options(ignoreCorruptFiles="true", ignoreMissingFiles="true")
        ids = reader.parquet(*files).select(self.columns[0]).distinct().collect()
        return {row[0] for row in ids}

    def compact(self, spark: SparkSession, runs: Sequence[str]) -> str:
        """Merge committed ``runs`` into one new run, then delete them: a writer that adds a
        small run often (a stream, each micro-batch) keeps the number of runs, and so every
        reader's listing and footer checks, small. The merged run is committed before any
        run goes, so a reader sees each row at least once (:meth:`read` ignores a file
        deleted after it listed it). Returns the merged run's URI."""
        rows = spark.read.parquet(*self.readable_files(spark, runs)).select(*self.columns)
        run_id = new_run_id()
        write_parquet_side_by_side([(rows.coalesce(1), self.staging_uri(run_id))])
        self.commit(run_id)
        for run in runs:
            self.fs.delete(run)
        return self.last_run
