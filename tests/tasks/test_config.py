from __future__ import annotations

import pytest

from lakesight.config import ConfigError, load_settings, validate_dt

pytestmark = pytest.mark.unit


def test_defaults_are_embedded():
    s = load_settings({})
    assert s.root.startswith("file:///") and s.root.endswith("/var/lake")
    assert s.model_registry.endswith("/models/registry")
    assert s.spark_master == "local[*]"
    assert s.partition_uri("raw", "images", "2026-01-02") == f"{s.root}/raw/images/dt=2026-01-02"


@pytest.mark.parametrize(
    ("root", "expected"),
    [
        ("hdfs://namenode:8020/lakesight/", "hdfs://namenode:8020/lakesight"),
        ("webhdfs://namenode:9870/lakesight", "webhdfs://namenode:9870/lakesight"),
        ("/data/lake", "file:///data/lake"),
        ("file:///data/lake", "file:///data/lake"),
    ],
)
def test_root_schemes(root, expected):
    assert load_settings({"LAKESIGHT_ROOT": root}).root == expected


@pytest.mark.parametrize(
    ("env", "names"),
    [
        ({"LAKESIGHT_ROOT": "ftp://host/x"}, "LAKESIGHT_ROOT: unknown URI scheme 'ftp'"),
        ({"LAKESIGHT_ROOT": "relative/path"}, "LAKESIGHT_ROOT"),
        ({"LAKESIGHT_ROOT": "hdfs:///no-host"}, "LAKESIGHT_ROOT: hdfs:// URI needs a host"),
        ({"LAKESIGHT_MODEL_REGISTRY": "s4://x/y"}, "LAKESIGHT_MODEL_REGISTRY"),
        ({"LAKESIGHT_SPARK_MASTER": "locl[2]"}, "LAKESIGHT_SPARK_MASTER"),
        ({"LAKESIGHT_SPARK_CONF": "{not json"}, "LAKESIGHT_SPARK_CONF"),
        ({"LAKESIGHT_LEASE_TTL_S": "0"}, "LAKESIGHT_LEASE_TTL_S: expected a positive number"),
        (
            {"LAKESIGHT_LEASE_WAIT_S": "soon"},
            "LAKESIGHT_LEASE_WAIT_S: expected a number of seconds",
        ),
        ({"LAKESIGHT_MAX_IMAGE_PIXELS": "-3"}, "LAKESIGHT_MAX_IMAGE_PIXELS"),
        ({"LAKESIGHT_WEBHDFS_AUTH": "ntlm"}, "LAKESIGHT_WEBHDFS_AUTH"),
        ({"LAKESIGHT_WEBHDFS_URL": "namenode:9870"}, "LAKESIGHT_WEBHDFS_URL"),
    ],
)
def test_bad_settings_fail_with_one_line_naming_them(env, names):
    with pytest.raises(ConfigError) as err:
        load_settings(env)
    message = str(err.value)
    assert message.startswith(names.split(":")[0]) and names in message
    assert "\n" not in message


def test_spark_conf_json_and_masking():
    s = load_settings(
        {
            "LAKESIGHT_SPARK_CONF": '{"spark.executor.memory": "2g", "spark.executor.cores": 2}',
            "LAKESIGHT_ROOT": "webhdfs://user:secret@namenode:9870/lake",
        }
    )
    assert s.spark_conf == {"spark.executor.memory": "2g", "spark.executor.cores": "2"}
    assert "secret" not in str(s.masked())


@pytest.mark.parametrize("bad", ["2026-02-30", "2026-1-1", "20260101", "", "yesterday"])
def test_validate_dt_rejects(bad):
    with pytest.raises(ConfigError, match="--dt"):
        validate_dt(bad)


def test_validate_dt_accepts():
    assert validate_dt("2024-02-29") == "2024-02-29"
