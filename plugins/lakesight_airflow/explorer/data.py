"""What the explorer shows, read from the lake through lakesight's own library (as the CLI does).

Every function takes validated arguments and returns plain data (dicts, DataFrames, PNG
bytes); the pages are drawn elsewhere. A day's tables are read once per committed run:
the cache key holds the manifest's run id, so a rerun of the day is seen at once, and
nothing is copied out of the lake.
"""

from __future__ import annotations

import functools
import importlib
import threading
from collections import OrderedDict

import numpy as np

from lakesight.config import Settings
from lakesight.lake import filesystem_for, list_partitions, read_manifest

PAGE_SIZE = {"images": 48, "listings": 24, "quarantine": 100}


class NotFound(LookupError):
    """Something the request names is not in the lake (answered 404)."""


def per_lake(maxsize: int):
    """Least-recently-used cache of ``fn(settings, *args)`` keyed by the lake and ``args``
    (Settings holds a dict, so functools' caches cannot hash it)."""

    def decorate(fn):
        cache: OrderedDict = OrderedDict()
        lock = threading.Lock()

        @functools.wraps(fn)
        def cached(settings: Settings, *args):
            key = (settings.root, settings.model_registry, *args)
            with lock:
                if key in cache:
                    cache.move_to_end(key)
                    return cache[key]
            value = fn(settings, *args)
            with lock:
                cache[key] = value
                while len(cache) > maxsize:
                    cache.popitem(last=False)
            return value

        return cached

    return decorate


# --------------------------------------------------------------------------- overview


@functools.cache
def pipeline_stages() -> dict[str, list]:
    """Each pipeline's stage declarations, in DAG order (imports the stage modules once)."""
    from lakesight.stage import PIPELINES, stage_modules

    stages: dict[str, list] = {pipeline: [] for pipeline in PIPELINES}
    for name, module in stage_modules().items():
        stages[name.split(".", 1)[0]].append(importlib.import_module(module).STAGE)
    return stages


def known_datasets() -> dict[str, object]:
    """``zone/name`` → Dataset for every dataset a stage writes or quarantines into."""
    datasets = {}
    for stages in pipeline_stages().values():
        for stage in stages:
            for dataset in (stage.output, stage.quarantine):
                if dataset is not None:
                    datasets[str(dataset)] = dataset
    return datasets


def overview(settings: Settings, days: int = 7) -> list[dict]:
    """Per pipeline and stage: the latest ``days`` committed partitions with their manifests."""
    out = []
    for pipeline, stages in pipeline_stages().items():
        rows = []
        for stage in stages:
            uri = stage.output.uri(settings)
            fs = filesystem_for(uri, settings)
            for dt in reversed(list_partitions(fs, uri)[-days:]):
                manifest = read_manifest(fs, stage.output.partition(settings, dt))
                if manifest is None:
                    continue
                rows.append({"stage": stage, "dt": dt, "manifest": manifest})
        out.append({"pipeline": pipeline, "partitions": rows})
    return out


def partition(settings: Settings, dataset_name: str, dt: str, page: int) -> dict:
    """A committed partition's manifest and, for a quarantine, its rows (reason, path, detail)."""
    dataset = known_datasets().get(dataset_name)
    if dataset is None:
        raise NotFound(f"no dataset {dataset_name}")
    uri = dataset.partition(settings, dt)
    fs = filesystem_for(uri, settings)
    manifest = read_manifest(fs, uri)
    if manifest is None:
        raise NotFound(f"{dataset_name} has no committed partition dt={dt}")
    rows, total = [], 0
    if dataset.zone == "quarantine":
        table = day_table(settings, dataset_name, dt, manifest.run_id)
        total = len(table)
        size = PAGE_SIZE["quarantine"]
        keep = [c for c in ("reason", "path", "detail", "stage") if c in table.columns]
        rows = table[keep].iloc[(page - 1) * size : page * size].to_dict("records")
    return {"dataset": dataset_name, "dt": dt, "uri": uri, "manifest": manifest, "rows": rows,
            "total": total}  # fmt: skip


@per_lake(16)
def day_table(settings: Settings, dataset_name: str, dt: str, run_id: str, columns=None):
    """A committed partition as pandas, read once per run (``run_id`` is the cache key)."""
    from lakesight.lake import read_partition_table

    uri = known_datasets()[dataset_name].partition(settings, dt)
    return read_partition_table(filesystem_for(uri, settings), uri,
                                list(columns) if columns else None)  # fmt: skip


def committed_run(settings: Settings, dataset, dt: str):
    """(manifest) of a committed partition, or NotFound."""
    uri = dataset.partition(settings, dt)
    manifest = read_manifest(filesystem_for(uri, settings), uri)
    if manifest is None:
        raise NotFound(f"{dataset} has no committed partition dt={dt}")
    return manifest


def latest_day(settings: Settings, dataset) -> str | None:
    uri = dataset.uri(settings)
    days = list_partitions(filesystem_for(uri, settings), uri)
    return days[-1] if days else None


def days_of(settings: Settings, dataset) -> list[str]:
    uri = dataset.uri(settings)
    return list_partitions(filesystem_for(uri, settings), uri)


# --------------------------------------------------------------------------- image_features


def image_features(settings: Settings, dt: str):
    from lakesight.image_features.datasets import FEATURES

    manifest = committed_run(settings, FEATURES, dt)
    return day_table(settings, str(FEATURES), dt, manifest.run_id), manifest


def image_rows(features) -> list[dict]:
    """Published rows as plain dicts: ``detections`` a list (pyarrow gives numpy arrays)."""
    return [
        {**row, "detections": list(row["detections"]) if row["detections"] is not None else []}
        for row in features.to_dict("records")
    ]


def image_row(settings: Settings, dt: str, image_id: str) -> dict:
    features, _ = image_features(settings, dt)
    match = features[features["image_id"] == image_id]
    if match.empty:
        raise NotFound(f"image {image_id} is not published on {dt}")
    return image_rows(match.iloc[:1])[0]


def image_neighbours(settings: Settings, dt: str, image_id: str, k: int) -> list[dict]:
    """The day's k nearest images: ``lakesight similar --dt D --image-id ID``'s ranking."""
    from lakesight.image_features.similar import query_from_image_id, rank

    features, _ = image_features(settings, dt)
    query = query_from_image_id(features, image_id)
    ranked = rank(features[features["image_id"] != image_id], query, k)
    return [{"image_id": r.image_id, "path": r.path, "distance": int(r.distance),
             "score": float(r.score)} for r in ranked.itertuples()]  # fmt: skip


def images_like_upload(settings: Settings, dt: str, pixels: np.ndarray, k: int) -> dict:
    """The day's k nearest images to an uploaded image, described by the day's models."""
    from lakesight.image_features.similar import query_from_pixels, rank
    from lakesight.models.runtime import load_descriptor, load_detector

    features, manifest = image_features(settings, dt)
    detector, descriptor = manifest.models[:2]  # described as the day was, int8 or fp32
    query, _ = query_from_pixels(
        pixels, load_detector(detector["name"], variant=detector.get("variant", "fp32")),
        load_descriptor(descriptor["name"]),
    )  # fmt: skip
    ranked = rank(features, query, k)
    return {
        "top": query.source["top"],
        "results": [
            {
                "image_id": r.image_id,
                "path": r.path,
                "distance": int(r.distance),
                "score": float(r.score),
            }
            for r in ranked.itertuples()
        ],
    }


@per_lake(512)
def image_picture(settings: Settings, dt: str, image_id: str, kind: str, run_id: str) -> bytes:
    """PNG of a published image: ``detections`` drawn, the described ``crop``, or a ``thumb``."""
    from PIL import Image

    from lakesight.imaging import decode_image
    from lakesight.pictures import annotate, fit, png

    row = image_row(settings, dt, image_id)
    fs = filesystem_for(row["path"], settings)
    pixels = decode_image(fs.read_bytes(row["path"]), row["path"]).pixels
    top = row["top"]
    if kind == "crop":
        if top is not None:
            h, w = pixels.shape[:2]
            pixels = pixels[int(top["y_min"] * h) : int(np.ceil(top["y_max"] * h)),
                            int(top["x_min"] * w) : int(np.ceil(top["x_max"] * w))]  # fmt: skip
        return png(Image.fromarray(pixels))
    detections = row["detections"]
    if kind == "thumb":
        return png(fit(annotate(pixels, detections, top, scale=1.0), 200))
    return png(annotate(pixels, detections, top))


# --------------------------------------------------------------------------- radar_nowcast


def radar_day(settings: Settings, dt: str) -> dict:
    """The day's issue times, its verification summary and the thresholds scored."""
    from lakesight.radar_nowcast.datasets import FORECASTS, SCORES

    forecasts = committed_run(settings, FORECASTS, dt)
    issued = day_table(settings, str(FORECASTS), dt, forecasts.run_id, ("issued_at", "model"))
    times = sorted({t.strftime("%H:%M") for t in issued["issued_at"]})
    try:
        scores = committed_run(settings, SCORES, dt)
        summary = scores.extra.get("summary") or {}
    except NotFound:
        summary = {}
    # Every model that issued forecasts: the trained one and the baselines.
    return {"issued": times, "summary": summary, "models": sorted(set(issued["model"]))}


@per_lake(64)
def radar_panels(settings: Settings, dt: str, issued: str, run_id: str) -> bytes:
    """PNG: inputs, observed and every model by lead for the issue time ``HH:MM``."""
    import pandas as pd

    from lakesight.radar_nowcast.datasets import FORECASTS, FRAMES
    from lakesight.radar_nowcast.pictures import forecast_panels

    forecasts = day_table(settings, str(FORECASTS), dt, run_id)
    at = pd.Timestamp(f"{dt} {issued}", tz="UTC")
    issued_at = as_utc(forecasts["issued_at"])
    rows = forecasts[issued_at == at]
    if rows.empty:
        raise NotFound(f"no forecast issued at {issued} on {dt}")
    frames_run = committed_run(settings, FRAMES, dt).run_id
    columns = ("frame_time", "pixels", "height", "width")
    frames = day_table(settings, str(FRAMES), dt, frames_run, columns)
    frame_times = as_utc(frames["frame_time"])
    shape = int(rows["height"].iloc[0]), int(rows["width"].iloc[0])

    def frame(raw: bytes) -> np.ndarray:
        return np.frombuffer(raw, np.uint8).reshape(shape)

    observed_at = {t: frame(p) for t, p in zip(frame_times, frames["pixels"], strict=True)}
    leads = sorted(int(v) for v in rows["lead_min"].unique())
    by_model = {
        model: np.stack([frame(group[group["lead_min"] == lead]["pixels"].iloc[0]) for lead in leads])
        for model, group in sorted(rows.groupby("model"))
    }  # fmt: skip
    observed = [observed_at.get(at + pd.Timedelta(minutes=lead)) for lead in leads]
    inputs = [observed_at[t] for t in sorted(observed_at) if t <= at][-5:]
    return forecast_panels(at.strftime("%Y-%m-%d %H:%M UTC"), leads, observed, by_model,
                           inputs=np.stack(inputs) if inputs else None, tile=96,
                           cadence_min=settings.radar_cadence_min)  # fmt: skip


def as_utc(times):
    """Timestamps as UTC: Spark writes them as instants, pyarrow may read them naive."""
    return times.dt.tz_localize("UTC") if times.dt.tz is None else times.dt.tz_convert("UTC")


def radar_csi_plot(settings: Settings, dt: str) -> bytes:
    from lakesight.radar_nowcast.pictures import csi_plot

    summary = radar_day(settings, dt)["summary"]
    if not summary.get("leads_min"):
        raise NotFound(f"no verified forecasts on {dt}")
    return csi_plot(summary)


# --------------------------------------------------------------------------- house_similarity


@per_lake(8)
def listing_index(settings: Settings, dt: str, run_id: str):
    from lakesight.house_similarity.similar import ListingIndex, load_listing_features

    features, _ = load_listing_features(settings, dt)
    return ListingIndex(features)


def listings_day(settings: Settings, dt: str):
    from lakesight.house_similarity.datasets import FEATURES

    manifest = committed_run(settings, FEATURES, dt)
    return listing_index(settings, dt, manifest.run_id), manifest


def listing_page(settings: Settings, dt: str, page: int) -> dict:
    """One page of the day's listings: id, tags and photos (id, path, exterior)."""
    index, _ = listings_day(settings, dt)
    size = PAGE_SIZE["listings"]
    listings = []
    for listing in range((page - 1) * size, min(page * size, len(index))):
        start, end = index.starts[listing], index.ends[listing]
        photos = index.rows.iloc[start:end]
        listings.append({
            "listing_id": str(index.listing_ids[listing]),
            "style": index.style[listing],
            "stories": index.stories[listing],
            "photos": [{"photo_id": p.photo_id, "path": p.path, "exterior": bool(p.exterior)}
                       for p in photos.itertuples()],
        })  # fmt: skip
    return {"listings": listings, "total": len(index)}


def similar_listings(settings: Settings, dt: str, photo_id: str, k: int) -> dict:
    """Listings like a published photo: ``lakesight houses similar``'s ranking over the day,
    the photo's own listing left out."""
    from lakesight.house_similarity.similar import query_tags, rank_listings

    index, _ = listings_day(settings, dt)
    query = index.query_of(photo_id)
    if query is None:
        raise NotFound(f"photo {photo_id} is not published on {dt}")
    answer = rank_listings(index, query, k, exclude=query.source["listing_id"])
    return {"query": {**query.source, **query_tags(query)}, **answer}


@per_lake(512)
def listing_photo(settings: Settings, dt: str, photo_id: str, run_id: str) -> bytes:
    from PIL import Image

    from lakesight.imaging import decode_image
    from lakesight.pictures import fit, png

    index, _ = listings_day(settings, dt)
    position = index.photo_positions.get(photo_id)
    if position is None:
        raise NotFound(f"photo {photo_id} is not published on {dt}")
    path = index.rows.iloc[position]["path"]
    pixels = decode_image(filesystem_for(path, settings).read_bytes(path), path).pixels
    return png(fit(Image.fromarray(pixels), 240))
