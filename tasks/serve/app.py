"""The similarity service: the published similarity tables answered over HTTP.

``GET /v1/images/similar?image_id=…&k=…`` and ``POST /v1/images/similar`` (an image file,
described on the spot by the models that described the catalogue);
``GET /v1/houses/similar?photo_id=…`` and ``POST /v1/houses/similar`` (a photo);
``GET /v1/health``; OpenAPI at ``/docs`` and ``/openapi.json``.

With a token (``lakesight serve`` demands one on any non-loopback address), every request
but health and the API docs needs ``Authorization: Bearer <token>``, else 401. Health stays
open for probes (a load balancer, compose's healthcheck): it says how much is loaded and
which days failed, never a listing or an image. Uploads pass an :class:`UploadGate`: at
most ``settings.serve_max_uploads`` decoded and described at once, a few more waiting,
the rest a 503 with ``Retry-After``; id queries never wait behind them.

Answers are the rankings of ``lakesight similar`` and ``lakesight houses similar`` over
the whole catalogue, each hit with the day it was published. Bad input is a 4xx whose
``detail`` is one line: a parameter out of range or malformed (422), an unknown id (404),
an upload that is not an image (415) or too large (413, checked while it streams in, so
a huge body is never held), tag filters on a query that has no tags (400).
"""

from __future__ import annotations

import hmac
import logging
import threading
from collections.abc import Callable
from typing import Annotated, TypeVar

import numpy as np
from fastapi import FastAPI, File, HTTPException, Query, Request, UploadFile
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse

from lakesight.config import ConfigError
from lakesight.serve.catalogue import Catalogues

log = logging.getLogger("lakesight.serve")
T = TypeVar("T")

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


# Paths answered without a token: probes and the API's description hold no catalogue data.
OPEN_PATHS = frozenset({"/v1/health", "/docs", "/docs/oauth2-redirect", "/openapi.json"})
# Seconds a refused upload is told to wait: about one upload's decode and description.
RETRY_AFTER_S = 2


class BearerAuth:
    """ASGI middleware: every request outside :data:`OPEN_PATHS` carries
    ``Authorization: Bearer <token>``, compared in constant time, else 401. The token is
    never logged or echoed."""

    def __init__(self, app, token: str) -> None:
        self.app, self.expected = app, f"Bearer {token}".encode()

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http" or scope["path"] in OPEN_PATHS:
            return await self.app(scope, receive, send)
        given = dict(scope["headers"]).get(b"authorization", b"")
        if not hmac.compare_digest(given, self.expected):
            response = JSONResponse(
                {"detail": "authorization: a valid 'Authorization: Bearer <token>' is required"},
                401,
                headers={"WWW-Authenticate": "Bearer"},
            )
            return await response(scope, receive, send)
        return await self.app(scope, receive, send)


class UploadGate:
    """At most ``slots`` uploads decoded and described at once, at most ``waiting`` more
    queued for a slot; an upload beyond both is refused at once (503 + Retry-After) rather
    than held, so neither memory nor the server's worker threads grow with a flood.

    The work runs on ``slots`` threads of the gate's own: the allocator keeps what a
    thread freed for that thread's next use, so analyses spread over the server's 40
    request threads would leave up to 40 uploads' worth resident however few ran at once.
    """

    def __init__(self, slots: int, waiting: int, max_decoded_bytes: int = 0) -> None:
        from concurrent.futures import ThreadPoolExecutor

        self.slots, self.waiting, self.max_decoded_bytes = slots, waiting, max_decoded_bytes
        self._workers = ThreadPoolExecutor(slots, thread_name_prefix="lakesight-upload",
                                           initializer=lower_priority)  # fmt: skip
        self._lock = threading.Lock()
        self.admitted = 0  # running + waiting
        self.refused = 0

    def full(self) -> bool:
        return self.admitted >= self.slots + self.waiting

    def refusal(self) -> HTTPException:
        with self._lock:
            self.refused += 1
        return HTTPException(
            503,
            f"uploads: {self.slots} being analysed and {self.waiting} waiting "
            f"(LAKESIGHT_SERVE_MAX_UPLOADS / LAKESIGHT_SERVE_UPLOAD_QUEUE); "
            f"retry in {RETRY_AFTER_S}s",
            headers={"Retry-After": str(RETRY_AFTER_S)},
        )

    def run(self, work: Callable[[], T]) -> T:
        """``work()`` on one of the slots, waiting for one in the queue if need be; its
        exceptions (an HTTPException for a bad upload) propagate to the caller."""
        with self._lock:
            admit = not self.full()
            self.admitted += admit
        if not admit:
            raise self.refusal()
        try:
            return self._workers.submit(work).result()
        finally:
            with self._lock:
                self.admitted -= 1

    def health(self) -> dict:
        return {"slots": self.slots, "queue": self.waiting, "admitted": self.admitted,
                "refused": self.refused, "max_decoded_bytes": self.max_decoded_bytes}  # fmt: skip


def lower_priority() -> None:
    """Run this thread (and the model runtime threads it starts) at a lower CPU priority:
    on a busy machine, id queries get the cores before upload analyses do."""
    import contextlib
    import os

    # Not Linux, or not allowed: the same priority, still bounded.
    with contextlib.suppress(AttributeError, OSError):
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), 10)  # Linux: this thread


class RefuseWhenFull:
    """ASGI middleware: an upload that the gate would refuse is refused before its body is
    read and parsed, so a flood costs the service a header's worth of work per request."""

    def __init__(self, app, gate: UploadGate, paths: frozenset[str]) -> None:
        self.app, self.gate, self.paths = app, gate, paths

    async def __call__(self, scope, receive, send):
        if (scope["type"] == "http" and scope["method"] == "POST"
                and scope["path"] in self.paths and self.gate.full()):  # fmt: skip
            refused = self.gate.refusal()
            response = JSONResponse({"detail": refused.detail}, 503, headers=refused.headers)
            return await response(scope, receive, send)
        return await self.app(scope, receive, send)


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


def create_app(catalogues: Catalogues, *, max_upload_bytes: int = 10 * 1024 * 1024,
               token: str | None = None) -> FastAPI:  # fmt: skip
    """The service over ``catalogues`` (which it reads at every request, never caches);
    with ``token``, every request but health and the docs must carry it."""
    from lakesight import __version__

    app = FastAPI(
        title="lakesight similarity service",
        version=__version__,
        summary="Images and listings similar to a published one or to an upload.",
    )
    settings = catalogues.settings
    # The largest upload it admits decodes to max_image_pixels RGB bytes (150 MB at 50 MP).
    uploads = UploadGate(settings.serve_max_uploads, settings.serve_upload_queue,
                         max_decoded_bytes=3 * settings.max_image_pixels)  # fmt: skip
    app.state.uploads = uploads
    # The last added runs first: the token, then a full gate, then the size limit.
    app.add_middleware(UploadLimit, limit=max_upload_bytes)
    app.add_middleware(RefuseWhenFull, gate=uploads,
                       paths=frozenset({"/v1/images/similar", "/v1/houses/similar"}))  # fmt: skip
    if token:  # no body is read for a caller without it
        app.add_middleware(BearerAuth, token=token)

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
        """Index sizes, days loaded (and those that could not be read), model versions,
        memory, uploads in flight."""
        return {**catalogues.health(), "uploads": uploads.health()}

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

        catalogue = catalogues.images
        if not catalogue.models:
            raise HTTPException(503, "images: no published day is loaded yet")

        def describe():  # on an upload slot: the decoded pixels never leave it
            pixels = decode_upload(image, "image", settings)
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

        catalogue = catalogues.listings
        if not catalogue.models:
            raise HTTPException(503, "houses: no published day is loaded yet")

        def describe():  # on an upload slot: the decoded pixels never leave it
            pixels = decode_upload(photo, "photo", settings)
            backbone, heads = load_backbone(catalogue.models[0]), load_heads(catalogue.models[1])
            return query_from_pixels(pixels, backbone, heads, {"upload": photo.filename})

        query = uploads.run(describe)
        answer = rank_listings(catalogue.index, query, k, same_style=same_style,
                               same_stories=same_stories)  # fmt: skip
        return {"query": {**query.source, **query_tags(query)}, **answer,
                "searched": len(catalogue), "models": list(catalogue.models)}  # fmt: skip

    return app
