"""The shipped detector, measured through the CLI as users and CI run it."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from lakesight.models.runtime import detect
from tests.support.registry import intact_entry

LAKESIGHT = str(Path(sys.executable).with_name("lakesight"))


@pytest.mark.unit
def test_registry_entry_is_complete_and_intact():
    ref, directory, card = intact_entry("ssd_scenes")
    assert ref == "ssd_scenes@1"
    for key in ("classes", "input", "postprocess", "metrics", "training", "rebuild_command"):
        assert card[key]
    assert card["evaluation"]["seed"] != card["training"]["seed"]
    assert (directory / "MODEL_CARD.md").exists()


@pytest.mark.unit
def test_detect_batch_function_finds_the_objects():
    from lakesight.models.detection.evaluation import held_out_scenes

    images, truths = held_out_scenes(6, 4242)
    rows = detect(images)
    assert rows.shape[1] == 7
    confident = rows[rows[:, 2] > 0.5]
    for i, truth in enumerate(truths):
        found = confident[confident[:, 0] == i]
        assert len(found) >= 1
        assert set(found[:, 1].astype(int)) & set(truth.labels.tolist())


@pytest.mark.e2e
def test_eval_ssd_json_meets_target():
    out = subprocess.run(
        [LAKESIGHT, "eval", "ssd", "--images", "150", "--json"],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert out.returncode == 0, out.stderr[-2000:]
    result = json.loads(out.stdout)
    assert result["model"] == "ssd_scenes@1" and result["images"] == 150
    assert set(result["per_class_ap"]) == {"circle", "square", "triangle", "star", "cross"}
    assert result["map50"] >= 0.85  # the card's 0.924 is on 500 scenes; 150 are noisier


@pytest.mark.e2e
@pytest.mark.slow
def test_bench_ssd_json_reports_every_runtime():
    out = subprocess.run(
        [LAKESIGHT, "bench", "ssd", "--images", "32", "--repeats", "1", "--eval-images", "30", "--json"],
        capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr[-2000:]
    result = json.loads(out.stdout)
    for key in (
        "fp32_ips",
        "int8_ips",
        "opencv_ips",
        "torch_ips",
        "int8_speedup",
        "fp32_map50",
        "int8_map50",
    ):
        assert isinstance(result[key], float) and result[key] > 0, key
    assert np.isclose(result["int8_speedup"], result["int8_ips"] / result["fp32_ips"], rtol=0.01)
    choice = result["runtime_choice"]  # what the runtime takes on this CPU, and why
    assert choice["variant"] == ("int8" if choice["int8_vs_fp32"] >= 1.1 else "fp32")
