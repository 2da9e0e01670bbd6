"""The service's image_features routes: the published images nearest to a published one,
or to an uploaded image described on the spot by the models that described the catalogue.

The ranking is ``lakesight similar``'s over every loaded day, each hit with its day.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, File, HTTPException, Query, UploadFile

from lakesight.serve.common import SHA256, Gate, K, Served
from lakesight.serve.uploads import decode_upload

router = APIRouter()


@router.get("/v1/images/similar")
def similar_images(
    catalogues: Served,
    image_id: Annotated[str, Query(pattern=SHA256, description="a published image's sha256")],
    k: K = 10,
) -> dict:
    """Published images nearest to a published one (itself excluded)."""
    catalogue = catalogues.images
    positions = catalogue.positions_of(image_id)
    if not len(positions):
        raise HTTPException(404, f"image_id: {image_id} is not in the catalogue")
    query = catalogue.query_of(int(positions[-1]))
    return {
        "query": query.source,
        "results": catalogue.nearest(query, k, exclude=positions),
        "searched": len(catalogue),
        "models": list(catalogue.models),
    }


@router.post("/v1/images/similar")
def similar_to_uploaded_image(
    catalogues: Served, uploads: Gate, image: Annotated[UploadFile, File()], k: K = 10
) -> dict:
    """Published images nearest to an uploaded image, described by the catalogue's models."""
    from lakesight.image_features.similar import query_from_pixels
    from lakesight.models.runtime import load_descriptor, load_detector

    catalogue = catalogues.images
    if not catalogue.models:
        raise HTTPException(503, "images: no published day is loaded yet")

    def describe():  # on an upload slot: the decoded pixels never leave it
        pixels = decode_upload(image, "image", catalogues.settings)
        detector, descriptor = (
            load_detector(catalogue.models[0], variant=catalogue.detector_variant),
            load_descriptor(catalogue.models[1]),
        )
        return query_from_pixels(pixels, detector, descriptor, {"upload": image.filename})[0]

    query = uploads.run(describe)
    top = query.source["top"]
    if top:  # the chosen detection, as plain JSON numbers
        top = {key: v if isinstance(v, str) else round(float(v), 4) for key, v in top.items()}
    return {
        "query": {"upload": image.filename, "top": top},
        "results": catalogue.nearest(query, k),
        "searched": len(catalogue),
        "models": list(catalogue.models),
    }
