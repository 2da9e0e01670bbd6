"""Analyze and publish on real Spark with the shipped models: detections that find the generated
objects, the consumer contract (v1.1) as plain pyarrow, pandas and Spark SQL read it, similarity."""

from __future__ import annotations

import json

import pyarrow.parquet as pq
import pytest

from lakesight.image_features import analyze, ingest, publish
from lakesight.image_features.sample_data import write_images_partition
from lakesight.lake import LocalFileSystem, read_manifest, uri_path

pytestmark = pytest.mark.spark

DT = "2026-06-07"


def test_analyze_finds_the_generated_objects(spark, settings):
    fs = LocalFileSystem()
    write_images_partition(fs, settings, DT, n=28, bad=3, seed=21)
    ingest.run(spark, settings, DT)
    result = analyze.run(spark, settings, DT)

    assert result.manifest.counts == {
        "in": 28, "out": 28, "quarantined": 0, "reused": 0, "computed": 28,
    }  # fmt: skip
    assert result.manifest.models[0]["name"] == "ssd_scenes@1"
    table = pq.read_table(uri_path(result.output_uri)).to_pandas()
    assert len(table) == 28 and table["image_id"].is_unique
    labels = settings.partition_uri("raw", "image_labels", DT) + "/labels.jsonl"
    truth = {r["path"]: r for r in map(json.loads, fs.read_bytes(labels).decode().splitlines())}
    prefix = uri_path(settings.partition_uri("raw", "images", DT)) + "/"
    hits = 0
    for row in table.itertuples():
        expected = {o["label"] for o in truth[uri_path(row.path).removeprefix(prefix)]["objects"]}
        confident = {d["label"] for d in row.detections if d["score"] >= 0.5}
        hits += bool(confident & expected)
        assert list(d["score"] for d in row.detections) == sorted(
            (d["score"] for d in row.detections), reverse=True
        )
    assert hits >= 24  # at least one right object on nearly every image
    # curated/descriptors keeps every detection, the faint ones too.
    assert min(d["score"] for ds in table["detections"] for d in ds) < 0.1
    assert read_manifest(fs, result.output_uri).counts == result.manifest.counts


def test_analyze_needs_a_committed_ingest(spark, settings):
    from lakesight.stage import StageError

    with pytest.raises(StageError, match=r"run image_features\.ingest first"):
        analyze.run(spark, settings, "2031-01-01")


def test_analyze_and_publish_make_the_consumer_contract(spark, settings):
    """The rest of image_features, and the published table read by plain pyarrow, pandas and Spark SQL."""
    import numpy as np
    import pandas as pd

    from lakesight.image_features.datasets import CONTRACT_COLUMNS

    write_images_partition(LocalFileSystem(), settings, DT, n=16, bad=2, seed=5)
    ingest.run(spark, settings, DT)
    analyzed = analyze.run(spark, settings, DT)
    published = publish.run(spark, settings, DT)
    assert analyzed.manifest.counts["out"] == 16
    assert published.manifest.counts == {"in": 16, "out": 16, "quarantined": 0, "pictured": 12}
    assert [m["name"] for m in published.manifest.models] == ["ssd_scenes@1", "deepbit_scenes@1"]
    assert published.manifest.schema_version == "features.images/v1.2"

    table = pq.read_table(uri_path(published.output_uri))
    assert table.column_names == list(CONTRACT_COLUMNS)
    frame = table.to_pandas()
    assert frame["image_id"].is_unique and set(frame["dt"]) == {DT}
    assert (frame["code_bits"] == 64).all() and frame["code"].map(len).eq(8).all()
    norms = frame["embedding"].map(lambda e: float(np.linalg.norm(np.asarray(e, np.float32))))
    np.testing.assert_allclose(norms, 1.0, atol=1e-4)
    has_top = frame["top"].notna()
    assert has_top.sum() >= 12  # the generated scenes all hold objects
    # v1.1: only detections at or above the published threshold (the crop policy's), top among them.
    threshold = published.manifest.extra["detection_threshold"]
    assert threshold == analyzed.manifest.extra["policy"]["min_score"] == 0.3
    scores = [d["score"] for ds in frame["detections"] for d in ds]
    assert scores and min(scores) >= threshold
    for detections, top in zip(frame["detections"], frame["top"], strict=True):
        assert top is None or top in list(detections)
    descriptors = pq.read_table(uri_path(analyzed.output_uri)).to_pandas()
    kept = {
        (r.image_id, d["label"], round(d["score"], 6))
        for r in descriptors.itertuples() for d in r.detections if d["score"] >= threshold
    }  # fmt: skip
    assert kept == {
        (r.image_id, d["label"], round(d["score"], 6))
        for r in frame.itertuples() for d in r.detections
    }  # fmt: skip
    assert isinstance(pd.read_parquet(uri_path(published.output_uri)), pd.DataFrame)
    rows = spark.sql(
        f"SELECT count(*) AS n, max(code_bits) AS bits FROM parquet.`{published.output_uri}` WHERE top IS NOT NULL"
    ).first()
    assert rows["n"] == has_top.sum() and rows["bits"] == 64
    # A rerun of publish gives the same rows (processed_at is when each row was computed).
    again = pq.read_table(uri_path(publish.run(spark, settings, DT).output_uri)).to_pandas()
    pd.testing.assert_frame_equal(
        again.sort_values("image_id").reset_index(drop=True),
        frame.sort_values("image_id").reset_index(drop=True),
    )

    # Consumers: similarity search over the published day, by image_id and by file.
    from lakesight.image_features.similar import similar

    query_id = frame["image_id"].iloc[0]
    picture = settings.root.removeprefix("file://") + "/../sheet.png"
    found = similar(settings, DT, image_id=query_id, k=5, picture=picture)
    assert len(found["results"]) == 5 and query_id not in {r["image_id"] for r in found["results"]}
    keys = [(r["distance"], -r["score"]) for r in found["results"]]
    assert keys == sorted(keys)
    with open(found["picture"], "rb") as sheet:
        assert sheet.read(8) == b"\x89PNG\r\n\x1a\n"
    same_file = similar(settings, DT, image=uri_path(frame["path"].iloc[0]), k=1, picture=picture)
    assert same_file["results"][0]["image_id"] == frame["image_id"].iloc[0]  # finds itself first
    assert same_file["results"][0]["distance"] == 0
    # Asked to search with other models than those that described the day: one line, no search.
    from lakesight.config import ConfigError

    with pytest.raises(ConfigError, match="described by ssd_scenes@1, deepbit_scenes@1"):
        similar(settings, DT, image_id=query_id, models=("ssd_scenes@1", "clip_itq@1"))
