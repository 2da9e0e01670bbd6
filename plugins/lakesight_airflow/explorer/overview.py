"""The explorer's home: every pipeline's latest committed partitions, a partition's manifest
(and a quarantine's rows), and the tab each DAG's page opens.

Not a pipeline's view: it reads the stages' declarations, so a new stage appears here
without a change.
"""

from __future__ import annotations

import functools
import importlib
from html import escape
from typing import Annotated

from fastapi import APIRouter, Path, Request
from fastapi.responses import HTMLResponse, RedirectResponse
from starlette.exceptions import HTTPException

from lakesight.config import Settings
from lakesight.lake import filesystem_for, list_partitions, read_manifest
from lakesight_airflow.explorer.common import (
    DT,
    NAME,
    PAGE,
    VIEWS,
    NotFound,
    base_of,
    checked_day,
    counts_text,
    day_table,
    html,
    layout,
    link,
    pager,
    pages_of,
    settings,
)

PAGE_SIZE = 100  # quarantined rows a page
DAG_ID = Annotated[str, Path(pattern=r"^[A-Za-z0-9_.-]{1,250}$")]

router = APIRouter()


@router.get("/", response_class=HTMLResponse)
def home(request: Request):
    return html(overview_html(base_of(request), overview(settings())))


@router.get("/partitions/{zone}/{name}/{dt}", response_class=HTMLResponse)
def manifest(request: Request, zone: NAME, name: NAME, dt: DT, page: PAGE = 1):
    found = partition(settings(), f"{zone}/{name}", checked_day(dt), page)
    total = pages_of(found["total"], PAGE_SIZE, page)
    return html(partition_html(base_of(request), found, page, total))


@router.get("/dags/{dag_id}")
def dag_tab(request: Request, dag_id: DAG_ID):
    """A DAG's tab in the Airflow UI: that pipeline's view."""
    view = next((view for view in VIEWS if dag_id in view.dags), None)
    if view is None:
        raise HTTPException(404, f"DAG {dag_id} has no lakesight view")
    return RedirectResponse(f"{base_of(request)}{view.path}", 303)


# --------------------------------------------------------------------------- queries


@functools.cache
def pipeline_stages() -> dict[str, list]:
    """Each pipeline's stage declarations, in DAG order (imports the stage modules once)."""
    from lakesight.stage import PIPELINES, stage_modules

    stages: dict[str, list] = {pipeline: [] for pipeline in PIPELINES}
    for name, module in stage_modules().items():
        stages[name.split(".", 1)[0]].append(importlib.import_module(module).STAGE)
    return stages


def known_datasets() -> dict[str, object]:
    """``zone/name`` → Dataset for every dataset a stage writes or quarantines into."""
    datasets = {}
    for stages in pipeline_stages().values():
        for stage in stages:
            for dataset in (stage.output, stage.quarantine):
                if dataset is not None:
                    datasets[str(dataset)] = dataset
    return datasets


def overview(settings: Settings, days: int = 7) -> list[dict]:
    """Per pipeline and stage: the latest ``days`` committed partitions with their manifests."""
    out = []
    for pipeline, stages in pipeline_stages().items():
        rows = []
        for stage in stages:
            uri = stage.output.uri(settings)
            fs = filesystem_for(uri, settings)
            for dt in reversed(list_partitions(fs, uri)[-days:]):
                manifest = read_manifest(fs, stage.output.partition(settings, dt))
                if manifest is None:
                    continue
                rows.append({"stage": stage, "dt": dt, "manifest": manifest})
        entry = {"pipeline": pipeline, "partitions": rows}
        if pipeline == "image_features":
            entry["stream"] = stream_status(settings)
        out.append(entry)
    return out


def stream_status(settings: Settings, batches: int = 20) -> dict | None:
    """The stream at a glance (``features/images_live``): its last committed batch, the lag
    of that batch (commit minus its oldest file's write) and the files per second over the
    last ``batches`` batches. None when no live batch is committed (nothing streamed, or
    every streamed day sealed). Reads at most ``batches`` manifests."""
    from datetime import datetime

    from lakesight.image_features.datasets import LIVE
    from lakesight.lake import join

    fs = filesystem_for(LIVE.uri(settings), settings)
    days = sorted(d[3:] for d in fs.list_dirs(LIVE.uri(settings)) if d.startswith("dt="))
    for dt in reversed(days):
        day = LIVE.partition(settings, dt)
        names = sorted(n for n in fs.list_dirs(day) if n.startswith("batch="))
        manifests = [m for n in names[-batches:] if (m := read_manifest(fs, join(day, n)))]
        if manifests:
            break
    else:
        return None
    last, stream = manifests[-1], manifests[-1].extra.get("stream", {})
    committed = [datetime.fromisoformat(m.created_at).timestamp() for m in manifests]
    span = committed[-1] - committed[0]
    rate = sum(m.counts["in"] for m in manifests[1:]) / span if span > 0 else None
    return {"dt": dt, "batch": stream.get("batch_id"), "batches_live": len(names),
            "committed_at": last.created_at, "counts": last.counts,
            "lag_s": round(committed[-1] - stream.get("first_written_at", committed[-1]), 1),
            "files_per_s": None if rate is None else round(rate, 1)}  # fmt: skip


def partition(settings: Settings, dataset_name: str, dt: str, page: int) -> dict:
    """A committed partition's manifest and, for a quarantine, its rows (reason, path, detail)."""
    dataset = known_datasets().get(dataset_name)
    if dataset is None:
        raise NotFound(f"no dataset {dataset_name}")
    uri = dataset.partition(settings, dt)
    fs = filesystem_for(uri, settings)
    manifest = read_manifest(fs, uri)
    if manifest is None:
        raise NotFound(f"{dataset_name} has no committed partition dt={dt}")
    rows, total = [], 0
    if dataset.zone == "quarantine":
        table = day_table(settings, dataset, dt, manifest.run_id)
        total = len(table)
        keep = [c for c in ("reason", "path", "detail", "stage") if c in table.columns]
        rows = table[keep].iloc[(page - 1) * PAGE_SIZE : page * PAGE_SIZE].to_dict("records")
    return {"dataset": dataset_name, "dt": dt, "uri": uri, "manifest": manifest, "rows": rows,
            "total": total}  # fmt: skip


# --------------------------------------------------------------------------- pages


def overview_html(base: str, pipelines: list[dict]) -> str:
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
        if "stream" in entry:
            table += stream_html(base, entry["stream"])
        sections.append(f"<section id='{escape(entry['pipeline'])}'><h2>{escape(entry['pipeline'])}</h2>{table}</section>")  # fmt: skip
    return layout(base, "lakesight: what the pipelines produced", "".join(sections))


def stream_html(base: str, status: dict | None) -> str:
    """The stream's line under image_features: last batch, lag, rate."""
    if status is None:
        return (
            "<p id='stream' class='muted'>stream: no live batch (nothing streamed, or sealed)</p>"
        )
    rate = "-" if status["files_per_s"] is None else f"{status['files_per_s']} files/s"
    return (
        "<table id='stream'><tr><th>stream</th><th>last batch</th><th>committed</th>"
        "<th>counts</th><th>lag</th><th>rate</th><th>live batches</th></tr>"
        f"<tr><td>features/images_live</td><td>dt={escape(status['dt'])} batch {status['batch']}</td>"
        f"<td>{escape(status['committed_at'])}</td><td class='counts'>{counts_text(status['counts'])}</td>"
        f"<td class='lag'>{status['lag_s']}s</td><td class='rate'>{rate}</td>"
        f"<td>{status['batches_live']}</td></tr></table>"
    )  # fmt: skip


def partition_html(base: str, data: dict, page: int, pages: int) -> str:
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
