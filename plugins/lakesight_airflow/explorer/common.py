"""What every view of the explorer uses: checked parameters, the lake read once per committed
run, the page shell and the registry of the pipelines' views.

A pipeline's view is one module (``image_features.py``, ``radar_nowcast.py``,
``house_similarity.py``) whose router :func:`pipeline_router` makes: that registers its link
in every page's navigation and the DAGs whose tab opens it, so adding a view means adding
its module and including its router in ``app.py``.

Reads return plain data (dicts, DataFrames, PNG bytes) and pages are f-strings around
:func:`layout`, every value from the lake escaped; no template engine and no build step.
"""

from __future__ import annotations

import functools
import threading
from collections import OrderedDict
from dataclasses import dataclass
from html import escape
from typing import Annotated
from urllib.parse import urlencode

from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from starlette.exceptions import HTTPException

from lakesight.config import Settings
from lakesight.lake import filesystem_for, list_partitions, read_manifest
from lakesight.stage import PIPELINES, Dataset

# Parameters are checked before anything is read (a 400 otherwise): FastAPI resolves these
# names from the route modules' globals, so each module imports the ones it uses.
DT = Annotated[str, Path(pattern=r"^\d{4}-\d{2}-\d{2}$", description="a day, YYYY-MM-DD")]
SHA256 = Annotated[str, Path(pattern=r"^[0-9a-f]{64}$", description="a sha256")]
PAGE = Annotated[int, Query(ge=1, le=100_000)]
NAME = Annotated[str, Path(pattern=r"^[a-z][a-z_]{0,40}$")]
K = Annotated[int, Query(ge=1, le=50)]
# Pictures are rendered from the lake on request and cached here and in the browser.
CACHED = {"Cache-Control": "private, max-age=300"}


class NotFound(LookupError):
    """Something the request names is not in the lake (answered 404)."""


# --------------------------------------------------------------------------- requests


def settings() -> Settings:
    """The lake's settings, loaded per request: the lake is never read when the app is built."""
    from lakesight.config import load_settings

    return load_settings()


def base_of(request: Request) -> str:
    """Where the app is mounted (``/lakesight`` under Airflow): every link starts with it."""
    return request.scope.get("root_path", "").rstrip("/")


def checked_day(dt: str) -> str:
    """``dt`` when it is a real date; the pattern lets 2026-13-01 through, this does not."""
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
    """How many pages ``total`` rows make; a page past the last is a 404, not an empty page."""
    pages_total = max(1, -(-total // size))
    if page > pages_total:
        raise HTTPException(404, f"page {page}: there are {pages_total}")
    return pages_total


# --------------------------------------------------------------------------- views


@dataclass(frozen=True)
class View:
    """A pipeline's view: where it is, what it browses by day and which DAGs' tabs open it."""

    pipeline: str  # its name in the navigation, as lakesight.stage.PIPELINES spells it
    path: str  # its router's prefix: "/images"
    dataset: Dataset  # what it browses day by day: ``path`` alone opens the newest day
    dags: tuple[str, ...]  # the DAG ids whose lakesight tab opens it


# Every view a module made, in the order of lakesight.stage.PIPELINES (the overview's order).
VIEWS: list[View] = []


def navigation_order(view: View) -> int:
    return PIPELINES.index(view.pipeline) if view.pipeline in PIPELINES else len(PIPELINES)


def pipeline_router(view: View) -> APIRouter:
    """The router of one pipeline's view, listed in the navigation and the DAG tabs; its
    first route, ``view.path`` itself, redirects to the newest day of ``view.dataset``."""
    VIEWS.append(view)
    VIEWS.sort(key=navigation_order)
    router = APIRouter(prefix=view.path)

    @router.get("")
    def latest(request: Request):
        dt = latest_day(settings(), view.dataset)
        if dt is None:
            raise HTTPException(404, f"nothing published in {view.dataset} yet")
        return RedirectResponse(f"{base_of(request)}{view.path}/{dt}", 303)

    return router


# --------------------------------------------------------------------------- the lake


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


@per_lake(16)
def day_table(settings: Settings, dataset: Dataset, dt: str, run_id: str, columns=None):
    """A committed partition as pandas, read once per run (``run_id`` is the cache key, so a
    rerun of the day is seen at once); nothing is copied out of the lake."""
    from lakesight.lake import read_partition_table

    uri = dataset.partition(settings, dt)
    return read_partition_table(filesystem_for(uri, settings), uri,
                                list(columns) if columns else None)  # fmt: skip


def committed_run(settings: Settings, dataset: Dataset, dt: str):
    """(manifest) of a committed partition, or NotFound."""
    uri = dataset.partition(settings, dt)
    manifest = read_manifest(filesystem_for(uri, settings), uri)
    if manifest is None:
        raise NotFound(f"{dataset} has no committed partition dt={dt}")
    return manifest


def latest_day(settings: Settings, dataset: Dataset) -> str | None:
    days = days_of(settings, dataset)
    return days[-1] if days else None


def days_of(settings: Settings, dataset: Dataset) -> list[str]:
    uri = dataset.uri(settings)
    return list_partitions(filesystem_for(uri, settings), uri)


# --------------------------------------------------------------------------- the page shell

STYLE = """
body{font-family:system-ui,sans-serif;margin:0;color:#1d2733;background:#f6f7f9}
header{background:#017cee;color:#fff;padding:8px 16px;display:flex;gap:18px;align-items:center}
header a{color:#fff;text-decoration:none;font-weight:600}
main{padding:12px 16px}
h1{font-size:20px;margin:6px 0 12px} h2{font-size:16px;margin:16px 0 8px}
table{border-collapse:collapse;background:#fff;font-size:13px}
td,th{border:1px solid #d8dde3;padding:3px 8px;text-align:left;vertical-align:top}
.grid{display:flex;flex-wrap:wrap;gap:8px}
.tile{background:#fff;border:1px solid #d8dde3;padding:4px;width:204px;font-size:12px}
.tile img{display:block;width:200px;height:auto}
.listing{background:#fff;border:1px solid #d8dde3;padding:6px;margin-bottom:8px}
.listing img{width:160px;margin-right:4px;border:2px solid transparent}
.listing img.front{border-color:#017cee}
.muted{color:#66737f} .pager a,.pager span{margin-right:8px} code{font-size:12px}
.days a{margin-right:8px}
"""


def layout(base: str, title: str, body: str, *, script: str = "") -> str:
    """One page: the navigation (the overview, then every pipeline's view), the title, ``body``."""
    nav = "".join(
        f'<a href="{base}{path}">{label}</a>'
        for path, label in [("/", "lakesight"), *((v.path, v.pipeline) for v in VIEWS)]
    )
    return (
        f"<!doctype html><html><head><meta charset='utf-8'><title>{escape(title)}</title>"
        f"<style>{STYLE}</style></head><body><header>{nav}</header>"
        f"<main><h1 id='title'>{escape(title)}</h1>{body}</main>"
        + (f"<script>{script}</script>" if script else "")
        + "</body></html>"
    )


def link(base: str, path: str, text: str, **query) -> str:
    suffix = f"?{urlencode(query)}" if query else ""
    return f'<a href="{escape(base + path + suffix)}">{escape(text)}</a>'


def pager(base: str, path: str, page: int, pages: int) -> str:
    if pages <= 1:
        return ""
    parts = [link(base, path, "← previous", page=page - 1) if page > 1 else ""]
    parts.append(f"<span id='page'>page {page} of {pages}</span>")
    parts.append(link(base, path, "next →", page=page + 1) if page < pages else "")
    return f"<p class='pager'>{''.join(parts)}</p>"


def day_links(base: str, path: str, days: list[str], current: str) -> str:
    items = [
        f"<b>{escape(dt)}</b>" if dt == current else link(base, f"{path}/{dt}", dt)
        for dt in reversed(days[-14:])
    ]
    return f"<p class='days'>days: {''.join(items)}</p>"


def counts_text(counts: dict) -> str:
    return ", ".join(f"{escape(str(k))} {escape(str(v))}" for k, v in counts.items())
