"""Box maths for SSD, in one place and in numpy: priors, IoU, matching, encode/decode, NMS.

Training (target encoding), every runtime (ONNX Runtime, OpenCV DNN, torch) and
the evaluation use these functions, so a box means the same thing everywhere.

Conventions:

- boxes are normalised to 0..1; ``xyxy`` is ``(x_min, y_min, x_max, y_max)``,
  ``cxcywh`` is ``(cx, cy, w, h)``;
- label 0 is background, classes are 1..C (Caffe's convention);
- detections are Caffe ``DetectionOutput`` rows
  ``[image_idx, label, score, x_min, y_min, x_max, y_max]``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

DETECTION_COLUMNS = ("image_idx", "label", "score", "x_min", "y_min", "x_max", "y_max")


def prior_boxes(
    feature_sizes: Sequence[int],
    aspect_ratios: Sequence[Sequence[float]],
    min_scale: float = 0.1,
    max_scale: float = 0.9,
    clip: bool = True,
) -> np.ndarray:
    """SSD default boxes (P, 4) cxcywh, in the order the heads emit them.

    Scales follow the paper: ``s_k = s_min + (s_max - s_min)(k - 1)/(m - 1)``.
    Each cell of map k gets a square box of side ``s_k``, one of side
    ``sqrt(s_k s_{k+1})``, and for every ratio ``a`` boxes ``s_k·sqrt(a) × s_k/sqrt(a)``
    and their transpose. Order: row-major cells, then the boxes of a cell.
    """
    m = len(feature_sizes)
    if len(aspect_ratios) != m:
        raise ValueError(f"aspect_ratios has {len(aspect_ratios)} entries for {m} feature maps")
    scales = [min_scale + (max_scale - min_scale) * k / max(m - 1, 1) for k in range(m)] + [1.0]
    boxes = []
    for k, size in enumerate(feature_sizes):
        s, s_next = scales[k], scales[k + 1]
        shapes = [(s, s), (math.sqrt(s * s_next),) * 2]
        for a in aspect_ratios[k]:
            r = math.sqrt(a)
            shapes += [(s * r, s / r), (s / r, s * r)]
        for row in range(size):
            for col in range(size):
                cx, cy = (col + 0.5) / size, (row + 0.5) / size
                boxes.extend((cx, cy, w, h) for w, h in shapes)
    priors = np.asarray(boxes, dtype=np.float32)
    return np.clip(priors, 0.0, 1.0) if clip else priors


def priors_per_cell(aspect_ratios: Sequence[Sequence[float]]) -> list[int]:
    """Boxes per feature-map cell for each map: 2 squares + 2 per ratio."""
    return [2 + 2 * len(ratios) for ratios in aspect_ratios]


def to_xyxy(cxcywh: np.ndarray) -> np.ndarray:
    """cxcywh → xyxy, on the last axis."""
    half = cxcywh[..., 2:] / 2
    return np.concatenate([cxcywh[..., :2] - half, cxcywh[..., :2] + half], axis=-1)


def to_cxcywh(xyxy: np.ndarray) -> np.ndarray:
    """xyxy → cxcywh, on the last axis."""
    return np.concatenate(
        [(xyxy[..., :2] + xyxy[..., 2:]) / 2, xyxy[..., 2:] - xyxy[..., :2]], axis=-1
    )


def iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """IoU matrix (len(a), len(b)) of xyxy boxes."""
    a = np.asarray(a, dtype=np.float64).reshape(-1, 4)
    b = np.asarray(b, dtype=np.float64).reshape(-1, 4)
    lt = np.maximum(a[:, None, :2], b[None, :, :2])
    rb = np.minimum(a[:, None, 2:], b[None, :, 2:])
    inter = np.prod(np.clip(rb - lt, 0, None), axis=-1)
    area_a = np.prod(np.clip(a[:, 2:] - a[:, :2], 0, None), axis=-1)
    area_b = np.prod(np.clip(b[:, 2:] - b[:, :2], 0, None), axis=-1)
    union = area_a[:, None] + area_b[None, :] - inter
    return np.where(union > 0, inter / np.where(union > 0, union, 1), 0.0)


def encode(matched_xyxy: np.ndarray, priors: np.ndarray, variances: Sequence[float]) -> np.ndarray:
    """Regression targets (P, 4) of matched boxes w.r.t. their priors (cxcywh)."""
    m = to_cxcywh(matched_xyxy)
    wh = np.maximum(m[:, 2:], 1e-6)
    d_centre = (m[:, :2] - priors[:, :2]) / (variances[0] * priors[:, 2:])
    d_size = np.log(wh / priors[:, 2:]) / variances[1]
    return np.concatenate([d_centre, d_size], axis=1).astype(np.float32)


def decode(loc: np.ndarray, priors: np.ndarray, variances: Sequence[float]) -> np.ndarray:
    """Boxes xyxy (..., P, 4) from regressions (..., P, 4): the inverse of :func:`encode`."""
    centre = priors[:, :2] + loc[..., :2] * variances[0] * priors[:, 2:]
    size = priors[:, 2:] * np.exp(np.clip(loc[..., 2:] * variances[1], -10, 10))
    return np.concatenate([centre - size / 2, centre + size / 2], axis=-1)


def match(
    gt_xyxy: np.ndarray,
    gt_labels: np.ndarray,
    priors: np.ndarray,
    variances: Sequence[float],
    threshold: float = 0.5,
) -> tuple[np.ndarray, np.ndarray]:
    """SSD matching: (loc targets (P, 4), class targets (P,), 0 = background).

    Every ground-truth box takes its best prior (so none goes unmatched), and
    every prior whose best IoU with some box is at least ``threshold`` takes that box.
    """
    n_priors = len(priors)
    if len(gt_xyxy) == 0:
        return np.zeros((n_priors, 4), np.float32), np.zeros(n_priors, np.int64)
    overlaps = iou(gt_xyxy, to_xyxy(priors))  # (G, P)
    best_gt = overlaps.argmax(axis=0)  # (P,)
    best_gt_iou = overlaps.max(axis=0)
    best_prior = overlaps.argmax(axis=1)  # (G,)
    best_gt_iou[best_prior] = 2.0  # forced matches survive the threshold
    best_gt[best_prior] = np.arange(len(gt_xyxy))
    labels = np.asarray(gt_labels, dtype=np.int64)[best_gt]
    labels[best_gt_iou < threshold] = 0
    loc = encode(np.asarray(gt_xyxy, dtype=np.float64)[best_gt], priors, variances)
    return loc, labels


def nms(
    boxes: np.ndarray, scores: np.ndarray, iou_threshold: float, top_k: int | None = None
) -> np.ndarray:
    """Greedy non-maximum suppression; indices of kept boxes, best first."""
    order = np.argsort(-scores, kind="stable")
    if top_k is not None:
        order = order[:top_k]
    keep: list[int] = []
    while order.size:
        i = int(order[0])
        keep.append(i)
        if order.size == 1:
            break
        overlaps = iou(boxes[i : i + 1], boxes[order[1:]])[0]
        order = order[1:][overlaps <= iou_threshold]
    return np.asarray(keep, dtype=np.int64)


def detection_output(
    loc: np.ndarray,
    scores: np.ndarray,
    priors: np.ndarray,
    variances: Sequence[float],
    *,
    conf_threshold: float = 0.01,
    nms_threshold: float = 0.45,
    top_k: int = 400,
    keep_top_k: int = 200,
) -> np.ndarray:
    """Caffe DetectionOutput semantics on a batch; rows (N, 7) as in :data:`DETECTION_COLUMNS`.

    ``loc`` (B, P, 4) regressions, ``scores`` (B, P, C+1) class probabilities with
    background at 0. Per image and class: threshold, keep ``top_k`` by score,
    NMS; then the best ``keep_top_k`` over all classes. Boxes are clipped to 0..1.
    """
    if loc.ndim != 3 or scores.ndim != 3 or loc.shape[:2] != scores.shape[:2]:
        raise ValueError(
            f"loc {loc.shape} and scores {scores.shape} must be (B, P, 4) and (B, P, C)"
        )
    boxes = np.clip(decode(loc.astype(np.float64), priors, variances), 0.0, 1.0)
    rows = []
    for b in range(loc.shape[0]):
        image_rows = []
        for cls in range(1, scores.shape[2]):
            cls_scores = scores[b, :, cls]
            candidates = np.flatnonzero(cls_scores > conf_threshold)
            if candidates.size == 0:
                continue
            kept = candidates[
                nms(boxes[b, candidates], cls_scores[candidates], nms_threshold, top_k)
            ]
            for i in kept:
                image_rows.append((b, cls, float(cls_scores[i]), *boxes[b, i]))
        image_rows.sort(key=lambda r: -r[2])
        rows.extend(image_rows[:keep_top_k])
    return np.asarray(rows, dtype=np.float32).reshape(-1, 7)
