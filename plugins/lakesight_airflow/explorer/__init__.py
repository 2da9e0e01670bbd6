"""The explorer: what the pipelines produced, inside the Airflow UI (an Airflow 3 plugin).

``plugin.py`` registers it (installed as the ``airflow.plugins`` entry point
``lakesight``), ``app.py`` is the FastAPI app Airflow's api-server mounts at
``/lakesight``, ``data.py`` reads the lake through lakesight's library and ``pages.py``
draws the HTML.
"""
