"""``eval recs``' generated-market part: who is a test case, what they are ranked
against, that withheld listings never reach training, and a small run end to end with
the shipped backbone and tag heads."""

from __future__ import annotations

from datetime import date

import numpy as np
import pandas as pd
import pytest

from lakesight.listing_recs import market_eval
from lakesight.listing_recs.market_eval import (
    Case,
    World,
    candidates,
    new_engagements,
    rank_with_random_ties,
    withhold,
)
from lakesight.listing_recs.recommend import listing_features
from lakesight.listing_recs.sample_data import MARKET_DAYS

DAY = date(2026, 9, 20).toordinal()


def events(*rows) -> pd.DataFrame:
    """``(user, listing, day offset, second)`` rows as the world's events."""
    frame = pd.DataFrame(rows, columns=["user_id", "listing_id", "offset", "second"])
    frame["day"] = DAY + frame["offset"]
    frame["ts"] = pd.to_datetime(frame["day"].map(date.fromordinal)) + pd.to_timedelta(
        frame["second"], unit="s"
    )
    frame["event"] = "view"
    return frame[["user_id", "listing_id", "event", "ts", "day"]]


INDEX = {f"L{k}": k for k in range(6)}
EVERY = np.ones(6, bool)


def test_a_case_is_the_first_listing_new_to_a_user_with_history():
    world = events(
        ("old", "L0", -2, 10), ("old", "L1", -1, 10),  # history
        ("old", "L1", 0, 10),  # touched before: not new
        ("old", "L2", 0, 20), ("old", "L3", 1, 10),  # L2 is the case; L3 comes after
        ("new", "L4", 0, 10), ("new", "L5", 1, 10),  # joined in the test period: no case
        ("idle", "L0", -3, 10),  # history, nothing in the test period: no case
    )  # fmt: skip
    assert new_engagements(world, INDEX, DAY, EVERY) == [
        Case("old", 2, DAY, frozenset({0, 1})),
    ]
    # The positive must be in the pool: with L2 outside it, the next new listing counts,
    # and what the user touched the same day (L2) is not history (a daily run knew less).
    pool = EVERY.copy()
    pool[2] = False
    assert new_engagements(world, INDEX, DAY, pool) == [
        Case("old", 3, DAY + 1, frozenset({0, 1, 2}))
    ]


def test_candidates_are_the_pool_on_that_days_market_less_what_the_user_touched():
    listed = np.array([DAY - MARKET_DAYS, DAY - 3, DAY, DAY + 1, DAY - 1, DAY - 2])
    pool = np.array([True, True, True, True, False, True])
    case = Case("u", 2, DAY, frozenset({5}))
    # L0 left the market, L3 is not listed yet, L4 is outside the pool, L5 was touched.
    assert candidates(case, pool, listed).tolist() == [2, 1]


def test_ties_with_the_positive_are_broken_at_random():
    rng = np.random.default_rng(0)
    assert rank_with_random_ties(np.array([0.5, 0.9, 0.1, 0.7]), rng) == 2
    drawn = {rank_with_random_ties(np.array([1.0, 1.0, 1.0, 2.0]), rng) for _ in range(200)}
    assert drawn == {1, 2, 3}  # one above it for certain, then anywhere among the two tied


def test_withheld_listings_have_no_history_before_the_test_period():
    rows = [(f"u{k % 7}", f"L{k % 6}", offset, k) for k in range(60) for offset in (-5, -1, 0, 2)]
    listings = listing_features(
        pd.DataFrame({"listing_id": list(INDEX), "embedding": [np.ones(4)] * 6,
                      "exterior": [True] * 6, "style": [None] * 6, "stories": [None] * 6}),
        {}, set(INDEX),
    )  # fmt: skip
    world = World(events(*rows), listings, np.full(6, DAY - 5), photos=6)
    withheld, kept, test_from = withhold(world, np.random.default_rng(1), test_days=3)
    assert withheld.sum() == 1 and test_from == DAY
    hidden = listings.ids[withheld][0]
    assert not ((kept["listing_id"] == hidden) & (kept["day"] < test_from)).any()
    assert ((kept["listing_id"] == hidden) & (kept["day"] >= test_from)).any()
    assert len(kept) == len(world.events) - ((world.events["listing_id"] == hidden)
                                             & (world.events["day"] < test_from)).sum()  # fmt: skip


def test_a_small_market_ranks_warm_and_cold_listings_with_the_shipped_models():
    from lakesight.progress import Steps

    result = market_eval.eval_market(Steps("test", quiet=True), seeds=1, days=12, test_days=4,
                                     per_day=8, epochs=2)  # fmt: skip
    assert set(result["warm"]["hr10"]) == set(market_eval.WARM_MODELS)
    assert set(result["cold"]["ndcg10"]) == set(market_eval.COLD_MODELS)
    market = result["market"]
    assert (
        market["listings"] == (12 + MARKET_DAYS - 1) * 8 and market["photos"] > market["listings"]
    )
    for part in ("warm", "cold"):
        assert result[part]["cases"][0] > 20
        for metric in ("hr10", "ndcg10"):
            assert all(0 <= v <= 1 for v in result[part][metric].values())
    # Even this small market shows what the photos know: the tastes are over style and
    # storeys, and the hybrid profile reads them from the photos (tagged by the heads).
    assert result["cold"]["hr10"]["hybrid"] > result["cold"]["hr10"]["random"]


def test_bench_recommend_runs_the_stage_function_on_spark_and_in_one_process(tmp_path):
    from lakesight.listing_recs.bench import bench_recommend
    from lakesight.progress import Steps

    d = bench_recommend(Steps("test", quiet=True), repeats=1, workdir=str(tmp_path), days=5,
                        per_day=6, copies=2)  # fmt: skip
    assert d["recommend_users"] == 2 * d["recommend_distinct_users"] > 0
    assert d["recommend_same_rows"] is True
    assert d["recommend_spark_ups"] > 0 and d["recommend_bare_ups"] > 0
    assert d["recommend_vs_bare"] == pytest.approx(
        d["recommend_spark_ups"] / d["recommend_bare_ups"], rel=0.01
    )
    assert d["spark_master"] == "local[2]"
