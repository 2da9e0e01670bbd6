"""The detection heads lakesight decodes: every exported detector's raw outputs → one row format.

A detector's graph ends in one of a handful of head formats. Each decoder here turns
one batch of raw outputs into, per image, ``(label, score, x_min, y_min, x_max, y_max)``
rows with boxes in the *network input's* pixels; :class:`Placement` then maps them back
onto the original image (undoing a letterbox or a stretch), so that every detector gives
the rows :class:`lakesight.models.detection.detector.Detector` promises.

Each decoder follows its framework's own post-processing, so that lakesight's
detections equal the framework's answer on the same file (tests compare them):

============================ ============================================ =====================
head                         raw outputs (B = batch, C = classes)          post-processing
============================ ============================================ =====================
``ssd``                      ``loc`` (B, P, 4), ``scores`` (B, P, C+1)     lakesight's SSD priors
``detection_output``         (1, 1, N, 7) Caffe ``DetectionOutput``        already decoded
``yolov5``                   (B, N, 5+C): cx, cy, w, h, objectness, C      YOLOv5's NMS
``yolov8``                   (B, 4+C, N): cx, cy, w, h, C (v8, 11, 12)     Ultralytics' NMS
``yolo_nms``                 (B, K, 6): x1, y1, x2, y2, score, class       confidence only
``rtdetr``                   (B, K, 6): cx, cy, w, h (0..1), score, class  confidence only
``torchvision``              boxes (N, 4), labels (N,), scores (N,)        done in the graph
``rtdetr_official``          labels (B, K), boxes (B, K, 4), scores (B, K) confidence only
============================ ============================================ =====================

``yolov8`` is also what YOLO11, YOLO12 and YOLOv5u/v8-style exports emit; ``yolo_nms`` is
Ultralytics' ``nms=True`` export and the end-to-end heads (YOLOv10, YOLO26).
Labels are 1-based everywhere (0 is the background), as lakesight's SSD counts them.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from lakesight.models.detection.boxes import nms, to_xyxy

# Offset between classes so that one NMS pass suppresses within each class only
# (Ultralytics' max_wh; any offset larger than the input works).
CLASS_OFFSET_PX = 7680.0
# Ultralytics hands NMS at most this many candidates per image.
MAX_NMS_CANDIDATES = 30000


@dataclass(frozen=True)
class Thresholds:
    """What a detection must pass: score above ``conf``, NMS at ``iou``, at most ``max_det``
    per image (Ultralytics' predictor defaults)."""

    conf: float = 0.25
    iou: float = 0.7
    max_det: int = 300


@dataclass(frozen=True)
class Placement:
    """Where an image of ``width`` x ``height`` sits in the network input: scaled by
    (``gain_x``, ``gain_y``), then shifted by (``pad_x``, ``pad_y``) px."""

    width: int
    height: int
    gain_x: float
    gain_y: float
    pad_x: float = 0.0
    pad_y: float = 0.0

    def to_image(self, boxes_px: np.ndarray) -> np.ndarray:
        """Boxes (N, 4) xyxy in input pixels → normalised xyxy on the image, clipped to it."""
        boxes = np.asarray(boxes_px, dtype=np.float64).reshape(-1, 4).copy()
        boxes[:, 0::2] = np.clip((boxes[:, 0::2] - self.pad_x) / self.gain_x, 0, self.width)
        boxes[:, 1::2] = np.clip((boxes[:, 1::2] - self.pad_y) / self.gain_y, 0, self.height)
        return boxes / [self.width, self.height, self.width, self.height]


def letterbox_placement(width: int, height: int, input_w: int, input_h: int) -> Placement:
    """Ultralytics' letterbox: scale to fit keeping the aspect, each side rounded, centred
    with the odd pixel of padding below and to the right (``round(d - 0.1)``)."""
    gain = min(input_w / width, input_h / height)
    new_w, new_h = max(round(width * gain), 1), max(round(height * gain), 1)
    pad_x = round((input_w - new_w) / 2 - 0.1)
    pad_y = round((input_h - new_h) / 2 - 0.1)
    return Placement(width, height, new_w / width, new_h / height, pad_x, pad_y)


def stretch_placement(width: int, height: int, input_w: int, input_h: int) -> Placement:
    """A plain resize to the input's size (SSD, RT-DETR): each axis scaled on its own."""
    return Placement(width, height, input_w / width, input_h / height)


def _rows(labels: np.ndarray, scores: np.ndarray, boxes_px: np.ndarray) -> np.ndarray:
    """(N, 6) float64 rows ``label, score, x1, y1, x2, y2`` (input pixels)."""
    return np.column_stack(
        [np.asarray(labels, np.float64), np.asarray(scores, np.float64),
         np.asarray(boxes_px, np.float64).reshape(-1, 4)]
    )  # fmt: skip


def class_nms(boxes: np.ndarray, scores: np.ndarray, classes: np.ndarray, t: Thresholds):
    """Indices kept by per-class NMS, best first, at most ``t.max_det`` (Ultralytics' way:
    one pass over boxes shifted apart by class)."""
    order = np.argsort(-scores, kind="stable")[:MAX_NMS_CANDIDATES]
    shifted = boxes[order] + (classes[order] * CLASS_OFFSET_PX)[:, None]
    return order[nms(shifted, scores[order], t.iou)][: t.max_det]


def best_class_rows(cxcywh: np.ndarray, class_scores: np.ndarray, t: Thresholds) -> np.ndarray:
    """Candidate boxes (centre/size, input px) with per-class scores → rows of each box's
    best class above ``conf``, after per-class NMS (Ultralytics' ``multi_label=False``)."""
    if len(cxcywh) == 0:
        return np.zeros((0, 6))
    best = class_scores.argmax(axis=1)
    score = class_scores[np.arange(len(best)), best]
    keep = score > t.conf
    boxes, score, best = to_xyxy(cxcywh[keep]), score[keep], best[keep]
    kept = class_nms(boxes, score, best, t)
    return _rows(best[kept] + 1, score[kept], boxes[kept])


def decode_yolov8(raw: np.ndarray, t: Thresholds) -> list[np.ndarray]:
    """(B, 4+C, N) → rows per image: class scores without objectness."""
    return [
        best_class_rows(pred.T[:, :4], pred.T[:, 4:], t) for pred in np.asarray(raw, np.float32)
    ]


def decode_yolov5(raw: np.ndarray, t: Thresholds) -> list[np.ndarray]:
    """(B, N, 5+C) → rows per image: YOLOv5's NMS (objectness above ``conf``, then the
    best of objectness x class score above ``conf``)."""
    out = []
    for pred in np.asarray(raw, np.float32):
        pred = pred[pred[:, 4] > t.conf]
        out.append(best_class_rows(pred[:, :4], pred[:, 5:] * pred[:, 4:5], t))
    return out


def decode_end_to_end(raw: np.ndarray, t: Thresholds, *, normalised_cxcywh: bool,
                      input_w: int, input_h: int) -> list[np.ndarray]:  # fmt: skip
    """(B, K, 6) with NMS (or none needed) inside the graph → rows above ``conf``, in the
    graph's order, at most ``max_det``. RT-DETR's boxes are centre/size in 0..1; its
    exports before Ultralytics 8.4 give one score per class, (B, K, 4+C), whose best class
    is taken here (a two-class one is (B, K, 6) too: re-export it with 8.4 or later)."""
    raw = np.asarray(raw, np.float32)
    if normalised_cxcywh and raw.shape[-1] != 6:
        scores = raw[..., 4:]
        best = scores.argmax(axis=-1)[..., None]
        raw = np.concatenate([raw[..., :4], np.take_along_axis(scores, best, -1), best], -1)
        raw = np.stack([p[np.argsort(-p[:, 4], kind="stable")] for p in raw])
    out = []
    for pred in raw:
        pred = pred[pred[:, 4] > t.conf][: t.max_det]
        boxes = pred[:, :4].astype(np.float64)
        if normalised_cxcywh:
            boxes = to_xyxy(boxes) * [input_w, input_h, input_w, input_h]
        out.append(_rows(pred[:, 5].astype(np.int64) + 1, pred[:, 4], boxes))
    return out


def decode_labelled(boxes: np.ndarray, labels: np.ndarray, scores: np.ndarray, t: Thresholds,
                    *, label_offset: int) -> np.ndarray:  # fmt: skip
    """One image's ``boxes`` (N, 4) xyxy px, ``labels`` and ``scores`` (torchvision, official
    RT-DETR) → rows above ``conf``, best first. ``label_offset`` makes labels 1-based."""
    boxes = np.asarray(boxes, np.float64).reshape(-1, 4)
    labels = np.asarray(labels).reshape(-1).astype(np.int64) + label_offset
    scores = np.asarray(scores, np.float64).reshape(-1)
    keep = np.flatnonzero(scores > t.conf)
    keep = keep[np.argsort(-scores[keep], kind="stable")][: t.max_det]
    return _rows(labels[keep], scores[keep], boxes[keep])
