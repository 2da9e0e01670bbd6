"""``lakesight bench scale``: does a bigger day cost more per image, or more driver memory?

image_features' real stages (ingest → analyze → publish) run over days of 2,000, 8,000
and 32,000 small generated scenes, each size in a fresh process (so every peak is that
size's own). The default master is ``local-cluster[2,1,1024]``: two executor JVMs of
their own, so the driver's process holds only what the driver holds (in ``local`` mode
one JVM is driver *and* executor, and its memory is mostly the executors' batches). Per
size it reports the stages' wall seconds, the cost per image (the stages' own seconds
over the images, Spark's start excluded) and the driver's memory:

- ``driver_python_peak_mb``: the Python driver's peak RSS (VmHWM, ``/proc/self/status``);
- ``driver_jvm_heap_mb``: what the driver JVM *retains*: its heap in use after a full GC
  once Spark's ContextCleaner has dropped the finished jobs' shuffles and RDDs (it runs
  on weak references, so one GC only queues them), the largest of the values taken
  after each stage;
- ``driver_jvm_rss_peak_mb``, for information: the driver JVM's peak RSS. It is mostly
  the heap G1 chose to commit, which follows the allocation rate of a longer run, not
  what is kept; the retained heap above is the figure that says whether the driver
  holds per-image state;
- the ratios largest/smallest of the goal figures (cost per image, Python peak RSS,
  retained JVM heap), and ``within_10pct`` (all ≤ 1.10).

The scenes are generated once into ``<workdir>/pool`` (the largest size asked for) and
every size's raw partition is hard links to the first N of them, in a lake of its own
(``<workdir>/lakes/n<N>``) so that no size meets another's analysis cache.
"""

from __future__ import annotations

import gc
import json
import os
import subprocess
import sys
import time
from pathlib import Path

DEFAULT_SIZES = (2000, 8000, 32000)
DEFAULT_WORKDIR = "var/bench/scale"
DEFAULT_MASTER = "local-cluster[2,1,1024]"
BENCH_DT = "2026-03-01"
# Small scenes: 32,000 of them generate in minutes, and the detector resizes anyway.
SCENE_WIDTH, SCENE_HEIGHT = 128, 96
TOLERANCE = 1.10
SETTLE_ROUNDS, SETTLE_S = 2, 0.5


def proc_status_kb(field: str, pid: int | str = "self") -> int:
    """A ``kB`` field (``VmHWM``, ``VmRSS``) of ``/proc/<pid>/status``; 0 where unknown."""
    try:
        text = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return 0
    for line in text.splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    return 0


def summarise(runs: list[dict]) -> dict:
    """Ratios largest/smallest (by images) of cost per image and each driver peak."""
    ordered = sorted(runs, key=lambda r: r["images"])
    small, large = ordered[0], ordered[-1]

    def ratio(key: str) -> float:
        return round(large[key] / small[key], 3) if small[key] else float("inf")

    ratios = {
        "cost_per_image": ratio("cost_per_image_s"),
        "driver_python_peak": ratio("driver_python_peak_mb"),
        "driver_jvm_heap": ratio("driver_jvm_heap_mb"),
    }
    return {
        "sizes": ordered,
        "ratios_largest_vs_smallest": ratios,
        "within_10pct": all(v <= TOLERANCE for v in ratios.values()),
        "tolerance": TOLERANCE,
    }


def ensure_pool(workdir: Path, images: int, progress=None) -> list[str]:
    """The generated scenes' paths in generation order, generating them once if needed."""
    from lakesight.config import load_settings
    from lakesight.image_features.datasets import RAW_IMAGES, RAW_LABELS
    from lakesight.image_features.sample_data import write_images_partition
    from lakesight.lake import LocalFileSystem, uri_path
    from lakesight.models.scenes import SceneConfig

    pool = workdir / "pool"
    # A pool at least this large is reused: its first N scenes are the same scenes.
    have = [int(p.name.split("-", 1)[1]) for p in pool.glob("ready-*")]
    done = pool / f"ready-{max([k for k in have if k >= images], default=images)}"
    os.environ["LAKESIGHT_ROOT"] = pool.resolve().as_uri()
    settings = load_settings()
    labels = Path(uri_path(RAW_LABELS.partition(settings, BENCH_DT))) / "labels.jsonl"
    if not done.exists():
        # A smaller pool, or one cut short, is regenerated whole (the generator replaces it).
        for old in pool.glob("ready-*"):
            old.unlink()
        scene = SceneConfig(width=SCENE_WIDTH, height=SCENE_HEIGHT)
        write_images_partition(
            LocalFileSystem(), settings, BENCH_DT, n=images, seed=2026, scene=scene,
            progress=progress,
        )  # fmt: skip
        done.write_text("")
    raw = Path(uri_path(RAW_IMAGES.partition(settings, BENCH_DT)))
    rels = [json.loads(line)["path"] for line in labels.read_text().splitlines() if line]
    return [str(raw / rel) for rel in rels]


def link_day(pool_files: list[str], pool_raw: Path, lake: Path, n: int) -> None:
    """A fresh lake at ``lake`` whose raw day is hard links to the first ``n`` pool files."""
    import shutil

    from lakesight.config import load_settings
    from lakesight.image_features.datasets import RAW_IMAGES
    from lakesight.lake import uri_path

    shutil.rmtree(lake, ignore_errors=True)
    os.environ["LAKESIGHT_ROOT"] = lake.resolve().as_uri()
    raw = Path(uri_path(RAW_IMAGES.partition(load_settings(), BENCH_DT)))
    for src in pool_files[:n]:
        dst = raw / Path(src).relative_to(pool_raw)
        dst.parent.mkdir(parents=True, exist_ok=True)
        os.link(src, dst)


def run_one(lake: Path, master: str) -> dict:
    """In this (fresh) process: the three stages over ``lake``'s day, timed, with the peaks."""
    from lakesight.config import load_settings
    from lakesight.image_features import analyze, ingest, publish
    from lakesight.image_features.datasets import CURATED_IMAGES
    from lakesight.progress import Steps
    from lakesight.spark import get_spark

    os.environ["LAKESIGHT_ROOT"] = lake.resolve().as_uri()
    settings = load_settings()
    spark = get_spark("lakesight-bench-scale", settings, master=master,
                      conf={"spark.ui.enabled": "false"})  # fmt: skip
    jvm = spark.sparkContext._jvm
    runtime = jvm.java.lang.Runtime.getRuntime()

    def heap_after_gc_mb() -> float:
        gc.collect()  # Python's proxies of JVM objects go first, so the JVM can free them
        for _ in range(SETTLE_ROUNDS):
            # A GC queues finished jobs' RDDs and shuffles for the ContextCleaner's thread;
            # the next GC, after it ran, frees them.
            jvm.java.lang.System.gc()
            time.sleep(SETTLE_S)
        jvm.java.lang.System.gc()
        return (runtime.totalMemory() - runtime.freeMemory()) / 2**20

    heaps = [heap_after_gc_mb()]  # the session's own baseline, before any stage
    seconds: dict[str, float] = {}
    for name, stage in (("ingest", ingest), ("analyze", analyze), ("publish", publish)):
        started = time.perf_counter()
        stage.run(spark, settings, BENCH_DT, steps=Steps(name, quiet=True))
        seconds[name] = round(time.perf_counter() - started, 3)
        heaps.append(heap_after_gc_mb())
    # Every generated scene must have gone all the way through, or the cost is of less work.
    curated = spark.read.parquet(CURATED_IMAGES.partition(settings, BENCH_DT)).count()
    jvm_pid = int(jvm.java.lang.ProcessHandle.current().pid())
    jvm_hwm = proc_status_kb("VmHWM", jvm_pid) / 1024
    spark.stop()
    total = sum(seconds.values())
    return {
        "stage_s": seconds,
        "stages_s": round(total, 3),
        "driver_python_peak_mb": round(proc_status_kb("VmHWM") / 1024, 1),
        "driver_jvm_heap_mb": round(max(heaps), 1),
        "driver_jvm_heap_baseline_mb": round(heaps[0], 1),
        "driver_jvm_rss_peak_mb": round(jvm_hwm, 1),
        "curated_rows": curated,
    }


def bench_scale(sizes, workdir: str | None, master: str | None, steps) -> dict:
    """Every size in a subprocess of its own; the results and their ratios."""
    sizes = sorted({int(s) for s in sizes})
    work = Path(workdir or DEFAULT_WORKDIR).resolve()
    master = master or os.environ.get("LAKESIGHT_SPARK_MASTER") or DEFAULT_MASTER
    with steps.step(f"scenes in {work / 'pool'} (generated once, {max(sizes)})"):
        pool_files = ensure_pool(work, max(sizes))
    pool_raw = _raw_dir(work / "pool")
    runs = []
    for n in sizes:
        lake = work / "lakes" / f"n{n}"
        link_day(pool_files, pool_raw, lake, n)
        with steps.step(f"{n} images: ingest → analyze → publish on {master}"):
            out = subprocess.run(
                [sys.executable, "-m", "lakesight.image_features.scale_bench", str(lake), master],
                stdout=subprocess.PIPE,
                stderr=None,  # the JVM's and the stages' chatter goes to our stderr
                check=True,
                text=True,
            )
        one = json.loads(out.stdout.strip().splitlines()[-1])
        if one["curated_rows"] != n:
            raise RuntimeError(f"bench scale: {n} scenes but {one['curated_rows']} curated rows")
        one["images"] = n
        one["cost_per_image_s"] = round(one["stages_s"] / n, 6)
        runs.append(one)
    result = summarise(runs)
    result.update({"spark_master": master, "workdir": str(work),
                   "scene_px": [SCENE_WIDTH, SCENE_HEIGHT]})  # fmt: skip
    return result


def _raw_dir(pool: Path) -> Path:
    from lakesight.config import load_settings
    from lakesight.image_features.datasets import RAW_IMAGES
    from lakesight.lake import uri_path

    os.environ["LAKESIGHT_ROOT"] = pool.resolve().as_uri()
    return Path(uri_path(RAW_IMAGES.partition(load_settings(), BENCH_DT)))


if __name__ == "__main__":
    # The per-size child: stdout carries only its JSON line.
    print(json.dumps(run_one(Path(sys.argv[1]), sys.argv[2])), flush=True)
