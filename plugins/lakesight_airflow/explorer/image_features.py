"""The image_features view: a day's published images, one image's detections and nearest
neighbours, and a search by an uploaded image.

Rankings are ``lakesight similar``'s over the day; a picture is read from the path its row
in ``features/images`` gives, never from the request.
"""

from __future__ import annotations

from html import escape
from typing import Annotated

import numpy as np
from fastapi import File, Request, UploadFile
from fastapi.responses import HTMLResponse
from starlette.exceptions import HTTPException

from lakesight.config import Settings
from lakesight.image_features.datasets import FEATURES
from lakesight.lake import filesystem_for, uri_path
from lakesight.serve.uploads import decode_upload
from lakesight_airflow.explorer.common import (
    DT,
    NAME,
    PAGE,
    SHA256,
    K,
    NotFound,
    View,
    base_of,
    checked_day,
    committed_run,
    day_links,
    day_table,
    days_of,
    html,
    layout,
    pager,
    pages_of,
    per_lake,
    pipeline_router,
    png,
    settings,
)

PAGE_SIZE = 48  # images a page
PICTURE_KINDS = ("detections", "crop", "thumb")

router = pipeline_router(View("image_features", "/images", FEATURES, dags=("image_features",)))


@router.get("/{dt}", response_class=HTMLResponse)
def images_day(request: Request, dt: DT, page: PAGE = 1):
    lake = settings()
    features, _ = image_features(lake, checked_day(dt))
    total = pages_of(len(features), PAGE_SIZE, page)
    rows = image_rows(features.iloc[(page - 1) * PAGE_SIZE : page * PAGE_SIZE])
    days = days_of(lake, FEATURES)
    return html(images_day_html(base_of(request), dt, days, rows, len(features), page, total))


@router.get("/{dt}/{image_id}", response_class=HTMLResponse)
def image(request: Request, dt: DT, image_id: SHA256, k: K = 8):
    lake = settings()
    row = image_row(lake, checked_day(dt), image_id)
    neighbours = image_neighbours(lake, dt, image_id, k)
    return html(image_html(base_of(request), dt, row, neighbours))


@router.get("/{dt}/{image_id}/{kind}.png")
def picture(dt: DT, image_id: SHA256, kind: NAME):
    if kind not in PICTURE_KINDS:
        raise HTTPException(404, f"no picture {kind}; one of {', '.join(PICTURE_KINDS)}")
    lake = settings()
    _, manifest = image_features(lake, checked_day(dt))
    return png(image_picture(lake, dt, image_id, kind, manifest.run_id))


@router.post("/{dt}/search", response_class=HTMLResponse)
def images_search(request: Request, dt: DT, image: Annotated[UploadFile, File()], k: K = 8):
    lake = settings()
    checked_day(dt)
    pixels = decode_upload(image, "image", lake)
    answer = images_like_upload(lake, dt, pixels, k)
    return html(search_results_html(base_of(request), dt, image.filename or "upload", answer))


# --------------------------------------------------------------------------- queries


def image_features(settings: Settings, dt: str):
    """(the day's ``features/images`` as pandas, its manifest)."""
    manifest = committed_run(settings, FEATURES, dt)
    return day_table(settings, FEATURES, dt, manifest.run_id), manifest


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
    return ranked_images(ranked)


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
    return {"top": query.source["top"], "results": ranked_images(rank(features, query, k))}


def ranked_images(ranked) -> list[dict]:
    """A ranking's rows as plain JSON values (numpy integers and floats are not)."""
    return [{"image_id": r.image_id, "path": r.path, "distance": int(r.distance),
             "score": float(r.score)} for r in ranked.itertuples()]  # fmt: skip


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


# --------------------------------------------------------------------------- pages


def image_tile(base: str, dt: str, image_id: str, path: str, caption: str) -> str:
    name = uri_path(str(path)).rsplit("/", 1)[-1]  # paths are URIs: show the file's name
    return (
        f"<div class='tile' data-image-id='{escape(image_id)}'>"
        f"<a href='{escape(f'{base}/images/{dt}/{image_id}')}'>"
        f"<img loading='lazy' alt='{escape(name)}' src='{escape(f'{base}/images/{dt}/{image_id}/thumb.png')}'></a>"
        f"<div>{escape(name)}</div><div class='muted'>{escape(caption)}</div></div>"
    )  # fmt: skip


def images_day_html(base: str, dt: str, days: list[str], rows: list[dict], total: int,
                    page: int, pages: int) -> str:  # fmt: skip
    tiles = "".join(
        image_tile(base, dt, r["image_id"], r["path"],
                   ", ".join(f"{d['label']} {d['score']:.2f}" for d in r["detections"][:3]) or "no object")
        for r in rows
    )  # fmt: skip
    search = (
        f"<form method='post' enctype='multipart/form-data' action='{escape(f'{base}/images/{dt}/search')}'>"
        "search this day by image: <input type='file' name='image' accept='image/*' required> "
        "<button type='submit'>search</button></form>"
    )  # fmt: skip
    body = (
        day_links(base, "/images", days, dt)
        + f"<p id='count'>{total} images published on {escape(dt)}</p>{search}"
        + pager(base, f"/images/{dt}", page, pages)
        + f"<div class='grid' id='images'>{tiles}</div>"
    )
    return layout(base, f"image_features dt={dt}", body)


def neighbours_grid(base: str, dt: str, results: list[dict]) -> str:
    return "<div class='grid' id='neighbours'>" + "".join(
        image_tile(base, dt, r["image_id"], r["path"], f"d={r['distance']} cos={r['score']:.3f}")
        for r in results
    ) + "</div>"  # fmt: skip


def image_html(base: str, dt: str, row: dict, neighbours: list[dict]) -> str:
    detections = "".join(
        f"<tr><td>{escape(d['label'])}</td><td>{d['score']:.3f}</td><td>"
        f"{d['x_min']:.2f}, {d['y_min']:.2f}, {d['x_max']:.2f}, {d['y_max']:.2f}</td></tr>"
        for d in row["detections"]
    )
    top = row["top"]
    picture = f"{base}/images/{dt}/{row['image_id']}"
    body = (
        f"<p><code id='image-id'>{escape(row['image_id'])}</code><br><code>{escape(str(row['path']))}</code></p>"
        f"<p><img id='detections' alt='detections' src='{escape(picture + '/detections.png')}'> "
        f"<img id='crop' alt='crop' src='{escape(picture + '/crop.png')}'></p>"
        f"<p>described: {escape(top['label'] + ' ' + format(top['score'], '.2f')) if top is not None else 'the whole image (no object)'}</p>"
        f"<table id='detection-table'><tr><th>label</th><th>score</th><th>box</th></tr>{detections}</table>"
        f"<h2>{len(neighbours)} nearest on {escape(dt)} (Hamming, then cosine)</h2>"
        + neighbours_grid(base, dt, neighbours)
    )  # fmt: skip
    return layout(base, f"image {row['image_id'][:12]} dt={dt}", body)


def search_results_html(base: str, dt: str, filename: str, answer: dict) -> str:
    top = answer["top"]
    described = f"{top['label']} {top['score']:.2f}" if top else "the whole image"
    body = (
        f"<p>uploaded <code>{escape(filename)}</code>, described: {escape(described)}</p>"
        + neighbours_grid(base, dt, answer["results"])
    )
    return layout(base, f"images like an upload, dt={dt}", body)
