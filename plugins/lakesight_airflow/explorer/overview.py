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
        out.append({"pipeline": pipeline, "partitions": rows})
    return out


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
        sections.append(f"<section id='{escape(entry['pipeline'])}'><h2>{escape(entry['pipeline'])}</h2>{table}</section>")  # fmt: skip
    return layout(base, "lakesight: what the pipelines produced", "".join(sections))


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
