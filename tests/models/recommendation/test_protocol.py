"""The NCF evaluation protocol on toys whose answers are worked out by hand, and on the
real MovieLens-100k the recbole wheel ships."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from lakesight.models.recommendation.protocol import (
    NEGATIVES,
    full_ranking_metrics,
    held_out_users,
    hit_and_ndcg,
    leave_one_out,
    popularity_scorer,
    random_scorer,
    rank_of_test_item,
    sampled_candidates,
    sampled_metrics,
)

pytestmark = pytest.mark.unit


def toy_interactions() -> pd.DataFrame:
    rows = [
        ("ann", "x", 1), ("ann", "w", 4), ("ann", "y", 2), ("ann", "z", 3),
        ("ann", "x", 9),  # a repeat of a pair counts once, at its first time
        ("bob", "x", 5), ("bob", "y", 6),  # fewer than 3 items: all train
        ("cat", "p", 7), ("cat", "q", 7), ("cat", "r", 7),  # a tie keeps arrival order
    ]  # fmt: skip
    return pd.DataFrame(rows, columns=["user", "item", "ts"])


def named(split, items) -> list:
    return [split.item_ids[i] if i >= 0 else None for i in items]


def test_leave_one_out_holds_out_the_last_then_the_one_before():
    split = leave_one_out(toy_interactions())
    assert list(split.user_ids) == ["ann", "bob", "cat"]
    assert named(split, split.test) == ["w", None, "r"]
    assert named(split, split.valid) == ["z", None, "q"]
    train = {(split.user_ids[u], split.item_ids[i]) for u, i in split.train}
    assert train == {("ann", "x"), ("ann", "y"), ("bob", "x"), ("bob", "y"), ("cat", "p")}
    assert list(split.test_users()) == [0, 2]


def test_a_tie_with_the_test_item_counts_against_it():
    scores = np.array([[0.5, 0.9, 0.1, 0.2], [0.5, 0.5, 0.1, 0.2], [1.0, 0.1, 0.2, 0.3]])
    assert list(rank_of_test_item(scores)) == [1, 1, 0]
    assert list(rank_of_test_item(np.zeros((1, 100)))) == [99]  # a constant scorer ranks last


def test_hit_ratio_and_ndcg_by_hand():
    hr, ndcg = hit_and_ndcg(np.array([0, 3, 12]), k=10)
    assert hr == pytest.approx(2 / 3)
    assert ndcg == pytest.approx((1 / math.log2(2) + 1 / math.log2(5) + 0) / 3)


def test_sampled_metrics_rank_the_test_item_among_its_own_candidates():
    split = leave_one_out(toy_interactions())
    candidates = np.array([[3, 0, 1], [5, 4, 0]])  # ann: w vs x, y; cat: r vs q, p
    # ann's w scores highest (rank 0); cat's r is beaten by q and tied with p (rank 2).
    table = {(0, 3): 0.9, (0, 0): 0.1, (0, 1): 0.2, (2, 5): 0.4, (2, 4): 0.8, (2, 0): 0.4}
    scorer = np.vectorize(lambda u, i: table[(int(u), int(i))])
    got = sampled_metrics(scorer, split, candidates, k=2)
    assert got == pytest.approx({"hr2": 0.5, "ndcg2": 0.5})
    got = sampled_metrics(scorer, split, candidates, k=3)
    assert got == pytest.approx({"hr3": 1.0, "ndcg3": (1 + 1 / math.log2(4)) / 2})


def test_full_ranking_leaves_out_what_the_user_trained_and_validated_on():
    split = leave_one_out(toy_interactions())
    # Items: p q r w x y z (ids 0..6). ann trained on x, y and validated on z: only p, q, r
    # compete with w. Scores favour x and y, which must not count against ann's w.
    by_item = np.array([0.1, 0.2, 0.3, 0.5, 0.9, 0.8, 0.7])
    got = full_ranking_metrics(lambda users, items: by_item[items], split, k=1)
    # ann: w above p, q, r -> rank 0. cat (trained p, validated q): r (0.3) below w, x, y,
    # z -> rank 4.
    assert got == pytest.approx({"recall1": 0.5, "ndcg1": 0.5})


def test_candidates_are_unseen_distinct_shared_per_seed_and_the_floor_is_chance():
    users, items = 60, 400
    rng = np.random.default_rng(1)
    rows = [
        (u, int(i), t)
        for u in range(users)
        for t, i in enumerate(rng.choice(items, 30, replace=False))
    ]
    split = leave_one_out(pd.DataFrame(rows, columns=["user", "item", "ts"]))
    candidates = sampled_candidates(split, seed=3)
    assert candidates.shape == (users, 1 + NEGATIVES)
    assert np.array_equal(candidates, sampled_candidates(split, seed=3))
    assert not np.array_equal(candidates, sampled_candidates(split, seed=4))
    seen = split.seen()
    for user, row in zip(split.test_users(), candidates, strict=True):
        assert row[0] == split.test[user] and len(set(row)) == len(row)
        assert not set(row[1:]) & (seen[user] | {split.test[user]})
    # Random scores put the test item in the top 10 of 100 about 10% of the time.
    hr = np.mean([sampled_metrics(random_scorer(s), split, candidates)["hr10"] for s in range(20)])
    assert 0.05 < hr < 0.15


def test_item_popularity_counts_training_interactions_only():
    split = leave_one_out(toy_interactions())
    pop = popularity_scorer(split)
    items = np.arange(split.items)
    assert dict(zip(split.item_ids, pop(np.zeros_like(items), items), strict=True)) == {
        "p": 1, "q": 0, "r": 0, "w": 0, "x": 2, "y": 2, "z": 0,
    }  # fmt: skip


def test_a_small_catalogue_scores_the_users_that_have_negatives_left():
    # 7 items: ann trained on x, y (z validation, w test) leaves 3 unseen; cat trained on p
    # (q, r held out) leaves 4; bob holds nothing out.
    split = leave_one_out(toy_interactions())
    assert split.items == 7
    scored, negatives = held_out_users(split, wanted=99, share=0.5)
    assert negatives == 3  # what half of the test users (ann, cat) can give: ann's 3
    assert sorted(split.user_ids[scored.test_users()]) == ["ann", "cat"]
    assert held_out_users(split, wanted=2, share=0.5)[1] == 2  # never more than wanted
    # Every scored user can give them: the candidate table is whole.
    candidates = sampled_candidates(scored, seed=0, negatives=negatives)
    assert candidates.shape == (2, 1 + negatives)
