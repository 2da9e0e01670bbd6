"""The service's house_similarity routes: the listings that look like a published photo, or
like an uploaded one embedded and tagged on the spot by the catalogue's models.

The ranking is ``lakesight houses similar``'s over every loaded day; a listing published
on several days is answered from its latest.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, File, HTTPException, Query, UploadFile

from lakesight.serve.common import SHA256, Gate, K, Served
from lakesight.serve.uploads import decode_upload

router = APIRouter()


@router.get("/v1/houses/similar")
def similar_listings(
    catalogues: Served,
    photo_id: Annotated[str, Query(pattern=SHA256, description="a published photo's sha256")],
    k: K = 10,
    same_style: bool = False,
    same_stories: bool = False,
) -> dict:
    """Listings that look like a published photo (its own listing excluded)."""
    from lakesight.house_similarity.similar import query_tags, rank_listings

    catalogue = catalogues.listings
    query = catalogue.index.query_of(photo_id)
    if query is None:
        raise HTTPException(404, f"photo_id: {photo_id} is not in the catalogue")
    answer = rank_listings(catalogue.index, query, k, same_style=same_style,
                           same_stories=same_stories, exclude=query.source["listing_id"])  # fmt: skip
    return {"query": {**query.source, **query_tags(query)}, **answer,
            "searched": len(catalogue), "models": list(catalogue.models)}  # fmt: skip


@router.post("/v1/houses/similar")
def similar_listings_to_upload(
    catalogues: Served,
    uploads: Gate,
    photo: Annotated[UploadFile, File()],
    k: K = 10,
    same_style: bool = False,
    same_stories: bool = False,
) -> dict:
    """Listings that look like an uploaded photo, embedded and tagged by the catalogue's models."""
    from lakesight.house_similarity.similar import (
        query_from_pixels,
        query_tags,
        rank_listings,
    )
    from lakesight.models.tagging.backbone import load_backbone
    from lakesight.models.tagging.heads import load_heads

    catalogue = catalogues.listings
    if not catalogue.models:
        raise HTTPException(503, "houses: no published day is loaded yet")

    def describe():  # on an upload slot: the decoded pixels never leave it
        pixels = decode_upload(photo, "photo", catalogues.settings)
        backbone, heads = load_backbone(catalogue.models[0]), load_heads(catalogue.models[1])
        return query_from_pixels(pixels, backbone, heads, {"upload": photo.filename})

    query = uploads.run(describe)
    answer = rank_listings(catalogue.index, query, k, same_style=same_style,
                           same_stories=same_stories)  # fmt: skip
    return {"query": {**query.source, **query_tags(query)}, **answer,
            "searched": len(catalogue), "models": list(catalogue.models)}  # fmt: skip
