"""The similarity service: the published similarity tables answered over HTTP.

``GET /v1/images/similar?image_id=…&k=…`` and ``POST /v1/images/similar`` (an image file,
described on the spot by the models that described the catalogue);
``GET /v1/houses/similar?photo_id=…`` and ``POST /v1/houses/similar`` (a photo);
``GET /v1/recommendations?user_id=…&k=…`` (a user's listings, popular ones for a user
never seen); ``GET /v1/health``; OpenAPI at ``/docs`` and ``/openapi.json``.

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

The app only assembles: one router per pipeline it serves (``image_features.py``,
``house_similarity.py``) and health, behind the token and the upload guards
(``uploads.py``), both declared once in :func:`create_app`. They are ASGI middleware, not
route dependencies, so a caller without the token, or an upload the gate would refuse, is
answered before its body is read.
"""

from __future__ import annotations

import hmac
import logging

from fastapi import APIRouter, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse

from lakesight.config import ConfigError
from lakesight.serve import house_similarity, image_features, listing_recs
from lakesight.serve.catalogue import Catalogues
from lakesight.serve.common import Gate, Served
from lakesight.serve.uploads import RefuseWhenFull, UploadGate, UploadLimit

log = logging.getLogger("lakesight.serve")

# Paths answered without a token: probes and the API's description hold no catalogue data.
OPEN_PATHS = frozenset({"/v1/health", "/docs", "/docs/oauth2-redirect", "/openapi.json"})


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


service = APIRouter()


@service.get("/v1/health")
def health(catalogues: Served, uploads: Gate) -> dict:
    """Index sizes, days loaded (and those that could not be read), model versions,
    memory, uploads in flight."""
    return {**catalogues.health(), "uploads": uploads.health()}


# Health first, then a router per pipeline served: adding one is adding its router here.
ROUTERS = (service, image_features.router, house_similarity.router, listing_recs.router)
# Every POST takes an upload: the gate refuses those before their bodies are read.
UPLOAD_PATHS = frozenset(
    route.path for router in ROUTERS for route in router.routes if "POST" in route.methods
)


def create_app(catalogues: Catalogues, *, max_upload_bytes: int = 10 * 1024 * 1024,
               token: str | None = None) -> FastAPI:  # fmt: skip
    """The service over ``catalogues`` (which it reads at every request, never caches);
    with ``token``, every request but health and the docs must carry it."""
    from lakesight import __version__

    app = FastAPI(
        title="lakesight similarity service",
        version=__version__,
        summary="Images and listings similar to a published one or to an upload.",
        exception_handlers=ERRORS,
    )
    settings = catalogues.settings
    # The largest upload it admits decodes to max_image_pixels RGB bytes (150 MB at 50 MP).
    uploads = UploadGate(settings.serve_max_uploads, settings.serve_upload_queue,
                         max_decoded_bytes=3 * settings.max_image_pixels)  # fmt: skip
    app.state.catalogues, app.state.uploads = catalogues, uploads
    # The last added runs first: the token, then a full gate, then the size limit.
    app.add_middleware(UploadLimit, limit=max_upload_bytes)
    app.add_middleware(RefuseWhenFull, gate=uploads, paths=UPLOAD_PATHS)
    if token:  # no body is read for a caller without it
        app.add_middleware(BearerAuth, token=token)
    for router in ROUTERS:
        app.include_router(router)
    return app


# --------------------------------------------------------------------------- errors


def one_line(error: RequestValidationError) -> str:
    first = error.errors()[0]
    where = ".".join(str(part) for part in first["loc"] if part not in ("query", "body"))
    return f"{where}: {first['msg']}"


async def invalid(request: Request, error: RequestValidationError):
    return JSONResponse({"detail": one_line(error)}, 422)


async def failed(request: Request, error: Exception):
    # A bug, not bad input: logged in full, answered in one line, and the service goes on.
    log.exception("%s %s failed", request.method, request.url.path)
    return JSONResponse({"detail": f"internal error: {type(error).__name__}"}, 500)


async def not_answerable(request: Request, error: ConfigError):
    return JSONResponse({"detail": str(error).splitlines()[0]}, 400)


ERRORS = {RequestValidationError: invalid, Exception: failed, ConfigError: not_answerable}
