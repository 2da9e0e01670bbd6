"""The shipped descriptor and the Hamming benchmark, through the CLI as users run them."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from lakesight.models.description.hashing import hamming
from lakesight.models.runtime import describe
from tests.support.registry import intact_entry

LAKESIGHT = str(Path(sys.executable).with_name("lakesight"))


@pytest.mark.unit
def test_registry_entry_is_complete_and_intact():
    ref, _, card = intact_entry("deepbit_scenes")
    assert ref == "deepbit_scenes@1"
    assert {int(k): len(v) for k, v in card["thresholds"].items()} == {32: 32, 64: 64, 128: 128}
    deepbit, itq, lsh = (card["metrics"]["map_at_1000"][m] for m in ("deepbit", "itq", "lsh"))
    for bits in ("32", "64"):
        assert deepbit[bits] > itq[bits] > lsh[bits]


@pytest.mark.unit
def test_describe_batch_function_groups_same_class_crops():
    from lakesight.models.description.deepbit import DeepBitConfig
    from lakesight.models.description.train_deepbit import crops

    images, labels = crops(48, 31337, DeepBitConfig())
    codes, embeddings = describe(images)
    assert codes.shape == (48, 8) and codes.dtype == np.uint8
    np.testing.assert_allclose(np.linalg.norm(embeddings, axis=1), 1.0, atol=1e-5)
    dist = hamming(codes, codes).astype(float)
    same = labels[:, None] == labels[None, :]
    np.fill_diagonal(same, False)
    different = labels[:, None] != labels[None, :]
    assert dist[same].mean() < dist[different].mean() - 5
    assert describe(images[:3], bits=128)[0].shape == (3, 16)


@pytest.mark.e2e
@pytest.mark.slow
def test_eval_deepbit_json():
    out = subprocess.run(
        [LAKESIGHT, "eval", "deepbit", "--queries", "120", "--database", "1200", "--pool", "1200", "--json"],
        capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr[-2000:]
    result = json.loads(out.stdout)
    assert result["queries"] == 120 and result["database"] == 1200
    scores = result["map_at_1000"]
    assert set(scores) == {"deepbit", "itq", "lsh"} and set(scores["deepbit"]) == {
        "32",
        "64",
        "128",
    }
    assert scores["deepbit"]["64"] > scores["lsh"]["64"] > 1 / 12  # 12 classes: chance is 1/12


@pytest.mark.e2e
def test_bench_hamming_json():
    out = subprocess.run(
        [LAKESIGHT, "bench", "hamming", "--codes", "50000", "--queries", "16", "--repeats", "1", "--json"],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr[-2000:]
    result = json.loads(out.stdout)
    assert result["codes"] == 50000 and result["bits"] == 64
    assert result["queries_per_s"] > 0 and result["memory_bandwidth_gb_s"] > 0
    expected = result["queries_per_s"] / result["full_scan_limit_queries_per_s"]
    assert result["ratio_to_scan_limit"] == pytest.approx(expected, rel=0.01)
