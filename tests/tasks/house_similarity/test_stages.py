"""house_similarity's stages on Spark: ingest → embed → train → publish, their faults and reruns.

One labelled sample day goes through every stage once (module fixture, with a copy of
the shipped registry so promotions never touch the repository's); the tests read what
each stage committed.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from lakesight.house_similarity import datasets, embed, ingest, publish, train
from lakesight.house_similarity.sample_data import write_sample_listings
from lakesight.lake import LocalFileSystem, read_manifest, uri_path
from lakesight.progress import Steps
from tests.support.lakes import partition_table, scratch_lake

pytestmark = [pytest.mark.spark, pytest.mark.slow]
DT = "2026-09-01"
QUIET = Steps("test", quiet=True)
SMOKE_TUNE_STEPS = 20


def table(settings, dataset, dt=DT):
    return partition_table(settings, dataset, dt)


@pytest.fixture(scope="module")
def day(spark, tmp_path_factory):
    """A labelled day with every kind of bad record, run through all four stages."""
    with scratch_lake(tmp_path_factory.mktemp("houses")) as (settings, registry, env):
        sample = write_sample_listings(LocalFileSystem(), settings, DT, n=16, labels=True)
        # Train's fine-tuned heads take smoke steps: what is tested is its decision.
        options = {train: {"tune_steps": SMOKE_TUNE_STEPS}}
        results = {m.STAGE.short: m.run(spark, settings, DT, steps=QUIET, **options.get(m, {}))
                   for m in (ingest, embed, train, publish)}  # fmt: skip
        yield settings, sample, results, registry, env


def test_ingest_accounts_for_every_row_and_file(day):
    settings, sample, results, *_ = day
    manifest = results["ingest"].manifest
    counts = manifest.counts
    assert counts["in"] == counts["out"] + counts["quarantined"]
    assert counts["listings"] == len(sample.listings)
    assert counts["photos"] == len(sample.photos)
    assert counts["without_photos"] == len(sample.without_photos) >= 1
    quarantined = table(settings, datasets.QUARANTINED_LISTINGS)
    assert len(quarantined) == counts["quarantined"]
    by_reason = quarantined.groupby("reason").size().to_dict()
    expected = {}
    for reason in [*sample.bad_photos.values(), *sample.bad_rows.values()]:
        expected[reason] = expected.get(reason, 0) + 1
    assert by_reason == expected
    assert {
        "missing_listing_id",
        "duplicate_listing_id",
        "bad_listing_id",
        "unknown_listing",
    } <= set(by_reason)
    listings = table(settings, datasets.LISTINGS)
    assert sorted(listings["listing_id"]) == sorted(sample.listings)
    assert sum(len(p) for p in listings["photos"]) == len(sample.photos)


def test_embeddings_are_unit_vectors_and_a_rerun_reuses_them(spark, day):
    settings, sample, results, *_ = day
    first = results["embed"].manifest
    assert first.counts["computed"] == len(sample.photos) and first.counts["reused"] == 0
    vectors = np.stack(table(settings, datasets.EMBEDDINGS)["embedding"].to_numpy())
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    again = embed.run(spark, settings, DT, steps=QUIET).manifest
    assert again.counts["reused"] == len(sample.photos) and again.counts["computed"] == 0
    assert again.input_fingerprint == first.input_fingerprint


def test_train_decides_on_held_out_labels_and_says_so(spark, day):
    settings, _, results, *_ = day
    decision = results["train"].manifest.extra["decision"]
    assert decision["retrained"] is True and decision["labels_sha256"]
    # Each head fine-tuned on pixels took the steps asked for; the Spark ML one takes none.
    assert decision["tuned_steps"] == {"style": SMOKE_TUNE_STEPS, "stories": SMOKE_TUNE_STEPS}
    scores = results["train"].manifest.extra["scores"]
    assert set(scores) == {"candidate", "current"}
    promoted = scores["candidate"]["mean"] >= scores["current"]["mean"]
    assert (decision["promoted"] is not None) == promoted
    counts = results["train"].manifest.counts
    assert counts["in"] == counts["out"] + counts["quarantined"]
    assert counts["training"] + counts["holdout"] == counts["out"]
    # The next day with the same labels does not train again.
    nxt = "2026-09-02"
    fs = LocalFileSystem()
    src = uri_path(datasets.RAW_LISTINGS.partition(settings, DT))
    shutil.copytree(src, src.replace(DT, nxt))
    for stage in (ingest, embed):
        stage.run(spark, settings, nxt, steps=QUIET)
    again = train.run(spark, settings, nxt, steps=QUIET).manifest.extra["decision"]
    assert again["retrained"] is False and "unchanged" in again["why"]
    assert read_manifest(fs, datasets.TRAINING.partition(settings, nxt)) is not None


def test_worse_current_heads_are_replaced_by_the_retrained_ones(spark, day):
    from lakesight.models.tagging.heads import Head, TagHeads, load_heads, write_heads

    settings, _, _, registry, _ = day
    shipped = load_heads(registry=registry.as_uri())
    dim = len(table(settings, datasets.EMBEDDINGS)["embedding"].iloc[0])

    # A broken current version: every head, over the features, always answers its first class.
    def always_first(h):
        bias = np.r_[10.0, np.zeros(len(h.classes) - 1)].astype(np.float32)
        return Head(h.classes, ((np.zeros((dim, len(h.classes)), np.float32), bias),))

    broken = TagHeads("", shipped.backbone, {t: always_first(h) for t, h in shipped.heads.items()})
    versions = sorted(int(v.name) for v in (registry / "house_tags").iterdir() if v.name.isdigit())
    broken_version = str(versions[-1] + 1)
    write_heads(broken, registry / "house_tags" / broken_version,
                {"name": "house_tags", "version": broken_version})  # fmt: skip
    decision = train.run(spark, settings, DT, steps=QUIET).manifest.extra["decision"]
    assert decision["current"] == f"house_tags@{broken_version}"
    assert decision["promoted"] == f"house_tags@{int(broken_version) + 1}", decision
    card = json.loads(
        (registry / "house_tags" / str(int(broken_version) + 1) / "card.json").read_text()
    )
    assert card["labels_sha256"] == decision["labels_sha256"]


def test_published_features_keep_the_contract_for_every_reader(spark, day):
    import pandas as pd
    import pyarrow.parquet as pq

    settings, sample, results, *_ = day
    manifest = results["publish"].manifest
    assert manifest.counts == {"in": len(sample.photos), "out": len(sample.photos), "quarantined": 0,
                               "exterior": manifest.counts["exterior"]}  # fmt: skip
    path = uri_path(datasets.FEATURES.partition(settings, DT))
    arrow = pq.read_table(path)
    assert set(datasets.CONTRACT_COLUMNS) <= set(arrow.column_names)
    frame = pd.read_parquet(path)
    sql = spark.read.parquet(path)
    sql.createOrReplaceTempView("listings_features")
    per_listing = spark.sql(
        "SELECT listing_id, count(*) AS n FROM listings_features GROUP BY listing_id"
    ).collect()
    assert sum(r["n"] for r in per_listing) == len(frame) == len(sample.photos)
    # Tags against the generator's truth: front photos tagged exterior, with their house's style.
    truth_view = {Path(p).as_posix(): view for p, (_, view) in sample.photos.items()}
    frame["relative"] = frame["path"].map(lambda p: uri_path(p).split("/photos/", 1)[1])
    frame["front"] = frame["relative"].map(truth_view) == "front"
    assert (frame["exterior"] == frame["front"]).mean() >= 0.9
    fronts = frame[frame["front"] & frame["exterior"]]
    style_ok = [sample.listings[r.listing_id][0] == r.style for r in fronts.itertuples()]
    assert np.mean(style_ok) >= 0.8
    assert frame.loc[~frame["exterior"], "style"].isna().all()
    assert {m["name"].split("@")[0] for m in manifest.models} == {"places_backbone", "house_tags"}
