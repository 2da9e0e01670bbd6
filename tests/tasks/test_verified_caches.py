"""Caches are verified, not trusted: bytes are re-hashed against their id before analysis,
and a corrupt cache file is skipped with a warning and recomputed, never a failed stage.

The analyze test follows the issue's reproduction: after ingest, one JPEG's bytes are
replaced by another image's PNG bytes.
"""

from __future__ import annotations

import hashlib
import shutil
from pathlib import Path

import pandas as pd
import pyarrow.dataset as ds
import pytest

from lakesight.lake import LocalFileSystem, uri_path
from lakesight.progress import Steps
from tests.support.lakes import scratch_lake

pytestmark = [pytest.mark.spark, pytest.mark.faults]
DAY1, DAY2 = "2026-06-01", "2026-06-02"
QUIET = Steps("test", quiet=True)


@pytest.fixture
def lake(tmp_path):
    with scratch_lake(tmp_path) as (settings, _, _):
        yield settings


def table(uri: str) -> pd.DataFrame:
    return ds.dataset(uri_path(uri), format="parquet").to_table().to_pandas()


def files_under(uri: str, suffix: str = "") -> list[Path]:
    root = Path(uri_path(uri))
    return sorted(
        p for p in root.rglob(f"*{suffix}")
        if p.is_file() and not any(part.startswith((".", "_")) for part in p.relative_to(root).parts)
    )  # fmt: skip


def comparable(frame: pd.DataFrame, key: str) -> pd.DataFrame:
    """Rows without what differs between runs of equal inputs."""
    frame = frame.drop(columns=[c for c in ("processed_at",) if c in frame])
    frame = frame.sort_values(key).reset_index(drop=True)
    return frame.map(lambda v: v.tolist() if hasattr(v, "tolist") else v)


def test_bytes_replaced_after_ingest_are_quarantined_and_never_cached(spark, lake):
    from lakesight.image_features import analyze, ingest
    from lakesight.image_features.datasets import CACHE, RAW_IMAGES
    from lakesight.image_features.sample_data import write_images_partition

    fs = LocalFileSystem()
    write_images_partition(fs, lake, DAY1, n=6, bad=0, seed=81)
    ingest.run(spark, lake, DAY1, steps=QUIET)
    raw = files_under(RAW_IMAGES.partition(lake, DAY1))
    victim = next(p for p in raw if p.suffix == ".jpg")
    donor = next(p for p in raw if p.suffix == ".png")
    original = victim.read_bytes()
    victim_id, donor_id = (hashlib.sha256(b).hexdigest() for b in (original, donor.read_bytes()))
    victim.write_bytes(donor.read_bytes())  # the JPEG is now another image's PNG

    result = analyze.run(spark, lake, DAY1, steps=QUIET)
    counts = result.manifest.counts
    assert counts["in"] == 6 and counts["quarantined"] == 1
    assert counts["in"] == counts["out"] + counts["quarantined"]
    quarantined = table(result.quarantine_uri)
    assert quarantined["reason"].tolist() == ["changed_since_ingest"]
    assert quarantined["path"].iloc[0].endswith(victim.name)
    assert victim_id[:12] in quarantined["detail"].iloc[0]
    assert donor_id[:12] in quarantined["detail"].iloc[0]
    assert victim_id not in set(table(result.output_uri)["image_id"])
    # Nothing was cached under the victim's id: the cache holds the 5 good analyses.
    cached = table(f"{CACHE.uri(lake)}/key={result.manifest.extra['analysis_key']}")
    assert victim_id not in set(cached["image_id"]) and len(cached) == 5

    # A later day holding the original bytes analyses them (computed, not reused).
    write_images_partition(fs, lake, DAY2, n=0, bad=0)
    day2 = Path(uri_path(RAW_IMAGES.partition(lake, DAY2)))
    (day2 / "again.jpg").write_bytes(original)
    ingest.run(spark, lake, DAY2, steps=QUIET)
    later = analyze.run(spark, lake, DAY2, steps=QUIET)
    assert later.manifest.counts == {"in": 1, "out": 1, "quarantined": 0, "reused": 0,
                                     "computed": 1}  # fmt: skip
    row = table(later.output_uri).iloc[0]
    assert row["image_id"] == victim_id and row["path"].endswith("again.jpg")
    # ... exactly as a plain analysis of the original bytes.
    from lakesight.image_features.analysis import CropPolicy
    from lakesight.spark import ImageJob

    refs = [m["name"] for m in later.manifest.models]
    variant = later.manifest.extra["detector_variant"]["variant"]  # fp32 or int8, as chosen
    models = analyze.load_models(*refs, registry=lake.model_registry, variant=variant)
    batch = pd.DataFrame({"image_id": [victim_id], "path": [row["path"]], "content": [original]})
    bare = analyze.analyze_batch(batch, models, ImageJob.for_models(lake, *refs), CropPolicy())
    assert bytes(row["code"]) == bare["code"].iloc[0]
    assert list(row["crop_box"]) == list(bare["crop_box"].iloc[0])


def test_a_corrupt_analysis_cache_file_is_skipped_and_recomputed(spark, lake):
    from lakesight.image_features import analyze, ingest
    from lakesight.image_features.datasets import CACHE
    from lakesight.image_features.sample_data import write_images_partition

    write_images_partition(LocalFileSystem(), lake, DAY1, n=6, bad=0, seed=91)
    ingest.run(spark, lake, DAY1, steps=QUIET)
    clean = analyze.run(spark, lake, DAY1, steps=QUIET)
    before = table(clean.output_uri)
    key_uri = f"{CACHE.uri(lake)}/key={clean.manifest.extra['analysis_key']}"
    (cache_file,) = files_under(key_uri, ".parquet")
    cache_file.write_bytes(cache_file.read_bytes()[:100])  # truncated: no footer

    rerun = analyze.run(spark, lake, DAY1, steps=QUIET)
    warnings = rerun.manifest.extra["cache_warnings"]
    assert len(warnings) == 1 and cache_file.name in warnings[0]
    assert rerun.manifest.counts == {"in": 6, "out": 6, "quarantined": 0, "reused": 0,
                                     "computed": 6}  # fmt: skip
    pd.testing.assert_frame_equal(
        comparable(table(rerun.output_uri), "image_id"), comparable(before, "image_id")
    )
    # The recomputed entries are cached again: the next run reuses them.
    third = analyze.run(spark, lake, DAY1, steps=QUIET)
    assert (third.manifest.counts["reused"], third.manifest.counts["computed"]) == (6, 0)


def test_embed_verifies_photos_and_survives_a_garbage_cache_file(spark, lake):
    from lakesight.house_similarity import datasets, embed, ingest
    from lakesight.house_similarity.sample_data import write_sample_listings

    write_sample_listings(LocalFileSystem(), lake, DAY1, n=4, bad=False)
    ingest.run(spark, lake, DAY1, steps=QUIET)
    # A photo replaced after ingest by another's bytes is quarantined, not embedded.
    photos = files_under(f"{datasets.RAW_LISTINGS.partition(lake, DAY1)}/photos")
    shutil.copyfile(photos[1], photos[0])
    clean = embed.run(spark, lake, DAY1, steps=QUIET)
    counts = clean.manifest.counts
    assert counts["quarantined"] == 1 and counts["in"] == counts["out"] + 1
    quarantined = table(clean.quarantine_uri)
    assert quarantined["reason"].tolist() == ["changed_since_ingest"]
    assert (
        quarantined["path"].iloc[0].endswith(photos[0].relative_to(photos[0].parents[1]).as_posix())
    )
    before = table(clean.output_uri)
    assert len(before) == counts["out"]

    key_uri = f"{datasets.EMBEDDING_CACHE.uri(lake)}/key={clean.manifest.extra['embedding_key']}"
    cache_files = files_under(key_uri, ".parquet")
    cache_files[0].write_bytes(b"not parquet at all " * 50)  # garbage, same name
    rerun = embed.run(spark, lake, DAY1, steps=QUIET)
    warnings = rerun.manifest.extra["cache_warnings"]
    assert len(warnings) == 1 and cache_files[0].name in warnings[0]
    assert rerun.manifest.counts["computed"] >= 1
    assert {k: rerun.manifest.counts[k] for k in ("in", "out", "quarantined")} == {
        k: counts[k] for k in ("in", "out", "quarantined")
    }
    pd.testing.assert_frame_equal(
        comparable(table(rerun.output_uri), "photo_id"), comparable(before, "photo_id")
    )
