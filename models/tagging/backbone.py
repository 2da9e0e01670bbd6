"""A frozen image backbone cut at a pooling layer: the features the house taggers learn from.

MLSListings took CNNs pretrained on Places (GoogLeNet cut at ``pool5/drop_7x7_s1``,
VGG-16 at ``pool5``) and trained new heads on what those layers say about a photo.
Which network is only configuration: a backbone's card names its format (``onnx``
or ``caffe``), its files, the layer to cut at, and how to prepare a photo for it
(input size, channel order, mean, scale: :func:`input_spec`). The shipped ``places_backbone`` is
lakesight's own stand-in for Places: a small CNN trained on generated scenes of
place categories (:mod:`.places`), never on the house tags.

A cut layer's output may be a vector (N, C) or a map (N, C, H, W). The card's
``pooling`` says what becomes of a map: ``average`` (the default) pools it over
space, as GoogLeNet's own pool5 does; ``flatten`` keeps every cell, as MLSListings
used VGG-16's pool5 for visual features. The embedding is
L2-normalised, so a dot product is the cosine the similarity search ranks by.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from lakesight.config import ConfigError
from lakesight.models.detection.detector import InputSpec, preprocess

DEFAULT_BACKBONE = "places_backbone"
FORMATS = ("onnx", "caffe")
POOLINGS = ("average", "flatten")


def input_spec(spec: dict) -> InputSpec:
    """A card's ``input``: ``height`` and ``width`` (or a square ``size``), ``mean`` (one value
    or one per channel, in ``channel_order``), ``scale``, ``channel_order`` (RGB or BGR)."""
    try:
        order = str(spec.get("channel_order", "RGB")).upper()
        if order not in ("RGB", "BGR"):
            raise ValueError(f"channel_order {order!r}")
        mean = spec.get("mean", 0.0)
        mean = float(mean) if isinstance(mean, int | float) else tuple(float(m) for m in mean)
        if "size" in spec:
            height = width = int(spec["size"])
        else:
            height, width = int(spec["height"]), int(spec["width"])
        return InputSpec(width, mean, float(spec["scale"]), order, (height, width))
    except (KeyError, TypeError, ValueError) as err:
        raise ConfigError(f"backbone card: bad input {spec!r} ({err})") from None


@dataclass
class Backbone:
    """A loaded backbone: ``embed`` maps RGB photos to L2-normalised feature vectors."""

    name: str  # name@version
    layer: str
    spec: InputSpec
    run: Callable[[np.ndarray], list[np.ndarray]]  # NCHW batch -> [cut layer output]
    pooling: str = "average"  # what becomes of a spatial map: "average" or "flatten"
    batch_size: int = 32
    fixed_batch: bool = False  # the graph takes exactly batch_size images (an export's fixed N)

    def embed(self, images: Sequence[np.ndarray]) -> np.ndarray:
        """(N, D) float32, each row of unit length (a blank response stays zero)."""
        if len(images) == 0:
            return np.zeros((0, 0), np.float32)
        step = self.batch_size  # preprocess a chunk at a time: pixels as float32 are large
        return l2_normalised(np.concatenate([
            self.features(preprocess(images[i : i + step], self.spec))
            for i in range(0, len(images), step)
        ]))  # fmt: skip

    def features(self, batch: np.ndarray) -> np.ndarray:
        """Pooled features (N, D) of a preprocessed batch, run ``batch_size`` at a time (a
        fixed-size graph gets its last chunk padded with copies, then trimmed)."""
        parts = []
        for start in range(0, len(batch), self.batch_size):
            chunk = batch[start : start + self.batch_size]
            short = self.batch_size - len(chunk) if self.fixed_batch else 0
            padded = (
                np.concatenate([chunk, np.repeat(chunk[-1:], short, axis=0)]) if short else chunk
            )
            parts.append(pooled(self.run(padded)[0], self.pooling)[: len(chunk)])
        return np.concatenate(parts)


def pooled(output: np.ndarray, pooling: str = "average") -> np.ndarray:
    """A cut layer's output as (N, D): a spatial map averaged over space (global average
    pooling) or flattened cell by cell; a vector as it is."""
    output = np.asarray(output, np.float32)
    if output.ndim == 4 and pooling == "average":
        return output.mean(axis=(2, 3))
    return output.reshape(len(output), -1)


def l2_normalised(vectors: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    return (vectors / np.maximum(norms, 1e-12)).astype(np.float32)


def backbone_from_card(directory: Path, card: dict, *, threads: int = 1) -> Backbone:
    """The backbone a registry card describes (its files are checked against their sha256)."""
    from lakesight.models.runtime import opencv_runner, ort_runner, verified

    fmt = card.get("format")
    if fmt not in FORMATS:
        raise ConfigError(f"backbone card {directory}: format {fmt!r} is not one of {FORMATS}")
    layer = card.get("layer")
    if not layer:
        raise ConfigError(f"backbone card {directory}: no 'layer' to cut the network at")
    spec = input_spec(card.get("input", {}))
    pooling = card.get("pooling", "average")
    if pooling not in POOLINGS:
        raise ConfigError(
            f"backbone card {directory}: pooling {pooling!r} is not one of {POOLINGS}"
        )
    files = card.get("files", {})
    if fmt == "onnx":
        run = ort_runner(verified(directory, card, files["fp32"]), threads, output_names=[layer])
    else:
        paths = [verified(directory, card, files[key]) for key in ("prototxt", "weights")]
        run = opencv_runner(paths, threads, output_names=[layer])
    fixed = card.get("batch")
    return Backbone(f"{card['name']}@{card['version']}", layer, spec, run, pooling,
                    batch_size=fixed or 32, fixed_batch=bool(fixed))  # fmt: skip


@functools.cache
def load_backbone(
    ref: str = DEFAULT_BACKBONE, registry: str | None = None, threads: int | None = None
) -> Backbone:
    """Load a registry backbone once per process (a Spark Python worker reuses it)."""
    from lakesight.models.runtime import load_card, resolve, task_threads

    _, directory = resolve(ref, registry)
    return backbone_from_card(directory, load_card(directory), threads=threads or task_threads())
