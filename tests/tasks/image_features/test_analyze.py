"""The analyze stage on real Spark: the same rows as the bare batch loop, incremental by
(image sha256, model versions), bad bytes quarantined, a crash never touches the committed day."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq
import pytest

from lakesight.config import REPO_ROOT, load_settings
from lakesight.image_features import analyze, ingest, publish
from lakesight.image_features.cache import analysis_cache
from lakesight.image_features.sample_data import write_images_partition
from lakesight.lake import LocalFileSystem, list_partitions, read_manifest, uri_path

pytestmark = pytest.mark.spark

DAY1, DAY2 = "2026-07-01", "2026-07-02"


def table(uri: str) -> pd.DataFrame:
    frame = pq.read_table(uri_path(uri)).to_pandas()
    return frame.sort_values("image_id").reset_index(drop=True)


def raw_files(settings, dt: str) -> list[Path]:
    root = Path(uri_path(settings.partition_uri("raw", "images", dt)))
    return sorted(p for p in root.rglob("*") if p.is_file() and not p.name.startswith((".", "_")))


def test_spark_stage_rows_equal_the_bare_batch_loop(spark, settings):
    """What Spark computes is exactly what analyze_batch gives in one plain process, row for row."""
    from lakesight.image_features.analysis import CropPolicy
    from lakesight.spark import ImageJob

    write_images_partition(LocalFileSystem(), settings, DAY1, n=14, bad=0, seed=31)
    ingest.run(spark, settings, DAY1)
    result = analyze.run(spark, settings, DAY1)
    stage = table(result.output_uri)
    # The detector file the stage's start-up benchmark chose on this CPU (fp32 or int8).
    variant = result.manifest.extra["detector_variant"]["variant"]

    curated = table(settings.partition_uri("curated", "images", DAY1))
    batch = curated[["image_id", "path"]].assign(
        content=[Path(uri_path(p)).read_bytes() for p in curated["path"]]
    )
    models = analyze.load_models(
        "ssd_scenes@1", "deepbit_scenes@1", registry=settings.model_registry, variant=variant
    )
    job = ImageJob.for_models(settings, "ssd_scenes@1", "deepbit_scenes@1")
    bare = analyze.analyze_batch(batch, models, job, CropPolicy())
    bare = bare.sort_values("image_id").reset_index(drop=True)

    assert len(stage) == len(bare) == 14 and bare["reason"].isna().all()
    columns = ["image_id", "path", "width", "height", "crop_box", "code", "code_bits"]
    pd.testing.assert_frame_equal(
        stage[columns].astype(object), bare[columns].astype(object), check_dtype=False
    )
    for a, b in zip(stage["embedding"], bare["embedding"], strict=True):
        assert list(a) == pytest.approx(list(b), abs=1e-6)
    for spark_rows, bare_rows in zip(stage["detections"], bare["detections"], strict=True):
        assert [d["label"] for d in spark_rows] == [d["label"] for d in bare_rows]
        assert [d["score"] for d in spark_rows] == pytest.approx([d["score"] for d in bare_rows])
    assert [None if t is None else t["label"] for t in stage["top"]] == [
        None if t is None else t["label"] for t in bare["top"]
    ]
    assert all(list(m) == ["ssd_scenes@1", "deepbit_scenes@1"] for m in stage["models"])


def test_reruns_and_other_days_reuse_cached_analyses(spark, settings):
    fs = LocalFileSystem()
    write_images_partition(fs, settings, DAY1, n=12, bad=0, seed=41)
    write_images_partition(fs, settings, DAY2, n=8, bad=0, seed=42)
    # The same bytes under other names on day 2: four of day 1's files.
    day2_root = Path(uri_path(settings.partition_uri("raw", "images", DAY2)))
    for i, source in enumerate(raw_files(settings, DAY1)[:4]):
        shutil.copy(source, day2_root / f"again_{i}{source.suffix}")
    for dt in (DAY1, DAY2):
        ingest.run(spark, settings, dt)

    first = analyze.run(spark, settings, DAY1)
    assert first.manifest.counts == {
        "in": 12,
        "out": 12,
        "quarantined": 0,
        "reused": 0,
        "computed": 12,
    }
    second = analyze.run(spark, settings, DAY2)
    assert second.manifest.counts["in"] == 12
    assert (second.manifest.counts["reused"], second.manifest.counts["computed"]) == (4, 8)
    day2 = table(second.output_uri)
    assert day2["path"].str.contains(f"dt={DAY2}/").all()  # reused rows carry today's paths

    before = table(publish.run(spark, settings, DAY1).output_uri)
    rerun = analyze.run(spark, settings, DAY1)
    assert (rerun.manifest.counts["reused"], rerun.manifest.counts["computed"]) == (12, 0)
    after = table(publish.run(spark, settings, DAY1).output_uri)
    pd.testing.assert_frame_equal(before, after)  # processed_at included: nothing was recomputed
    cache_runs = analysis_cache(fs, settings, first.manifest.extra["analysis_key"])
    assert (
        len(cache_runs.committed_runs()) == 2
    )  # day 1 and day 2's new bytes; the rerun added none


def test_a_new_model_version_recomputes(spark, settings, tmp_path, monkeypatch):
    fs = LocalFileSystem()
    write_images_partition(fs, settings, DAY1, n=6, bad=0, seed=51)
    ingest.run(spark, settings, DAY1)
    first = analyze.run(spark, settings, DAY1)

    registry = tmp_path / "registry"
    shutil.copytree(
        REPO_ROOT / "models" / "registry", registry, ignore=shutil.ignore_patterns("*.pt")
    )
    shutil.copytree(registry / "deepbit_scenes" / "1", registry / "deepbit_scenes" / "2")
    card_path = registry / "deepbit_scenes" / "2" / "card.json"
    card = json.loads(card_path.read_text())
    card_path.write_text(json.dumps({**card, "version": "2"}))
    monkeypatch.setenv("LAKESIGHT_MODEL_REGISTRY", registry.as_uri())

    updated = analyze.run(spark, load_settings(), DAY1)  # the newest version, by default
    assert [m["name"] for m in updated.manifest.models] == ["ssd_scenes@1", "deepbit_scenes@2"]
    assert updated.manifest.extra["analysis_key"] != first.manifest.extra["analysis_key"]
    assert (updated.manifest.counts["reused"], updated.manifest.counts["computed"]) == (0, 6)
    rows = table(updated.output_uri)
    assert all(list(m) == ["ssd_scenes@1", "deepbit_scenes@2"] for m in rows["models"])


def test_bytes_that_no_longer_decode_are_quarantined(spark, settings):
    fs = LocalFileSystem()
    write_images_partition(fs, settings, DAY1, n=6, bad=0, seed=61)
    ingest.run(spark, settings, DAY1)
    victim = raw_files(settings, DAY1)[0]
    victim.write_bytes(victim.read_bytes()[:200])  # truncated after ingest accepted it

    result = analyze.run(spark, settings, DAY1)
    counts = result.manifest.counts
    assert counts["in"] == counts["out"] + counts["quarantined"] and counts["quarantined"] == 1
    quarantined = table(result.quarantine_uri)
    assert quarantined["path"].map(uri_path).str.endswith(victim.name).all()
    assert (
        quarantined["reason"].iloc[0] and quarantined["stage"].iloc[0] == "image_features.analyze"
    )
    assert result.quarantine_uri == settings.partition_uri("quarantine", "descriptors", DAY1)
    assert read_manifest(fs, result.quarantine_uri).counts == counts
    by_reason = result.manifest.extra["quarantined_by_reason"]
    # Re-hashed before decoding: any change to the bytes is caught as a change.
    assert by_reason == {"changed_since_ingest": 1}
    assert f"({quarantined['reason'].iloc[0]} 1)" in result.format()


def test_a_crash_mid_write_leaves_the_committed_day_intact(spark, settings, monkeypatch):
    from lakesight.lake import PartitionWriter

    fs = LocalFileSystem()
    write_images_partition(fs, settings, DAY1, n=6, bad=0, seed=71)
    ingest.run(spark, settings, DAY1)
    committed = analyze.run(spark, settings, DAY1)
    before = table(committed.output_uri)

    def crash(self, manifest):
        raise OSError("killed while writing")

    monkeypatch.setattr(PartitionWriter, "commit", crash)
    with pytest.raises(OSError, match="killed"):
        analyze.run(spark, settings, DAY1)
    monkeypatch.undo()
    pd.testing.assert_frame_equal(table(committed.output_uri), before)
    assert read_manifest(fs, committed.output_uri).run_id == committed.manifest.run_id
    assert list_partitions(fs, settings.dataset_uri("curated", "descriptors")) == [DAY1]
    staging = Path(uri_path(settings.dataset_uri("curated", "descriptors"))) / "_staging"
    assert not any(staging.iterdir())  # the failed attempt cleaned up after itself
