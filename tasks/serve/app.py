"""The similarity service: the published similarity tables answered over HTTP.

``GET /v1/images/similar?image_id=…&k=…`` and ``POST /v1/images/similar`` (an image file,
described on the spot by the models that described the catalogue);
``GET /v1/houses/similar?photo_id=…`` and ``POST /v1/houses/similar`` (a photo);
``GET /v1/health``; OpenAPI at ``/docs`` and ``/openapi.json``.

Answers are the rankings of ``lakesight similar`` and ``lakesight houses similar`` over
the whole catalogue, each hit with the day it was published. Bad input is a 4xx whose
``detail`` is one line: a parameter out of range or malformed (422), an unknown id (404),
an upload that is not an image (415) or too large (413, checked while it streams in, so
a huge body is never held), tag filters on a query that has no tags (400).
"""

from __future__ import annotations

import logging
from typing import Annotated

import numpy as np
from fastapi import FastAPI, File, HTTPException, Query, Request, UploadFile
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse

from lakesight.config import ConfigError
from lakesight.serve.catalogue import Catalogues

log = logging.getLogger("lakesight.serve")

SHA256 = r"^[0-9a-f]{64}$"
MAX_K = 100
# Module level: the app's annotations are strings (PEP 563) that FastAPI resolves here.
K = Annotated[int, Query(ge=1, le=MAX_K, description="how many hits")]


class UploadTooLarge(HTTPException):
    def __init__(self, limit: int) -> None:
        super().__init__(413, f"upload: larger than the limit of {limit} bytes")


class UploadLimit:
    """ASGI middleware: a request body over ``limit`` bytes is refused with 413, by its
    Content-Length when it says one, else as soon as the streamed bytes pass the limit."""

    def __init__(self, app, limit: int) -> None:
        self.app, self.limit = app, limit

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        length = dict(scope["headers"]).get(b"content-length")
        if length is not None and length.isdigit() and int(length) > self.limit:
            response = JSONResponse({"detail": UploadTooLarge(self.limit).detail}, 413)
            return await response(scope, receive, send)
        received = 0

        async def limited_receive():
            nonlocal received
            message = await receive()
            received += len(message.get("body", b""))
            if received > self.limit:
                raise UploadTooLarge(self.limit)
            return message

        return await self.app(scope, limited_receive, send)


def decode_upload(upload: UploadFile, field: str, settings) -> np.ndarray:
    """An uploaded file's RGB pixels, judged by the pipeline's own decoder and limits; an
    upload it rejects is a 415 that says why."""
    from lakesight.imaging import ImageRejected, decode_image

    try:
        return decode_image(upload.file.read(), upload.filename or field,
                            max_pixels=settings.max_image_pixels,
                            min_side=settings.min_image_side).pixels  # fmt: skip
    except ImageRejected as err:
        raise HTTPException(415, f"{field}: not an image lakesight accepts ({err})") from None


def one_line(error: RequestValidationError) -> str:
    first = error.errors()[0]
    where = ".".join(str(part) for part in first["loc"] if part not in ("query", "body"))
    return f"{where}: {first['msg']}"


def create_app(catalogues: Catalogues, *, max_upload_bytes: int = 10 * 1024 * 1024) -> FastAPI:
    """The service over ``catalogues`` (which it reads at every request, never caches)."""
    from lakesight import __version__

    app = FastAPI(
        title="lakesight similarity service",
        version=__version__,
        summary="Images and listings similar to a published one or to an upload.",
    )
    app.add_middleware(UploadLimit, limit=max_upload_bytes)
    settings = catalogues.settings

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, error: RequestValidationError):
        return JSONResponse({"detail": one_line(error)}, 422)

    @app.exception_handler(Exception)
    async def failed(request: Request, error: Exception):
        # A bug, not bad input: logged in full, answered in one line, and the service goes on.
        log.exception("%s %s failed", request.method, request.url.path)
        return JSONResponse({"detail": f"internal error: {type(error).__name__}"}, 500)

    @app.exception_handler(ConfigError)
    async def not_answerable(request: Request, error: ConfigError):
        return JSONResponse({"detail": str(error).splitlines()[0]}, 400)

    @app.get("/v1/health")
    def health() -> dict:
        """Index sizes, days loaded, model versions, memory."""
        return catalogues.health()

    @app.get("/v1/images/similar")
    def similar_images(
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

    @app.post("/v1/images/similar")
    def similar_to_uploaded_image(image: Annotated[UploadFile, File()], k: K = 10) -> dict:
        """Published images nearest to an uploaded image, described by the catalogue's models."""
        from lakesight.image_features.similar import query_from_pixels
        from lakesight.models.runtime import load_descriptor, load_detector

        pixels = decode_upload(image, "image", settings)
        catalogue = catalogues.images
        if not catalogue.models:
            raise HTTPException(503, "images: no published day is loaded yet")
        detector, descriptor = (
            load_detector(catalogue.models[0]),
            load_descriptor(catalogue.models[1]),
        )
        query, _ = query_from_pixels(pixels, detector, descriptor, {"upload": image.filename})
        top = query.source["top"]
        if top:  # the chosen detection, as plain JSON numbers
            top = {key: v if isinstance(v, str) else round(float(v), 4) for key, v in top.items()}
        return {
            "query": {"upload": image.filename, "top": top},
            "results": catalogue.nearest(query, k),
            "searched": len(catalogue),
            "models": list(catalogue.models),
        }

    @app.get("/v1/houses/similar")
    def similar_listings(
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

    @app.post("/v1/houses/similar")
    def similar_listings_to_upload(
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

        pixels = decode_upload(photo, "photo", settings)
        catalogue = catalogues.listings
        if not catalogue.models:
            raise HTTPException(503, "houses: no published day is loaded yet")
        backbone, heads = load_backbone(catalogue.models[0]), load_heads(catalogue.models[1])
        query = query_from_pixels(pixels, backbone, heads, {"upload": photo.filename})
        answer = rank_listings(catalogue.index, query, k, same_style=same_style,
                               same_stories=same_stories)  # fmt: skip
        return {"query": {**query.source, **query_tags(query)}, **answer,
                "searched": len(catalogue), "models": list(catalogue.models)}  # fmt: skip

    return app
