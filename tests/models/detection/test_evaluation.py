"""VOC AP against hand-computed cases."""

from __future__ import annotations

import numpy as np
import pytest

from lakesight.models.detection.evaluation import (
    GroundTruth,
    average_precision,
    mean_average_precision,
    voc_ap,
)

pytestmark = pytest.mark.unit

A = [0.1, 0.1, 0.4, 0.4]
B = [0.6, 0.6, 0.9, 0.9]
MISS = [0.5, 0.1, 0.7, 0.3]


def rows(*dets):
    """(image, label, score, box) tuples → DetectionOutput rows."""
    return np.array([[i, label, score, *box] for i, label, score, box in dets], np.float32).reshape(
        -1, 7
    )


def truth(*objects):
    labels = np.array([label for label, _ in objects], np.int64)
    return GroundTruth(labels, np.array([box for _, box in objects], np.float64).reshape(-1, 4))


def test_voc_ap_all_point_interpolation():
    # precision envelope: r 0.5 → 1.0, r 1.0 → 2/3
    assert voc_ap(np.array([0.5, 0.5, 1.0]), np.array([1.0, 0.5, 2 / 3])) == pytest.approx(
        0.5 + 0.5 * 2 / 3
    )
    assert voc_ap(np.array([]), np.array([])) == 0.0


def test_perfect_detections():
    truths = [truth((1, A), (1, B))]
    assert average_precision(rows((0, 1, 0.9, A), (0, 1, 0.8, B)), truths, 1) == pytest.approx(1.0)


def test_false_positive_ranked_first_halves_ap():
    truths = [truth((1, A))]
    assert average_precision(rows((0, 1, 0.9, MISS), (0, 1, 0.8, A)), truths, 1) == pytest.approx(
        0.5
    )


def test_duplicate_detection_is_a_false_positive():
    truths = [truth((1, A), (1, B))]
    dets = rows((0, 1, 0.9, A), (0, 1, 0.8, [0.11, 0.1, 0.41, 0.4]), (0, 1, 0.7, B))
    assert average_precision(dets, truths, 1) == pytest.approx(0.5 + 0.5 * 2 / 3)


def test_matching_is_per_image_and_per_class():
    truths = [truth((1, A)), truth((2, A))]
    # Right box, wrong image; right box, wrong class: both false positives for class 1.
    dets = rows((1, 1, 0.95, A), (0, 2, 0.9, A), (0, 1, 0.5, A))
    assert average_precision(dets, truths, 1) == pytest.approx(0.5)


def test_low_iou_is_a_miss():
    truths = [truth((1, A))]
    shifted = [0.25, 0.25, 0.55, 0.55]  # IoU with A = 0.0225 / 0.1575 < 0.5
    assert average_precision(rows((0, 1, 0.9, shifted)), truths, 1) == 0.0


def test_map_skips_classes_without_ground_truth():
    truths = [truth((1, A), (3, B))]
    result = mean_average_precision(
        rows((0, 1, 0.9, A), (0, 2, 0.9, B), (0, 3, 0.5, B)), truths, ["a", "b", "c"]
    )
    assert result["per_class_ap"] == {"a": 1.0, "c": 1.0}
    assert result["map50"] == 1.0
