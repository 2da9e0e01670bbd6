"""The head decoders and the letterbox, on outputs whose right answer is known by hand.

The frameworks' own answers on real exported models are checked in
``test_imported_detectors.py``; these pin the pieces one by one."""

from __future__ import annotations

import numpy as np
import pytest

from lakesight.models.detection import heads
from lakesight.models.detection.detector import Detector, InputSpec, fit

pytestmark = pytest.mark.unit
T = heads.Thresholds(conf=0.25, iou=0.5, max_det=10)


def test_letterbox_fits_keeps_the_aspect_and_centres_with_ultralytics_rounding():
    # 640 x 427 into 320: gain 0.5, 320 x 214 (213.5 rounds to even 214), 106 px of padding
    # split 53 / 53 (round(53 - 0.1) = 53).
    placement = heads.letterbox_placement(640, 427, 320, 320)
    assert (placement.pad_x, placement.pad_y) == (0, 53)
    assert placement.gain_x == 0.5 and placement.gain_y == pytest.approx(214 / 427)
    image = np.full((427, 640, 3), 200, np.uint8)
    pixels, same = fit(image, InputSpec(320, resize="letterbox", interpolation="linear"))
    assert same == placement and pixels.shape == (320, 320, 3)
    assert (pixels[:53] == 114).all() and (pixels[53 + 214 :] == 114).all()
    assert (pixels[53 : 53 + 214] == 200).all()


def test_placement_maps_input_pixels_back_onto_the_image_and_clips():
    placement = heads.letterbox_placement(640, 427, 320, 320)
    # A box covering the whole letterboxed image is the whole image; one in the padding is clipped.
    whole = placement.to_image(np.array([[0, 53, 320, 53 + 214]]))
    np.testing.assert_allclose(whole, [[0, 0, 1, 1]], atol=1e-9)
    padded = placement.to_image(np.array([[-10, 0, 330, 40]]))
    np.testing.assert_allclose(padded, [[0, 0, 1, 0]], atol=1e-9)


def yolov8_raw(anchors: list[tuple[float, float, float, float, int, float]], classes: int):
    """(1, 4+C, N) from anchors (cx, cy, w, h, class, score); other classes score 0.01."""
    raw = np.full((1, 4 + classes, len(anchors)), 0.01, np.float32)
    for i, (cx, cy, w, h, c, s) in enumerate(anchors):
        raw[0, :4, i] = cx, cy, w, h
        raw[0, 4 + c, i] = s
    return raw


def test_yolov8_keeps_the_best_class_and_suppresses_within_a_class_only():
    anchors = [
        (50, 50, 20, 20, 0, 0.9),  # kept
        (52, 50, 20, 20, 0, 0.8),  # same class, IoU 0.82: suppressed
        (52, 50, 20, 20, 1, 0.7),  # other class, same place: kept
        (150, 150, 10, 10, 2, 0.2),  # under conf
    ]
    rows = heads.decode_yolov8(yolov8_raw(anchors, 3), T)[0]
    np.testing.assert_allclose(rows[:, :2], [[1, 0.9], [2, 0.7]], atol=1e-6)
    np.testing.assert_allclose(rows[0, 2:], [40, 40, 60, 60])


def test_yolov5_scores_are_objectness_times_class():
    raw = np.zeros((1, 3, 5 + 2), np.float32)
    raw[0, 0] = [50, 50, 20, 20, 0.9, 0.5, 0.1]  # 0.45 for class 0
    raw[0, 1] = [150, 50, 20, 20, 0.2, 1.0, 0.0]  # objectness under conf: dropped early
    raw[0, 2] = [50, 150, 20, 20, 0.5, 0.1, 0.4]  # 0.2 for class 1: under conf
    rows = heads.decode_yolov5(raw, T)[0]
    np.testing.assert_allclose(rows, [[1, 0.45, 40, 40, 60, 60]], atol=1e-6)


def test_end_to_end_heads_filter_by_confidence_and_convert_rtdetr_boxes():
    raw = np.array([[[10, 20, 30, 40, 0.9, 2], [0, 0, 5, 5, 0.1, 0]]], np.float32)
    yolo = heads.decode_end_to_end(raw, T, normalised_cxcywh=False, input_w=100, input_h=50)[0]
    np.testing.assert_allclose(yolo, [[3, 0.9, 10, 20, 30, 40]], atol=1e-6)
    rtdetr = np.array([[[0.5, 0.5, 0.2, 0.4, 0.8, 1]]], np.float32)
    rows = heads.decode_end_to_end(rtdetr, T, normalised_cxcywh=True, input_w=100, input_h=50)[0]
    np.testing.assert_allclose(rows, [[2, 0.8, 40, 15, 60, 35]], atol=1e-5)


def test_a_detector_with_a_letterbox_gives_rows_normalised_to_the_original_image():
    # A "model" answering one box over the whole letterboxed picture of each image.
    def runner(batch):
        assert batch.shape == (2, 3, 64, 64)
        raw = np.zeros((2, 6, 3), np.float32)
        raw[:, :4, 0] = [32, 32, 64, 32]  # the middle band of a 2:1 image (letterboxed)
        raw[:, 4, 0] = 0.9
        return [raw]

    detector = Detector(runner, InputSpec(64, mean=0.0, scale=1 / 255, resize="letterbox",
                                          interpolation="linear"), None, ["a", "b"],
                        head="yolov8", thresholds=T)  # fmt: skip
    images = [np.zeros((50, 100, 3), np.uint8), np.zeros((100, 200, 3), np.uint8)]
    rows = detector.detect(images)
    np.testing.assert_allclose(rows[:, :3], [[0, 1, 0.9], [1, 1, 0.9]], atol=1e-6)
    np.testing.assert_allclose(rows[:, 3:], [[0, 0, 1, 1]] * 2, atol=1e-6)


def test_one_image_graphs_run_each_image_alone_and_number_them():
    seen = []

    def runner(image):
        seen.append(image.shape)
        return [np.array([[1.0, 2.0, 3.0, 4.0]]), np.array([5]), np.array([0.5])]

    spec = InputSpec(0, mean=0.0, scale=1 / 255, resize="none", single_image=True)
    detector = Detector(runner, spec, None, [], head="torchvision", thresholds=T)
    rows = detector.detect([np.zeros((10, 20, 3), np.uint8), np.zeros((40, 10, 3), np.uint8)])
    assert seen == [(3, 10, 20), (3, 40, 10)]
    np.testing.assert_allclose(rows[:, :3], [[0, 5, 0.5], [1, 5, 0.5]])
    np.testing.assert_allclose(rows[:, 3:], [[1 / 20, 2 / 10, 3 / 20, 4 / 10],
                                             [1 / 10, 2 / 40, 3 / 10, 4 / 40]])  # fmt: skip


def test_bad_input_settings_name_the_field():
    with pytest.raises(ValueError, match=r"input\.resize"):
        InputSpec(64, resize="crop")
    with pytest.raises(ValueError, match="head"):
        Detector(lambda b: [], InputSpec(64), None, [], head="yolov99")


def test_rtdetr_official_exports_get_the_input_size_as_their_target_size():
    # Their graph takes orig_target_sizes (w, h) and scales boxes to it: given the input's
    # own size, boxes stay in input pixels and the placement maps them onto the image.
    fed = {}

    def runner(feed):
        fed.update(feed)
        labels = np.array([[2, 0]])
        boxes = np.array([[[0.0, 0.0, 32.0, 16.0], [1.0, 1.0, 2.0, 2.0]]])
        return [labels, boxes, np.array([[0.8, 0.1]])]

    spec = InputSpec(64, mean=0.0, scale=1 / 255, resize="stretch", interpolation="linear")
    detector = Detector(runner, spec, None, ["a", "b", "c"], head="rtdetr_official",
                        thresholds=T, input_names=("images", "orig_target_sizes"))  # fmt: skip
    rows = detector.detect([np.zeros((100, 200, 3), np.uint8)])
    assert fed["images"].shape == (1, 3, 64, 64) and fed["orig_target_sizes"].tolist() == [[64, 64]]
    np.testing.assert_allclose(rows, [[0, 3, 0.8, 0, 0, 0.5, 0.25]], atol=1e-6)


def test_rtdetr_exports_with_a_score_per_class_take_the_best_class():
    # Ultralytics before 8.4: (B, K, 4 + C), one probability per class, no score column.
    raw = np.array([[[0.5, 0.5, 0.2, 0.4, 0.1, 0.7, 0.2], [0.2, 0.2, 0.1, 0.1, 0.3, 0.1, 0.9]]],
                   np.float32)  # fmt: skip
    rows = heads.decode_end_to_end(raw, T, normalised_cxcywh=True, input_w=100, input_h=50)[0]
    np.testing.assert_allclose(rows[:, :2], [[3, 0.9], [2, 0.7]], atol=1e-6)
    np.testing.assert_allclose(rows[1, 2:], [40, 15, 60, 35], atol=1e-5)
