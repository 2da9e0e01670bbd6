"""Airflow side of lakesight: the hook that owns storage access, the stage operator, the sensor.

Importable without Airflow's heavy parts: DAG files import from here at parse
time, so nothing in this package touches connections, the network or Spark
until a task runs.
"""
