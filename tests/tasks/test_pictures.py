"""Picture primitives: detections drawn where they are, in their label's colour."""

from __future__ import annotations

import numpy as np
import pytest

from lakesight.pictures import annotate, label_colour

pytestmark = pytest.mark.unit

STAR = {"label": "star", "score": 0.9, "x_min": 0.25, "y_min": 0.5, "x_max": 0.75, "y_max": 1.0}


def test_annotate_draws_each_confident_box_in_its_label_colour():
    pixels = np.full((100, 200, 3), 255, np.uint8)
    faint = {**STAR, "label": "circle", "score": 0.1, "x_min": 0.0, "x_max": 0.1}
    image = np.asarray(annotate(pixels, [STAR, faint], top=STAR, scale=1.0))
    # The left edge of the star's box (x = 0.25 * 200), halfway down it.
    assert tuple(image[75, 50]) == label_colour("star")
    assert tuple(image[75, 5]) == (255, 255, 255)  # below min_score: not drawn
    assert tuple(image[10, 150]) == (255, 255, 255)  # away from any box
