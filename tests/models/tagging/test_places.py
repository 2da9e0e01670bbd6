"""Generated places, the backbone's source task: reproducible, balanced, not the house tags."""

from __future__ import annotations

import numpy as np
import pytest

from lakesight.models.tagging.houses import STYLES, VIEWS
from lakesight.models.tagging.places import PLACE_CATEGORIES, render_place, render_places
from tests.models.tagging.test_houses import edge_histograms, nearest_centroid_accuracy

pytestmark = pytest.mark.unit

ROOMS = ("kitchen", "bedroom", "living_room")


def test_categories_are_a_different_task_from_the_house_tags():
    assert 14 <= len(PLACE_CATEGORIES) <= 20
    assert len(set(PLACE_CATEGORIES)) == len(PLACE_CATEGORIES)
    assert not set(PLACE_CATEGORIES) & {*STYLES, *VIEWS, "house"}


def test_sets_are_reproducible_balanced_and_interleaved():
    images, labels = render_places(2, 2, size=(48, 64))
    k = len(PLACE_CATEGORIES)
    assert images.shape == (2 * k, 48, 64, 3) and images.dtype == np.uint8
    assert labels.dtype == np.int64 and labels[:k].tolist() == list(range(k))
    assert np.bincount(labels).tolist() == [2] * k
    again, _ = render_places(2, 2, size=(48, 64))
    other, _ = render_places(3, 2, size=(48, 64))
    assert np.array_equal(images, again)
    assert not np.array_equal(images, other)
    with pytest.raises(ValueError, match="place"):
        render_place("castle", np.random.default_rng(0))


@pytest.mark.parametrize("category", PLACE_CATEGORIES)
def test_every_category_renders_varied_photos(category):
    photos = [render_place(category, np.random.default_rng(i)) for i in range(3)]
    assert all(p.shape == (144, 192, 3) and p.dtype == np.uint8 for p in photos)
    assert len({p.tobytes() for p in photos}) == 3
    assert all(p.std() > 10 for p in photos)  # a scene, not a flat colour


def test_categories_are_learnable_from_shapes():
    train, y_train = render_places(1, 20)
    test, y_test = render_places(2, 10)
    accuracy = nearest_centroid_accuracy(
        edge_histograms(train), y_train, edge_histograms(test), y_test
    )
    assert accuracy > 4 / len(PLACE_CATEGORIES), accuracy  # chance is 1/16
    # Indoors and outdoors, what the exterior tag needs, are told apart almost always.
    indoor = np.isin(y_train, [PLACE_CATEGORIES.index(r) for r in ROOMS]).astype(int)
    indoor_test = np.isin(y_test, [PLACE_CATEGORIES.index(r) for r in ROOMS]).astype(int)
    split = nearest_centroid_accuracy(
        edge_histograms(train), indoor, edge_histograms(test), indoor_test
    )
    assert split > 0.85, split
