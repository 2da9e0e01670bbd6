"""Generated house photos: reproducible, balanced, and told apart by what a person sees."""

from __future__ import annotations

from dataclasses import replace

import cv2
import numpy as np
import pytest

from lakesight.models.tagging.houses import (
    HEAD_CLASSES,
    STORIES,
    STYLES,
    VIEWS,
    draw_house,
    elevation,
    render_labelled,
    render_photo,
)

pytestmark = pytest.mark.unit

GLASS = (0, 0, 255)  # a colour nothing else in an elevation has


def pixels16(images: np.ndarray) -> np.ndarray:
    """What a colour-and-layout shortcut sees: 16x16 thumbnails."""
    small = [cv2.resize(i, (16, 16), interpolation=cv2.INTER_AREA) for i in images]
    return np.stack(small).reshape(len(images), -1).astype(np.float32)


def edge_histograms(images: np.ndarray, cells: int = 4, bins: int = 8) -> np.ndarray:
    """Gradient orientations per cell (a small HOG): shapes and lines, not colours."""
    out = []
    for img in images:
        small = cv2.resize(img, (96, 72), interpolation=cv2.INTER_AREA)
        g = cv2.cvtColor(small, cv2.COLOR_RGB2GRAY).astype(np.float32)
        gx, gy = cv2.Sobel(g, cv2.CV_32F, 1, 0), cv2.Sobel(g, cv2.CV_32F, 0, 1)
        mag = np.hypot(gx, gy)
        b = np.minimum((np.mod(np.arctan2(gy, gx), np.pi) / np.pi * bins).astype(int), bins - 1)
        feats = []
        for rows in np.array_split(np.arange(g.shape[0]), cells):
            for cols in np.array_split(np.arange(g.shape[1]), cells):
                cell = np.ix_(rows, cols)
                hist = np.bincount(b[cell].ravel(), mag[cell].ravel(), bins)
                feats.append(hist / (hist.sum() + 1e-6))
        out.append(np.concatenate(feats))
    return np.array(out, np.float32)


def nearest_centroid_accuracy(train, y_train, test, y_test) -> float:
    mu, sd = train.mean(0), train.std(0) + 1e-6
    train, test = (train - mu) / sd, (test - mu) / sd
    centroids = np.stack([train[y_train == k].mean(0) for k in np.unique(y_train)])
    pred = ((test[:, None] - centroids[None]) ** 2).sum(-1).argmin(1)
    return float((pred == y_test).mean())


def glass_rows(house, s: float = 20.0) -> int:
    """Rows of windows in the house's elevation: runs of image rows holding glass."""
    sk = elevation(house, GLASS)
    x0, _, x1, top = sk.bounds()
    img = np.zeros((int(top * s) + 20, int((x1 - x0) * s) + 20, 3), np.uint8)
    sk.render(img, 10 - x0 * s, img.shape[0] - 10, s, np.random.default_rng(0))
    glass = (img[..., 2] > 150) & (img[..., 0] < 100) & (img[..., 1] < 100)
    rows = np.flatnonzero(glass.any(axis=1))
    # Muntins cut a window in two for a pixel or two; floors are a metre apart or more.
    return int(1 + (np.diff(rows) > 0.25 * s).sum()) if len(rows) else 0


def roof_aspect(house, s: float = 20.0) -> float:
    """Height over width of the main roof (its largest piece): steep gables are tall,
    hips low, slabs flat."""
    roof = (255, 0, 255)
    sk = elevation(replace(house, roof=roof, season="summer"), GLASS)
    x0, _, x1, top = sk.bounds()
    img = np.zeros((int(top * s) + 20, int((x1 - x0) * s) + 20, 3), np.uint8)
    sk.render(img, 10 - x0 * s, img.shape[0] - 10, s, np.random.default_rng(0))
    mask = (img[..., 0] > 200) & (img[..., 1] < 60) & (img[..., 2] > 200)
    _, _, stats, _ = cv2.connectedComponentsWithStats(mask.astype(np.uint8))
    _, _, width, height, _ = stats[1 + np.argmax(stats[1:, cv2.CC_STAT_AREA])]
    return float(height / width)


def test_photos_are_reproducible_and_seeds_draw_other_houses():
    a, _ = render_labelled(3, 2, "style")
    b, _ = render_labelled(3, 2, "style")
    c, _ = render_labelled(4, 2, "style")
    assert np.array_equal(a, b)
    assert not np.array_equal(a, c)
    house = draw_house(np.random.default_rng(9))
    assert house == draw_house(np.random.default_rng(9))  # one listing, one house
    one = render_photo(house, "front", np.random.default_rng(1))
    assert np.array_equal(one, render_photo(house, "front", np.random.default_rng(1)))
    assert not np.array_equal(one, render_photo(house, "front", np.random.default_rng(2)))


@pytest.mark.parametrize("head", sorted(HEAD_CLASSES))
def test_labelled_sets_are_balanced_and_interleaved(head):
    k = len(HEAD_CLASSES[head])
    images, labels = render_labelled(0, 3, head, size=(48, 64))
    assert images.shape == (3 * k, 48, 64, 3) and images.dtype == np.uint8
    assert labels.dtype == np.int64
    assert np.bincount(labels).tolist() == [3] * k
    assert labels[:k].tolist() == list(range(k))  # any run of k photos is balanced
    # A longer set starts with the shorter one: every photo has its own stream.
    more, _ = render_labelled(0, 4, head, size=(48, 64))
    assert np.array_equal(more[: 3 * k], images)


def test_every_view_renders_and_bad_arguments_are_refused():
    house = draw_house(np.random.default_rng(0), "victorian", 2)
    photos = [render_photo(house, v, np.random.default_rng(5)) for v in VIEWS]
    assert all(p.shape == (144, 192, 3) and p.dtype == np.uint8 for p in photos)
    assert len({p.tobytes() for p in photos}) == len(VIEWS)
    with pytest.raises(ValueError, match="view"):
        render_photo(house, "aerial", np.random.default_rng(0))
    with pytest.raises(ValueError, match="style"):
        draw_house(np.random.default_rng(0), style="tudor")
    with pytest.raises(ValueError, match="stories"):
        draw_house(np.random.default_rng(0), stories=4)
    with pytest.raises(ValueError, match="head"):
        render_labelled(0, 1, "roof")


@pytest.mark.parametrize("style", STYLES)
def test_storeys_are_rows_of_windows_and_facade_height(style):
    for seed in range(6):
        heights = []
        for stories in STORIES:
            house = draw_house(np.random.default_rng(seed), style, stories)
            # The gable's window is a row of its own on a victorian front.
            assert glass_rows(house) == stories + (style == "victorian"), (seed, stories)
            heights.append(house.base + house.stories * house.floor)
        assert heights[0] < heights[1] < heights[2]


def test_roof_shapes_tell_the_styles_apart():
    aspects = {
        style: np.median(
            [roof_aspect(draw_house(np.random.default_rng(i), style)) for i in range(12)]
        )
        for style in STYLES
    }
    # Steep front gable and turret > side gable > low hip or gable > flat slab.
    assert aspects["victorian"] > aspects["colonial"] > aspects["ranch"] > aspects["modern"]


def test_style_is_in_the_shapes_not_in_the_colours():
    train, y_train = render_labelled(1, 60, "style")
    test, y_test = render_labelled(2, 30, "style")
    thumbnails = nearest_centroid_accuracy(pixels16(train), y_train, pixels16(test), y_test)
    shapes = nearest_centroid_accuracy(
        edge_histograms(train), y_train, edge_histograms(test), y_test
    )
    # Colour and layout alone do not give the style away (chance is 0.25) ...
    assert thumbnails < 0.6, thumbnails
    # ... the lines of roofs and windows do, to a model as simple as this one.
    assert shapes > thumbnails + 0.15, (shapes, thumbnails)


def test_front_photos_are_told_from_the_other_views():
    train, y_train = render_labelled(1, 45, "exterior")
    test, y_test = render_labelled(2, 30, "exterior")
    accuracy = nearest_centroid_accuracy(
        edge_histograms(train), y_train, edge_histograms(test), y_test
    )
    assert accuracy > 0.75
