# One image for the Airflow components and the Spark master/worker, so the
# driver and the executors run the same Python, the same packages, the same code.
FROM python:3.11-slim-bookworm

RUN apt-get update \
    && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
       openjdk-17-jre-headless procps curl \
    && rm -rf /var/lib/apt/lists/*
ENV JAVA_HOME=/usr/lib/jvm/java-17-openjdk-amd64 \
    PYTHONUNBUFFERED=1

WORKDIR /opt/lakesight
COPY pyproject.toml constraints.txt README.md ./
COPY tasks ./tasks
COPY models ./models
COPY plugins ./plugins
COPY dags ./dags
# Runtime only: inference needs onnxruntime and opencv, not torch. psycopg2 is
# Airflow's Postgres driver and asyncpg its async one: Airflow 3 opens both engines
# at start, and without asyncpg every component fails ("No module named 'asyncpg'",
# found when the tests' Airflow moved to PostgreSQL). Editable, so dags/ and the code
# share one tree. pyspark's wheel puts spark-submit and spark-class on PATH.
RUN pip install --no-cache-dir -c constraints.txt -e . psycopg2-binary asyncpg
