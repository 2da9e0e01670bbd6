"""The ingest stage on real Spark: every file accounted for exactly once, idempotent reruns."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq
import pytest

from lakesight.config import load_settings
from lakesight.image_features import ingest
from lakesight.image_features.sample_data import BAD_KINDS, write_images_partition
from lakesight.lake import LocalFileSystem, is_hidden, read_manifest, uri_path
from tests.tasks.test_imaging import real_photos

pytestmark = pytest.mark.spark

DT = "2026-03-04"


def outputs(settings, dt=DT) -> tuple[pd.DataFrame, pd.DataFrame]:
    curated = pq.read_table(uri_path(settings.partition_uri("curated", "images", dt))).to_pandas()
    quarantine = pq.read_table(
        uri_path(settings.partition_uri("quarantine", "images", dt))
    ).to_pandas()
    return curated, quarantine


def relative(paths, settings, dt=DT) -> list[str]:
    """Paths relative to the raw partition, in the order given."""
    prefix = uri_path(settings.partition_uri("raw", "images", dt)) + "/"
    return [uri_path(p).removeprefix(prefix) for p in paths]


def test_validate_batch_is_pure_and_keeps_row_order():
    from lakesight.image_features.sample_data import encode

    good = encode(__import__("numpy").zeros((40, 40, 3), "uint8"), "png")
    batch = pd.DataFrame(
        {
            "path": ["file:/a.png", "file:/b.jpg"],
            "length": [len(good), 3],
            "content": [good, b"abc"],
        }
    )
    from lakesight.imaging import DecodeLimits

    out = ingest.validate_batch(batch, DecodeLimits(max_pixels=10_000, min_side=8))
    # Hadoop's spelling in, the published URI out (lake.path_uri).
    assert list(out["path"]) == ["file:///a.png", "file:///b.jpg"]
    assert out["reason"].isna().tolist() == [True, False]
    assert out.loc[0, "width"] == 40 and out.loc[1, "reason"] == "not_an_image"


@pytest.mark.parametrize(
    ("path", "hidden"),
    [
        ("a/b.jpg", False),
        ("a/.b.jpg", True),
        ("_tmp/b.jpg", True),
        ("x=1/b.jpg", False),
        ("b.jpg._COPYING_", True),
    ],
)
def test_hidden_names_follow_hadoop(path, hidden):
    assert is_hidden(path) is hidden


def test_generated_partition_every_file_accounted_once(spark, settings):
    fs = LocalFileSystem()
    n, bad = 30, 2 * len(BAD_KINDS)
    write_images_partition(fs, settings, DT, n=n, bad=bad, seed=11)
    result = ingest.run(spark, settings, DT)

    listed = sorted(
        relative(
            [e.uri for e in fs.list_files(settings.partition_uri("raw", "images", DT))], settings
        )
    )
    curated, quarantine = outputs(settings)
    seen = sorted(relative(list(curated["path"]) + list(quarantine["path"]), settings))
    assert seen == listed  # each file exactly once, across both outputs
    assert result.manifest.counts == {
        "in": len(listed),
        "out": len(curated),
        "quarantined": len(quarantine),
    }

    labels_uri = settings.partition_uri("raw", "image_labels", DT) + "/labels.jsonl"
    expected = {
        r["path"]: r["expected"]
        for r in map(json.loads, fs.read_bytes(labels_uri).decode().splitlines())
    }
    got = dict(zip(relative(curated["path"], settings), ["ok"] * len(curated), strict=True))
    got.update(dict(zip(relative(quarantine["path"], settings), quarantine["reason"], strict=True)))
    assert got == expected
    assert curated["image_id"].is_unique
    assert (
        set(quarantine["stage"]) == {"image_features.ingest"} and quarantine["detail"].notna().all()
    )
    dup = quarantine[quarantine["reason"] == "duplicate"]
    assert dup["detail"].str.startswith("same bytes as ").all()
    assert (curated["width"] > 0).all() and set(curated["dt"]) == {DT}


def test_real_photos_mixed_with_broken_files(spark, settings, tmp_path):
    fs = LocalFileSystem()
    write_images_partition(fs, settings, DT, n=0, bad=len(BAD_KINDS), seed=5)
    raw = Path(uri_path(settings.partition_uri("raw", "images", DT)))
    photos = real_photos()
    for i, photo in enumerate(photos):
        target = raw / "photos" / f"Foto {i} – {photo.stem}{photo.suffix.upper()}"
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(photo, target)
    result = ingest.run(spark, settings, DT)
    curated, quarantine = outputs(settings)
    total = sum(1 for p in raw.rglob("*") if p.is_file())
    assert result.manifest.counts["in"] == total == len(curated) + len(quarantine)
    assert sum("photos/" in p for p in curated["path"]) == len(photos)
    assert set(quarantine["reason"]) == {reason for _, reason in BAD_KINDS}


def test_rerun_replaces_partition_with_identical_rows(spark, settings):
    write_images_partition(LocalFileSystem(), settings, DT, n=12, bad=4, seed=2)
    first = ingest.run(spark, settings, DT)
    before = outputs(settings)
    second = ingest.run(spark, settings, DT)
    after = outputs(settings)
    for a, b in zip(before, after, strict=True):
        key = ["path"]
        pd.testing.assert_frame_equal(
            a.sort_values(key).reset_index(drop=True), b.sort_values(key).reset_index(drop=True)
        )
    assert first.manifest.run_id != second.manifest.run_id
    assert first.manifest.input_fingerprint == second.manifest.input_fingerprint
    # Spark SQL over the whole dataset sees one copy of the partition.
    rows = (
        spark.read.parquet(settings.dataset_uri("curated", "images")).where(f"dt = '{DT}'").count()
    )
    assert rows == first.manifest.counts["out"]


def test_oversized_file_is_quarantined_unread(spark, lake_root, monkeypatch):
    monkeypatch.setenv("LAKESIGHT_MAX_FILE_BYTES", "20000")
    settings = load_settings()
    write_images_partition(LocalFileSystem(), settings, DT, n=14, seed=1)
    ingest.run(spark, settings, DT)
    _curated, quarantine = outputs(settings)
    too_large = quarantine[quarantine["reason"] == "file_too_large"]
    assert len(too_large) >= 1 and too_large["image_id"].isna().all()
    assert (
        read_manifest(LocalFileSystem(), settings.partition_uri("curated", "images", DT)).counts[
            "in"
        ]
        == 14
    )


def test_mislabelled_images_are_curated_with_their_real_format(spark, settings):
    from lakesight.image_features.sample_data import encode

    raw = Path(uri_path(settings.partition_uri("raw", "images", DT)))
    raw.mkdir(parents=True)
    pixels = __import__("numpy").full((48, 64, 3), 90, "uint8")
    (raw / "photo.jpg").write_bytes(encode(pixels, "png"))  # a PNG named .jpg
    (raw / "scan").write_bytes(encode(pixels, "jpeg"))  # a JPEG without an extension
    (raw / "holiday.JPEG").write_bytes(encode(pixels + 1, "jpeg"))
    (raw / "notes.jpg").write_bytes(b"not an image at all\n" * 8)
    result = ingest.run(spark, settings, DT)

    curated, quarantine = outputs(settings)
    formats = dict(zip(relative(curated["path"], settings), curated["format"], strict=True))
    assert formats == {"photo.jpg": "PNG", "scan": "JPEG", "holiday.JPEG": "JPEG"}
    agrees = dict(
        zip(relative(curated["path"], settings), curated["name_matches_format"], strict=True)
    )
    assert agrees == {"photo.jpg": False, "scan": False, "holiday.JPEG": True}
    assert relative(quarantine["path"], settings) == ["notes.jpg"]
    assert list(quarantine["reason"]) == ["not_an_image"]  # content, not name, decides
    assert result.manifest.counts == {"in": 4, "out": 3, "quarantined": 1}


def test_missing_input_partition_is_a_stage_error(spark, settings):
    from lakesight.stage import StageError

    with pytest.raises(StageError, match="input partition missing"):
        ingest.run(spark, settings, "2030-01-01")
