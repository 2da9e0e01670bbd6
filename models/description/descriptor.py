"""DeepBit inference: ``describe(crops) -> (codes, embeddings)``, whatever the runtime.

A registered descriptor (card ``"task": "description"``) maps RGB crops to

- ``codes``: (N, K/8) uint8, K bits packed with ``numpy.packbits``: the
  ``bits<K>`` activations thresholded at the card's per-bit means;
- ``embeddings``: (N, D) float32, L2-normalised backbone features (for
  re-ranking Hamming ties by cosine).

The official DeepBit Caffe files (VGG16 + ``fc8_kevin``) register the same
way with ``"format": "caffe"``, ``"outputs": ["fc7", "fc8_kevin"]`` and their
thresholds, and run on OpenCV DNN.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from lakesight.models.detection.detector import InputSpec, preprocess


class Descriptor:
    """A loaded descriptor; ``runner(batch)`` returns ``[embedding-like, bits-like]`` arrays."""

    def __init__(self, runner, spec: InputSpec, thresholds: np.ndarray, name: str = "") -> None:
        self.runner = runner
        self.spec = spec
        self.thresholds = np.asarray(thresholds, dtype=np.float32)
        self.bits = len(self.thresholds)
        self.name = name

    def describe(
        self, crops: Sequence[np.ndarray], batch: int = 256
    ) -> tuple[np.ndarray, np.ndarray]:
        """(codes (N, K/8) uint8, embeddings (N, D) float32) for RGB crops of any size."""
        if len(crops) == 0:
            return np.zeros((0, self.bits // 8), np.uint8), np.zeros((0, 0), np.float32)
        if len(crops) > batch:  # bound the memory of one runtime call
            parts = [
                self.describe(crops[i : i + batch], batch) for i in range(0, len(crops), batch)
            ]
            return np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts])
        features, activations = self.runner(preprocess(crops, self.spec))
        features = np.asarray(features, dtype=np.float32).reshape(len(crops), -1)
        norms = np.linalg.norm(features, axis=1, keepdims=True)
        embeddings = features / np.maximum(norms, 1e-12)
        activations = np.asarray(activations).reshape(len(crops), -1)
        codes = np.packbits(activations > self.thresholds, axis=1)
        return codes, embeddings.astype(np.float32)
