"""The listing_recs view: a day's recommendations by user, and one user's history beside
their recommendations, each listing with its photo, each recommendation with its source.

A listing's photo is its front exterior (else its first photo) as ``features/listings``
last published it, served by the house_similarity view's photo route.
"""

from __future__ import annotations

from html import escape
from typing import Annotated
from urllib.parse import quote

from fastapi import Path, Request
from fastapi.responses import HTMLResponse

from lakesight.config import Settings
from lakesight.listing_recs.datasets import INTERACTIONS, RECOMMENDATIONS
from lakesight_airflow.explorer.common import (
    DT,
    PAGE,
    NotFound,
    View,
    base_of,
    checked_day,
    committed_run,
    counts_text,
    day_links,
    day_table,
    days_of,
    html,
    layout,
    link,
    pager,
    pages_of,
    per_lake,
    pipeline_router,
    settings,
)

PAGE_SIZE = 50  # users a page
HISTORY_DAYS = 56  # the recommend stage's window (8 weeks)
USER_ID = Annotated[str, Path(pattern=r"^[^/\\\x00-\x1f\x7f]{1,200}$", description="a user id")]

router = pipeline_router(View("listing_recs", "/recs", RECOMMENDATIONS, dags=("listing_recs",)))


@router.get("/{dt}", response_class=HTMLResponse)
def recs_day(request: Request, dt: DT, page: PAGE = 1):
    lake = settings()
    manifest = committed_run(lake, RECOMMENDATIONS, checked_day(dt))
    users = user_table(lake, dt, manifest.run_id)
    pages = pages_of(len(users), PAGE_SIZE, page)
    shown = users.iloc[(page - 1) * PAGE_SIZE : page * PAGE_SIZE]
    return html(recs_day_html(base_of(request), dt, days_of(lake, RECOMMENDATIONS), manifest,
                              shown, len(users), page, pages))  # fmt: skip


@router.get("/{dt}/users/{user_id}", response_class=HTMLResponse)
def user_page(request: Request, dt: DT, user_id: USER_ID):
    found = user_recommendations(settings(), checked_day(dt), user_id)
    return html(user_html(base_of(request), dt, found))


# --------------------------------------------------------------------------- queries


def recommendations_day(settings: Settings, dt: str):
    manifest = committed_run(settings, RECOMMENDATIONS, dt)
    return day_table(settings, RECOMMENDATIONS, dt, manifest.run_id), manifest


@per_lake(8)
def user_table(settings: Settings, dt: str, run_id: str):
    """Per user of the day: how many rows, and from which sources."""
    table, _ = recommendations_day(settings, dt)
    grouped = table.groupby("user_id")["source"]
    return grouped.agg(rows="size", sources=lambda s: ", ".join(sorted(set(s)))).reset_index()


@per_lake(8)
def listing_photos(settings: Settings, dt: str) -> dict[str, dict]:
    """listing_id → its photo (``photo_id``, the day it was published, its tags), from the
    latest ``features/listings`` day up to ``dt`` that has the listing."""
    from lakesight.house_similarity.datasets import FEATURES

    photos = {}
    days = [d for d in days_of(settings, FEATURES) if d <= dt][-HISTORY_DAYS:]
    for day in days:  # oldest first: a later day's photo replaces an earlier one
        manifest = committed_run(settings, FEATURES, day)
        table = day_table(settings, FEATURES, day, manifest.run_id,
                          ("listing_id", "photo_id", "exterior", "style", "stories"))  # fmt: skip
        table = table.sort_values(
            ["listing_id", "exterior", "photo_id"], ascending=[True, False, True]
        )
        for row in table.drop_duplicates("listing_id").itertuples():
            photos[row.listing_id] = {"photo_id": row.photo_id, "dt": day, "style": row.style,
                                      "stories": row.stories}  # fmt: skip
    return photos


def user_recommendations(settings: Settings, dt: str, user_id: str) -> dict:
    """The user's recommendations of ``dt`` and their history (events of the window up to
    ``dt``), each listing with its photo."""
    table, manifest = recommendations_day(settings, dt)
    rows = table[table["user_id"] == user_id].sort_values("rank")
    if rows.empty:
        raise NotFound(f"no recommendations for user {user_id} on {dt}")
    photos = listing_photos(settings, dt)
    history = []
    for day in [d for d in days_of(settings, INTERACTIONS) if d <= dt][-HISTORY_DAYS:]:
        events = day_table(
            settings, INTERACTIONS, day, committed_run(settings, INTERACTIONS, day).run_id
        )
        mine = events[events["user_id"] == user_id]
        history += [{"listing_id": r.listing_id, "event": r.event, "ts": str(r.ts)[:19]}
                    for r in mine.itertuples()]  # fmt: skip
    return {
        "user_id": user_id,
        "models": [m["name"] for m in manifest.models],
        "recommendations": [{**r, "photo": photos.get(r["listing_id"])}
                            for r in rows[["rank", "listing_id", "score", "source"]].to_dict("records")],
        "history": [{**h, "photo": photos.get(h["listing_id"])} for h in sorted(history, key=lambda h: h["ts"])],
    }  # fmt: skip


# --------------------------------------------------------------------------- pages


def listing_card(base: str, item: dict, caption: str) -> str:
    photo = item.get("photo")
    image = "<div class='muted'>no photo published</div>"
    if photo:
        source = f"{base}/houses/{photo['dt']}/photos/{photo['photo_id']}/photo.png"
        image = f"<img loading='lazy' alt='{escape(item['listing_id'])}' src='{escape(source)}'>"
    tags = ""
    if photo and isinstance(photo["style"], str):  # a listing with a front exterior shows them
        tags = f"{photo['style']}, {int(photo['stories'])} stories"
    return (
        f"<div class='tile' data-listing-id='{escape(item['listing_id'])}'>{image}"
        f"<b>{escape(item['listing_id'])}</b><br>{caption}"
        f"<br><span class='muted'>{escape(tags)}</span></div>"
    )


def user_path(dt: str, user_id: str) -> str:
    return f"/recs/{dt}/users/{quote(user_id, safe='')}"


def recs_day_html(base: str, dt: str, days: list[str], manifest, users, total: int, page: int,
                  pages: int) -> str:  # fmt: skip
    rows = "".join(
        f"<tr class='user' data-user-id='{escape(u.user_id)}'>"
        f"<td>{link(base, user_path(dt, u.user_id), u.user_id)}</td>"
        f"<td>{u.rows}</td><td>{escape(u.sources)}</td></tr>"
        for u in users.itertuples()
    )  # fmt: skip
    body = (
        day_links(base, "/recs", days, dt)
        + f"<p id='count'>{total} users with recommendations on {escape(dt)} "
        f"({counts_text(manifest.counts)}); models: "
        f"{escape(', '.join(m['name'] for m in manifest.models) or 'none yet')}</p>"
        + pager(base, f"/recs/{dt}", page, pages)
        + f"<table id='users'><tr><th>user</th><th>listings</th><th>sources</th></tr>{rows}</table>"
    )
    return layout(base, f"listing_recs dt={dt}", body)


def user_html(base: str, dt: str, found: dict) -> str:
    recs = "".join(
        listing_card(base, r, f"#{r['rank']} <span class='source'>{escape(r['source'])}</span> "
                              f"<span class='muted'>{r['score']:.3f}</span>")
        for r in found["recommendations"]
    )  # fmt: skip
    history = "".join(
        listing_card(base, h, f"<span class='event'>{escape(h['event'])}</span> "
                              f"<span class='muted'>{escape(h['ts'])}</span>")
        for h in found["history"]
    )  # fmt: skip
    body = (
        f"<p>models: {escape(', '.join(found['models']) or 'none yet: popular and visual only')}; "
        "sources: <b>cf</b> the recommender, <b>visual</b> photos and tags like theirs, "
        "<b>popular</b> what most users engaged with</p>"
        f"<h2>recommended</h2><div id='recommended' class='grid'>{recs}</div>"
        f"<h2>history ({len(found['history'])} events)</h2><div id='history' class='grid'>{history}</div>"
    )  # fmt: skip
    return layout(base, f"recommendations for {found['user_id']} dt={dt}", body)
