"""The detect stage on real Spark with the shipped SSD."""

from __future__ import annotations

import json

import pyarrow.parquet as pq
import pytest

from lakesight import detect, ingest
from lakesight.lake import LocalFileSystem, read_manifest, uri_path
from lakesight.sample_data import write_images_partition

pytestmark = pytest.mark.spark

DT = "2026-06-07"


def test_detect_finds_the_generated_objects(spark, settings):
    fs = LocalFileSystem()
    write_images_partition(fs, settings, DT, n=28, bad=3, seed=21)
    ingest.run(spark, settings, DT)
    result = detect.run(spark, settings, DT)

    assert result.manifest.counts == {"in": 28, "out": 28, "quarantined": 0}
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
    assert read_manifest(fs, result.output_uri).extra["detections"] == sum(
        len(d) for d in table["detections"]
    )


def test_detect_needs_a_committed_ingest(spark, settings):
    with pytest.raises(detect.StageError, match="run ingest first"):
        detect.run(spark, settings, "2031-01-01")
