"""SSD model, loss, training smoke run and release (export, int8, card) on a tiny config."""

from __future__ import annotations

import json
from dataclasses import replace

import numpy as np
import pytest
import torch

from lakesight.models.detection import boxes
from lakesight.models.detection.ssd import SSD, SSDConfig, multibox_loss
from lakesight.models.detection.train_ssd import TrainConfig, make_batch, train
from lakesight.models.nn import load_state
from lakesight.models.scenes import SceneConfig

TINY = SSDConfig(image_size=64, width=0.25, stride16_blocks=1)


@pytest.mark.unit
def test_output_contract_matches_priors():
    model = SSD(TINY).eval()
    loc, scores = model(torch.zeros(2, 3, 64, 64))
    priors = TINY.priors()
    assert loc.shape == (2, len(priors), 4) and scores.shape == (2, len(priors), TINY.num_classes)
    assert model.num_priors == len(priors)
    torch.testing.assert_close(scores.sum(-1), torch.ones(2, len(priors)))


@pytest.mark.unit
def test_bad_input_shape_raises():
    with pytest.raises(ValueError, match=r"\(B, 3, 64, 64\)"):
        SSD(TINY)(torch.zeros(1, 3, 60, 64))


@pytest.mark.unit
def test_feature_sizes():
    assert SSDConfig(image_size=300).feature_sizes == (38, 19, 10, 5, 3, 2)
    assert SSDConfig(image_size=160).feature_sizes == (20, 10, 5, 3, 2, 1)


@pytest.mark.unit
def test_multibox_loss_hard_negative_mining():
    torch.manual_seed(0)
    labels = torch.zeros(2, 50, dtype=torch.long)
    labels[0, 3] = 2  # one positive in image 0, none in image 1
    logits = torch.randn(2, 50, 3)
    loc_pred, loc_target = torch.randn(2, 50, 4), torch.randn(2, 50, 4)
    loc_loss, conf_loss = multibox_loss(loc_pred, logits, loc_target, labels)
    ce = torch.nn.functional.cross_entropy(logits[0], labels[0], reduction="none")
    negatives = ce.clone()
    negatives[3] = 0
    expected_conf = (
        ce[3] + negatives.topk(3).values.sum()
    )  # 3 negatives per positive; image 1 adds none
    torch.testing.assert_close(conf_loss, expected_conf)
    torch.testing.assert_close(
        loc_loss,
        torch.nn.functional.smooth_l1_loss(loc_pred[0, 3], loc_target[0, 3], reduction="sum"),
    )


@pytest.mark.unit
def test_training_batch_targets_decode_to_ground_truth():
    config = TrainConfig(batch=2, ssd=TINY, scenes=SceneConfig(max_objects=2))
    x, loc, labels = make_batch(config, 0, TINY.priors())
    assert (
        x.shape == (2, 3, 64, 64) and x.dtype == np.float32 and x.min() >= -1.01 and x.max() <= 1.01
    )
    assert (labels > 0).any(axis=1).all()  # every scene has matched priors
    decoded = boxes.decode(loc[0][labels[0] > 0], TINY.priors()[labels[0] > 0], TINY.variances)
    assert ((decoded > -0.05) & (decoded < 1.05)).all()


@pytest.mark.unit
def test_load_state_drops_mismatched_head_for_transfer():
    source = SSD(TINY).state_dict()
    target = SSD(replace(TINY, classes=("a", "b")))
    report = load_state(target, source, drop_mismatched=True)
    assert report.dropped_mismatched and all(
        k.startswith("conf_heads") for k in report.dropped_mismatched
    )
    assert report.missing == sorted(report.dropped_mismatched)
    with pytest.raises(ValueError, match="conf_heads"):
        load_state(SSD(replace(TINY, classes=("a", "b"))), source)


@pytest.mark.slow
def test_smoke_training_reduces_loss_and_releases(tmp_path):
    """A few steps of the real training loop, then the real release path."""
    from lakesight.models.detection.release import release_ssd

    config = TrainConfig(steps=12, batch=8, lr=2e-3, warmup=2, log_every=4, ssd=TINY)
    result = train(config, quiet=True)
    history = result["facts"]["history"]
    first, last = history[0], history[-1]
    assert last["loc_loss"] + last["conf_loss"] < first["loc_loss"] + first["conf_loss"]
    card = release_ssd(
        result["state"], config, result["facts"], tmp_path, name="ssd_tiny", version="0",
        eval_images=8, calibration_images=16,
    )  # fmt: skip
    assert (tmp_path / "model.onnx").exists() and (tmp_path / "model.int8.onnx").exists()
    assert json.loads((tmp_path / "card.json").read_text())["sha256"] == card["sha256"]
    assert (
        card["parity_max_abs_diff"]["loc"] < 1e-3 and card["parity_max_abs_diff"]["scores"] < 1e-4
    )
    for variant in ("fp32", "int8"):
        assert 0.0 <= card["metrics"][variant]["map50"] <= 1.0
        assert card["metrics"][variant]["images"] == 8

    # Every runtime agrees on the exported graph.
    from lakesight.models.detection.detector import InputSpec, preprocess
    from lakesight.models.detection.evaluation import held_out_scenes
    from lakesight.models.runtime import detector_from_card

    images, _ = held_out_scenes(3, 99)
    batch = preprocess(images, InputSpec(**card["input"]))
    ort_loc, ort_scores = detector_from_card(tmp_path, card, runtime="ort", threads=1).runner(batch)
    cv_loc, cv_scores = detector_from_card(tmp_path, card, runtime="opencv", threads=1).runner(
        batch
    )
    np.testing.assert_allclose(cv_loc, ort_loc, atol=1e-3)
    np.testing.assert_allclose(cv_scores, ort_scores, atol=1e-4)
    rows = detector_from_card(tmp_path, card, runtime="ort", variant="int8", threads=1).detect(
        images
    )
    assert rows.shape[1] == 7 and set(np.unique(rows[:, 0])) <= {0, 1, 2}


@pytest.mark.spark
@pytest.mark.distributed
@pytest.mark.slow
def test_distributed_training_under_torch_distributor(spark):
    from lakesight.models.detection.train_ssd import train_distributed

    result = train_distributed(
        TrainConfig(steps=2, batch=4, log_every=1, ssd=TINY), num_processes=2
    )
    assert result["facts"]["world_size"] == 2
    assert result["facts"]["images_seen"] == 2 * 4 * 2
    model = SSD(TINY)
    assert not load_state(model, result["state"]).missing
