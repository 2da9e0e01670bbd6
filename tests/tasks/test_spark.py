"""The Spark install itself: JVM and Python halves agree, Arrow UDFs run, Java is checked."""

from __future__ import annotations

import pytest

from lakesight.spark import parse_java_major

pytestmark = pytest.mark.spark


def test_pyspark_python_matches_jvm_and_map_in_pandas_works(spark):
    # pyspark-client shares pyspark's folder; a mismatch shows up exactly here
    # ("Constructor ... UserDefinedPythonFunction(...) does not exist").
    import pyspark

    assert spark.version == pyspark.__version__
    doubled = spark.range(100).mapInPandas(
        lambda it: (b.assign(id=b.id * 2) for b in it), "id long"
    )
    assert doubled.agg({"id": "sum"}).first()[0] == 2 * sum(range(100))


@pytest.mark.unit
@pytest.mark.parametrize(
    ("text", "major"),
    [
        ('openjdk version "17.0.15" 2025-04-15', 17),
        ('openjdk version "21" 2023-09-19', 21),
        ('java version "1.8.0_401"', 8),
        ("garbage", None),
    ],
)
def test_parse_java_major(text, major):
    assert parse_java_major(text) == major
