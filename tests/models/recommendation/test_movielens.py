"""MovieLens-100k fetched from the recbole wheel as ``lakesight eval recs`` fetches it."""

from __future__ import annotations

import pytest

from lakesight.models.recommendation.movielens import fetch_ml100k, read_ml100k
from lakesight.models.recommendation.protocol import leave_one_out, sampled_candidates

pytestmark = pytest.mark.unit


def test_ml100k_is_fetched_checked_and_split_for_every_user(tmp_path):
    directory = fetch_ml100k(tmp_path / "ml-100k")
    interactions = read_ml100k(directory)
    # MovieLens-100k's published size: 100,000 ratings of 1,682 movies by 943 users.
    assert len(interactions) == 100_000
    assert interactions["user"].nunique() == 943 and interactions["item"].nunique() == 1682
    split = leave_one_out(interactions)
    assert len(split.test_users()) == 943  # every user rated at least 20 movies
    assert len(split.train) == 100_000 - 2 * 943
    assert sampled_candidates(split, seed=0).shape == (943, 100)
    # A second call finds the checked files and downloads nothing.
    modified = (directory / "ml-100k.inter").stat().st_mtime_ns
    assert fetch_ml100k(directory) == directory
    assert (directory / "ml-100k.inter").stat().st_mtime_ns == modified
