"""The radar_nowcast view: a day's forecasts issue time by issue time (inputs, what was then
observed and every model by lead) and the day's CSI by lead.

Both the trained model's DAG and the daily one open it: the baselines and the ConvLSTM are
scored side by side.
"""

from __future__ import annotations

from html import escape
from typing import Annotated
from urllib.parse import urlencode

import numpy as np
from fastapi import Query, Request
from fastapi.responses import HTMLResponse
from starlette.exceptions import HTTPException

from lakesight.config import Settings
from lakesight.radar_nowcast.datasets import FORECASTS, FRAMES, SCORES
from lakesight_airflow.explorer.common import (
    DT,
    NotFound,
    View,
    base_of,
    checked_day,
    committed_run,
    day_links,
    day_table,
    days_of,
    html,
    layout,
    link,
    per_lake,
    pipeline_router,
    png,
    settings,
)

ISSUED = r"^\d{2}:\d{2}$"  # an issue time, HH:MM UTC
DAGS = ("radar_nowcast", "radar_nowcast_train")

router = pipeline_router(View("radar_nowcast", "/radar", FORECASTS, dags=DAGS))


@router.get("/{dt}", response_class=HTMLResponse)
def radar(request: Request, dt: DT,
          issued: Annotated[str | None, Query(pattern=ISSUED)] = None):  # fmt: skip
    lake = settings()
    day = radar_day(lake, checked_day(dt))
    if issued is not None and issued not in day["issued"]:
        raise HTTPException(404, f"no forecast issued at {issued} on {dt}")
    if issued is None and day["issued"]:
        issued = day["issued"][len(day["issued"]) // 2]
    days = days_of(lake, FORECASTS)
    return html(radar_html(base_of(request), dt, days, day, issued))


@router.get("/{dt}/panels.png")
def panels(dt: DT, issued: Annotated[str, Query(pattern=ISSUED)]):
    lake = settings()
    run = committed_run(lake, FORECASTS, checked_day(dt)).run_id
    return png(radar_panels(lake, dt, issued, run))


@router.get("/{dt}/csi.png")
def radar_csi(dt: DT):
    return png(radar_csi_plot(settings(), checked_day(dt)))


# --------------------------------------------------------------------------- queries


def radar_day(settings: Settings, dt: str) -> dict:
    """The day's issue times, its verification summary and the thresholds scored."""
    forecasts = committed_run(settings, FORECASTS, dt)
    issued = day_table(settings, FORECASTS, dt, forecasts.run_id, ("issued_at", "model"))
    times = sorted({t.strftime("%H:%M") for t in issued["issued_at"]})
    try:
        scores = committed_run(settings, SCORES, dt)
        summary = scores.extra.get("summary") or {}
    except NotFound:
        summary = {}
    # Every model that issued forecasts: the trained one and the baselines.
    return {"issued": times, "summary": summary, "models": sorted(set(issued["model"]))}


@per_lake(64)
def radar_panels(settings: Settings, dt: str, issued: str, run_id: str) -> bytes:
    """PNG: inputs, observed and every model by lead for the issue time ``HH:MM``."""
    import pandas as pd

    from lakesight.radar_nowcast.pictures import forecast_panels

    forecasts = day_table(settings, FORECASTS, dt, run_id)
    at = pd.Timestamp(f"{dt} {issued}", tz="UTC")
    issued_at = as_utc(forecasts["issued_at"])
    rows = forecasts[issued_at == at]
    if rows.empty:
        raise NotFound(f"no forecast issued at {issued} on {dt}")
    frames_run = committed_run(settings, FRAMES, dt).run_id
    columns = ("frame_time", "pixels", "height", "width")
    frames = day_table(settings, FRAMES, dt, frames_run, columns)
    frame_times = as_utc(frames["frame_time"])
    shape = int(rows["height"].iloc[0]), int(rows["width"].iloc[0])

    def frame(raw: bytes) -> np.ndarray:
        return np.frombuffer(raw, np.uint8).reshape(shape)

    observed_at = {t: frame(p) for t, p in zip(frame_times, frames["pixels"], strict=True)}
    leads = sorted(int(v) for v in rows["lead_min"].unique())
    by_model = {
        model: np.stack([frame(group[group["lead_min"] == lead]["pixels"].iloc[0]) for lead in leads])
        for model, group in sorted(rows.groupby("model"))
    }  # fmt: skip
    observed = [observed_at.get(at + pd.Timedelta(minutes=lead)) for lead in leads]
    inputs = [observed_at[t] for t in sorted(observed_at) if t <= at][-5:]
    return forecast_panels(at.strftime("%Y-%m-%d %H:%M UTC"), leads, observed, by_model,
                           inputs=np.stack(inputs) if inputs else None, tile=96,
                           cadence_min=settings.radar_cadence_min)  # fmt: skip


def as_utc(times):
    """Timestamps as UTC: Spark writes them as instants, pyarrow may read them naive."""
    return times.dt.tz_localize("UTC") if times.dt.tz is None else times.dt.tz_convert("UTC")


def radar_csi_plot(settings: Settings, dt: str) -> bytes:
    from lakesight.radar_nowcast.pictures import csi_plot

    summary = radar_day(settings, dt)["summary"]
    if not summary.get("leads_min"):
        raise NotFound(f"no verified forecasts on {dt}")
    return csi_plot(summary)


# --------------------------------------------------------------------------- pages

# The left and right arrow keys step through the day's issue times.
KEYS = """
document.addEventListener('keydown', e => {
  const link = document.getElementById(e.key === 'ArrowLeft' ? 'previous' : e.key === 'ArrowRight' ? 'next' : '');
  if (link) { window.location.href = link.href; }
});
"""


def radar_html(base: str, dt: str, days: list[str], day: dict, issued: str | None) -> str:
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
        body += issue_html(base, dt, times, issued)
    body += csi_html(base, dt, day["summary"])
    body += (
        f"<h2>{len(times)} issue times</h2><p class='days' id='issue-times'>{' '.join(links)}</p>"
    )
    return layout(base, f"radar_nowcast dt={dt}", body, script=KEYS)


def issue_html(base: str, dt: str, times: list[str], issued: str) -> str:
    """The panels of one issue time, with links (and keys) to the one before and after."""
    i = times.index(issued)
    step = "".join([
        link(base, f"/radar/{dt}", "← earlier", issued=times[i - 1]).replace("<a ", "<a id='previous' ", 1) if i > 0 else "",
        " ",
        link(base, f"/radar/{dt}", "later →", issued=times[i + 1]).replace("<a ", "<a id='next' ", 1) if i + 1 < len(times) else "",
    ])  # fmt: skip
    panels = f"{base}/radar/{dt}/panels.png?{urlencode({'issued': issued})}"
    return (
        f"<h2>issued {escape(dt)} {issued} UTC: observed and every model by lead</h2><p>{step} <span class='muted'>(← → keys)</span></p>"
        f"<p><img id='panels' alt='forecast panels' src='{escape(panels)}'></p>"
    )  # fmt: skip


def csi_html(base: str, dt: str, summary: dict) -> str:
    """The day's CSI by lead, as a plot and a table; nothing before the day is verified."""
    if not summary.get("leads_min"):
        return ""
    leads = summary["leads_min"]
    rows = "".join(
        f"<tr><td>{escape(model)}</td>" + "".join(f"<td>{'' if v is None else f'{v:.2f}'}</td>" for v in per.get("2", [None] * len(leads))) + "</tr>"
        for model, per in summary["csi"].items()
    )  # fmt: skip
    return (
        "<h2>CSI by lead on the day</h2>"
        f"<p><img id='csi' alt='CSI by lead' src='{escape(f'{base}/radar/{dt}/csi.png')}'></p>"
        f"<table id='csi-table'><tr><th>CSI ≥ 2 mm/h</th>{''.join(f'<th>+{lead}</th>' for lead in leads)}</tr>{rows}</table>"
    )  # fmt: skip
