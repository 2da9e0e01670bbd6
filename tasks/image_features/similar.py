"""Similarity search over published features: what downstream consumers run.

Reads ``features/images/dt=D`` with plain pyarrow through ``file://`` or
``webhdfs://`` (no Spark), ranks by Hamming distance on ``code`` and breaks
ties by embedding cosine (higher first). The query is a published image
(``image_id``) or any image file, described on the spot by the same models
and the same detect → crop → describe functions as the pipeline.

``lakesight similar --dt D (--image PATH | --image-id ID) [-k 10] [--json]``
also writes a contact sheet PNG: the query's crop, then the top-k with their
distances.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from lakesight.config import ConfigError, Settings
from lakesight.image_features.datasets import FEATURES
from lakesight.lake import filesystem_for, is_committed, read_manifest, read_partition_table


@dataclass(frozen=True)
class Query:
    """A query: its code and embedding, and what it came from."""

    code: bytes
    embedding: np.ndarray
    source: dict


def load_features(settings: Settings, dt: str, columns: list[str] | None = None) -> pd.DataFrame:
    """The committed ``features/images/dt=D`` partition as a pandas DataFrame (pyarrow, no Spark)."""
    partition = FEATURES.partition(settings, dt)
    fs = filesystem_for(partition, settings)
    if not is_committed(fs, partition):
        raise ConfigError(
            f"--dt: no published features at {partition} (run image_features for {dt})"
        )
    return read_partition_table(fs, partition, columns)


def nearest_images(searcher, embeddings: np.ndarray, query: Query, k: int,
                   exclude: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:  # fmt: skip
    """The ranking every similarity answer uses: (positions, distances, cosines) of the top
    ``k`` by Hamming distance on the codes, ties by embedding cosine (higher first), then
    by position. Only the codes at most as far as the k-th nearest are re-ranked, so a
    catalogue of millions costs one pass over its codes. ``searcher`` is a
    :class:`HammingIndex` over the same rows as ``embeddings``; ``exclude`` lists
    positions that must not be answered (the query itself)."""
    from lakesight.models.description.hashing import as_words

    exclude = np.zeros(0, np.int64) if exclude is None else np.asarray(exclude, np.int64)
    query_words = as_words(np.frombuffer(query.code, dtype=np.uint8)[None])[0]
    distance = searcher.distances_to(query_words)
    # Asking for len(exclude) more keeps every tie of the k-th among the rest.
    candidates = searcher.within_kth(distance, k + len(exclude))
    candidates = candidates[~np.isin(candidates, exclude)]
    score = embeddings[candidates] @ np.asarray(query.embedding, dtype=np.float32)
    near = distance[candidates].astype(np.int64)
    order = np.lexsort((-score, near))[:k]
    return candidates[order], near[order], score[order]


def rank(features: pd.DataFrame, query: Query, k: int) -> pd.DataFrame:
    """Top ``k`` rows by (Hamming distance on code, -cosine of embeddings), with both columns added."""
    from lakesight.models.description.hashing import HammingIndex

    if features.empty:
        return features.assign(distance=[], score=[])
    codes = np.stack([np.frombuffer(c, dtype=np.uint8) for c in features["code"]])
    bits = int(features["code_bits"].iloc[0])
    embeddings = np.stack([np.asarray(e, dtype=np.float32) for e in features["embedding"]])
    order, distance, score = nearest_images(HammingIndex(codes, bits), embeddings, query, k)
    # float64 before rounding: a rounded float32 prints as 0.8584610223770142 in JSON.
    return features.iloc[order].assign(distance=distance, score=np.round(score.astype(float), 6))


def query_from_image_id(features: pd.DataFrame, image_id: str) -> Query:
    """The query of a published image: its stored code and embedding."""
    match = features[features["image_id"] == image_id]
    if match.empty:
        raise ConfigError(f"--image-id: {image_id} is not in this partition")
    row = match.iloc[0]
    return Query(
        bytes(row["code"]),
        np.asarray(row["embedding"], np.float32),
        {"image_id": image_id, "path": row["path"]},
    )


def query_from_pixels(pixels: np.ndarray, detector, descriptor,
                      source: dict | None = None) -> tuple[Query, np.ndarray]:  # fmt: skip
    """Describe one RGB image as the pipeline does (detect → crop → describe); (query, its crop)."""
    from lakesight.image_features.analysis import analyze

    result = analyze([pixels], detector, descriptor)[0]
    x0, y0, x1, y1 = result["crop_box"]
    query = Query(result["code"], result["embedding"], {**(source or {}), "top": result["top"]})
    return query, pixels[y0:y1, x0:x1]


def query_from_file(path: str, manifest_models: list[dict]) -> tuple[Query, np.ndarray]:
    """Describe an image file with the models that made the partition (its manifest's
    entries, the detector in the variant that ran); (query, its crop)."""
    from pathlib import Path

    from lakesight.imaging import ImageRejected, decode_image
    from lakesight.models.runtime import load_descriptor, load_detector

    try:
        pixels = decode_image(Path(path).read_bytes(), path).pixels
    except (OSError, ImageRejected) as err:
        raise ConfigError(f"--image: cannot use {path}: {err}") from err
    detector, descriptor = (
        load_detector(
            manifest_models[0]["name"], variant=manifest_models[0].get("variant", "fp32")
        ),
        load_descriptor(manifest_models[1]["name"]),
    )
    return query_from_pixels(pixels, detector, descriptor, {"path": path})


def similar(settings: Settings, dt: str, *, image: str | None = None, image_id: str | None = None,
            k: int = 10, picture: str | None = None,
            models: tuple[str, ...] | None = None) -> dict:  # fmt: skip
    """Search one published day; returns ``{"query", "results", "picture"}``. ``models``
    (detector, descriptor): the day must have been described by them, since codes of
    different models cannot be compared."""
    from pathlib import Path

    from lakesight.image_features.pictures import contact_sheet
    from lakesight.imaging import decode_image

    features = load_features(settings, dt)
    partition = FEATURES.partition(settings, dt)
    fs = filesystem_for(partition, settings)
    manifest = read_manifest(fs, partition)
    made_by = tuple(m["name"] for m in manifest.models)
    if models and made_by != models:
        raise ConfigError(
            f"--detector/--descriptor: dt={dt} was described by {', '.join(made_by)}, not "
            f"{', '.join(models)}; run image_features.analyze and publish with them first"
        )
    if image_id:
        query = query_from_image_id(features, image_id)
        row = features[features["image_id"] == image_id].iloc[0]
        pixels = decode_image(fs.read_bytes(row["path"]), row["path"]).pixels
        box = row["top"]
        if box is not None:
            h, w = pixels.shape[:2]
            pixels = pixels[
                int(box["y_min"] * h) : int(np.ceil(box["y_max"] * h)),
                int(box["x_min"] * w) : int(np.ceil(box["x_max"] * w)),
            ]
        query_pixels = pixels
        ranked = rank(features[features["image_id"] != image_id], query, k)
    else:
        query, query_pixels = query_from_file(image, manifest.models)
        ranked = rank(features, query, k)
    results = [
        {
            "image_id": r.image_id,
            "path": r.path,
            "distance": int(r.distance),
            "score": float(r.score),
        }
        for r in ranked.itertuples()
    ]
    from lakesight.config import REPO_ROOT

    target = (
        Path(picture)
        if picture
        else REPO_ROOT
        / "var"
        / "pictures"
        / f"similar_{dt}_{(image_id or Path(image).stem)[:16]}.png"
    )
    target.parent.mkdir(parents=True, exist_ok=True)

    def read_image(result: dict) -> np.ndarray:
        return decode_image(fs.read_bytes(result["path"]), result["path"]).pixels

    target.write_bytes(contact_sheet(query_pixels, results, read_image))
    source = {k: v for k, v in query.source.items() if k != "top"}
    return {
        "query": source,
        "results": results,
        "picture": str(target),
        "dt": dt,
        "searched": len(features),
    }


def format_similar(payload: dict) -> str:
    """The human-readable result list."""
    query = payload["query"].get("image_id") or payload["query"].get("path")
    lines = [f"similar to {query} among {payload['searched']} images of dt={payload['dt']}:"]
    lines += [
        f"  d={r['distance']:3d}  cos={r['score']:.3f}  {r['image_id'][:12]}  {r['path']}"
        for r in payload["results"]
    ]
    lines.append(f"  contact sheet: {payload['picture']}")
    return "\n".join(lines)
