"""The Airflow plugin: the explorer's app on the api-server, its place in the UI's navigation
and a tab on each DAG's page.

Registered through the ``airflow.plugins`` entry point (``pyproject.toml``), so any
Airflow with lakesight installed has it, whatever its plugins folder. Importing this
builds the app's routes and reads nothing: the lake is read per request.
"""

from __future__ import annotations

from airflow.plugins_manager import AirflowPlugin

from lakesight_airflow.explorer.app import create_app

URL_PREFIX = "/lakesight"


class LakesightExplorer(AirflowPlugin):
    name = "lakesight"
    fastapi_apps = [  # noqa: RUF012 (Airflow reads these class attributes)
        {"app": create_app(), "url_prefix": URL_PREFIX, "name": "lakesight explorer"}
    ]
    # hrefs are relative: the UI resolves them against its <base href>, so a deployment
    # behind a path prefix still finds the app.
    external_views = [  # noqa: RUF012
        {"name": "lakesight", "href": "lakesight/", "url_route": "lakesight",
         "destination": "nav", "nav_top_level": True},
        {"name": "lakesight", "href": "lakesight/dags/{DAG_ID}", "url_route": "lakesight-dag",
         "destination": "dag"},
    ]  # fmt: skip
