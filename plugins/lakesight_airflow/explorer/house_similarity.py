"""The house_similarity view: a day's listings with their tags and photos, and the listings
that look like a photo (``lakesight houses similar``'s ranking over the day).

The day is read once per committed run into the same ``ListingIndex`` the CLI ranks with.
"""

from __future__ import annotations

from html import escape

from fastapi import Request
from fastapi.responses import HTMLResponse

from lakesight.config import Settings
from lakesight.house_similarity.datasets import FEATURES
from lakesight.lake import filesystem_for, uri_path
from lakesight_airflow.explorer.common import (
    DT,
    PAGE,
    SHA256,
    K,
    NotFound,
    View,
    base_of,
    checked_day,
    committed_run,
    day_links,
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

PAGE_SIZE = 24  # listings a page

router = pipeline_router(View("house_similarity", "/houses", FEATURES, dags=("house_similarity",)))


@router.get("/{dt}", response_class=HTMLResponse)
def houses_day(request: Request, dt: DT, page: PAGE = 1):
    lake = settings()
    found = listing_page(lake, checked_day(dt), page)
    total = pages_of(found["total"], PAGE_SIZE, page)
    days = days_of(lake, FEATURES)
    return html(houses_day_html(base_of(request), dt, days, found, page, total))


@router.get("/{dt}/photos/{photo_id}", response_class=HTMLResponse)
def photo(request: Request, dt: DT, photo_id: SHA256, k: K = 8):
    answer = similar_listings(settings(), checked_day(dt), photo_id, k)
    return html(similar_listings_html(base_of(request), dt, answer))


@router.get("/{dt}/photos/{photo_id}/photo.png")
def photo_picture(dt: DT, photo_id: SHA256):
    lake = settings()
    _, manifest = listings_day(lake, checked_day(dt))
    return png(listing_photo(lake, dt, photo_id, manifest.run_id))


# --------------------------------------------------------------------------- queries


@per_lake(8)
def listing_index(settings: Settings, dt: str, run_id: str):
    from lakesight.house_similarity.similar import ListingIndex, load_listing_features

    features, _ = load_listing_features(settings, dt)
    return ListingIndex(features)


def listings_day(settings: Settings, dt: str):
    """(the day's ListingIndex, its manifest)."""
    manifest = committed_run(settings, FEATURES, dt)
    return listing_index(settings, dt, manifest.run_id), manifest


def listing_page(settings: Settings, dt: str, page: int) -> dict:
    """One page of the day's listings: id, tags and photos (id, path, exterior)."""
    index, _ = listings_day(settings, dt)
    listings = []
    for listing in range((page - 1) * PAGE_SIZE, min(page * PAGE_SIZE, len(index))):
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


# --------------------------------------------------------------------------- pages


def photo_img(base: str, dt: str, photo: dict) -> str:
    page = f"{base}/houses/{dt}/photos/{photo['photo_id']}"
    name = uri_path(str(photo["path"])).rsplit("/", 1)[-1]
    kind = "front" if photo.get("exterior") else "other"
    return (
        f"<a href='{escape(page)}' data-photo-id='{escape(photo['photo_id'])}'>"
        f"<img loading='lazy' class='{kind}' alt='{escape(name)}' "
        f"src='{escape(page + '/photo.png')}'></a>"
    )


def tags_text(style, stories) -> str:
    return f"{style}, {stories} stories" if style else "no front photo"


def houses_day_html(base: str, dt: str, days: list[str], data: dict, page: int,
                    pages: int) -> str:  # fmt: skip
    listings = "".join(
        f"<div class='listing' data-listing-id='{escape(x['listing_id'])}'><b>{escape(x['listing_id'])}</b> "
        f"<span class='tags'>{escape(tags_text(x['style'], x['stories']))}</span><br>"
        + "".join(photo_img(base, dt, p) for p in x["photos"]) + "</div>"
        for x in data["listings"]
    )  # fmt: skip
    body = (
        day_links(base, "/houses", days, dt)
        + f"<p id='count'>{data['total']} listings published on {escape(dt)}; pick a photo to see listings that look like it (front exteriors outlined)</p>"
        + pager(base, f"/houses/{dt}", page, pages)
        + f"<div id='listings'>{listings}</div>"
    )  # fmt: skip
    return layout(base, f"house_similarity dt={dt}", body)


def similar_listings_html(base: str, dt: str, answer: dict) -> str:
    q = answer["query"]
    rows = "".join(
        f"<div class='listing result' data-listing-id='{escape(r['listing_id'])}'><b>{escape(r['listing_id'])}</b> "
        f"<span class='tags'>{escape(tags_text(r['style'], r['stories']))}</span> "
        f"<span class='score'>score {r['score']:.3f} (cos {r['cosine']:.3f})</span><br>"
        f"{photo_img(base, dt, {'photo_id': r['photo_id'], 'path': r['photo'], 'exterior': True})}</div>"
        for r in answer["results"]
    )  # fmt: skip
    body = (
        f"<p>{photo_img(base, dt, {'photo_id': q['photo_id'], 'path': q['path'], 'exterior': q['style'] is not None})}</p>"
        f"<p>photo of <b id='query-listing'>{escape(q['listing_id'])}</b>: {escape(answer['note'])}</p>"
        f"<h2>{len(answer['results'])} similar listings ({escape(answer['ranking'])})</h2><div id='similar'>{rows}</div>"
    )  # fmt: skip
    return layout(base, f"listings like photo {q['photo_id'][:12]} dt={dt}", body)
