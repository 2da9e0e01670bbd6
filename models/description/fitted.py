"""Binary codes for any image embedder: ITQ fitted on the user's own crops.

A user's embedder (a CLIP or DINOv2 vision tower, a ResNet's pool layer, lakesight's
``places_backbone``) gives float vectors, not codes. ``image_features.fit_codes`` embeds a
sample of a day's crops with it and fits PCA + ITQ (Gong & Lazebnik 2011;
:class:`lakesight.models.description.hashing.ITQ`) to them, then registers the pair as a
description model: the embedder's card (its file, ``layer``, ``pooling`` and ``input``,
as for a backbone) plus ``"hashing": "itq"`` and ``itq.npz`` (``mean``, ``pca``,
``rotation``).

Such a model describes like DeepBit does (:class:`Descriptor`): embeddings are the
embedder's L2-normalised vectors, and code bit ``i`` is ``((e - mean) @ pca @ rotation)_i > 0``,
so the analyze stage, the cache and the similarity search take it without knowing the
difference.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from lakesight.models.description.descriptor import Descriptor
from lakesight.models.description.hashing import ITQ

ITQ_FILE = "itq.npz"


def save_itq(itq: ITQ, path: Path) -> Path:
    np.savez(path, mean=itq.mean_.astype(np.float32), pca=itq.pca_.astype(np.float32),
             rotation=itq.rotation_.astype(np.float32))  # fmt: skip
    return path


def itq_descriptor(directory: Path, card: dict, *, threads: int) -> Descriptor:
    """The :class:`Descriptor` of a card with ``"hashing": "itq"``."""
    from lakesight.models.runtime import verified
    from lakesight.models.tagging.backbone import backbone_from_card, l2_normalised, pooled

    backbone = backbone_from_card(directory, card, threads=threads)
    fitted = np.load(verified(directory, card, card["files"]["itq"]))
    mean, projection = fitted["mean"], fitted["pca"] @ fitted["rotation"]

    def runner(batch: np.ndarray) -> list[np.ndarray]:
        features = pooled(backbone.run(batch)[0], backbone.pooling)
        return [features, (l2_normalised(features) - mean) @ projection]

    bits = projection.shape[1]
    return Descriptor(runner, backbone.spec, np.zeros(bits, np.float32),
                      name=f"{card['name']}@{card['version']}")  # fmt: skip
