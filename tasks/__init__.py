"""lakesight: image analytics on a data lake (Airflow DAGs chaining Spark stages).

This package lives in ``tasks/``: the CLI, settings, the lake's storage layer, the
Spark session factory and the Spark stages. Models live in ``lakesight.models``
(``models/``), the Airflow side in ``lakesight_airflow`` (``plugins/``).
"""

from __future__ import annotations

__version__ = "0.1.0"
