"""``lakesight eval near-duplicates``: does a code find the original of an edited real photo?

A catalogue's near-duplicates are its own photos after the edits photos go through:
cropped, rescaled, re-encoded as JPEG at quality 30-90, colour-shifted, turned a few
degrees, mirrored, watermarked. The photos here are real ones that ship inside
packages (scikit-image's ``data``, scikit-learn's sample images, matplotlib's sample
data): no generator of ours made them, and no lakesight model was trained on them.

Protocol: each photo is edited :data:`EDITS` ways (two random draws of each); every
edited copy queries a database of the originals plus distractors (the other photos and
generated scenes on photo backgrounds). Exactly one database item is relevant (its
original), so a query's average precision is ``1 / rank`` and ``recall@1`` is the share
found first. Ties in Hamming distance count at their mean rank: no method gains from
the database's order.

Methods, all in the same run:

- ``deepbit``: the shipped descriptor's codes, ranked by Hamming distance, ties broken by
  the embeddings' cosine (what ``lakesight similar`` and the service do);
- ``itq_deepbit`` and ``itq_places``: PCA + ITQ codes of the same length
  (:class:`lakesight.models.description.hashing.ITQ`), fitted on the database's
  embeddings by each shipped backbone: DeepBit's own, and house_similarity's
  ``places_backbone`` (what ``image_features.fit_codes`` does on a day's crops);
- ``phash``, ``dhash``, ``whash``: the perceptual hashes of ``imagehash`` (64 bits), the
  peer a catalogue would otherwise use.
"""

from __future__ import annotations

import contextlib
import io
import warnings

import numpy as np

from lakesight.config import ConfigError

EDITS = ("crop", "rescale", "jpeg", "colour", "rotate", "flip", "watermark", "combined")
DRAWS = 2  # random draws of each edit per photo
DISTRACTOR_SCENES = 300
HASHES = ("phash", "dhash", "whash")


def real_photos() -> dict[str, np.ndarray]:
    """RGB uint8 photos shipped inside installed packages, by ``package:name``. Photos whose
    loader needs a download (scikit-image fetches some through pooch) are left out."""
    from pathlib import Path

    from PIL import Image

    photos: dict[str, np.ndarray] = {}
    try:
        from skimage import data

        for name in ("astronaut", "coffee", "chelsea", "rocket", "camera", "moon",
                     "immunohistochemistry", "hubble_deep_field", "retina", "brick", "grass",
                     "gravel"):  # fmt: skip
            try:
                photos[f"skimage:{name}"] = getattr(data, name)()
            except Exception:  # a loader that would download: not at hand here
                continue
        with contextlib.suppress(Exception):  # as above: a loader that would download
            photos["skimage:motorcycle"] = data.stereo_motorcycle()[0]
    except ImportError:
        pass
    try:
        from sklearn.datasets import load_sample_images

        sample = load_sample_images()
        for path, image in zip(sample.filenames, sample.images, strict=True):
            photos[f"sklearn:{Path(path).stem}"] = image
    except ImportError:
        pass
    try:
        import matplotlib

        folder = Path(matplotlib.get_data_path()) / "sample_data"
        for name in ("grace_hopper.jpg", "Minduka_Present_Blue_Pack.png"):
            photos[f"matplotlib:{Path(name).stem}"] = np.asarray(Image.open(folder / name))
    except (ImportError, OSError):
        pass
    return {name: as_rgb(image) for name, image in photos.items()}


def as_rgb(image: np.ndarray) -> np.ndarray:
    image = np.asarray(image)
    if image.dtype != np.uint8:
        image = (255 * (image.astype(np.float64) / max(float(image.max()), 1e-12))).astype(np.uint8)
    if image.ndim == 2:
        image = np.stack([image] * 3, axis=-1)
    return np.ascontiguousarray(image[..., :3])


def edited(image: np.ndarray, edit: str, rng: np.random.Generator) -> np.ndarray:
    """``image`` after one catalogue edit, drawn from ``rng``."""
    import cv2
    from PIL import Image

    height, width = image.shape[:2]
    if edit == "crop":  # keep 70-90 % of each side
        keep_h, keep_w = (int(s * rng.uniform(0.7, 0.9)) for s in (height, width))
        y0, x0 = rng.integers(0, height - keep_h + 1), rng.integers(0, width - keep_w + 1)
        return image[y0 : y0 + keep_h, x0 : x0 + keep_w].copy()
    if edit == "rescale":
        factor = rng.choice([rng.uniform(0.35, 0.8), rng.uniform(1.2, 1.6)])
        size = (max(int(width * factor), 16), max(int(height * factor), 16))
        return cv2.resize(
            image, size, interpolation=cv2.INTER_AREA if factor < 1 else cv2.INTER_LINEAR
        )
    if edit == "jpeg":
        buffer = io.BytesIO()
        Image.fromarray(image).save(buffer, "JPEG", quality=int(rng.integers(30, 91)))
        return np.asarray(Image.open(io.BytesIO(buffer.getvalue())).convert("RGB"))
    if edit == "colour":  # brightness, contrast and saturation, each within 25 %
        x = image.astype(np.float32)
        grey = x.mean(axis=2, keepdims=True)
        x = grey + (x - grey) * rng.uniform(0.75, 1.25)  # saturation
        x = x.mean() + (x - x.mean()) * rng.uniform(0.75, 1.25)  # contrast
        return np.clip(x * rng.uniform(0.75, 1.25), 0, 255).astype(np.uint8)
    if edit == "rotate":
        angle = rng.uniform(3, 10) * rng.choice([-1, 1])
        matrix = cv2.getRotationMatrix2D((width / 2, height / 2), angle, 1.0)
        return cv2.warpAffine(image, matrix, (width, height), borderMode=cv2.BORDER_REFLECT)
    if edit == "flip":
        return image[:, ::-1].copy()
    if edit == "watermark":
        out = image.copy()
        scale = max(width, height) / 400
        y = int(height * rng.uniform(0.3, 0.9))
        overlay = out.copy()
        cv2.putText(overlay, "(c) lakesight listing", (int(width * 0.05), y), cv2.FONT_HERSHEY_SIMPLEX,
                    scale, (255, 255, 255), max(int(2 * scale), 1), cv2.LINE_AA)  # fmt: skip
        return cv2.addWeighted(overlay, 0.6, out, 0.4, 0)
    if edit == "combined":  # what a re-upload does: crop, recolour, re-encode
        for step in ("crop", "colour", "jpeg"):
            image = edited(image, step, rng)
        return image
    raise ValueError(f"unknown edit {edit!r}")


def perceptual_hashes(images: list[np.ndarray], method: str) -> np.ndarray:
    """imagehash's 64-bit hashes, packed like lakesight's codes: (N, 8) uint8."""
    try:
        import imagehash
    except ImportError:
        raise ConfigError(
            "near-duplicates: the peer needs imagehash: pip install 'lakesight[peers]'"
        ) from None
    from PIL import Image

    function = {"phash": imagehash.phash, "dhash": imagehash.dhash, "whash": imagehash.whash}[
        method
    ]
    bits = [function(Image.fromarray(image)).hash.reshape(-1) for image in images]
    return np.packbits(np.asarray(bits, dtype=bool), axis=1)


def reciprocal_ranks(query_codes, db_codes, relevant: np.ndarray,
                     query_embeddings=None, db_embeddings=None) -> np.ndarray:  # fmt: skip
    """``1 / rank`` of each query's relevant item; ties count at their mean rank. With
    embeddings, Hamming ties are broken by cosine (higher first)."""
    from lakesight.models.description.hashing import hamming

    distance = hamming(query_codes, db_codes).astype(np.float64)
    if query_embeddings is not None:  # cosine in [-1, 1]: a fraction of one bit
        distance -= 0.5 * (query_embeddings @ db_embeddings.T)
    mine = distance[np.arange(len(relevant)), relevant][:, None]
    closer = (distance < mine).sum(axis=1)
    tied = (distance == mine).sum(axis=1) - 1
    return 1.0 / (1.0 + closer + tied / 2.0)


def evaluate(descriptor_ref: str | None = None, *, seed: int = 0,
             distractors: int = DISTRACTOR_SCENES) -> dict:  # fmt: skip
    """Every method's mAP and recall@1, overall and per edit."""
    from lakesight.models.description.hashing import ITQ
    from lakesight.models.detection.evaluation import held_out_scenes
    from lakesight.models.runtime import DEFAULT_DESCRIPTOR, load_descriptor
    from lakesight.models.tagging.backbone import DEFAULT_BACKBONE, load_backbone

    photos = real_photos()
    if len(photos) < 2:
        raise ConfigError(
            "near-duplicates: fewer than 2 packaged photos: install scikit-image, scikit-learn "
            "and matplotlib (pip install 'lakesight[dev]')"
        )
    names = sorted(photos)
    rng = np.random.default_rng(seed)
    queries, relevant, kinds = [], [], []
    for index, name in enumerate(names):
        for edit in EDITS:
            for _ in range(DRAWS):
                queries.append(edited(photos[name], edit, rng))
                relevant.append(index)
                kinds.append(edit)
    scenes, _ = held_out_scenes(distractors, seed + 7919) if distractors else ([], None)
    database = [photos[n] for n in names] + list(scenes)
    relevant, kinds = np.asarray(relevant), np.asarray(kinds)

    descriptor = load_descriptor(descriptor_ref or DEFAULT_DESCRIPTOR)
    if len(database) < descriptor.bits:  # PCA to `bits` dimensions needs that many images
        raise ConfigError(
            f"--distractors: ITQ fits {descriptor.bits} bits on the database, which then needs "
            f"at least {descriptor.bits - len(names)} distractors, got {distractors}"
        )
    backbone = load_backbone(DEFAULT_BACKBONE)
    q_codes, q_emb = descriptor.describe(queries)
    d_codes, d_emb = descriptor.describe(database)
    ranks = {"deepbit": reciprocal_ranks(q_codes, d_codes, relevant, q_emb, d_emb)}
    embedded = {"itq_deepbit": (q_emb, d_emb),
                "itq_places": (backbone.embed(queries), backbone.embed(database))}  # fmt: skip
    for method, (q, d) in embedded.items():
        itq = ITQ(descriptor.bits, seed=seed).fit(d)
        ranks[method] = reciprocal_ranks(itq.encode(q), itq.encode(d), relevant)
    with warnings.catch_warnings():  # PyWavelets warns about the level on small images
        warnings.simplefilter("ignore")
        for method in HASHES:
            q, d = perceptual_hashes(queries, method), perceptual_hashes(database, method)
            ranks[method] = reciprocal_ranks(q, d, relevant)
    methods = {
        method: {
            "map": round(float(r.mean()), 4),
            "recall_at_1": round(float((r == 1.0).mean()), 4),
            "map_per_edit": {e: round(float(r[kinds == e].mean()), 4) for e in EDITS},
        }
        for method, r in ranks.items()
    }
    best_hash = max(HASHES, key=lambda m: methods[m]["map"])
    best_codes = max(("deepbit", *embedded), key=lambda m: methods[m]["map"])
    return {
        "photos": len(names), "photo_sources": names, "queries": len(queries),
        "database": len(database), "distractor_scenes": distractors, "edits": list(EDITS),
        "descriptor": descriptor.name, "backbone": backbone.name, "bits": descriptor.bits,
        "methods": methods, "best_hash": best_hash, "best_codes": best_codes,
        "codes_match_best_hash": methods[best_codes]["map"] >= methods[best_hash]["map"],
    }  # fmt: skip
