"""The explorer: what the pipelines produced, inside the Airflow UI (an Airflow 3 plugin).

``plugin.py`` registers it (installed as the ``airflow.plugins`` entry point
``lakesight``) and ``app.py`` assembles the FastAPI app Airflow's api-server mounts at
``/lakesight``. Each view is one module holding its routes, its reads of the lake (through
lakesight's library, as the CLI does) and its pages: ``overview.py`` (the home, partitions,
DAG tabs), ``image_features.py``, ``radar_nowcast.py`` and ``house_similarity.py``.
``common.py`` holds what they share: checked parameters, the cached lake reads, the page
shell.
"""
