"""Detection evaluation, written here: PASCAL VOC average precision at IoU 0.5.

VOC 2010+ protocol ("all-point interpolation"): per class, detections of all
images are sorted by score; each is a true positive if it overlaps an unmatched
ground-truth box of its class by IoU >= 0.5, otherwise a false positive (a
second detection of the same object is a false positive). AP is the area under
the precision-recall curve after making precision monotonically decreasing.
mAP is the mean over classes that have ground truth.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from lakesight.models.detection.boxes import iou


@dataclass(frozen=True)
class GroundTruth:
    """Objects of one image: labels (G,) 1..C and boxes xyxy (G, 4), normalised."""

    labels: np.ndarray
    boxes: np.ndarray


def voc_ap(recall: np.ndarray, precision: np.ndarray) -> float:
    """All-point interpolated AP from recall/precision at each ranked detection."""
    r = np.concatenate([[0.0], np.asarray(recall, dtype=np.float64), [1.0]])
    p = np.concatenate([[0.0], np.asarray(precision, dtype=np.float64), [0.0]])
    # Precision envelope: the best precision at any recall >= r.
    p = np.maximum.accumulate(p[::-1])[::-1]
    changed = np.flatnonzero(r[1:] != r[:-1])
    return float(np.sum((r[changed + 1] - r[changed]) * p[changed + 1]))


def average_precision(
    detections: np.ndarray, truths: Sequence[GroundTruth], label: int, iou_threshold: float = 0.5
) -> float | None:
    """AP of one class. ``detections`` are DetectionOutput rows; image_idx indexes ``truths``.

    Returns None when the class has no ground truth (it then does not count in mAP).
    """
    n_truth = sum(int((t.labels == label).sum()) for t in truths)
    if n_truth == 0:
        return None
    rows = detections[detections[:, 1] == label]
    rows = rows[np.argsort(-rows[:, 2], kind="stable")]
    matched = [np.zeros(int((t.labels == label).sum()), dtype=bool) for t in truths]
    tp = np.zeros(len(rows))
    for i, row in enumerate(rows):
        truth = truths[int(row[0])]
        gt = truth.boxes[truth.labels == label]
        if len(gt) == 0:
            continue
        overlaps = iou(row[3:7][None], gt)[0]
        best = int(overlaps.argmax())
        if overlaps[best] >= iou_threshold and not matched[int(row[0])][best]:
            matched[int(row[0])][best] = True
            tp[i] = 1
    fp = 1 - tp
    tp_cum, fp_cum = np.cumsum(tp), np.cumsum(fp)
    recall = tp_cum / n_truth
    precision = tp_cum / np.maximum(tp_cum + fp_cum, np.finfo(np.float64).eps)
    return voc_ap(recall, precision)


def mean_average_precision(
    detections: np.ndarray,
    truths: Sequence[GroundTruth],
    classes: Sequence[str],
    iou_threshold: float = 0.5,
) -> dict:
    """``{"map50": …, "per_class_ap": {class: AP}}`` over classes with ground truth."""
    per_class = {}
    for label, name in enumerate(classes, start=1):
        ap = average_precision(detections, truths, label, iou_threshold)
        if ap is not None:
            per_class[name] = round(ap, 4)
    mean = float(np.mean(list(per_class.values()))) if per_class else 0.0
    return {"map50": round(mean, 4), "per_class_ap": per_class}


def held_out_scenes(n: int, seed: int, scene_config=None, classes: Sequence[str] | None = None):
    """``n`` generated scenes and their ground truth, from ``seed``."""
    from lakesight.models.scenes import CLASSES, SceneConfig, render_scene, scene_rng

    classes = tuple(classes or CLASSES)
    config = scene_config or SceneConfig(photo_backgrounds=True, photometric_jitter=True)
    images, truths = [], []
    for i in range(n):
        image, objects = render_scene(scene_rng(seed, i), config)
        images.append(image)
        truths.append(
            GroundTruth(
                labels=np.asarray([classes.index(o.label) + 1 for o in objects], dtype=np.int64),
                boxes=np.asarray([[o.x_min, o.y_min, o.x_max, o.y_max] for o in objects]).reshape(
                    -1, 4
                ),
            )
        )
    return images, truths


def evaluate_detector(detect, images, truths, classes, batch: int = 32) -> dict:
    """Run ``detect(images) -> rows`` in batches over ``images`` and score it."""
    rows = []
    for start in range(0, len(images), batch):
        found = detect(images[start : start + batch])
        found = found.copy()
        found[:, 0] += start
        rows.append(found)
    detections = np.concatenate(rows) if rows else np.zeros((0, 7), np.float32)
    return {**mean_average_precision(detections, truths, classes), "images": len(images)}
