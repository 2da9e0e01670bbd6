"""Box maths against hand-computed cases."""

from __future__ import annotations

import numpy as np
import pytest

from lakesight.models.detection import boxes

pytestmark = pytest.mark.unit

VAR = (0.1, 0.2)


def test_iou_hand_values():
    a = np.array([[0.0, 0.0, 0.2, 0.2]])
    b = np.array([[0.1, 0.1, 0.3, 0.3], [0.0, 0.0, 0.2, 0.2], [0.5, 0.5, 0.6, 0.6]])
    np.testing.assert_allclose(boxes.iou(a, b), [[0.01 / 0.07, 1.0, 0.0]], rtol=1e-6)


def test_priors_follow_the_paper():
    priors = boxes.prior_boxes((2, 1), ((2.0,), ()), min_scale=0.2, max_scale=0.9, clip=False)
    # map 0: 2x2 cells, 2 squares + 2 for ratio 2 = 4 per cell; map 1: 1 cell, 2 squares
    assert priors.shape == (2 * 2 * 4 + 2, 4)
    cell = priors[:4]
    np.testing.assert_allclose(cell[:, :2], [[0.25, 0.25]] * 4)
    s, s_next = 0.2, 0.9
    expected_wh = [
        (s, s),
        (np.sqrt(s * s_next),) * 2,
        (s * np.sqrt(2), s / np.sqrt(2)),
        (s / np.sqrt(2), s * np.sqrt(2)),
    ]
    np.testing.assert_allclose(cell[:, 2:], expected_wh, rtol=1e-6)
    np.testing.assert_allclose(priors[4, :2], [0.75, 0.25])  # row-major: next cell to the right
    np.testing.assert_allclose(
        priors[-2:, 2:], [[0.9, 0.9], [np.sqrt(0.9), np.sqrt(0.9)]], rtol=1e-6
    )
    assert boxes.priors_per_cell(((2.0,), ())) == [4, 2]


def test_encode_decode_round_trip():
    rng = np.random.default_rng(0)
    priors = boxes.prior_boxes((4, 2), ((2.0,), (2.0, 3.0)))
    xy = rng.uniform(0, 0.6, (len(priors), 2))
    gt = np.concatenate([xy, xy + rng.uniform(0.05, 0.4, (len(priors), 2))], axis=1)
    np.testing.assert_allclose(
        boxes.decode(boxes.encode(gt, priors, VAR), priors, VAR), gt, atol=1e-5
    )


def test_encode_uses_variances():
    prior = np.array([[0.5, 0.5, 0.2, 0.2]], np.float32)
    gt = np.array([[0.42, 0.4, 0.62, 0.6]])  # cx 0.52, cy 0.5, w 0.2, h 0.2
    np.testing.assert_allclose(
        boxes.encode(gt, prior, VAR), [[0.02 / (0.1 * 0.2), 0, 0, 0]], atol=1e-5
    )


def test_match_forces_best_prior_and_thresholds_the_rest():
    priors = np.array(
        [[0.25, 0.25, 0.5, 0.5], [0.75, 0.75, 0.5, 0.5], [0.3, 0.3, 0.45, 0.45]], np.float32
    )
    # A small box overlapping no prior by 0.5 still gets its best prior.
    gt = np.array([[0.0, 0.0, 0.2, 0.2], [0.55, 0.55, 0.95, 0.95]])
    loc, labels = boxes.match(gt, np.array([3, 5]), priors, VAR)
    assert labels.tolist() == [3, 5, 0]
    np.testing.assert_allclose(boxes.decode(loc[:2], priors[:2], VAR), gt, atol=1e-5)
    loc, labels = boxes.match(np.zeros((0, 4)), np.zeros(0), priors, VAR)
    assert labels.tolist() == [0, 0, 0] and not loc.any()


def test_nms_keeps_best_of_overlapping_and_all_disjoint():
    b = np.array(
        [[0, 0, 0.5, 0.5], [0.02, 0.02, 0.52, 0.52], [0.6, 0.6, 0.9, 0.9], [0.01, 0, 0.5, 0.5]]
    )
    s = np.array([0.8, 0.9, 0.3, 0.7])
    assert boxes.nms(b, s, 0.45).tolist() == [1, 2]
    assert boxes.nms(b, s, 0.45, top_k=1).tolist() == [1]


def test_detection_output_is_per_class():
    priors = np.array(
        [[0.3, 0.3, 0.2, 0.2], [0.31, 0.3, 0.2, 0.2], [0.8, 0.8, 0.2, 0.2]], np.float32
    )
    loc = np.zeros((1, 3, 4), np.float32)
    scores = np.array([[[0.1, 0.9, 0.0], [0.1, 0.2, 0.7], [0.95, 0.04, 0.01]]], np.float32)
    rows = boxes.detection_output(loc, scores, priors, VAR, conf_threshold=0.05)
    # Overlapping boxes of different classes both survive; the background-dominated one is cut.
    assert rows[:, 1].tolist() == [1, 2]
    assert rows[:, 0].tolist() == [0, 0]
    np.testing.assert_allclose(rows[0, 3:], [0.2, 0.2, 0.4, 0.4], atol=1e-6)
    with pytest.raises(ValueError, match="must be"):
        boxes.detection_output(loc[0], scores, priors, VAR)
