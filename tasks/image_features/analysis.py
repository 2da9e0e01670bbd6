"""Detect → crop → describe on a batch of images: the pure analysis of image_features.

No Spark here: the analyze stage maps these functions over Arrow batches, and
the benchmark's bare loop and ``lakesight similar`` call them directly, so all
run the very same code.

- :func:`detection_structs` turns the detector's ``DetectionOutput`` rows into
  the contract's detection structs, best first;
- :func:`choose_crop` picks the highest-scoring detection, pads it and enforces
  a minimum size; with no detection above the threshold the whole image is
  described and ``top`` is None (the consumer contract's "the row says so").
- :func:`analyze` runs the detector once on the batch, crops, and runs the
  descriptor once on the crops.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class CropPolicy:
    """How the best object becomes the crop that is described."""

    min_score: float = 0.3  # detections below this are kept in `detections` but never cropped
    padding: float = 0.1  # context added on each side, as a fraction of the box's width/height
    min_side: int = 32  # pixels; smaller crops grow around their centre (within the image)


def detection_structs(rows: np.ndarray, classes: Sequence[str]) -> list[dict]:
    """DetectionOutput rows of one image → the contract's detection structs, best first."""
    order = np.argsort(-rows[:, 2], kind="stable")
    out = []
    for row in rows[order]:
        label = int(row[1])
        out.append(
            {
                "label": classes[label - 1] if 1 <= label <= len(classes) else f"class_{label}",
                "score": float(row[2]),
                "x_min": float(np.clip(row[3], 0, 1)),
                "y_min": float(np.clip(row[4], 0, 1)),
                "x_max": float(np.clip(row[5], 0, 1)),
                "y_max": float(np.clip(row[6], 0, 1)),
            }
        )
    return out


def choose_crop(
    detections: list[dict], width: int, height: int, policy: CropPolicy = CropPolicy()
) -> tuple[tuple[int, int, int, int], dict | None]:
    """Pixel box ``(x0, y0, x1, y1)`` to describe, and the chosen detection (None: whole image)."""
    best = next((d for d in detections if d["score"] >= policy.min_score), None)
    if best is None:
        return (0, 0, width, height), None
    x0, x1 = best["x_min"] * width, best["x_max"] * width
    y0, y1 = best["y_min"] * height, best["y_max"] * height
    pad_x, pad_y = (x1 - x0) * policy.padding, (y1 - y0) * policy.padding
    x0, x1, y0, y1 = x0 - pad_x, x1 + pad_x, y0 - pad_y, y1 + pad_y
    x0, x1 = _grow(x0, x1, min(policy.min_side, width), width)
    y0, y1 = _grow(y0, y1, min(policy.min_side, height), height)
    return (round(x0), round(y0), round(x1), round(y1)), best


def _grow(lo: float, hi: float, minimum: int, limit: int) -> tuple[float, float]:
    """Widen [lo, hi] to at least ``minimum`` around its centre, then shift it inside [0, limit]."""
    if hi - lo < minimum:
        centre = (lo + hi) / 2
        lo, hi = centre - minimum / 2, centre + minimum / 2
    if lo < 0:
        lo, hi = 0.0, hi - lo
    if hi > limit:
        lo, hi = max(0.0, lo - (hi - limit)), float(limit)
    return lo, hi


def analyze(
    images: Sequence[np.ndarray], detector, descriptor, policy: CropPolicy = CropPolicy()
) -> list[dict]:
    """Per image: ``detections``, ``top``, ``crop_box``, ``code`` (packed bytes) and ``embedding``."""
    rows = detector.detect(images)
    results, crops = [], []
    for i, image in enumerate(images):
        height, width = image.shape[:2]
        detections = detection_structs(rows[rows[:, 0] == i], detector.classes)
        (x0, y0, x1, y1), top = choose_crop(detections, width, height, policy)
        crops.append(image[y0:y1, x0:x1])
        results.append({"detections": detections, "top": top, "crop_box": [x0, y0, x1, y1]})
    codes, embeddings = descriptor.describe(crops)
    for result, code, embedding in zip(results, codes, embeddings, strict=True):
        result["code"] = code.tobytes()
        result["code_bits"] = descriptor.bits
        result["embedding"] = embedding.astype(np.float32)
    return results
