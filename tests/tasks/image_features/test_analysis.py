"""Detect → crop → describe on batches, with the shipped models (no Spark)."""

from __future__ import annotations

import numpy as np
import pytest

from lakesight.image_features.analysis import CropPolicy, analyze, choose_crop, detection_structs

pytestmark = pytest.mark.unit


def det(score, x0, y0, x1, y1, label="circle"):
    return {"label": label, "score": score, "x_min": x0, "y_min": y0, "x_max": x1, "y_max": y1}


def test_detection_structs_best_first_and_clipped():
    rows = np.array([[0, 1, 0.4, 0.1, 0.1, 0.2, 0.2], [0, 3, 0.9, -0.1, 0.5, 0.6, 1.2]], np.float32)
    out = detection_structs(rows, ("circle", "square", "triangle"))
    assert [d["label"] for d in out] == ["triangle", "circle"]
    assert out[0]["x_min"] == 0.0 and out[0]["y_max"] == 1.0


def test_crop_takes_best_detection_with_padding():
    box, top = choose_crop([det(0.9, 0.25, 0.25, 0.75, 0.75), det(0.5, 0, 0, 0.1, 0.1)], 200, 100)
    assert top["score"] == 0.9
    assert box == (40, 20, 160, 80)  # 100x50 box + 10% each side


def test_no_confident_detection_describes_whole_image():
    box, top = choose_crop([det(0.1, 0.2, 0.2, 0.4, 0.4)], 320, 240, CropPolicy(min_score=0.3))
    assert box == (0, 0, 320, 240) and top is None


def test_small_box_grows_to_minimum_inside_image():
    box, _ = choose_crop(
        [det(0.9, 0.0, 0.0, 0.02, 0.02)], 320, 240, CropPolicy(min_side=48, padding=0)
    )
    x0, y0, x1, y1 = box
    assert (x0, y0) == (0, 0) and x1 - x0 == 48 and y1 - y0 == 48


def test_analyze_with_shipped_models_crops_the_object():
    from lakesight.models.detection.evaluation import held_out_scenes
    from lakesight.models.runtime import load_descriptor, load_detector

    images, truths = held_out_scenes(4, 777)
    results = analyze(images, load_detector(), load_descriptor())
    assert len(results) == 4
    for result, truth in zip(results, truths, strict=True):
        assert result["code_bits"] == 64 and len(result["code"]) == 8
        assert result["embedding"].shape[0] > 0
        if result["top"] is not None:
            x0, y0, x1, y1 = result["crop_box"]
            assert 0 <= x0 < x1 <= 320 and 0 <= y0 < y1 <= 240
            classes = ("circle", "square", "triangle", "star", "cross")
            assert classes.index(result["top"]["label"]) + 1 in truth.labels
    assert sum(r["top"] is not None for r in results) >= 3
