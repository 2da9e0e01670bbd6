"""The ConvLSTM nowcaster: training smoke steps (alone and under TorchDistributor), export, inference."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from lakesight.models.nowcasting.convlstm import ConvLSTMConfig
from lakesight.models.nowcasting.forecaster import load_nowcaster, nowcaster_from_card
from lakesight.models.nowcasting.train_convlstm import TrainConfig, TrainingSet, release, train
from lakesight.models.runtime import load_card, resolve, sha256_file
from tests.support.registry import intact_entry

TINY = ConvLSTMConfig(grid=32, inputs=3, outputs=4, stem=4, hidden=(8, 8))


def moving_blobs(n: int = 40, grid: int = 32) -> TrainingSet:
    """A square drifting one pixel per frame: learnable in a few steps."""
    frames = np.zeros((n, grid, grid), np.uint8)
    for t in range(n):
        x = t % (grid - 8)
        frames[t, 10:18, x : x + 8] = 180
    windows = np.array([np.arange(s, s + 7) for s in range(n - 7)], dtype=np.int32)
    return TrainingSet(frames, windows)


def write_set(tmp_path: Path) -> str:
    uri = (tmp_path / "training.npz").as_uri()
    (tmp_path / "training.npz").write_bytes(moving_blobs().to_bytes())
    return uri


@pytest.mark.unit
def test_smoke_training_lowers_the_loss_and_exports_what_torch_computes(tmp_path):
    config = TrainConfig(steps=40, batch=4, lr=1e-2, warmup=2, log_every=10, model=TINY)
    result = train(config, write_set(tmp_path), quiet=True)
    losses = [entry["loss"] for entry in result["facts"]["history"]]
    assert losses[-1] < losses[0]
    assert result["facts"]["echo_floor_pixel"] == 180
    # release() exports ONNX and fails unless ONNX Runtime matches torch.
    card = release(
        result["state"],
        config,
        result["facts"],
        tmp_path / "m",
        name="tiny",
        version="1",
        cadence_min=6,
        data={"description": "moving square"},
    )
    assert card["sha256"]["model.onnx"] == sha256_file(tmp_path / "m" / "model.onnx")
    assert "# tiny@1" in (tmp_path / "m" / "MODEL_CARD.md").read_text()
    nowcaster = nowcaster_from_card(tmp_path / "m", load_card(tmp_path / "m"))
    assert nowcaster.leads_min == [6, 12, 18, 24]
    # Any frame size: resampled to the model's grid and back.
    out = nowcaster.predict(np.zeros((2, 3, 50, 70), np.uint8))
    assert out.shape == (2, 4, 50, 70) and out.dtype == np.uint8


@pytest.mark.spark
@pytest.mark.distributed
@pytest.mark.slow
def test_the_same_loop_runs_under_torch_distributor(spark, tmp_path):
    from lakesight.models.nowcasting.train_convlstm import train_distributed

    config = TrainConfig(steps=3, batch=2, warmup=1, log_every=1, model=TINY)
    result = train_distributed(config, write_set(tmp_path), num_processes=2)
    assert result["facts"]["world_size"] == 2
    assert result["facts"]["windows_seen"] == 3 * 2 * 2
    assert set(result["state"]) == set(train(config, write_set(tmp_path), quiet=True)["state"])


@pytest.mark.unit
def test_the_shipped_nowcaster_is_registered_with_its_card():
    ref, directory, card = intact_entry("convlstm_radar")
    assert card["model_config"]["inputs"] == 5 and card["model_config"]["outputs"] == 10
    assert card["cadence_min"] == 6 and card["training"]["seed"] != 2026  # never the eval seed
    assert card["training"]["seconds"] <= 20 * 60
    assert "rebuild" in card and (directory / "MODEL_CARD.md").exists()
    nowcaster = load_nowcaster(str(ref), threads=1)
    assert nowcaster.predict(np.zeros((1, 5, 128, 128), np.uint8)).shape == (1, 10, 128, 128)
    json.dumps(card)


@pytest.mark.unit
def test_the_shipped_nowcasters_recorded_eval_meets_the_target():
    """The card holds `lakesight eval nowcast --record`'s figures: recomputed here, they meet
    the issue's target over a week of held-out days."""
    from lakesight.radar_nowcast.evaluation import target_met

    _, directory = resolve("convlstm_radar")
    metrics = load_card(directory)["metrics"]
    assert metrics["seed"] == 2026 and len(metrics["days"]) >= 7
    assert metrics["leads_min"] == [6 * k for k in range(1, 11)]
    assert target_met(metrics)["all"] is True
