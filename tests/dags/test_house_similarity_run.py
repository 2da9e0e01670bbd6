"""house_similarity's DAG as an Airflow user runs it: `airflow dags test`, no connections."""

from __future__ import annotations

import pytest

from lakesight.house_similarity import datasets
from lakesight.house_similarity.sample_data import write_sample_listings
from lakesight.lake import LocalFileSystem, read_manifest
from tests.support.airflow_cli import dags_test
from tests.support.lakes import shipped_registry_copy

pytestmark = [pytest.mark.airflow, pytest.mark.spark, pytest.mark.e2e, pytest.mark.slow]


def test_the_daily_dag_publishes_tagged_listings_and_keeps_heads_without_labels(settings, tmp_path):
    dt = "2026-09-03"
    fs = LocalFileSystem()
    sample = write_sample_listings(fs, settings, dt, n=8)  # no labels.csv
    registry = tmp_path / "registry"
    shipped_registry_copy(registry)
    dags_test(settings, tmp_path / "airflow", "house_similarity", dt,
              LAKESIGHT_MODEL_REGISTRY=registry.as_uri())  # fmt: skip
    ingested = read_manifest(fs, datasets.LISTINGS.partition(settings, dt))
    assert ingested.counts["in"] == ingested.counts["out"] + ingested.counts["quarantined"]
    assert ingested.counts["listings"] == len(sample.listings)
    decision = read_manifest(fs, datasets.TRAINING.partition(settings, dt)).extra["decision"]
    assert decision["retrained"] is False and decision["why"].startswith("no labels.csv")
    published = read_manifest(fs, datasets.FEATURES.partition(settings, dt))
    assert published.counts["out"] == len(sample.photos)
    assert [m["name"] for m in published.models] == ["places_backbone@1", "house_tags@2"]
    assert sorted(p.name for p in (registry / "house_tags").iterdir()) == ["2"]
