"""The explorer's HTML: server-rendered pages, every value from the lake escaped.

Each function takes plain data and the base URL the app is mounted at, and returns
one page. No template engine and no build step: a page is a few f-strings around
:func:`layout`, and the only script is a few lines of keyboard navigation.
"""

from __future__ import annotations

import json
from html import escape
from urllib.parse import urlencode

from lakesight.lake import uri_path

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

# Radar: the left and right arrow keys step through the day's issue times.
KEYS = """
document.addEventListener('keydown', e => {
  const link = document.getElementById(e.key === 'ArrowLeft' ? 'previous' : e.key === 'ArrowRight' ? 'next' : '');
  if (link) { window.location.href = link.href; }
});
"""


def layout(base: str, title: str, body: str, *, script: str = "") -> str:
    nav = "".join(
        f'<a href="{base}{path}">{label}</a>'
        for path, label in (("/", "lakesight"), ("/images", "image_features"),
                            ("/radar", "radar_nowcast"), ("/houses", "house_similarity"))
    )  # fmt: skip
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


# --------------------------------------------------------------------------- overview


def overview(base: str, pipelines: list[dict]) -> str:
    sections = []
    for entry in pipelines:
        rows = []
        for part in entry["partitions"]:
            stage, m, dt = part["stage"], part["manifest"], part["dt"]
            quarantine = ""
            if stage.quarantine is not None:
                quarantine = link(base, f"/partitions/{stage.quarantine}/{dt}", "quarantine")
            models = ", ".join(escape(x["name"]) for x in m.models)
            timings = ", ".join(
                f"{escape(k)} {v:.1f}s" for k, v in m.timings.items() if isinstance(v, int | float)
            )
            output = link(base, f"/partitions/{stage.output}/{dt}", dt)
            rows.append(
                f"<tr class='partition' data-stage='{escape(stage.name)}' data-dt='{escape(dt)}'>"
                f"<td>{escape(stage.short)}</td><td>{output}</td>"
                f"<td class='counts'>{counts_text(m.counts)}</td><td>{models}</td>"
                f"<td>{timings}</td><td>{quarantine}</td></tr>"
            )
        table = (
            "<table><tr><th>stage</th><th>dt</th><th>counts</th><th>models</th>"
            f"<th>timings</th><th></th></tr>{''.join(rows)}</table>"
            if rows
            else "<p class='muted'>nothing committed yet</p>"
        )
        sections.append(f"<section id='{escape(entry['pipeline'])}'><h2>{escape(entry['pipeline'])}</h2>{table}</section>")  # fmt: skip
    return layout(base, "lakesight: what the pipelines produced", "".join(sections))


def partition(base: str, data: dict, page: int, pages: int) -> str:
    m = data["manifest"]
    facts = {
        "partition": data["uri"], "stage": m.stage, "schema": m.schema_version,
        "counts": counts_text(m.counts), "models": ", ".join(x["name"] for x in m.models),
        "run": m.run_id, "committed": m.created_at, "code": m.code_version,
        "input fingerprint": m.input_fingerprint,
    }  # fmt: skip
    rows = "".join(
        f"<tr><th>{escape(k)}</th><td>{v if k == 'counts' else escape(str(v))}</td></tr>"
        for k, v in facts.items()
    )
    body = f"<table id='manifest'>{rows}</table>"
    if data["dataset"].startswith("quarantine/"):
        records = "".join(
            "<tr class='quarantined'>" + "".join(f"<td>{escape(str(r.get(c, '')))}</td>" for c in ("reason", "path", "detail")) + "</tr>"
            for r in data["rows"]
        )  # fmt: skip
        body += (
            f"<h2>{data['total']} quarantined</h2>"
            f"<table id='quarantine'><tr><th>reason</th><th>path</th><th>detail</th></tr>{records}</table>"
            + pager(base, f"/partitions/{data['dataset']}/{data['dt']}", page, pages)
        )  # fmt: skip
    return layout(base, f"{data['dataset']} dt={data['dt']}", body)


# --------------------------------------------------------------------------- image_features


def image_tile(base: str, dt: str, image_id: str, path: str, caption: str) -> str:
    name = uri_path(str(path)).rsplit("/", 1)[-1]  # paths are URIs: show the file's name
    return (
        f"<div class='tile' data-image-id='{escape(image_id)}'>"
        f"<a href='{escape(f'{base}/images/{dt}/{image_id}')}'>"
        f"<img loading='lazy' alt='{escape(name)}' src='{escape(f'{base}/images/{dt}/{image_id}/thumb.png')}'></a>"
        f"<div>{escape(name)}</div><div class='muted'>{escape(caption)}</div></div>"
    )  # fmt: skip


def images_day(base: str, dt: str, days: list[str], rows: list[dict], total: int, page: int,
               pages: int) -> str:  # fmt: skip
    tiles = "".join(
        image_tile(base, dt, r["image_id"], r["path"],
                   ", ".join(f"{d['label']} {d['score']:.2f}" for d in r["detections"][:3]) or "no object")
        for r in rows
    )  # fmt: skip
    search = (
        f"<form method='post' enctype='multipart/form-data' action='{escape(f'{base}/images/{dt}/search')}'>"
        "search this day by image: <input type='file' name='image' accept='image/*' required> "
        "<button type='submit'>search</button></form>"
    )  # fmt: skip
    body = (
        day_links(base, "/images", days, dt)
        + f"<p id='count'>{total} images published on {escape(dt)}</p>{search}"
        + pager(base, f"/images/{dt}", page, pages)
        + f"<div class='grid' id='images'>{tiles}</div>"
    )
    return layout(base, f"image_features dt={dt}", body)


def neighbours_grid(base: str, dt: str, results: list[dict]) -> str:
    return "<div class='grid' id='neighbours'>" + "".join(
        image_tile(base, dt, r["image_id"], r["path"], f"d={r['distance']} cos={r['score']:.3f}")
        for r in results
    ) + "</div>"  # fmt: skip


def image(base: str, dt: str, row: dict, neighbours: list[dict]) -> str:
    detections = "".join(
        f"<tr><td>{escape(d['label'])}</td><td>{d['score']:.3f}</td><td>"
        f"{d['x_min']:.2f}, {d['y_min']:.2f}, {d['x_max']:.2f}, {d['y_max']:.2f}</td></tr>"
        for d in row["detections"]
    )
    top = row["top"]
    picture = f"{base}/images/{dt}/{row['image_id']}"
    body = (
        f"<p><code id='image-id'>{escape(row['image_id'])}</code><br><code>{escape(str(row['path']))}</code></p>"
        f"<p><img id='detections' alt='detections' src='{escape(picture + '/detections.png')}'> "
        f"<img id='crop' alt='crop' src='{escape(picture + '/crop.png')}'></p>"
        f"<p>described: {escape(top['label'] + ' ' + format(top['score'], '.2f')) if top is not None else 'the whole image (no object)'}</p>"
        f"<table id='detection-table'><tr><th>label</th><th>score</th><th>box</th></tr>{detections}</table>"
        f"<h2>{len(neighbours)} nearest on {escape(dt)} (Hamming, then cosine)</h2>"
        + neighbours_grid(base, dt, neighbours)
    )  # fmt: skip
    return layout(base, f"image {row['image_id'][:12]} dt={dt}", body)


def search_results(base: str, dt: str, filename: str, answer: dict) -> str:
    top = answer["top"]
    described = f"{top['label']} {top['score']:.2f}" if top else "the whole image"
    body = (
        f"<p>uploaded <code>{escape(filename)}</code>, described: {escape(described)}</p>"
        + neighbours_grid(base, dt, answer["results"])
    )
    return layout(base, f"images like an upload, dt={dt}", body)


# --------------------------------------------------------------------------- radar_nowcast


def radar(base: str, dt: str, days: list[str], day: dict, issued: str | None) -> str:
    times = day["issued"]
    links = []
    for t in times:
        links.append(
            f"<b id='issued'>{t}</b>" if t == issued else link(base, f"/radar/{dt}", t, issued=t)
        )
    body = (
        day_links(base, "/radar", days, dt)
        + f"<p id='models'>models: {escape(', '.join(day['models']))}</p>"
    )
    if issued is not None:
        i = times.index(issued)
        step = "".join([
            link(base, f"/radar/{dt}", "← earlier", issued=times[i - 1]).replace("<a ", "<a id='previous' ", 1) if i > 0 else "",
            " ",
            link(base, f"/radar/{dt}", "later →", issued=times[i + 1]).replace("<a ", "<a id='next' ", 1) if i + 1 < len(times) else "",
        ])  # fmt: skip
        panels = f"{base}/radar/{dt}/panels.png?{urlencode({'issued': issued})}"
        body += (
            f"<h2>issued {escape(dt)} {issued} UTC: observed and every model by lead</h2><p>{step} <span class='muted'>(← → keys)</span></p>"
            f"<p><img id='panels' alt='forecast panels' src='{escape(panels)}'></p>"
        )  # fmt: skip
    summary = day["summary"]
    if summary.get("leads_min"):
        leads = summary["leads_min"]
        rows = "".join(
            f"<tr><td>{escape(model)}</td>" + "".join(f"<td>{'' if v is None else f'{v:.2f}'}</td>" for v in per.get("2", [None] * len(leads))) + "</tr>"
            for model, per in summary["csi"].items()
        )  # fmt: skip
        body += (
            "<h2>CSI by lead on the day</h2>"
            f"<p><img id='csi' alt='CSI by lead' src='{escape(f'{base}/radar/{dt}/csi.png')}'></p>"
            f"<table id='csi-table'><tr><th>CSI ≥ 2 mm/h</th>{''.join(f'<th>+{lead}</th>' for lead in leads)}</tr>{rows}</table>"
        )  # fmt: skip
    body += (
        f"<h2>{len(times)} issue times</h2><p class='days' id='issue-times'>{' '.join(links)}</p>"
    )
    return layout(base, f"radar_nowcast dt={dt}", body, script=KEYS)


# --------------------------------------------------------------------------- house_similarity


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


def houses_day(base: str, dt: str, days: list[str], data: dict, page: int, pages: int) -> str:
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


def similar_listings(base: str, dt: str, answer: dict) -> str:
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


# --------------------------------------------------------------------------- errors


def error(base: str, status: int, message: str) -> str:
    return layout(base, f"{status}: {message}", "")


def login_required(login_url: str) -> str:
    """What an unauthenticated browser gets (status 401): Airflow's login, then back here."""
    target = escape(login_url)
    in_script = json.dumps(login_url).replace("<", "\\u003c")  # no "</script>" can close it
    return (
        "<!doctype html><html><head><meta charset='utf-8'><title>log in</title></head><body>"
        f"<p>Not logged in to Airflow. <a id='login' href='{target}'>Log in</a></p>"
        f"<script>window.location.replace({in_script});</script></body></html>"
    )
