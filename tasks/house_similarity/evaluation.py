"""``lakesight eval houses`` and ``lakesight bench houses``: the taggers and the ranking, measured.

**eval**, on photos of :data:`EVAL_SEED` (a seed neither the backbone, nor the shipped
heads, nor the small training sets below ever saw):

- ``accuracy``: the shipped heads, per head, on held-out labelled photos;
- ``transfer_accuracy`` / ``scratch_accuracy``: the same kind of head as the shipped one,
  trained on 50 and 200 labelled photos per class, once on what the backbone learnt and
  once from nothing: a Spark ML head on the frozen backbone's features against the same
  head on the raw pixels (downscaled to :data:`RAW_SIZE`); a fine-tuned head
  (:mod:`lakesight.models.tagging.tuning`) against the same network, every layer trained
  from random weights for the same steps: what the pretrained backbone buys;
- ``precision_at_10``: held-out generated listings are embedded and tagged as the
  pipeline does, then each query house's front photo ranks them
  (:class:`.similar.ListingIndex`); a result is relevant when its house has the
  query's style and storey count.

**bench**: ``embed_vs_bare``, the embed stage's Spark job on ``local[2]`` (each Python
worker reads its photos and runs the backbone: :func:`.embed.embed_photos`) against one process embedding the
same photos in a loop; ``publish_vs_bare``, the whole publish stage against one process
doing its work with its own functions (read the embeddings and the photos the tuned heads
look at, tag, write), each with its breakdown; and the in-process query latency over
10,000 listings.
"""

from __future__ import annotations

import dataclasses
import statistics
import time

import cv2
import numpy as np
import pandas as pd

from lakesight.progress import Steps, interleaved_medians, stage_vs_bare

EVAL_SEED = 2027
SMALL_TRAINING_SEED = 7  # the 50/200-per-class training sets: neither the heads' nor eval's
TEST_PER_CLASS = 300  # held-out photos per class: 900 for the storey head
RAW_SIZE = (24, 32)  # scratch heads' input: raw RGB pixels at this size (2304 values)
INDEX_LISTINGS = 240
QUERY_HOUSES = 200


def raw_pixels(images: np.ndarray) -> np.ndarray:
    """The scratch baseline's features: downscaled RGB in 0..1, flattened."""
    h, w = RAW_SIZE
    return (
        np.stack(
            [cv2.resize(im, (w, h), interpolation=cv2.INTER_AREA).ravel() for im in images]
        ).astype(np.float32)
        / 255.0
    )


def accuracy(probabilities: np.ndarray, labels: np.ndarray) -> float:
    return round(float((probabilities.argmax(axis=1) == labels).mean()), 4)


def generated_listings(seed: int, n: int, rng_offset: int = 0) -> tuple[list[dict], dict]:
    """Listings of generated houses: (photo rows with pixels, listing → (style, stories))."""
    from lakesight.models.tagging.houses import VIEWS, draw_house, render_photo

    rng = np.random.default_rng([seed, rng_offset])
    photos, truth = [], {}
    for i in range(n):
        house = draw_house(rng)
        listing_id = f"EVAL-{rng_offset}-{i:05d}"
        truth[listing_id] = (house.style, house.stories)
        views = ["front"] * int(rng.integers(1, 3)) + list(rng.choice(VIEWS[1:], 2, replace=False))
        for k, view in enumerate(views):
            photos.append({"listing_id": listing_id, "photo_id": f"{listing_id}/{k}",
                           "path": f"{listing_id}/{k}.jpg", "view": view,
                           "pixels": render_photo(house, view, rng)})  # fmt: skip
    return photos, truth


def precision_at_10(backbone, heads, steps: Steps, *, listings: int = INDEX_LISTINGS,
                    queries: int = QUERY_HOUSES) -> float:  # fmt: skip
    from lakesight.house_similarity.publish import tag_photos
    from lakesight.house_similarity.similar import ListingIndex, PhotoQuery
    from lakesight.models.tagging.houses import draw_house, render_photo

    with steps.step(f"index of {listings} held-out listings"):
        photos, truth = generated_listings(EVAL_SEED, listings)
        pixels = [p["pixels"] for p in photos]
        embeddings = backbone.embed(pixels)
        tags = tag_photos(embeddings, heads, pixels)
        features = pd.DataFrame({
            "listing_id": [p["listing_id"] for p in photos],
            "photo_id": [p["photo_id"] for p in photos],
            "path": [p["path"] for p in photos],
            **tags,
            "embedding": list(embeddings),
        })  # fmt: skip
        index = ListingIndex(features)
    with steps.step(f"{queries} query houses"):
        rng = np.random.default_rng([EVAL_SEED, 99])
        precisions = []
        for _ in range(queries):
            house = draw_house(rng)
            photo = render_photo(house, "front", rng)
            embedding = backbone.embed([photo])
            t = tag_photos(embedding, heads, [photo])
            query = PhotoQuery.from_tags(embedding[0], t["exterior"][0], t["exterior_score"][0],
                                         t["style"][0], t["stories"][0])  # fmt: skip
            top = index.rank(query, 10)
            relevant = sum(truth[r["listing_id"]] == (house.style, house.stories) for r in top)
            precisions.append(relevant / 10)
    return round(float(np.mean(precisions)), 4)


def eval_houses(steps: Steps, *, per_class: int = TEST_PER_CLASS, sizes: tuple[int, ...] = (50, 200),
                listings: int = INDEX_LISTINGS, tune_steps: int | None = None) -> dict:  # fmt: skip
    """Every figure of ``lakesight eval houses --json``. ``tune_steps``: optimiser steps of
    each fine-tuned head compared (a smoke run's), instead of the shipped heads' schedule."""
    from lakesight.config import load_settings
    from lakesight.models.tagging.backbone import load_backbone
    from lakesight.models.tagging.heads import HEADS, fit_head_arrays, load_heads
    from lakesight.models.tagging.houses import HEAD_CLASSES, render_labelled
    from lakesight.models.tagging.tuning import TunableBackbone, TuneConfig, fine_tune
    from lakesight.spark import get_spark

    backbone, heads = load_backbone(), load_heads()
    tunable = TunableBackbone.available(heads.backbone) if heads.needs_photos else None
    schedule = TuneConfig.for_steps(tune_steps)
    with steps.step("start spark"):
        spark = get_spark("lakesight-eval-houses", load_settings())
    result = {"backbone": backbone.name, "heads": heads.name, "eval_seed": EVAL_SEED,
              "kinds": {tag: head.kind for tag, head in heads.heads.items()},
              "accuracy": {}, "transfer_accuracy": {}, "scratch_accuracy": {}}  # fmt: skip
    for head in HEADS:
        classes, shipped = tuple(HEAD_CLASSES[head]), heads.heads[head]
        with steps.step(f"{head}: held-out photos"):
            test_images, test_labels = render_labelled(EVAL_SEED, per_class, head)
            test_features = backbone.embed(list(test_images))
            test_raw = raw_pixels(test_images)
            result["accuracy"][head] = accuracy(
                heads.probabilities(head, test_features, test_images), test_labels
            )
        for n in sizes:
            with steps.step(f"{head}: transfer vs scratch, {n} per class ({shipped.kind})"):
                images, labels = render_labelled(SMALL_TRAINING_SEED, n, head)
                # The same kind of head as the shipped one, once on what the backbone
                # learnt and once from nothing: a fine-tuned head against the same network
                # from random weights, a head over features against one over raw pixels.
                if shipped.needs_photos:
                    transfer = fine_tune(tunable, images, labels, classes, schedule)
                    scratch = fine_tune(tunable, images, labels, classes,
                                        dataclasses.replace(schedule, pretrained=False))  # fmt: skip
                    transfer = transfer.probabilities(test_images)
                    scratch = scratch.probabilities(test_images)
                else:
                    transfer = fit_head_arrays(spark, backbone.embed(list(images)), labels,
                                               classes, hidden=shipped.hidden)  # fmt: skip
                    transfer = transfer.probabilities(test_features)
                    scratch = fit_head_arrays(spark, raw_pixels(images), labels, classes,
                                              hidden=shipped.hidden).probabilities(test_raw)  # fmt: skip
                result["transfer_accuracy"].setdefault(str(n), {})[head] = accuracy(
                    transfer, test_labels
                )
                result["scratch_accuracy"].setdefault(str(n), {})[head] = accuracy(
                    scratch, test_labels
                )
    result["precision_at_10"] = precision_at_10(backbone, heads, steps, listings=listings)
    result["index_listings"] = listings
    result["test_photos_per_class"] = per_class
    result["tune_steps"] = tune_steps  # None: the shipped schedule
    return result


def record_metrics(result: dict) -> str:
    """Write the eval's figures into the shipped heads' card and MODEL_CARD.md."""
    from lakesight.models.runtime import load_card, resolve, write_card
    from lakesight.models.tagging.heads import DEFAULT_HEADS, model_card_markdown

    _, directory = resolve(DEFAULT_HEADS)
    card = load_card(directory)
    card["metrics"] = {k: result[k] for k in ("accuracy", "transfer_accuracy", "scratch_accuracy",
                                              "precision_at_10", "eval_seed")}  # fmt: skip
    write_card(directory, card, model_card_markdown, stamp=False)
    return str(directory)


def publish_vs_bare(spark, settings, dt: str, repeats: int) -> dict:
    """The publish stage on Spark against :func:`bare_publish` (:func:`stage_vs_bare`)."""
    from lakesight.house_similarity import publish

    return stage_vs_bare(
        "publish", "photos",
        lambda steps: publish.run(spark, settings, dt, steps=steps),
        lambda steps, scratch: bare_publish(settings, dt, steps, f"{scratch}/listings.parquet"),
        repeats,
    )  # fmt: skip


def bare_publish(settings, dt: str, steps: Steps, output_path: str) -> int:
    """The publish stage's work for a day in one process, with the stage's own functions,
    on a local lake: read the embeddings and the photos the tuned heads look at, tag, write;
    returns the photos tagged."""
    import pyarrow as pa
    import pyarrow.dataset as ds
    import pyarrow.parquet as pq

    from lakesight.house_similarity import datasets
    from lakesight.house_similarity.publish import BATCH_ROWS, tag_batch
    from lakesight.lake import filesystem_for, read_manifest, uri_path
    from lakesight.models.tagging.heads import DEFAULT_HEADS, load_heads
    from lakesight.spark import ImageJob

    heads = load_heads(DEFAULT_HEADS, settings.model_registry)  # loaded once, as per worker
    job = ImageJob.for_models(settings, heads.name)
    embeddings_uri = datasets.EMBEDDINGS.partition(settings, dt)
    fs = filesystem_for(embeddings_uri, settings)  # Python's own reads, not the JVM's
    with steps.step("read"):
        embedded = ds.dataset(uri_path(embeddings_uri), format="parquet").to_table().to_pandas()
        if heads.needs_photos:
            embedded["content"] = [fs.read_bytes(path) for path in embedded["path"]]
    with steps.step("tag"):
        tags = pd.concat(
            [
                tag_batch(embedded.iloc[k : k + BATCH_ROWS], heads, job)
                for k in range(0, len(embedded), BATCH_ROWS)
            ]
        )
    with steps.step("write"):
        models = [m["name"] for m in read_manifest(fs, embeddings_uri).models] + [heads.name]
        result = embedded.drop(columns=["content", "models"], errors="ignore").merge(
            tags, on="photo_id"
        )
        result["models"] = [models] * len(result)
        result["dt"] = dt
        kept = result[result["reason"].isna()][[*datasets.CONTRACT_COLUMNS, "dt"]]
        pq.write_table(pa.Table.from_pandas(kept, preserve_index=False), output_path)
    return len(embedded)


def query_latency(listings: int = 10_000, photos_per_listing: int = 4, queries: int = 300) -> dict:
    """In-process ``ListingIndex.rank`` latency over synthetic listings (ms, p50/p99)."""
    from lakesight.house_similarity.similar import ListingIndex, PhotoQuery
    from lakesight.models.tagging.houses import STYLES

    rng = np.random.default_rng(0)
    n = listings * photos_per_listing
    dim = 192
    vectors = np.abs(rng.normal(size=(n, dim))).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    exterior = rng.random(n) < 0.35
    features = pd.DataFrame({
        "listing_id": np.repeat([f"L{i:06d}" for i in range(listings)], photos_per_listing),
        "photo_id": [f"p{i}" for i in range(n)],
        "path": [f"p{i}.jpg" for i in range(n)],
        "exterior": exterior,
        "exterior_score": rng.random(n),
        "style": np.where(exterior, rng.choice(STYLES, n), None),
        "stories": np.where(exterior, rng.integers(1, 4, n), None),
        "embedding": list(vectors),
    })  # fmt: skip
    started = time.perf_counter()
    index = ListingIndex(features)
    build_s = time.perf_counter() - started
    timings = []
    for i in range(queries):
        query = PhotoQuery(vectors[i], 0.9, STYLES[i % len(STYLES)], 1 + i % 3)
        t0 = time.perf_counter()
        index.rank(query, 10)
        timings.append((time.perf_counter() - t0) * 1000)
    timings.sort()
    return {
        "query_listings": listings,
        "query_photos": n,
        "index_build_s": round(build_s, 2),
        "query_p50_ms": round(statistics.median(timings), 2),
        "query_p99_ms": round(timings[int(0.99 * (len(timings) - 1))], 2),
    }


def bench_houses(
    steps: Steps, *, listings: int = 600, repeats: int = 3, workdir: str | None = None
) -> dict:
    """Embed and publish on Spark ``local[2]`` against one process; query latency."""
    from pyspark.sql import functions as F

    from lakesight.house_similarity import datasets, embed, ingest
    from lakesight.house_similarity.embed import embed_photos, photo_index
    from lakesight.house_similarity.sample_data import write_sample_listings
    from lakesight.imaging import DecodeLimits
    from lakesight.lake import filesystem_for
    from lakesight.models.tagging.backbone import DEFAULT_BACKBONE, load_backbone
    from lakesight.spark import ImageJob, bench_session
    from lakesight.stage import model_entries

    spark, settings, fs = bench_session("bench-houses", workdir, steps)
    dt = "2026-10-01"
    with steps.step(f"sample day of {listings} listings, ingested"):
        write_sample_listings(fs, settings, dt, n=listings, bad=False)
        ingest.run(spark, settings, dt, steps=Steps("ingest", quiet=True))
    models, _ = model_entries([DEFAULT_BACKBONE])
    job = ImageJob.for_models(settings, models[0]["name"])
    index = photo_index(spark, datasets.LISTINGS.partition(settings, dt)).cache()
    n_photos = index.count()
    raw_uri = datasets.RAW_LISTINGS.partition(settings, dt)

    def spark_run() -> float:
        started = time.perf_counter()
        embed_photos(index, settings, job).agg(F.count("embedding")).collect()
        return time.perf_counter() - started

    paths = [r["path"] for r in index.collect()]
    limits = DecodeLimits.from_settings(settings)
    local_fs = filesystem_for(raw_uri, settings)  # Python's own reads, not the JVM's

    def bare_run() -> float:
        backbone = load_backbone(models[0]["name"])  # all cores, as Spark gets
        started = time.perf_counter()
        pixels = [limits.decode(local_fs.read_bytes(p), p).pixels for p in paths]
        backbone.embed(pixels)
        return time.perf_counter() - started

    with steps.step(f"embed {n_photos} photos, {repeats}x each way"):
        spark_s, bare_s = interleaved_medians([spark_run, bare_run], repeats)
    with steps.step(f"embed stage, then publish: warm-up + {repeats} passes each way"):
        embed.run(spark, settings, dt, steps=Steps("embed", quiet=True))
        publishing = publish_vs_bare(spark, settings, dt, repeats)
    with steps.step("query latency over 10,000 listings"):
        latency = query_latency()
    spark_pps, bare_pps = (
        n_photos / spark_s,
        n_photos / bare_s,
    )
    return {
        "photos": n_photos,
        "embed_spark_pps": round(spark_pps, 1),
        "embed_bare_pps": round(bare_pps, 1),
        "embed_vs_bare": round(spark_pps / bare_pps, 3),
        **publishing,
        **latency,
        "repeats": repeats,
        "spark_master": spark.sparkContext.master,
    }
