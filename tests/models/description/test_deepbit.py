"""DeepBit: objectives, contract, the Caffe/OpenCV path, and a smoke run of both stages."""

from __future__ import annotations

import json
import math
from dataclasses import replace

import numpy as np
import pytest
import torch

from lakesight.models.description.deepbit import DeepBit, DeepBitConfig, deepbit_loss
from tests.support.caffe_writer import caffemodel

TINY = DeepBitConfig(crop_size=32, width=0.25, bits=(16, 32))


@pytest.mark.unit
def test_rotation_weights_follow_released_code():
    weights = DeepBitConfig().rotation_weights
    assert weights == pytest.approx(
        [math.exp(-2), math.exp(-0.5), 1.0, math.exp(-0.5), math.exp(-2)]
    )


@pytest.mark.unit
def test_loss_is_zero_for_balanced_binary_rotation_invariant_codes():
    codes = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
    parts = deepbit_loss(codes, [codes] * 5, DeepBitConfig())
    assert parts["total"].item() == pytest.approx(0.0)


@pytest.mark.unit
def test_each_objective_penalises_its_failure():
    config = DeepBitConfig()
    half = torch.full((4, 2), 0.5)  # undecided activations
    assert deepbit_loss(half, [half] * 5, config)["quantization"].item() == pytest.approx(0.5)
    ones = torch.ones(4, 2)  # every bit always on
    assert deepbit_loss(ones, [ones] * 5, config)["balance"].item() == pytest.approx(0.5)
    codes = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
    flipped = 1 - codes  # rotation flips every bit
    rotated = [flipped, flipped, codes, flipped, flipped]
    assert deepbit_loss(codes, rotated, config)["rotation"].item() == pytest.approx(2.0)


@pytest.mark.unit
def test_contract_and_frozen_backbone():
    model = DeepBit(TINY)
    model.freeze_backbone()
    embedding, bits16, bits32 = model(torch.rand(3, 3, 32, 32))
    assert embedding.shape[0] == 3 and bits16.shape == (3, 16) and bits32.shape == (3, 32)
    torch.testing.assert_close(embedding.norm(dim=1), torch.ones(3))
    assert (bits16 >= 0).all()  # ReLU after fc8_kevin, as in the released code
    bits32.sum().backward()
    assert all(p.grad is None for p in model.backbone.parameters())
    assert model.heads["32"].fc8_kevin.weight.grad is not None
    with pytest.raises(ValueError, match=r"\(B, 3, 32, 32\)"):
        model(torch.rand(1, 3, 64, 64))


CAFFE_DEEPBIT = """
name: "DeepBit-probe"
input: "data"
input_shape { dim: 1 dim: 3 dim: 16 dim: 16 }
layer { name: "conv1" type: "Convolution" bottom: "data" top: "conv1"
        convolution_param { num_output: 4 kernel_size: 3 pad: 1 } }
layer { name: "relu1" type: "ReLU" bottom: "conv1" top: "conv1" }
layer { name: "pool1" type: "Pooling" bottom: "conv1" top: "pool1" pooling_param { pool: AVE global_pooling: true } }
layer { name: "fc7" type: "InnerProduct" bottom: "pool1" top: "fc7" inner_product_param { num_output: 8 } }
layer { name: "relu7" type: "ReLU" bottom: "fc7" top: "fc7r" }
layer { name: "fc8_kevin" type: "InnerProduct" bottom: "fc7r" top: "fc8_kevin" inner_product_param { num_output: 16 } }
layer { name: "relu8" type: "ReLU" bottom: "fc8_kevin" top: "fc8_kevin" }
"""


@pytest.mark.unit
def test_deepbit_caffe_files_run_on_opencv(tmp_path):
    """A VGG-style Caffe net ending in fc8_kevin, with real weights, described through OpenCV DNN."""
    from lakesight.models.detection.detector import InputSpec, preprocess
    from lakesight.models.runtime import descriptor_from_card, sha256_file

    rng = np.random.default_rng(0)
    w1, b1 = rng.normal(0, 0.5, (4, 3, 3, 3)), rng.normal(0, 0.1, 4)
    w7, b7 = rng.normal(0, 0.5, (8, 4)), rng.normal(0, 0.1, 8)
    w8, b8 = rng.normal(0, 0.5, (16, 8)), rng.normal(0, 0.1, 16)
    (tmp_path / "deploy.prototxt").write_text(CAFFE_DEEPBIT)
    (tmp_path / "deepbit.caffemodel").write_bytes(
        caffemodel([("conv1", "Convolution", [w1, b1]), ("fc7", "InnerProduct", [w7, b7]),
                    ("fc8_kevin", "InnerProduct", [w8, b8])])
    )  # fmt: skip
    thresholds = rng.uniform(0, 0.3, 16).tolist()
    card = {
        "name": "deepbit_caffe_probe", "version": "1", "task": "description", "format": "caffe",
        "files": {"prototxt": "deploy.prototxt", "weights": "deepbit.caffemodel"},
        "sha256": {n: sha256_file(tmp_path / n) for n in ("deploy.prototxt", "deepbit.caffemodel")},
        "outputs": ["fc7", "fc8_kevin"], "bits_outputs": {"16": "fc8_kevin"},
        "bits": [16], "default_bits": 16, "thresholds": {"16": thresholds},
        # VGG-style per-channel BGR means, as the official DeepBit deploy uses.
        "input": {"size": 16, "mean": [104.0, 117.0, 123.0], "scale": 1.0, "channel_order": "BGR"},
    }  # fmt: skip
    (tmp_path / "card.json").write_text(json.dumps(card))
    crops = [rng.integers(0, 256, (20, 24, 3), dtype=np.uint8) for _ in range(3)]
    codes, embeddings = descriptor_from_card(tmp_path, card, runtime="opencv", threads=1).describe(
        crops
    )

    # The same net in numpy.
    x = preprocess(crops, InputSpec(16, (104.0, 117.0, 123.0), 1.0, "BGR"))
    padded = np.pad(x, ((0, 0), (0, 0), (1, 1), (1, 1)))
    windows = np.lib.stride_tricks.sliding_window_view(
        padded, (3, 3), axis=(2, 3)
    )  # (B, 3, 16, 16, 3, 3)
    conv = np.maximum(np.einsum("bchwij,ocij->bohw", windows, w1) + b1[None, :, None, None], 0)
    fc7 = conv.mean(axis=(2, 3)) @ w7.T + b7
    fc8 = np.maximum(np.maximum(fc7, 0) @ w8.T + b8, 0)
    np.testing.assert_allclose(
        embeddings, fc7 / np.linalg.norm(fc7, axis=1, keepdims=True), atol=1e-4
    )
    np.testing.assert_array_equal(
        codes, np.packbits(fc8 > np.asarray(thresholds, np.float32), axis=1)
    )


@pytest.mark.slow
def test_smoke_both_stages_export_and_runtime_parity(tmp_path):
    from lakesight.models.description.train_deepbit import (
        DeepBitTrainConfig,
        crops,
        evaluate_retrieval,
        export,
        pretrain,
        torch_describer,
        train_hash,
    )
    from lakesight.models.runtime import descriptor_from_card, sha256_file

    config = DeepBitTrainConfig(
        pretrain_steps=4, pretrain_batch=16, pool=64, epochs=2, batch=32, queries=24, database=96, top=50,
        deepbit=TINY,
    )  # fmt: skip
    state, facts = pretrain(config, quiet=True)
    assert len(facts["history"]) == 1
    model = DeepBit(TINY)
    model.backbone.load_state_dict(state)
    stage2 = train_hash(model, config, quiet=True)
    assert len(stage2["history"]) == 2
    for k in TINY.bits:
        assert not torch.equal(model.thresholds(k), torch.full((k,), 0.5))  # set from the pool
    metrics = evaluate_retrieval(torch_describer(model), config)
    for method in ("deepbit", "itq", "lsh"):
        assert set(metrics["map_at_1000"][method]) == {"16", "32"}
        assert all(0.0 <= v <= 1.0 for v in metrics["map_at_1000"][method].values())

    path = export(model, tmp_path / "model.onnx")
    card = {
        "name": "deepbit_tiny", "version": "0", "format": "onnx", "files": {"fp32": path.name},
        "sha256": {path.name: sha256_file(path)}, "outputs": ["embedding", "bits16", "bits32"],
        "bits": [16, 32], "default_bits": 32,
        "thresholds": {str(k): model.thresholds(k).tolist() for k in TINY.bits},
        "input": {"size": 32, "mean": TINY.mean, "scale": TINY.scale, "channel_order": "RGB"},
    }  # fmt: skip
    images, _ = crops(10, 5, TINY)
    codes, embeddings = descriptor_from_card(tmp_path, card, threads=1).describe(images)
    want_codes, want_embeddings = torch_describer(model)(images, 32)
    assert codes.shape == (10, 4) and codes.dtype == np.uint8
    np.testing.assert_allclose(embeddings, want_embeddings, atol=1e-4)
    # Bits can only differ where an activation sits on its threshold.
    assert (np.unpackbits(codes, axis=1) != np.unpackbits(want_codes, axis=1)).mean() < 0.02
    cv_codes, _ = descriptor_from_card(tmp_path, card, runtime="opencv", threads=1).describe(images)
    assert (np.unpackbits(cv_codes, axis=1) != np.unpackbits(codes, axis=1)).mean() < 0.02
    with pytest.raises(Exception, match="bits"):
        descriptor_from_card(tmp_path, {**card, "default_bits": 64})


@pytest.mark.unit
def test_config_round_trip():
    config = replace(TINY, rotations=(-5.0, 0.0, 5.0))
    assert DeepBitConfig.from_dict(json.loads(json.dumps(config.__dict__))) == config
