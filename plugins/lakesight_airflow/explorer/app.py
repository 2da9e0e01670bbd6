"""The explorer's FastAPI app, mounted by the plugin at ``/lakesight`` on Airflow's api-server.

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

import logging
from typing import Annotated

from fastapi import Depends, FastAPI, File, Path, Query, Request, UploadFile
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from starlette.exceptions import HTTPException

from lakesight_airflow.explorer import data, pages

log = logging.getLogger("lakesight.explorer")

DT = Annotated[str, Path(pattern=r"^\d{4}-\d{2}-\d{2}$", description="a day, YYYY-MM-DD")]
SHA256 = Annotated[str, Path(pattern=r"^[0-9a-f]{64}$", description="a sha256")]
PAGE = Annotated[int, Query(ge=1, le=100_000)]
NAME = Annotated[str, Path(pattern=r"^[a-z][a-z_]{0,40}$")]
PICTURE_KINDS = ("detections", "crop", "thumb")
# Pictures are rendered from the lake on request and cached here and in the browser.
CACHED = {"Cache-Control": "private, max-age=300"}
UPLOAD_LIMIT = 20 * 1024 * 1024
# The pipeline each DAG's tab opens.
DAG_VIEWS = {"image_features": "/images", "radar_nowcast": "/radar",
             "radar_nowcast_train": "/radar", "house_similarity": "/houses"}  # fmt: skip


def authenticated():
    """Airflow's dependency, imported when the app is built (the api-server is up by then)."""
    from airflow.api_fastapi.core_api.security import requires_authenticated

    return Depends(requires_authenticated())


def settings():
    from lakesight.config import load_settings

    return load_settings()


def base_of(request: Request) -> str:
    return request.scope.get("root_path", "").rstrip("/")


def checked_day(dt: str) -> str:
    from lakesight.config import ConfigError, validate_dt

    try:
        return validate_dt(dt)
    except ConfigError as err:
        raise HTTPException(400, str(err)) from None


def html(body: str, status: int = 200) -> HTMLResponse:
    return HTMLResponse(body, status)


def png(body: bytes) -> Response:
    return Response(body, media_type="image/png", headers=CACHED)


def pages_of(total: int, size: int, page: int) -> int:
    pages_total = max(1, -(-total // size))
    if page > pages_total:
        raise HTTPException(404, f"page {page}: there are {pages_total}")
    return pages_total


def create_app() -> FastAPI:
    """The app; built once when the plugin registers, reading nothing from the lake."""
    from lakesight.serve.app import UploadLimit

    app = FastAPI(title="lakesight explorer", dependencies=[authenticated()], docs_url=None,
                  redoc_url=None, openapi_url=None)  # fmt: skip
    app.add_middleware(UploadLimit, limit=UPLOAD_LIMIT)

    def wants_html(request: Request) -> bool:
        return "text/html" in request.headers.get("accept", "")

    @app.exception_handler(HTTPException)
    async def http_error(request: Request, error: HTTPException):
        status, detail = error.status_code, str(error.detail)
        if status == 403 and "JWT" in detail:
            status = 401  # a forged or revoked token is no login either
        if status == 401:
            login = f"/api/v2/auth/login?next={request.url}"
            if wants_html(request):
                return html(pages.login_required(login), 401)
            return JSONResponse({"detail": detail}, 401)
        if wants_html(request):
            return html(pages.error(base_of(request), status, detail), status)
        return JSONResponse({"detail": detail}, status)

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, error: RequestValidationError):
        first = error.errors()[0]
        where = ".".join(str(p) for p in first["loc"] if p not in ("path", "query", "body"))
        return await http_error(request, HTTPException(400, f"{where}: {first['msg']}"))

    @app.exception_handler(Exception)
    async def failed(request: Request, error: Exception):
        # A bug, not a bad request: logged in full, answered in one line.
        log.exception("explorer: %s %s failed", request.method, request.url.path)
        return await http_error(
            request, HTTPException(500, f"internal error: {type(error).__name__}")
        )

    @app.exception_handler(data.NotFound)
    async def not_found(request: Request, error: data.NotFound):
        return await http_error(request, HTTPException(404, str(error)))

    # ------------------------------------------------------------------ overview
    @app.get("/", response_class=HTMLResponse)
    def overview(request: Request):
        return html(pages.overview(base_of(request), data.overview(settings())))

    @app.get("/partitions/{zone}/{name}/{dt}", response_class=HTMLResponse)
    def partition(request: Request, zone: NAME, name: NAME, dt: DT, page: PAGE = 1):
        found = data.partition(settings(), f"{zone}/{name}", checked_day(dt), page)
        total = pages_of(found["total"], data.PAGE_SIZE["quarantine"], page)
        return html(pages.partition(base_of(request), found, page, total))

    @app.get("/dags/{dag_id}")
    def dag_tab(request: Request, dag_id: Annotated[str, Path(pattern=r"^[A-Za-z0-9_.-]{1,250}$")]):
        """A DAG's tab in the Airflow UI: that pipeline's view."""
        view = DAG_VIEWS.get(dag_id)
        if view is None:
            raise HTTPException(404, f"DAG {dag_id} has no lakesight view")
        return RedirectResponse(f"{base_of(request)}{view}", 303)

    # ------------------------------------------------------------------ image_features
    def latest(request: Request, dataset, path: str):
        dt = data.latest_day(settings(), dataset)
        if dt is None:
            raise HTTPException(404, f"nothing published in {dataset} yet")
        return RedirectResponse(f"{base_of(request)}{path}/{dt}", 303)

    @app.get("/images")
    def images_latest(request: Request):
        from lakesight.image_features.datasets import FEATURES

        return latest(request, FEATURES, "/images")

    @app.get("/images/{dt}", response_class=HTMLResponse)
    def images_day(request: Request, dt: DT, page: PAGE = 1):
        from lakesight.image_features.datasets import FEATURES

        lake = settings()
        features, _ = data.image_features(lake, checked_day(dt))
        size = data.PAGE_SIZE["images"]
        total = pages_of(len(features), size, page)
        rows = data.image_rows(features.iloc[(page - 1) * size : page * size])
        days = data.days_of(lake, FEATURES)
        return html(pages.images_day(base_of(request), dt, days, rows, len(features), page, total))

    @app.get("/images/{dt}/{image_id}", response_class=HTMLResponse)
    def image(
        request: Request, dt: DT, image_id: SHA256, k: Annotated[int, Query(ge=1, le=50)] = 8
    ):
        lake = settings()
        row = data.image_row(lake, checked_day(dt), image_id)
        neighbours = data.image_neighbours(lake, dt, image_id, k)
        return html(pages.image(base_of(request), dt, row, neighbours))

    @app.get("/images/{dt}/{image_id}/{kind}.png")
    def image_picture(dt: DT, image_id: SHA256, kind: NAME):
        if kind not in PICTURE_KINDS:
            raise HTTPException(404, f"no picture {kind}; one of {', '.join(PICTURE_KINDS)}")
        lake = settings()
        _, manifest = data.image_features(lake, checked_day(dt))
        return png(data.image_picture(lake, dt, image_id, kind, manifest.run_id))

    @app.post("/images/{dt}/search", response_class=HTMLResponse)
    def images_search(request: Request, dt: DT, image: Annotated[UploadFile, File()],
                      k: Annotated[int, Query(ge=1, le=50)] = 8):  # fmt: skip
        from lakesight.serve.app import decode_upload

        lake = settings()
        checked_day(dt)
        pixels = decode_upload(image, "image", lake)
        answer = data.images_like_upload(lake, dt, pixels, k)
        return html(pages.search_results(base_of(request), dt, image.filename or "upload", answer))

    # ------------------------------------------------------------------ radar_nowcast
    @app.get("/radar")
    def radar_latest(request: Request):
        from lakesight.radar_nowcast.datasets import FORECASTS

        return latest(request, FORECASTS, "/radar")

    @app.get("/radar/{dt}", response_class=HTMLResponse)
    def radar(request: Request, dt: DT,
              issued: Annotated[str | None, Query(pattern=r"^\d{2}:\d{2}$")] = None):  # fmt: skip
        from lakesight.radar_nowcast.datasets import FORECASTS

        lake = settings()
        day = data.radar_day(lake, checked_day(dt))
        if issued is not None and issued not in day["issued"]:
            raise HTTPException(404, f"no forecast issued at {issued} on {dt}")
        if issued is None and day["issued"]:
            issued = day["issued"][len(day["issued"]) // 2]
        days = data.days_of(lake, FORECASTS)
        return html(pages.radar(base_of(request), dt, days, day, issued))

    @app.get("/radar/{dt}/panels.png")
    def radar_panels(dt: DT, issued: Annotated[str, Query(pattern=r"^\d{2}:\d{2}$")]):
        from lakesight.radar_nowcast.datasets import FORECASTS

        lake = settings()
        run = data.committed_run(lake, FORECASTS, checked_day(dt)).run_id
        return png(data.radar_panels(lake, dt, issued, run))

    @app.get("/radar/{dt}/csi.png")
    def radar_csi(dt: DT):
        return png(data.radar_csi_plot(settings(), checked_day(dt)))

    # ------------------------------------------------------------------ house_similarity
    @app.get("/houses")
    def houses_latest(request: Request):
        from lakesight.house_similarity.datasets import FEATURES

        return latest(request, FEATURES, "/houses")

    @app.get("/houses/{dt}", response_class=HTMLResponse)
    def houses_day(request: Request, dt: DT, page: PAGE = 1):
        from lakesight.house_similarity.datasets import FEATURES

        lake = settings()
        found = data.listing_page(lake, checked_day(dt), page)
        total = pages_of(found["total"], data.PAGE_SIZE["listings"], page)
        days = data.days_of(lake, FEATURES)
        return html(pages.houses_day(base_of(request), dt, days, found, page, total))

    @app.get("/houses/{dt}/photos/{photo_id}", response_class=HTMLResponse)
    def photo(request: Request, dt: DT, photo_id: SHA256,
              k: Annotated[int, Query(ge=1, le=50)] = 8):  # fmt: skip
        answer = data.similar_listings(settings(), checked_day(dt), photo_id, k)
        return html(pages.similar_listings(base_of(request), dt, answer))

    @app.get("/houses/{dt}/photos/{photo_id}/photo.png")
    def photo_picture(dt: DT, photo_id: SHA256):
        lake = settings()
        _, manifest = data.listings_day(lake, checked_day(dt))
        return png(data.listing_photo(lake, dt, photo_id, manifest.run_id))

    return app
