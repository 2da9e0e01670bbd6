"""listing_recs' stages on Spark: ingest → train → recommend over two days of the market.

Two sample days of listings go through house_similarity's ingest, embed and publish (the
features the visual scores read); each day's interactions through listing_recs' ingest.
Day 1 trains the first recommender (smoke epochs) and recommends; day 2 brings new
listings and new users the recommender has never seen, and its train stage keeps the
model (trained the day before), so day 2's recommendations need all three sources.
"""

from __future__ import annotations

from collections import Counter

import pandas as pd
import pytest

from lakesight.house_similarity import embed as house_embed
from lakesight.house_similarity import ingest as house_ingest
from lakesight.house_similarity import publish as house_publish
from lakesight.house_similarity.sample_data import write_sample_listings
from lakesight.lake import LocalFileSystem
from lakesight.listing_recs import datasets, ingest, recommend, train
from lakesight.listing_recs.sample_data import write_sample_interactions
from lakesight.models.recommendation.release import Recommender
from lakesight.progress import Steps
from tests.support.lakes import partition_table, scratch_lake

pytestmark = [pytest.mark.spark, pytest.mark.slow]
DAYS = ("2026-09-01", "2026-09-02")
QUIET = Steps("test", quiet=True)
LISTINGS = 12


@pytest.fixture(scope="module")
def days(spark, tmp_path_factory):
    with scratch_lake(tmp_path_factory.mktemp("recs-stages")) as (settings, registry, _):
        fs = LocalFileSystem()
        results, samples = {}, {}
        for n, dt in enumerate(DAYS, start=1):
            write_sample_listings(fs, settings, dt, n=LISTINGS, bad=False)
            for stage in (house_ingest, house_embed, house_publish):
                stage.run(spark, settings, dt, steps=QUIET)
            samples[dt] = write_sample_interactions(fs, settings, dt, per_day=LISTINGS,
                                                    market_days=n, bad=False)  # fmt: skip
            results[dt] = {
                "ingest": ingest.run(spark, settings, dt, steps=QUIET),
                # Day 2 doubles the pairs: a growth rule of 150 % keeps day 1's model.
                "train": train.run(spark, settings, dt, steps=QUIET, epochs=2, growth=1.5),
                "recommend": recommend.run(spark, settings, dt, steps=QUIET),
            }
        yield settings, registry, samples, results


def test_the_first_day_trains_and_promotes_the_first_recommender(days):
    settings, registry, _, results = days
    manifest = results[DAYS[0]]["train"].manifest
    decision = manifest.extra["decision"]
    assert decision["reason"] == "no recommender yet" and decision["promoted"] == "listing_recs@1"
    assert set(manifest.extra["scores"]) == {"candidate"}
    pairs = partition_table(settings, datasets.TRAINING, DAYS[0])
    assert len(pairs) == manifest.counts["pairs"] == manifest.counts["in"]
    assert set(pairs["role"]) == {"train", "valid", "test"}
    model = Recommender.load("listing_recs@1", registry.as_uri())
    assert set(model.users) == set(pairs["user_id"]) and set(model.items) == set(
        pairs["listing_id"]
    )
    # The ONNX model scores the lake's ids; an id it never saw scores NaN.
    user, listing = pairs.iloc[0][["user_id", "listing_id"]]
    scores = model.score([user, user, "U-nobody"], [listing, "MLS-unknown", listing])
    assert scores[0] == scores[0] and pd.isna(scores[1]) and pd.isna(scores[2])


def test_the_next_day_keeps_the_model_and_says_why(days):
    _, _, _, results = days
    decision = results[DAYS[1]]["train"].manifest.extra["decision"]
    assert decision["retrained"] is False and decision["reason"] is None
    assert "grew less than 150%" in decision["why"] and decision["current"] == "listing_recs@1"


def test_every_user_of_the_window_gets_ranked_unseen_listings(days):
    settings, _, samples, results = days
    dt = DAYS[1]
    recs = partition_table(settings, datasets.RECOMMENDATIONS, dt)
    manifest = results[dt]["recommend"].manifest
    users = {e[0] for day in DAYS for e in samples[day].events}
    assert set(recs["user_id"]) == users and manifest.counts["in"] == len(users)
    assert manifest.counts["rows"] == len(recs)
    for _, rows in recs.groupby("user_id"):
        assert (
            list(rows.sort_values("rank")["rank"]) == list(range(1, len(rows) + 1))
            and len(rows) <= 10
        )
        assert rows["listing_id"].is_unique
    # Nobody is shown a listing they already engaged with.
    seen = {(e[0], e[1]) for day in DAYS for e in samples[day].events}
    assert not any((u, x) in seen for u, x in zip(recs["user_id"], recs["listing_id"], strict=True))
    assert set(recs["listing_id"]) <= set(samples[dt].market)
    assert all(list(models) == ["listing_recs@1"] for models in recs["models"])


def test_new_listings_and_new_users_are_recommended_from_photos(days):
    settings, _, samples, results = days
    dt = DAYS[1]
    recs = partition_table(settings, datasets.RECOMMENDATIONS, dt)
    sources = Counter(recs["source"])
    assert sources["cf"] > 0 and sources["visual"] > 0
    counts = results[dt]["recommend"].manifest.counts
    assert {k: counts[f"from_{k}"] for k in datasets.SOURCES} == {
        k: sources.get(k, 0) for k in datasets.SOURCES
    }
    # Day 2's listings are unknown to the model trained on day 1: only photos rank them.
    new = {x for x in samples[dt].market if x.startswith("MLS-20260902")}
    assert set(recs.loc[recs["listing_id"].isin(new), "source"]) <= {"visual", "popular"}
    assert recs["listing_id"].isin(new).any()
    # Users who joined on day 2 are unknown to the model: none of theirs come from cf.
    joined = recs[recs["user_id"].str.startswith("U-20260902")]
    assert len(joined) and "cf" not in set(joined["source"])
