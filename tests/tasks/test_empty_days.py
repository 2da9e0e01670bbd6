"""An empty day is a normal day: every stage of every pipeline commits an empty partition.

No images, a ``listings.csv`` with only its header and no photos, a radar folder with no
frame: each stage, run in order as its DAG runs it, commits its output with a manifest
whose counts are all 0 (``in = out + quarantined``), and plain pyarrow reads each output
with its contract's columns: an empty partition still has a schema.
"""

from __future__ import annotations

from pathlib import Path

import pyarrow.dataset as ds
import pytest

from lakesight.lake import LocalFileSystem, read_manifest, uri_path
from lakesight.progress import Steps
from tests.support.lakes import scratch_lake

pytestmark = pytest.mark.spark
DT = "2026-04-05"
QUIET = Steps("test", quiet=True)


@pytest.fixture
def lake(tmp_path):
    with scratch_lake(tmp_path) as (settings, _, _):
        yield settings


def empty_folder(settings, dataset) -> Path:
    root = Path(uri_path(dataset.partition(settings, DT)))
    root.mkdir(parents=True)
    return root


def assert_empty_day(results, columns_by_stage: dict[str, tuple[str, ...]]) -> None:
    """Each result committed an empty, readable partition with its contract's columns."""
    fs = LocalFileSystem()
    assert [r.stage.name for r in results] == list(columns_by_stage)
    for result in results:
        name, uri = result.stage.name, result.output_uri
        counts = read_manifest(fs, uri).counts
        assert counts == result.manifest.counts, name
        assert (counts["in"], counts["out"], counts["quarantined"]) == (0, 0, 0), (name, counts)
        assert fs.exists(f"{uri}/_SUCCESS"), name
        table = ds.dataset(uri_path(uri), format="parquet").to_table()
        assert table.num_rows == 0, name
        assert tuple(table.schema.names) == columns_by_stage[name], name


def assert_pictures_committed(settings, dataset) -> None:
    """The day's pictures partition is committed too (with nothing drawn)."""
    manifest = read_manifest(LocalFileSystem(), dataset.partition(settings, DT))
    assert manifest is not None and manifest.counts["in"] == 0
    assert manifest.counts["in"] == manifest.counts["out"] + manifest.counts["quarantined"]


def test_image_features_empty_day(spark, lake):
    from lakesight.image_features import analyze, datasets, ingest, publish

    empty_folder(lake, datasets.RAW_IMAGES)
    results = [stage.run(spark, lake, DT, steps=QUIET) for stage in (ingest, analyze, publish)]
    assert_empty_day(
        results,
        {
            "image_features.ingest": datasets.CURATED_COLUMNS,
            "image_features.analyze": datasets.DESCRIPTORS_COLUMNS,
            "image_features.publish": datasets.CONTRACT_COLUMNS,
        },
    )
    assert results[2].manifest.counts["pictured"] == 0
    assert_pictures_committed(lake, datasets.PICTURES)


def test_radar_nowcast_empty_day(spark, lake):
    from lakesight.radar_nowcast import datasets, forecast, ingest, verify

    empty_folder(lake, datasets.RAW_RADAR)
    results = [stage.run(spark, lake, DT, steps=QUIET) for stage in (ingest, forecast, verify)]
    assert_empty_day(
        results,
        {
            "radar_nowcast.ingest": datasets.FRAME_COLUMNS,
            "radar_nowcast.forecast": datasets.FORECAST_COLUMNS,
            "radar_nowcast.verify": datasets.SCORE_COLUMNS,
        },
    )
    assert results[2].manifest.extra["pictured_issue"] is None  # nothing to draw
    assert_pictures_committed(lake, datasets.PICTURES)


def test_house_similarity_empty_day(spark, lake):
    from lakesight.house_similarity import datasets, embed, ingest, publish, train
    from lakesight.house_similarity.sample_data import HEADER

    root = empty_folder(lake, datasets.RAW_LISTINGS)
    (root / datasets.LISTINGS_FILE).write_text(",".join(HEADER) + "\n")
    stages = (ingest, embed, train, publish)
    results = [stage.run(spark, lake, DT, steps=QUIET) for stage in stages]
    assert_empty_day(
        results,
        {
            "house_similarity.ingest": datasets.LISTINGS_COLUMNS,
            "house_similarity.embed": datasets.EMBEDDINGS_COLUMNS,
            "house_similarity.train": datasets.TRAINING_COLUMNS,
            "house_similarity.publish": (*datasets.CONTRACT_COLUMNS, "dt"),
        },
    )
