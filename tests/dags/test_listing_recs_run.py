"""listing_recs' DAG as an Airflow user runs it: `airflow dags test`, no connections.

The day's listings are published first (house_similarity's stages, in this process), then
the day's interactions land; the DAG's sensors find both, and its three stages run as
the scheduler would run them.
"""

from __future__ import annotations

import pytest

from lakesight.house_similarity import embed, ingest, publish
from lakesight.house_similarity.sample_data import write_sample_listings
from lakesight.lake import LocalFileSystem, read_manifest
from lakesight.listing_recs import datasets
from lakesight.listing_recs.sample_data import write_sample_interactions
from lakesight.progress import Steps
from tests.support.airflow_cli import dags_test
from tests.support.lakes import shipped_registry_copy

pytestmark = [pytest.mark.airflow, pytest.mark.spark, pytest.mark.e2e, pytest.mark.slow]


def test_the_daily_dag_ingests_trains_the_first_recommender_and_recommends(
    spark, settings, tmp_path
):
    dt = "2026-09-05"
    fs = LocalFileSystem()
    write_sample_listings(fs, settings, dt, n=12, bad=False)
    for stage in (ingest, embed, publish):
        stage.run(spark, settings, dt, steps=Steps("test", quiet=True))
    sample = write_sample_interactions(fs, settings, dt, per_day=12, market_days=1)
    registry = tmp_path / "registry"
    shipped_registry_copy(registry)
    dags_test(settings, tmp_path / "airflow", "listing_recs", dt,
              LAKESIGHT_MODEL_REGISTRY=registry.as_uri())  # fmt: skip
    ingested = read_manifest(fs, datasets.INTERACTIONS.partition(settings, dt))
    assert ingested.counts["out"] == len(sample.events)
    assert ingested.counts["quarantined"] == len(sample.bad_rows)
    decision = read_manifest(fs, datasets.TRAINING.partition(settings, dt)).extra["decision"]
    assert decision["promoted"] == "listing_recs@1", decision
    assert (registry / "listing_recs" / "1" / "model.onnx").exists()
    recommended = read_manifest(fs, datasets.RECOMMENDATIONS.partition(settings, dt))
    assert recommended.counts["in"] == len(set(sample.users) & {e[0] for e in sample.events})
    assert recommended.counts["from_cf"] > 0
    assert [m["name"] for m in recommended.models] == ["listing_recs@1"]
