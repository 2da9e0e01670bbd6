"""The listing ranking (no Spark): tags first, then looks; filters; a query that is not a house."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from lakesight.house_similarity.similar import ListingIndex, PhotoQuery

pytestmark = pytest.mark.unit


def unit(v) -> np.ndarray:
    v = np.asarray(v, np.float32)
    return v / np.linalg.norm(v)


@pytest.fixture
def index() -> ListingIndex:
    rows = [
        # listing, photo, exterior, score, style, stories, embedding
        ("A", "a1", True, 0.99, "ranch", 1, [1, 0, 0, 0]),
        ("A", "a2", False, 0.05, None, None, [0, 0, 1, 0]),
        ("B", "b1", True, 0.97, "modern", 2, [0.99, 0.1, 0, 0]),  # looks most like the query
        ("C", "c1", True, 0.60, "ranch", 2, [0.5, 0.5, 0, 0]),
        ("C", "c2", True, 0.95, "ranch", 1, [0.6, 0.6, 0, 0]),  # C's most exterior photo
        ("D", "d1", False, 0.10, None, None, [0.1, 0, 0, 1]),  # no exterior photo at all
    ]
    frame = pd.DataFrame(
        [(lid, pid, f"{pid}.jpg", e, s, st, stories, unit(v)) for lid, pid, e, s, st, stories, v in rows],
        columns=["listing_id", "photo_id", "path", "exterior", "exterior_score", "style", "stories",
                 "embedding"],
    )  # fmt: skip
    return ListingIndex(frame)


def test_listings_that_agree_on_the_tags_come_first_then_by_looks(index):
    query = PhotoQuery(unit([1, 0.05, 0, 0]), 0.9, "ranch", 1)
    results = index.rank(query, 10)
    assert [r["listing_id"] for r in results] == ["A", "C", "B", "D"]
    a, c = results[0], results[1]
    assert a["photo_id"] == "a1" and a["style"] == "ranch" and a["stories"] == 1
    # C's exterior photos disagree on the stories: the surer exterior (c2) outvotes c1.
    assert c["style"] == "ranch" and c["stories"] == 1
    assert a["score"] == pytest.approx(a["cosine"] + 1.0, abs=1e-3)
    assert results[3]["style"] is None  # D has no front photo: looks alone


def test_filters_keep_only_listings_with_the_same_tags(index):
    query = PhotoQuery(unit([1, 0, 0, 0]), 0.9, "ranch", 2)
    assert [r["listing_id"] for r in index.rank(query, 10, same_style=True)] == ["A", "C"]
    assert [r["listing_id"] for r in index.rank(query, 10, same_stories=True)] == ["B"]
    assert [r["listing_id"] for r in index.rank(query, 1)] == ["A"]


def test_a_query_that_is_not_a_house_is_ranked_on_every_photo_by_looks_alone(index):
    interior = PhotoQuery(unit([0, 0, 1, 0.1]), 0.02, None, None)
    results = index.rank(interior, 2)
    assert results[0]["listing_id"] == "A" and results[0]["photo_id"] == "a2"
    assert results[0]["score"] == results[0]["cosine"]


def test_an_empty_day_answers_nothing():
    empty = pd.DataFrame(columns=["listing_id", "photo_id", "path", "exterior", "exterior_score",
                                  "style", "stories", "embedding"])  # fmt: skip
    assert ListingIndex(empty).rank(PhotoQuery(unit([1, 0]), 0.9, "ranch", 1), 5) == []


def test_a_query_is_a_house_by_the_probability_of_exterior_not_the_heads_confidence():
    # features/listings' exterior_score is the confidence of the exterior decision: a sure
    # interior scores 0.99 too, and must not be taken for a house.
    interior = PhotoQuery.from_tags(unit([1, 0]), False, 0.99, None, float("nan"))
    assert not interior.is_house and interior.exterior_probability == pytest.approx(0.01)
    assert (interior.style, interior.stories) == (None, None)
    front = PhotoQuery.from_tags(unit([1, 0]), True, 0.8, "ranch", 2.0, {"path": "a.jpg"})
    assert front.is_house and (front.style, front.stories, front.source) == (
        "ranch",
        2,
        {"path": "a.jpg"},
    )
