"""``lakesight bench stream``: the streaming path's latency, sustained rate and restart cost.

Three measurements, each in a scratch lake of its own (``var/bench/stream``) on Spark
``local[2]``, all in one run:

- **Latency.** An uploader drops images into ``raw/images/dt=D/uploads/`` at a fixed rate
  R for S seconds, each written under a temporary name (``*.tmp``) and then renamed, as
  real uploaders do. The stream runs meanwhile; a file's latency is from its rename to the
  commit of the micro-batch that published its row, and to the first moment the service's
  catalogue (``lakesight serve``'s, its live tick at 0.5 s) finds it (p50, p95, max).
- **Sustained rate against the batch pipeline.** The same backlog of new images, once
  through the stream (``--once``) and once through the daily stages (ingest → analyze →
  publish) in another lake: images/s of each, and their ratio.
- **Restart.** After 200 and after 20,000 files have been seen, the time a ``--once``
  run takes to find nothing new (the source's log and listing), and the checkpoint's size.
"""

from __future__ import annotations

import os
import shutil
import statistics
import threading
import time
from pathlib import Path

from lakesight.image_features.live import committed_batches
from lakesight.lake import read_manifest, uri_path
from lakesight.progress import Steps

DAY = "2026-09-01"


def percentile(values: list[float], q: float) -> float:
    """The ``q`` quantile (0..1) of ``values``, nearest rank."""
    ranked = sorted(values)
    return ranked[min(len(ranked) - 1, max(0, round(q * len(ranked)) - 1))]


def image_pool(settings, n: int, seed: int) -> list[bytes]:
    """``n`` distinct generated JPEG/PNG files' bytes (rendered through a scratch day)."""
    from lakesight.image_features.sample_data import write_images_partition
    from lakesight.lake import LocalFileSystem

    scratch = "2000-01-01"
    write_images_partition(LocalFileSystem(), settings, scratch, n=n, bad=0, seed=seed)
    day = Path(uri_path(settings.partition_uri("raw", "images", scratch)))
    data = [p.read_bytes() for p in sorted(day.rglob("*")) if p.is_file()]
    shutil.rmtree(day)
    shutil.rmtree(uri_path(settings.partition_uri("raw", "image_labels", scratch)))
    return data


def upload(folder: Path, pool: list[bytes], rate: float) -> dict[str, float]:
    """Write ``pool`` into ``folder`` at ``rate`` files/s, each as ``x.tmp`` then renamed to
    ``x``: file name -> the moment it was renamed into place."""
    folder.mkdir(parents=True, exist_ok=True)
    renamed, start = {}, time.monotonic()
    for i, data in enumerate(pool):
        time.sleep(max(0.0, start + i / rate - time.monotonic()))
        name = f"upload_{i:06d}.jpg"
        (folder / f"{name}.tmp").write_bytes(data)
        os.rename(folder / f"{name}.tmp", folder / name)
        renamed[name] = time.time()
    return renamed


def batch_files(fs, settings) -> dict[int, list[str]]:
    """batch id -> the file names it published or quarantined, from the lake."""
    import pyarrow.parquet as pq

    from lakesight.image_features import datasets

    names: dict[int, list[str]] = {}
    for dataset in (datasets.LIVE, datasets.QUARANTINED_LIVE):
        for batch in committed_batches(fs, settings, DAY, dataset):
            batch_id = read_manifest(fs, batch).extra["stream"]["batch_id"]
            paths = pq.read_table(uri_path(batch), columns=["path"])["path"].to_pylist()
            names.setdefault(batch_id, []).extend(uri_path(p).rsplit("/", 1)[-1] for p in paths)
    return names


def latency(spark, settings, fs, rate: float, seconds: float, trigger_s: float, steps: Steps):
    """Upload at ``rate`` for ``seconds`` while the stream runs: rename -> committed row."""
    import hashlib

    from lakesight.image_features.stream import run_stream
    from lakesight.serve.catalogue import Catalogues

    pool = image_pool(settings, round(rate * seconds), seed=101)
    committed: dict[int, float] = {}
    stop = threading.Event()
    # The service's catalogue, as `lakesight serve` keeps it (a live tick of 0.5 s): when does
    # a search first find each upload?
    catalogues, answered = Catalogues(settings), {}
    catalogues.start(interval_s=30, live_interval_s=0.5)
    pending = {
        hashlib.sha256(data).hexdigest(): f"upload_{i:06d}.jpg" for i, data in enumerate(pool)
    }

    def watch() -> None:
        while not stop.is_set() and pending:
            images = catalogues.images
            for image_id in [i for i in pending if len(images.positions_of(i))]:
                answered[pending.pop(image_id)] = time.time()
            time.sleep(0.1)

    watcher = threading.Thread(target=watch, daemon=True)
    stream = threading.Thread(target=run_stream, args=(settings,), kwargs=dict(
        trigger_s=trigger_s, spark=spark, stop=stop,
        on_batch=lambda r: committed.setdefault(r.batch_id, r.committed_at)))  # fmt: skip
    folder = Path(uri_path(settings.partition_uri("raw", "images", DAY)), "uploads")
    folder.mkdir(parents=True, exist_ok=True)
    stream.start()
    watcher.start()
    time.sleep(3 * trigger_s)  # the first, empty batches: the query's start-up is not measured
    with steps.step(f"upload {len(pool)} images at {rate}/s"):
        renamed = upload(folder, pool, rate)
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline and (pending or len(answered) < len(pool)):
        time.sleep(0.5)
    stop.set()
    stream.join()
    catalogues.stop()
    served = [answered[name] - renamed[name] for name in answered]
    waits = [committed[b] - renamed[name] for b, names in batch_files(fs, settings).items()
             for name in names if name in renamed]  # fmt: skip
    return {"rate": rate, "seconds": seconds, "trigger_s": trigger_s, "files": len(pool),
            "committed": len(waits), "batches": len(committed),
            "commit_p50_s": round(statistics.median(waits), 2),
            "commit_p95_s": round(percentile(waits, 0.95), 2),
            "commit_max_s": round(max(waits), 2), "answered": len(served),
            "service_p50_s": round(statistics.median(served), 2),
            "service_p95_s": round(percentile(served, 0.95), 2),
            "service_max_s": round(max(served), 2)}  # fmt: skip


def sustained(spark, settings, fs, images: int, steps: Steps) -> dict:
    """The same backlog of new images through the stream and through the daily stages."""
    import dataclasses

    from lakesight.image_features import analyze, ingest, publish
    from lakesight.image_features.stream import run_stream

    pool = image_pool(settings, images, seed=202)
    lakes = {}
    for name in ("stream", "daily"):
        lake = dataclasses.replace(settings, root=f"{settings.root}/{name}")
        day = Path(uri_path(lake.partition_uri("raw", "images", DAY)))
        day.mkdir(parents=True, exist_ok=True)
        for i, data in enumerate(pool):
            (day / f"img_{i:06d}.jpg").write_bytes(data)
        lakes[name] = lake
    with steps.step(f"stream {images} images"):
        started = time.perf_counter()
        reports = run_stream(lakes["stream"], once=True, max_files=images, spark=spark)
        stream_s = time.perf_counter() - started
    with steps.step(f"daily stages on {images} images"):
        started = time.perf_counter()
        for stage in (ingest, analyze, publish):
            stage.run(spark, lakes["daily"], DAY)
        daily_s = time.perf_counter() - started
    published = sum(r.images for r in reports)
    return {"images": images, "published": published,
            "stream_ips": round(images / stream_s, 1), "daily_ips": round(images / daily_s, 1),
            "stream_vs_daily": round(daily_s / stream_s, 3)}  # fmt: skip


def notes(folder: Path, start: int, stop: int) -> None:
    """Small files that are not images: each is a record (quarantined), none needs a model."""
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(start, stop):
        (folder / f"note_{i:06d}.txt").write_bytes(f"not an image {i}\n".encode())


def restarted(spark, lake) -> dict:
    """Median of 3 ``--once`` runs that find nothing new, and the checkpoints' size."""
    from lakesight.image_features.stream import checkpoint_uri, run_stream

    timings = []
    for _ in range(3):
        started = time.perf_counter()
        assert run_stream(lake, once=True, spark=spark) == []
        timings.append(time.perf_counter() - started)
    checkpoint = Path(uri_path(checkpoint_uri(lake)))
    size = sum(p.stat().st_size for p in checkpoint.rglob("*") if p.is_file())
    return {
        "restart_s": round(statistics.median(timings), 2),
        "checkpoint_kb": round(size / 1024, 1),
    }


def restart(spark, settings, fs, seen: tuple[int, ...], steps: Steps) -> dict:
    """The restart after ``seen`` files of one day, and after the last of them spread over
    ten days (the stream watches the newest two, each with its own checkpoint)."""
    import dataclasses
    from datetime import date, timedelta

    from lakesight.image_features.stream import run_stream

    lake = dataclasses.replace(settings, root=f"{settings.root}/restart")
    folder = Path(uri_path(lake.partition_uri("raw", "images", DAY)), "notes")
    out, written = {}, 0
    for total in seen:
        notes(folder, written, total)
        written = total
        with steps.step(f"stream {total} files"):
            run_stream(lake, once=True, max_files=5000, spark=spark)
        out[str(total)] = restarted(spark, lake)
    days = dataclasses.replace(settings, root=f"{settings.root}/restart_days")
    per_day = seen[-1] // 10
    with steps.step(f"stream {per_day * 10} files over 10 days"):
        for k in range(10):
            dt = (date.fromisoformat(DAY) + timedelta(days=k)).isoformat()
            notes(
                Path(uri_path(days.partition_uri("raw", "images", dt))),
                k * per_day,
                (k + 1) * per_day,
            )
            run_stream(days, once=True, max_files=5000, days_back=0, spark=spark)
    out[f"{per_day * 10} over 10 days"] = restarted(spark, days)
    return out


def bench_stream(rate: float, seconds: float, trigger_s: float, backlog: int,
                 seen: tuple[int, ...], workdir: str | None, steps: Steps) -> dict:  # fmt: skip
    from lakesight.spark import bench_session

    spark, settings, fs = bench_session("bench/stream", workdir, steps)
    shutil.rmtree(uri_path(settings.root), ignore_errors=True)
    Path(uri_path(settings.root)).mkdir(parents=True)
    result = {"latency": latency(spark, settings, fs, rate, seconds, trigger_s, steps)}
    result["sustained"] = sustained(spark, settings, fs, backlog, steps)
    result["restart"] = restart(spark, settings, fs, seen, steps)
    return result
