"""The explorer's FastAPI app, mounted by the plugin at ``/lakesight`` on Airflow's api-server.

The app only assembles: the home router (``overview.py``) and one router per pipeline's
view (``image_features.py``, ``radar_nowcast.py``, ``house_similarity.py``,
``listing_recs.py``), behind one login and one way of answering errors, both declared here.

Every route depends on Airflow's own ``requires_authenticated()``: the Bearer header or
the ``_token`` cookie the UI sets at login. Without a valid token a request gets 401 (an
expired or forged token too, where Airflow itself would say 403), and a browser gets a
page that sends it to Airflow's login and back. Read-only: nothing here writes.

Parameters are checked before anything is read: a day must be a real date, an id a
sha256, an issue time HH:MM, a dataset one that a stage writes; anything else is a 400
(malformed) or 404 (not in the lake). Paths never come from the request: a picture is
read from the path its row in the published table gives.
"""

from __future__ import annotations

import json
import logging
from html import escape

from fastapi import Depends, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException

from lakesight.serve.uploads import UploadLimit
from lakesight_airflow.explorer import (
    house_similarity,
    image_features,
    listing_recs,
    overview,
    radar_nowcast,
)
from lakesight_airflow.explorer.common import NotFound, base_of, html, layout

log = logging.getLogger("lakesight.explorer")

UPLOAD_LIMIT = 20 * 1024 * 1024
# The home first, then the pipelines' views: adding a view is adding its router here.
ROUTERS = (overview.router, image_features.router, radar_nowcast.router, house_similarity.router,
           listing_recs.router)  # fmt: skip


def authenticated():
    """Airflow's dependency, imported when the app is built (the api-server is up by then)."""
    from airflow.api_fastapi.core_api.security import requires_authenticated

    return Depends(requires_authenticated())


def create_app() -> FastAPI:
    """The app; built once when the plugin registers, reading nothing from the lake."""
    app = FastAPI(title="lakesight explorer", dependencies=[authenticated()], docs_url=None,
                  redoc_url=None, openapi_url=None, exception_handlers=ERRORS)  # fmt: skip
    app.add_middleware(UploadLimit, limit=UPLOAD_LIMIT)
    for router in ROUTERS:
        app.include_router(router)
    return app


# --------------------------------------------------------------------------- errors


def wants_html(request: Request) -> bool:
    return "text/html" in request.headers.get("accept", "")


async def http_error(request: Request, error: HTTPException):
    """Every error's answer: a page for a browser, ``{"detail": …}`` for anything else."""
    status, detail = error.status_code, str(error.detail)
    if status == 403 and "JWT" in detail:
        status = 401  # a forged or revoked token is no login either
    if status == 401:
        login = f"/api/v2/auth/login?next={request.url}"
        if wants_html(request):
            return html(login_required_html(login), 401)
        return JSONResponse({"detail": detail}, 401)
    if wants_html(request):
        return html(error_html(base_of(request), status, detail), status)
    return JSONResponse({"detail": detail}, status)


async def invalid(request: Request, error: RequestValidationError):
    first = error.errors()[0]
    where = ".".join(str(p) for p in first["loc"] if p not in ("path", "query", "body"))
    return await http_error(request, HTTPException(400, f"{where}: {first['msg']}"))


async def failed(request: Request, error: Exception):
    # A bug, not a bad request: logged in full, answered in one line.
    log.exception("explorer: %s %s failed", request.method, request.url.path)
    return await http_error(request, HTTPException(500, f"internal error: {type(error).__name__}"))


async def not_found(request: Request, error: NotFound):
    return await http_error(request, HTTPException(404, str(error)))


ERRORS = {HTTPException: http_error, RequestValidationError: invalid, Exception: failed,
          NotFound: not_found}  # fmt: skip


def error_html(base: str, status: int, message: str) -> str:
    return layout(base, f"{status}: {message}", "")


def login_required_html(login_url: str) -> str:
    """What an unauthenticated browser gets (status 401): Airflow's login, then back here."""
    target = escape(login_url)
    in_script = json.dumps(login_url).replace("<", "\\u003c")  # no "</script>" can close it
    return (
        "<!doctype html><html><head><meta charset='utf-8'><title>log in</title></head><body>"
        f"<p>Not logged in to Airflow. <a id='login' href='{target}'>Log in</a></p>"
        f"<script>window.location.replace({in_script});</script></body></html>"
    )
