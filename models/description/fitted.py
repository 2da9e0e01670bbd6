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
    """An ``.npz`` (``mean``, ``pca``, ``rotation``) whose bytes depend on the fit alone (no
    timestamps), so refitting the same crops gives the same sha256."""
    import io
    import zipfile

    arrays = {"mean": itq.mean_, "pca": itq.pca_, "rotation": itq.rotation_}
    with zipfile.ZipFile(path, "w") as archive:
        for key, array in arrays.items():
            data = io.BytesIO()
            np.save(data, np.asarray(array, np.float32))
            archive.writestr(zipfile.ZipInfo(f"{key}.npy", date_time=(1980, 1, 1, 0, 0, 0)),
                             data.getvalue())  # fmt: skip
    return path


def itq_descriptor(directory: Path, card: dict, *, threads: int) -> Descriptor:
    """The :class:`Descriptor` of a card with ``"hashing": "itq"``."""
    from lakesight.models.runtime import verified
    from lakesight.models.tagging.backbone import backbone_from_card, l2_normalised

    backbone = backbone_from_card(directory, card, threads=threads)
    fitted = np.load(verified(directory, card, card["files"]["itq"]))
    mean, projection = fitted["mean"], fitted["pca"] @ fitted["rotation"]

    def runner(batch: np.ndarray) -> list[np.ndarray]:
        features = backbone.features(batch)
        return [features, (l2_normalised(features) - mean) @ projection]

    bits = projection.shape[1]
    return Descriptor(runner, backbone.spec, np.zeros(bits, np.float32),
                      name=f"{card['name']}@{card['version']}")  # fmt: skip
