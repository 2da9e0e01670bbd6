"""SSD inference behind one small interface: ``detect(images) -> rows``, whatever the runtime.

Every runtime (ONNX Runtime by default, OpenCV DNN for Caffe/TF/ONNX graphs,
torch for the benchmark) produces either the raw ``(loc, scores)`` pair of
:mod:`lakesight.models.detection.ssd` or, for public Caffe deploy files, finished
``DetectionOutput`` rows. :class:`SSDDetector` turns both into the same rows
``[image_idx, label, score, x_min, y_min, x_max, y_max]`` (normalised), with the
box maths of :mod:`lakesight.models.detection.boxes`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from lakesight.models.detection import boxes


@dataclass(frozen=True)
class InputSpec:
    """How a detector wants its pixels: square side, normalisation and channel order."""

    size: int  # square input side; images are resized to size x size (aspect not kept, as in SSD)
    # (pixel - mean) * scale; mean may be per channel, in channel_order (VGG: 104, 117, 123 BGR)
    mean: float | tuple[float, float, float] = 127.5
    scale: float = 1 / 127.5
    channel_order: str = "RGB"  # "BGR" for Caffe models trained with OpenCV
    # (height, width) of a network whose input is not square (a backbone fed whole photos
    # at their aspect); None: size x size.
    shape: tuple[int, int] | None = None

    @property
    def height_width(self) -> tuple[int, int]:
        return self.shape or (self.size, self.size)


def preprocess(images: Sequence[np.ndarray], spec: InputSpec) -> np.ndarray:
    """RGB uint8 images (H, W, 3) of any sizes → (B, 3, S, S) float32 batch (or the spec's shape)."""
    import cv2

    height, width = spec.height_width
    batch = np.empty((len(images), 3, height, width), dtype=np.float32)
    mean = np.asarray(spec.mean, dtype=np.float32)
    for i, image in enumerate(images):
        if image.ndim != 3 or image.shape[2] != 3:
            raise ValueError(f"image {i}: expected (H, W, 3) RGB, got {image.shape}")
        resized = cv2.resize(image, (width, height), interpolation=cv2.INTER_AREA)
        if spec.channel_order == "BGR":
            resized = resized[:, :, ::-1]
        batch[i] = ((resized.astype(np.float32) - mean) * spec.scale).transpose(2, 0, 1)
    return batch


@dataclass(frozen=True)
class PostProcess:
    """Box decoding and NMS settings (Caffe DetectionOutput's parameters)."""

    feature_sizes: tuple[int, ...]
    aspect_ratios: tuple[tuple[float, ...], ...]
    min_scale: float
    max_scale: float
    variances: tuple[float, float]
    conf_threshold: float = 0.01  # VOC evaluation keeps low scores; consumers filter further
    nms_threshold: float = 0.45
    top_k: int = 400
    keep_top_k: int = 100

    def priors(self) -> np.ndarray:
        return boxes.prior_boxes(
            self.feature_sizes, self.aspect_ratios, self.min_scale, self.max_scale
        )


class SSDDetector:
    """A loaded SSD: call :meth:`detect` on batches of RGB images.

    ``runner(batch) -> outputs`` is the runtime: either ``(loc, scores)`` arrays,
    or one ``(1, 1, N, 7)`` DetectionOutput array (Caffe deploy nets).
    """

    def __init__(
        self,
        runner,
        spec: InputSpec,
        post: PostProcess | None,
        classes: Sequence[str],
        name: str = "",
    ) -> None:
        self.name = name  # name@version, for manifests
        self.runner = runner
        self.spec = spec
        self.post = post
        self.classes = tuple(classes)
        self._priors = post.priors() if post is not None else None

    def detect(self, images: Sequence[np.ndarray]) -> np.ndarray:
        """Detections (N, 7) for ``images``; ``image_idx`` is the position in ``images``."""
        if len(images) == 0:
            return np.zeros((0, 7), np.float32)
        return self.detect_tensor(preprocess(images, self.spec))

    def detect_tensor(self, batch: np.ndarray) -> np.ndarray:
        """Detections (N, 7) for an already preprocessed (B, 3, S, S) batch."""
        outputs = self.runner(batch)
        if len(outputs) == 1:  # a DetectionOutput layer already decoded and suppressed
            rows = np.asarray(outputs[0], dtype=np.float32).reshape(-1, 7)
            rows = rows[rows[:, 2] > 0]
            rows[:, 3:] = np.clip(
                rows[:, 3:], 0.0, 1.0
            )  # Caffe leaves boxes unclipped; numpy clips
            return rows
        if self.post is None:
            raise ValueError("a (loc, scores) model needs post-processing settings")
        loc, scores = outputs
        p = self.post
        return boxes.detection_output(
            np.asarray(loc),
            np.asarray(scores),
            self._priors,
            p.variances,
            conf_threshold=p.conf_threshold,
            nms_threshold=p.nms_threshold,
            top_k=p.top_k,
            keep_top_k=p.keep_top_k,
        )

    def label_name(self, label: int) -> str:
        return (
            self.classes[int(label) - 1]
            if 1 <= int(label) <= len(self.classes)
            else f"class_{int(label)}"
        )
