"""Detection behind one small interface: ``detect(images) -> rows``, whatever the model or runtime.

Every runtime (ONNX Runtime by default, OpenCV DNN for Caffe/TF/ONNX graphs, torch
for the benchmark) returns the raw outputs of the model's head, which
:mod:`lakesight.models.detection.heads` decodes: lakesight's own SSD ``(loc, scores)``,
Caffe ``DetectionOutput`` rows, the YOLO families, torchvision's and RT-DETR's exports.
:class:`Detector` turns them all into the same rows
``[image_idx, label, score, x_min, y_min, x_max, y_max]``, boxes normalised to the
original image, labels 1-based (0 is the background).

How the pixels enter the network is the card's :class:`InputSpec`: a plain resize
(SSD, RT-DETR), Ultralytics' letterbox, or the image as it is (torchvision's exports
resize inside the graph).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from lakesight.models.detection import boxes, heads
from lakesight.models.detection.heads import Placement, Thresholds

RESIZES = ("stretch", "letterbox", "none")
INTERPOLATIONS = ("area", "linear")


@dataclass(frozen=True)
class InputSpec:
    """How a network wants its pixels: size, how the image is fitted, normalisation, channels."""

    size: int  # square input side (unless ``shape`` says otherwise)
    # (pixel - mean) * scale; mean may be per channel, in channel_order (VGG: 104, 117, 123 BGR)
    mean: float | tuple[float, float, float] = 127.5
    scale: float = 1 / 127.5
    channel_order: str = "RGB"  # "BGR" for Caffe models trained with OpenCV
    # (height, width) of a network whose input is not square (a backbone fed whole photos
    # at their aspect); None: size x size.
    shape: tuple[int, int] | None = None
    # "stretch": resized to the input, aspect not kept (SSD, RT-DETR); "letterbox": fitted
    # with its aspect and padded with ``pad_value`` (YOLO); "none": the image as it is
    # (torchvision's exports resize inside the graph).
    resize: str = "stretch"
    # OpenCV's resampling: "area" (lakesight's models were trained on it) or "linear"
    # (what Ultralytics and most frameworks use).
    interpolation: str = "area"
    pad_value: float = 114.0  # Ultralytics' grey
    batch: int | None = None  # the graph's fixed batch size (most exports: 1); None: any
    single_image: bool = False  # the graph takes one (3, H, W) image, no batch axis

    def __post_init__(self) -> None:
        if self.resize not in RESIZES:
            raise ValueError(
                f"input.resize: expected one of {', '.join(RESIZES)}, got {self.resize!r}"
            )
        if self.interpolation not in INTERPOLATIONS:
            raise ValueError(
                f"input.interpolation: expected one of {', '.join(INTERPOLATIONS)}, "
                f"got {self.interpolation!r}"
            )

    @property
    def height_width(self) -> tuple[int, int]:
        return self.shape or (self.size, self.size)

    @property
    def per_image(self) -> bool:
        """Whether images go through the graph one at a time."""
        return self.resize == "none" or self.single_image or self.batch == 1


def fit(image: np.ndarray, spec: InputSpec) -> tuple[np.ndarray, Placement]:
    """An RGB uint8 image (H, W, 3) → the network's pixels (still uint8) and where the image
    sits in them."""
    import cv2

    height, width = image.shape[:2]
    input_h, input_w = spec.height_width
    interpolation = cv2.INTER_AREA if spec.interpolation == "area" else cv2.INTER_LINEAR
    if spec.resize == "none":
        return image, Placement(width, height, 1.0, 1.0)
    if spec.resize == "stretch":
        placement = heads.stretch_placement(width, height, input_w, input_h)
        return cv2.resize(image, (input_w, input_h), interpolation=interpolation), placement
    placement = heads.letterbox_placement(width, height, input_w, input_h)
    new_w, new_h = round(width * placement.gain_x), round(height * placement.gain_y)
    if (new_w, new_h) != (width, height):
        image = cv2.resize(image, (new_w, new_h), interpolation=interpolation)
    left, top = int(placement.pad_x), int(placement.pad_y)
    return cv2.copyMakeBorder(
        image, top, input_h - new_h - top, left, input_w - new_w - left,
        cv2.BORDER_CONSTANT, value=(spec.pad_value,) * 3,
    ), placement  # fmt: skip


def prepare(images: Sequence[np.ndarray], spec: InputSpec) -> tuple[np.ndarray, list[Placement]]:
    """RGB uint8 images (H, W, 3) → a (B, 3, H', W') float32 batch and each image's placement.
    With ``resize="none"`` the images must share one size."""
    mean = np.asarray(spec.mean, dtype=np.float32)
    planes, placements = [], []
    for i, image in enumerate(images):
        if image.ndim != 3 or image.shape[2] != 3:
            raise ValueError(f"image {i}: expected (H, W, 3) RGB, got {image.shape}")
        pixels, placement = fit(image, spec)
        if spec.channel_order == "BGR":
            pixels = pixels[:, :, ::-1]
        planes.append(((pixels.astype(np.float32) - mean) * spec.scale).transpose(2, 0, 1))
        placements.append(placement)
    if not planes:
        return np.zeros((0, 3, *spec.height_width), np.float32), []
    return np.stack(planes), placements


def preprocess(images: Sequence[np.ndarray], spec: InputSpec) -> np.ndarray:
    """RGB uint8 images (H, W, 3) of any sizes → the (B, 3, H', W') float32 batch."""
    return prepare(images, spec)[0]


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


HEADS = ("ssd", "detection_output", "yolov5", "yolov8", "yolo_nms", "rtdetr", "torchvision",
         "rtdetr_official")  # fmt: skip


class Detector:
    """A loaded detector: call :meth:`detect` on batches of RGB images.

    ``runner(feed) -> outputs`` is the runtime: ``feed`` is the batch, or for a graph with
    more than one input a dict by input name (``input_names``); ``outputs`` come in the
    order the ``head`` (one of :data:`HEADS`, see :mod:`~lakesight.models.detection.heads`)
    expects them. ``post`` is lakesight's SSD decoding; ``thresholds`` every other head's.
    """

    def __init__(self, runner, spec: InputSpec, post: PostProcess | None, classes: Sequence[str],
                 name: str = "", *, head: str | None = None, thresholds: Thresholds | None = None,
                 input_names: Sequence[str] = ()) -> None:  # fmt: skip
        head = head or ("ssd" if post is not None else "detection_output")
        if head not in HEADS:
            raise ValueError(f"head: expected one of {', '.join(HEADS)}, got {head!r}")
        if head == "ssd" and post is None:
            raise ValueError("a (loc, scores) model needs post-processing settings")
        self.name = name  # name@version, for manifests
        self.runner = runner
        self.spec = spec
        self.post = post
        self.head = head
        self.thresholds = thresholds or Thresholds()
        self.classes = tuple(classes)
        self.input_names = tuple(input_names)
        self._priors = post.priors() if post is not None else None

    def detect(self, images: Sequence[np.ndarray]) -> np.ndarray:
        """Detections (N, 7) for ``images``; ``image_idx`` is the position in ``images``."""
        if len(images) == 0:
            return np.zeros((0, 7), np.float32)
        if self.spec.per_image and len(images) > 1:
            found = [self.detect([image]) for image in images]
            for index, rows in enumerate(found):
                rows[:, 0] = index
            return np.concatenate(found)
        batch, placements = prepare(images, self.spec)
        return self.decode(self.runner(self.feed(batch)), placements)

    def detect_tensor(self, batch: np.ndarray) -> np.ndarray:
        """Detections (N, 7) for an already preprocessed (B, 3, H, W) batch, boxes normalised
        to the network input."""
        height, width = batch.shape[-2:]
        placements = [Placement(width, height, 1.0, 1.0)] * len(batch)
        return self.decode(self.runner(self.feed(batch)), placements)

    def feed(self, batch: np.ndarray):
        """What the graph takes: the batch, without its axis for a one-image graph; for
        RT-DETR's official export also ``orig_target_sizes``, given as the input's own size
        so that its boxes stay in input pixels."""
        if self.spec.single_image:
            batch = batch[0]
        if self.head != "rtdetr_official":
            return batch
        height, width = batch.shape[-2:]
        sizes = np.tile(np.asarray([[width, height]], np.int64), (len(batch), 1))
        return dict(zip(self.input_names, (batch, sizes), strict=True))

    def decode(self, outputs: Sequence[np.ndarray], placements: Sequence[Placement]) -> np.ndarray:
        """The head's raw ``outputs`` → rows (N, 7), boxes normalised to each image."""
        if self.head == "detection_output":  # Caffe: already decoded and suppressed
            rows = np.asarray(outputs[0], dtype=np.float32).reshape(-1, 7)
            rows = rows[rows[:, 2] > 0]
            rows[:, 3:] = np.clip(rows[:, 3:], 0.0, 1.0)  # Caffe leaves boxes unclipped
            return rows
        if self.head == "ssd":  # normalised to the input, which the image fills
            p = self.post
            return boxes.detection_output(
                np.asarray(outputs[0]), np.asarray(outputs[1]), self._priors, p.variances,
                conf_threshold=p.conf_threshold, nms_threshold=p.nms_threshold,
                top_k=p.top_k, keep_top_k=p.keep_top_k,
            )  # fmt: skip
        per_image = self.decode_pixels(outputs)
        rows = [
            np.column_stack([np.full(len(r), i), r[:, :2], placement.to_image(r[:, 2:])])
            for i, (r, placement) in enumerate(zip(per_image, placements, strict=True))
        ]
        return np.concatenate(rows).astype(np.float32) if rows else np.zeros((0, 7), np.float32)

    def decode_pixels(self, outputs: Sequence[np.ndarray]) -> list[np.ndarray]:
        """Rows ``label, score, x1, y1, x2, y2`` per image, boxes in input pixels."""
        t = self.thresholds
        if self.head == "yolov8":
            return heads.decode_yolov8(outputs[0], t)
        if self.head == "yolov5":
            return heads.decode_yolov5(outputs[0], t)
        if self.head in ("yolo_nms", "rtdetr"):
            height, width = self.spec.height_width
            return heads.decode_end_to_end(
                outputs[0], t, normalised_cxcywh=self.head == "rtdetr", input_w=width,
                input_h=height,
            )  # fmt: skip
        if self.head == "torchvision":  # one image; labels already 1-based
            boxes_px, labels, scores = outputs
            return [heads.decode_labelled(boxes_px, labels, scores, t, label_offset=0)]
        labels, boxes_px, scores = outputs  # rtdetr_official: (B, K) labels from 0
        return [
            heads.decode_labelled(b, lab, s, t, label_offset=1)
            for lab, b, s in zip(labels, boxes_px, scores, strict=True)
        ]

    def label_name(self, label: int) -> str:
        return (
            self.classes[int(label) - 1]
            if 1 <= int(label) <= len(self.classes)
            else f"class_{int(label)}"
        )
