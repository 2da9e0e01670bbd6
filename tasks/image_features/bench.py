"""``lakesight bench pipeline``: image_features throughput against its physical limit and its peer.

On the same generated images, the same models (ORT fp32) and the same cores:

- **pipeline**: the ``analyze`` stage on Spark ``local[2]``, as the DAG runs it:
  each Python worker reads its images' bytes (:func:`lakesight.spark.map_files`), then
  decode → detect → crop → describe,
  write Parquet, commit, add to the cache (emptied before every pass, so each
  pass computes every image);
- **bare**: one process, no Spark: read each file, then the very batch function
  the stage maps (:func:`lakesight.image_features.analyze.analyze_batch`), runtime threads =
  the cores Spark gets. It is our physical limit;
- **peer**: the common approach, Spark's ``predict_batch_udf`` per model over Spark's own
  ``binaryFile`` scan of the day (:func:`binary_file_join`): a pandas UDF decodes and preprocesses into tensors, one ``predict_batch_udf``
  per model, a UDF for post-processing and cropping (decoding again, since
  tensors, not pixels, are what flows between the UDFs).

Each figure is the median of ``repeats`` passes after a warm-up pass. The
breakdown times the parts of one bare pass (read, decode, detect, crop,
describe), what the peer's input costs (Spark's scan + Arrow transfer of the bytes to
Python) and the stage's own steps, so the gap between pipeline and bare can be attributed.
"""

from __future__ import annotations

import hashlib
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

from lakesight.progress import Steps

BENCH_DT = "2026-03-01"
SPARK_CORES = 2


def _median_seconds(run, repeats: int) -> float:
    run()  # warm-up: Python workers start and load their models once
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        run()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def bare_pass(paths: list[str], job, models, policy, batch_rows: int, timings: dict | None = None):
    """Read → decode → detect → crop → describe in this process; ``timings`` gets per-part seconds."""
    from lakesight.image_features.analysis import choose_crop, detection_structs
    from lakesight.image_features.analyze import analyze_batch

    if timings is None:
        for start in range(0, len(paths), batch_rows):
            chunk = paths[start : start + batch_rows]
            contents = [Path(p).read_bytes() for p in chunk]
            # analyze_batch re-hashes the bytes against their id, as the stage's rows have it.
            ids = [hashlib.sha256(c).hexdigest() for c in contents]
            batch = pd.DataFrame({"image_id": ids, "path": chunk, "content": contents})
            analyze_batch(batch, models, job, policy)
        return
    # The same steps, one at a time, to see where the time goes.
    detector, descriptor = models
    clock = time.perf_counter
    for start in range(0, len(paths), batch_rows):
        chunk = paths[start : start + batch_rows]
        t0 = clock()
        contents = [Path(p).read_bytes() for p in chunk]
        t1 = clock()
        images = [job.decode(c, p) for c, p in zip(contents, chunk, strict=True)]
        t2 = clock()
        rows = detector.detect(images)
        t3 = clock()
        crops = []
        for i, image in enumerate(images):
            h, w = image.shape[:2]
            found = detection_structs(rows[rows[:, 0] == i], detector.classes)
            (x0, y0, x1, y1), _ = choose_crop(found, w, h, policy)
            crops.append(image[y0:y1, x0:x1])
        t4 = clock()
        descriptor.describe(crops)
        t5 = clock()
        for part, seconds in zip(
            ("read", "decode", "detect", "crop", "describe"),
            (t1 - t0, t2 - t1, t3 - t2, t4 - t3, t5 - t4),
            strict=True,
        ):
            timings[part] = timings.get(part, 0.0) + seconds


def binary_file_join(spark, uri: str, index):
    """``index`` rows (with ``path``) joined to the bytes (``content``) of their files under
    ``uri`` by Spark's own ``binaryFile`` scan: the peer's input, as Spark's documentation
    feeds ``predict_batch_udf``. (The stages' workers read their files themselves.)"""
    from pyspark.sql import functions as F

    raw = spark.read.format("binaryFile").option("recursiveFileLookup", "true").load(uri)
    # binaryFile spells paths as Hadoop does (``file:/p``, unencoded); the index holds
    # published URIs (lake.path_uri).
    hadoop_path = F.url_decode(F.regexp_replace(F.col("path"), "^file://", "file:"))
    spelled = index.withColumn("_hadoop_path", hadoop_path)
    return (
        raw.select(F.col("path").alias("_hadoop_path"), "content")
        .join(spelled, "_hadoop_path", "inner")
        .drop("_hadoop_path")
    )


def peer_job(spark, files, detector_ref: str, descriptor_ref: str, job, policy, batch_size: int,
             variant: str = "fp32"):  # fmt: skip
    """image_features the common way: ``predict_batch_udf`` per model, pandas UDFs around them
    (the detector's ``variant`` file, as the stage chose it)."""
    from pyspark.ml.functions import predict_batch_udf
    from pyspark.sql import functions as F
    from pyspark.sql.functions import pandas_udf
    from pyspark.sql.types import ArrayType, FloatType, StructField, StructType

    from lakesight.image_features.analysis import choose_crop, detection_structs
    from lakesight.models.detection.detector import preprocess
    from lakesight.models.runtime import load_descriptor, load_detector

    registry = job.registry
    det_size = load_detector(detector_ref, registry=registry).spec.size
    desc_size = load_descriptor(descriptor_ref, registry=registry).spec.size

    @pandas_udf("struct<width:int,height:int,tensor:array<float>>")
    def to_detector_tensor(content: pd.Series, path: pd.Series) -> pd.DataFrame:
        spec = load_detector(detector_ref, registry=registry).spec
        widths, heights, tensors = [], [], []
        for data, name in zip(content, path, strict=True):
            pixels = job.decode(data, name)
            heights.append(pixels.shape[0])
            widths.append(pixels.shape[1])
            tensors.append(preprocess([pixels], spec)[0].ravel())
        return pd.DataFrame({"width": widths, "height": heights, "tensor": tensors})

    def make_detect_fn():
        detector = load_detector(detector_ref, registry=registry, variant=variant)

        def predict(batch: np.ndarray) -> np.ndarray:
            # NMS inside the model UDF, as peers do; rows padded to a fixed width for Arrow.
            found = detector.detect_tensor(batch.astype(np.float32))
            out = np.zeros((len(batch), 7 * 32), np.float32)
            for i in range(len(batch)):
                rows = found[found[:, 0] == i][:32].ravel()
                out[i, : len(rows)] = rows
            return out

        return predict

    detect_udf = predict_batch_udf(
        make_detect_fn,
        return_type=ArrayType(FloatType()),
        batch_size=batch_size,
        input_tensor_shapes=[[3, det_size, det_size]],
    )

    @pandas_udf("array<float>")
    def to_crop_tensor(content: pd.Series, path: pd.Series, rows: pd.Series) -> pd.Series:
        detector = load_detector(detector_ref, registry=registry, variant=variant)
        spec = load_descriptor(descriptor_ref, registry=registry).spec
        out = []
        for data, name, flat in zip(content, path, rows, strict=True):
            pixels = job.decode(data, name)  # tensors flowed between the UDFs, not pixels
            found = np.asarray(flat, np.float32).reshape(-1, 7)
            found = found[found[:, 2] > 0]
            h, w = pixels.shape[:2]
            (x0, y0, x1, y1), _ = choose_crop(
                detection_structs(found, detector.classes), w, h, policy
            )
            out.append(preprocess([pixels[y0:y1, x0:x1]], spec)[0].ravel())
        return pd.Series(out)

    def make_describe_fn():
        descriptor = load_descriptor(descriptor_ref, registry=registry)

        def predict(batch: np.ndarray) -> dict:
            features, activations = descriptor.runner(batch)
            features = np.asarray(features, np.float32).reshape(len(batch), -1)
            features /= np.maximum(np.linalg.norm(features, axis=1, keepdims=True), 1e-12)
            bits = np.asarray(activations).reshape(len(batch), -1) > descriptor.thresholds
            return {"embedding": features, "bits": bits.astype(np.float32)}

        return predict

    describe_udf = predict_batch_udf(
        make_describe_fn,
        return_type=StructType(
            [
                StructField("embedding", ArrayType(FloatType())),
                StructField("bits", ArrayType(FloatType())),
            ]
        ),
        batch_size=batch_size,
        input_tensor_shapes=[[3, desc_size, desc_size]],
    )

    @pandas_udf("binary")
    def pack(bits: pd.Series) -> pd.Series:
        return pd.Series([np.packbits(np.asarray(b) > 0.5).tobytes() for b in bits])

    decoded = files.withColumn("d", to_detector_tensor("content", "path"))
    detected = decoded.withColumn("rows", detect_udf("d.tensor"))
    cropped = detected.withColumn("crop", to_crop_tensor("content", "path", "rows"))
    described = cropped.withColumn("out", describe_udf("crop"))
    return described.select(
        "image_id",
        "path",
        F.col("d.width").alias("width"),
        F.col("d.height").alias("height"),
        "rows",
        F.col("out.embedding").alias("embedding"),
        pack("out.bits").alias("code"),
    )


def bench_pipeline(images: int, repeats: int, steps: Steps, *, root: str | None = None) -> dict:
    """Images/s of the pipeline, the bare loop and the peer approach, with ratios and a breakdown."""
    import os
    import shutil

    from lakesight.config import load_settings
    from lakesight.image_features import analyze, ingest
    from lakesight.image_features.analysis import CropPolicy
    from lakesight.image_features.datasets import CACHE, CURATED_IMAGES, RAW_IMAGES
    from lakesight.image_features.sample_data import write_images_partition
    from lakesight.lake import LocalFileSystem, uri_path
    from lakesight.models.runtime import load_descriptor, load_detector
    from lakesight.spark import ImageJob, get_spark

    workdir = Path(root or tempfile.mkdtemp(prefix="lakesight-bench-"))
    # The benchmark's own throwaway lake, never the user's; set in the environment so
    # every settings lookup of this process (stages, model loading) agrees on it.
    os.environ["LAKESIGHT_ROOT"] = (workdir / "lake").as_uri()
    settings = load_settings()
    fs = LocalFileSystem()
    quiet = Steps("", quiet=True)
    with steps.step(f"generating {images} scenes"):
        write_images_partition(fs, settings, BENCH_DT, n=images, bad=0, seed=2026)
    with steps.step("start spark local[2] and ingest (not timed)"):
        spark = get_spark(
            "lakesight-bench-pipeline",
            settings,
            master=f"local[{SPARK_CORES}]",
            conf={"spark.ui.enabled": "false"},
        )
        ingest.run(spark, settings, BENCH_DT, steps=quiet)
    curated = spark.read.parquet(CURATED_IMAGES.partition(settings, BENCH_DT))
    paths = [uri_path(r.path) for r in curated.select("path").orderBy("path").collect()]
    n = len(paths)
    policy = CropPolicy()
    # The models analyze runs (its settings), resolved to name@version.
    detector_ref = str(load_detector(settings.detector).name)
    descriptor_ref = str(load_descriptor(settings.descriptor).name)
    job = ImageJob.for_models(settings, detector_ref, descriptor_ref)
    cache_uri = uri_path(CACHE.uri(settings))

    stage_timings: dict[str, float] = {}
    variant = {"variant": "fp32"}  # the detector file the stage chose, which the bare loop runs too

    def pipeline():
        shutil.rmtree(cache_uri, ignore_errors=True)  # every pass computes every image
        stage_steps = Steps("analyze", quiet=True)
        done = analyze.run(spark, settings, BENCH_DT, steps=stage_steps)
        stage_timings.update(stage_steps.timings)
        variant.update(done.manifest.extra["detector_variant"])

    with steps.step(f"pipeline: analyze on local[{SPARK_CORES}], {repeats} passes"):
        pipeline_s = _median_seconds(pipeline, repeats)

    index = curated.select("image_id", "path")
    raw_uri = RAW_IMAGES.partition(settings, BENCH_DT)

    def arrow_only():
        def count(batches):
            for batch in batches:
                yield pd.DataFrame(
                    {"n": [len(batch)], "bytes": [int(batch["content"].map(len).sum())]}
                )

        binary_file_join(spark, raw_uri, index).mapInPandas(count, "n long, bytes long").agg(
            {"n": "sum"}
        ).collect()

    with steps.step("peer's input: spark scan + Arrow transfer of the bytes"):
        arrow_s = _median_seconds(arrow_only, repeats)

    files = binary_file_join(spark, raw_uri, index)
    peer = peer_job(spark, files, detector_ref, descriptor_ref, job, policy, batch_size=64,
                    variant=variant["variant"])  # fmt: skip

    def peer_pass():
        peer.write.mode("overwrite").parquet(str(workdir / "peer"))

    with steps.step(f"peer: predict_batch_udf per model on local[{SPARK_CORES}], {repeats} passes"):
        peer_s = _median_seconds(peer_pass, repeats)
    spark.stop()

    # The bare loop gets the cores Spark had, as runtime threads of its one process.
    models = (
        load_detector(detector_ref, threads=SPARK_CORES, variant=variant["variant"]),
        load_descriptor(descriptor_ref, threads=SPARK_CORES),
    )
    with steps.step(f"bare loop: one process, {SPARK_CORES} runtime threads, {repeats} passes"):
        bare_s = _median_seconds(
            lambda: bare_pass(paths, job, models, policy, analyze.BATCH_ROWS), repeats
        )
        parts: dict[str, float] = {}
        bare_pass(paths, job, models, policy, analyze.BATCH_ROWS, parts)

    per_image_ms = {k: round(1000 * v / n, 3) for k, v in parts.items()}
    result = {
        "images": n,
        "pipeline_ips": round(n / pipeline_s, 2),
        "bare_ips": round(n / bare_s, 2),
        "peer_ips": round(n / peer_s, 2),
        "pipeline_vs_bare": round(bare_s / pipeline_s, 3),
        "pipeline_vs_peer": round(peer_s / pipeline_s, 3),
        "repeats": repeats,
        "spark_master": f"local[{SPARK_CORES}]",
        "bare_threads": SPARK_CORES,
        "detector_variant": variant["variant"],
        "breakdown": {
            "bare_ms_per_image": per_image_ms,
            "peer_scan_arrow_s": round(arrow_s, 3),  # the peer's input: binary_file_join
            "pipeline_s": round(pipeline_s, 3),
            "pipeline_last_pass_s": {k: round(v, 3) for k, v in stage_timings.items()},
            "bare_s": round(bare_s, 3),
        },
        "models": [detector_ref, descriptor_ref],
    }
    if root is None:
        shutil.rmtree(workdir, ignore_errors=True)
    return result
