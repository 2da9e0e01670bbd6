"""listing_recs' pure rules, without Spark: when to retrain, and how a user's list is made."""

from __future__ import annotations

import numpy as np
import pytest

from lakesight.listing_recs.recommend import Listings, interleaved, recommend_for
from lakesight.listing_recs.train import retrain_reason

DT = "2026-09-10"


@pytest.mark.parametrize(
    "current, last, pairs, expected",
    [
        (None, None, 10, "no recommender yet"),
        ("listing_recs@1", None, 10, "no training decision on record"),
        ("listing_recs@1", {"dt": "2026-09-03", "pairs": 100}, 100, "7 days ago"),
        ("listing_recs@1", {"dt": "2026-09-08", "pairs": 100}, 120, "grew from 100 to 120"),
        ("listing_recs@1", {"dt": "2026-09-08", "pairs": 100}, 119, None),
        ("listing_recs@1", {"dt": "2026-09-04", "pairs": 100}, 100, None),
    ],
)
def test_retraining_is_weekly_or_on_growth(current, last, pairs, expected):
    reason = retrain_reason(DT, pairs, current, last)
    assert (reason is None) if expected is None else (expected in reason)


def market(n: int = 8) -> Listings:
    """``n`` listings: listing k's embedding points at angle k, its style is k % 4."""
    angles = np.linspace(0, np.pi / 2, n)
    tags = np.zeros((n, 7), np.float32)
    tags[np.arange(n), np.arange(n) % 4] = 1
    return Listings(
        ids=np.array([f"L{k}" for k in range(n)], dtype=object),
        embeddings=np.stack([np.cos(angles), np.sin(angles)], 1).astype(np.float32),
        tags=tags,
        popularity=np.arange(n, dtype=np.float64)[::-1].copy(),  # L0 the most popular
        on_market=np.ones(n, bool),
    )


def test_known_users_get_cf_with_new_listings_at_every_fifth_rank():
    listings = market(12)
    cf = np.arange(12, dtype=np.float32)  # the model likes higher numbers
    cf[[10, 11]] = np.nan  # two listings it has never seen
    rows = recommend_for(["L0", "L1"], listings, cf, k=10)
    assert [r[2] for r in rows].count("visual") == 2
    assert rows[4][2] == "visual" and rows[9][2] == "visual"
    assert [r[0] for r in rows if r[2] == "cf"] == ["L9", "L8", "L7", "L6", "L5", "L4", "L3", "L2"]
    assert not {"L0", "L1"} & {r[0] for r in rows}  # never what they engaged with


def test_unknown_users_get_what_looks_like_their_history_then_popular():
    listings = market(8)
    rows = recommend_for(["L7"], listings, None, k=3)
    # L3 shares L7's style (7 % 4): that lifts it above nearer photos of other styles.
    assert [r[0] for r in rows] == ["L3", "L6", "L5"] and {r[2] for r in rows} == {"visual"}
    # No history among the features: the most popular listings.
    rows = recommend_for(["L-gone"], listings, None, k=2)
    assert [(r[0], r[2]) for r in rows] == [("L0", "popular"), ("L1", "popular")]


def test_a_short_list_is_filled_with_popular_listings():
    listings = market(6)
    cf = np.full(6, np.nan, np.float32)
    cf[[4, 5]] = [1.0, 2.0]
    rows = recommend_for(["L0"], listings, cf, k=5)
    # Two warm listings, one slot of five for the new ones (L1 looks most like L0), then
    # the most popular unseen.
    assert [(r[0], r[2]) for r in rows] == [
        ("L5", "cf"),
        ("L4", "cf"),
        ("L1", "visual"),
        ("L2", "popular"),
        ("L3", "popular"),
    ]


def test_interleaving_puts_inserted_rows_at_every_fifth_rank():
    main = [(f"m{k}",) for k in range(8)]
    out = interleaved(main, [("a",), ("b",), ("c",)])
    assert [r[0] for r in out].index("a") == 4 and [r[0] for r in out].index("b") == 9
    assert out[-1] == ("c",) and len(out) == 11
