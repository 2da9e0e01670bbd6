"""The catalogue's indexes without a server: the same ranking as a brute-force sort over every
row, ids found across days, days held once, a re-listed house answered from its latest day."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from lakesight.image_features.similar import Query
from lakesight.serve.catalogue import (
    DayVersion,
    ImageCatalogue,
    ImageDay,
    ListingCatalogue,
    synthetic_images,
)

pytestmark = pytest.mark.unit


def brute_force(catalogue: ImageCatalogue, query: Query, k: int, exclude=()) -> list[int]:
    """Every row's (distance, -cosine, position), sorted: the ranking by definition."""
    from lakesight.models.description.hashing import hamming

    codes = catalogue.words.view(np.uint8)[:, : catalogue.bits // 8]
    distance = hamming(np.frombuffer(query.code, np.uint8)[None], codes)[0].astype(int)
    score = catalogue.embeddings @ query.embedding
    rows = [i for i in range(len(catalogue)) if i not in set(exclude)]
    return sorted(rows, key=lambda i: (distance[i], -round(float(score[i]), 6), i))[:k]


def low_entropy_day(dt: str, n: int, seed: int) -> ImageDay:
    """Codes with only 4 random bits, so most distances tie and the cosine decides."""
    day = synthetic_images(n, 64, 16, seed)
    codes = np.zeros_like(day.codes)
    codes[:, 0] = day.codes[:, 0] & 0x0F
    return ImageDay(DayVersion(dt, "run", ("ssd@1", "deepbit@1")), day.ids, [f"{dt}/{i}.jpg" for i in range(n)], codes, 64, day.embeddings)  # fmt: skip


def test_nearest_is_the_brute_force_ranking_with_ties_and_exclusions():
    first, second = low_entropy_day("2026-01-01", 3000, 1), low_entropy_day("2026-01-02", 2000, 2)
    catalogue = ImageCatalogue([first, second])
    assert len(catalogue) == 5000 and catalogue.models == ("ssd@1", "deepbit@1")
    for position in (0, 2999, 3000, 4321):
        query = catalogue.query_of(position)
        exclude = catalogue.positions_of(query.source["image_id"])
        expected = brute_force(catalogue, query, 25, exclude)
        found = catalogue.nearest(query, 25, exclude=exclude)
        assert [r["image_id"] for r in found] == [catalogue.image_id(i) for i in expected]
        assert query.source["image_id"] not in {r["image_id"] for r in found}
        assert found[0]["dt"] == catalogue.dt_of(expected[0])
    # An image published on both days: found twice, answered from the later day.
    again = ImageDay(second.version, np.r_[second.ids[:-1], first.ids[:1]], second.paths, second.codes, 64, second.embeddings)  # fmt: skip
    catalogue = ImageCatalogue([first, again])
    positions = catalogue.positions_of(catalogue.image_id(0))
    assert positions.tolist() == [0, 4999]
    assert catalogue.query_of(int(positions[-1])).source["dt"] == "2026-01-02"
    assert not len(catalogue.positions_of("ab" * 32))
    # An id ending in zero bytes (numpy's S32 drops them) keeps all 64 hex digits.
    trailing = "ab" * 30 + "0000"
    zeros = ImageDay(first.version, np.array([bytes.fromhex(trailing)], "S32"), ["z.jpg"], first.codes[:1], 64, first.embeddings[:1])  # fmt: skip
    catalogue = ImageCatalogue([zeros])
    assert catalogue.image_id(0) == trailing and catalogue.positions_of(trailing).tolist() == [0]


def test_day_views_share_the_served_arrays():
    day = synthetic_images(1000, 64, 8, 3)
    catalogue = ImageCatalogue([day])
    (view,) = catalogue.day_views()
    assert np.shares_memory(view.embeddings, catalogue.embeddings)
    assert np.shares_memory(view.codes, catalogue.words)
    np.testing.assert_array_equal(view.codes, day.codes)
    rebuilt = ImageCatalogue([view])
    np.testing.assert_array_equal(rebuilt.words, catalogue.words)
    assert catalogue.memory_bytes == 1000 * (8 + 8 * 4 + 32 + 8 + 32)


def test_a_relisted_house_is_answered_from_its_latest_day():
    def photos(dt: str, listing: str, photo: str, style: str) -> pd.DataFrame:
        return pd.DataFrame([{
            "listing_id": listing, "photo_id": photo, "path": f"{dt}/{photo}.jpg",
            "exterior": True, "exterior_score": 0.99, "style": style, "style_score": 0.9,
            "stories": 2, "stories_score": 0.9, "embedding": [1.0, 0.0],
        }])  # fmt: skip

    version = lambda dt: DayVersion(dt, "run", ("places@1", "tags@1"))  # noqa: E731
    catalogue = ListingCatalogue([
        (version("2026-01-01"), pd.concat([photos("2026-01-01", "A", "a1", "ranch"),
                                           photos("2026-01-01", "B", "b1", "colonial")])),
        (version("2026-01-02"), photos("2026-01-02", "A", "a2", "victorian")),
    ])  # fmt: skip
    assert len(catalogue) == 2 and catalogue.photos == 2
    assert set(catalogue.index.photo_positions) == {"a2", "b1"}
    from lakesight.house_similarity.similar import PhotoQuery

    results = catalogue.index.rank(PhotoQuery(np.array([1.0, 0.0], np.float32), 0.99, "victorian", 2), 5)  # fmt: skip
    assert [(r["listing_id"], r["dt"], r["style"]) for r in results] == [
        ("A", "2026-01-02", "victorian"), ("B", "2026-01-01", "colonial"),
    ]  # fmt: skip
    assert catalogue.models == ("places@1", "tags@1")


def test_the_service_serves_the_days_of_the_models_it_was_told(settings):
    from lakesight.serve.catalogue import Catalogues

    catalogues = Catalogues(settings)  # an empty lake: nothing loaded yet
    versions = {
        "2026-01-01": DayVersion("2026-01-01", "r1", ("ssd@1", "deepbit@1")),
        "2026-01-02": DayVersion("2026-01-02", "r2", ("yolo@1", "deepbit@1")),
    }
    assert set(catalogues._comparable("images", versions)) == {"2026-01-02"}  # the newest's
    catalogues.image_models = ("ssd@1", "deepbit@1")  # lakesight serve --detector ssd@1
    assert set(catalogues._comparable("images", versions, catalogues.image_models)) == {
        "2026-01-01"
    }
    assert "differ from the served ssd@1" in catalogues.skipped["images/2026-01-02"]
