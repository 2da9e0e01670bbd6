"""The backbone's loaders (ONNX and a user's Caffe net, by card alone) and the tag heads."""

from __future__ import annotations

import json

import numpy as np
import pytest

from tests.support.caffe_writer import caffemodel

# A GoogLeNet-Places365-shaped tail: conv → ReLU → global average pool → dropout, cut at
# the dropout (``pool5/drop_7x7_s1``, in place on ``pool5/7x7_s1`` as in the official
# deploy.prototxt), then the classifier MLSListings threw away.
CAFFE_GOOGLENET_TAIL = """
name: "googlenet_places_tail"
input: "data"
input_shape { dim: 1 dim: 3 dim: 20 dim: 28 }
layer { name: "conv1" type: "Convolution" bottom: "data" top: "conv1"
        convolution_param { num_output: 6 kernel_size: 3 pad: 1 } }
layer { name: "relu1" type: "ReLU" bottom: "conv1" top: "conv1" }
layer { name: "pool5/7x7_s1" type: "Pooling" bottom: "conv1" top: "pool5/7x7_s1"
        pooling_param { pool: AVE global_pooling: true } }
layer { name: "pool5/drop_7x7_s1" type: "Dropout" bottom: "pool5/7x7_s1" top: "pool5/7x7_s1"
        dropout_param { dropout_ratio: 0.4 } }
layer { name: "loss3/classifier" type: "InnerProduct" bottom: "pool5/7x7_s1"
        top: "loss3/classifier" inner_product_param { num_output: 5 } }
"""


def numpy_conv3x3(x: np.ndarray, w: np.ndarray, b: np.ndarray) -> np.ndarray:
    """'same' 3x3 convolution, (B, C, H, W) → (B, K, H, W), for the reference."""
    padded = np.pad(x, ((0, 0), (0, 0), (1, 1), (1, 1)))
    h, wd = x.shape[2:]
    out = np.zeros((x.shape[0], w.shape[0], h, wd), np.float64)
    for dy in range(3):
        for dx in range(3):
            patch = padded[:, :, dy : dy + h, dx : dx + wd]
            out += np.einsum("bchw,kc->bkhw", patch, w[:, :, dy, dx])
    return out + b[None, :, None, None]


@pytest.mark.unit
def test_a_user_caffe_backbone_plugs_in_by_its_card_alone(tmp_path):
    from lakesight.models.detection.detector import InputSpec, preprocess
    from lakesight.models.runtime import sha256_file
    from lakesight.models.tagging.backbone import backbone_from_card

    rng = np.random.default_rng(0)
    w1, b1 = rng.normal(0, 0.3, (6, 3, 3, 3)), rng.normal(0, 0.1, 6)
    wc, bc = rng.normal(0, 0.3, (5, 6)), rng.normal(0, 0.1, 5)
    (tmp_path / "deploy.prototxt").write_text(CAFFE_GOOGLENET_TAIL)
    (tmp_path / "places.caffemodel").write_bytes(
        caffemodel(
            [("conv1", "Convolution", [w1, b1]), ("loss3/classifier", "InnerProduct", [wc, bc])]
        )
    )
    card = {
        "name": "googlenet_places_tail", "version": "1", "task": "backbone", "format": "caffe",
        "files": {"prototxt": "deploy.prototxt", "weights": "places.caffemodel"},
        "sha256": {n: sha256_file(tmp_path / n) for n in ("deploy.prototxt", "places.caffemodel")},
        "layer": "pool5/drop_7x7_s1",
        "input": {"height": 20, "width": 28, "mean": [104.0, 117.0, 123.0], "scale": 1.0,
                  "channel_order": "BGR"},
    }  # fmt: skip
    (tmp_path / "card.json").write_text(json.dumps(card))
    photos = [rng.integers(0, 256, (60, 80, 3), dtype=np.uint8) for _ in range(3)]

    embeddings = backbone_from_card(tmp_path, card).embed(photos)

    x = preprocess(photos, InputSpec(28, (104.0, 117.0, 123.0), 1.0, "BGR", (20, 28)))
    expected = np.maximum(numpy_conv3x3(x, w1, b1), 0).mean(axis=(2, 3))
    expected /= np.linalg.norm(expected, axis=1, keepdims=True)
    assert embeddings.shape == (3, 6)
    np.testing.assert_allclose(embeddings, expected, atol=1e-4)
    # A different cut layer is a different embedding: the card decides.
    card["layer"] = "loss3/classifier"
    logits = backbone_from_card(tmp_path, card).embed(photos)
    assert logits.shape == (3, 5)


@pytest.mark.unit
def test_a_card_without_a_usable_input_or_layer_fails_in_one_line(tmp_path):
    from lakesight.config import ConfigError
    from lakesight.models.tagging.backbone import backbone_from_card, input_spec

    with pytest.raises(ConfigError, match="channel_order"):
        input_spec({"size": 8, "scale": 1.0, "channel_order": "YUV"})
    with pytest.raises(ConfigError, match="no 'layer'"):
        backbone_from_card(tmp_path, {"name": "x", "version": "1", "format": "onnx"})
    with pytest.raises(ConfigError, match="format 'torch'"):
        backbone_from_card(tmp_path, {"name": "x", "version": "1", "format": "torch", "layer": "a"})


@pytest.mark.unit
def test_heads_round_trip_and_predict_the_most_probable_class(tmp_path):
    from lakesight.models.tagging.heads import Head, TagHeads, heads_from_card, write_heads

    head = Head(("a", "b", "c"), ((np.eye(4, 3, dtype=np.float32) * 5, np.zeros(3, np.float32)),))
    heads = TagHeads("", "bb@1", {"style": head})
    card = write_heads(heads, tmp_path, {"name": "house_tags", "version": "9"})
    loaded = heads_from_card(tmp_path, card)
    labels, scores = loaded.predict(np.array([[0, 1, 0, 0], [0, 0, 0, 0]], np.float32))["style"]
    assert labels[0] == "b" and scores[0] > 0.9
    assert scores[1] == pytest.approx(1 / 3)  # no evidence: uniform
    assert loaded.backbone == "bb@1" and loaded.name == "house_tags@9"
    assert "style: a, b, c (logistic)" in (tmp_path / "MODEL_CARD.md").read_text()


@pytest.mark.spark
def test_spark_ml_heads_learn_separable_classes_and_keep_unseen_ones(spark):
    from lakesight.models.tagging.heads import fit_head_arrays

    rng = np.random.default_rng(1)
    centres = np.array([[1, 0, 0], [0, 1, 0]], np.float64)
    labels = rng.integers(0, 2, 200)
    features = centres[labels] + rng.normal(0, 0.2, (200, 3))
    head = fit_head_arrays(spark, features, labels, ("x", "y", "never_labelled"))
    predicted = head.probabilities(features.astype(np.float32)).argmax(axis=1)
    assert (predicted == labels).mean() > 0.95
    assert head.layers[0][0].shape == (3, 3) and head.hidden == 0
    assert (predicted != 2).all()  # a class no label had is never predicted


@pytest.mark.spark
def test_a_perceptron_head_applied_in_numpy_agrees_with_spark(spark):
    """The weights unpacked from Spark's flat vector give Spark's own probabilities."""
    from pyspark.ml.classification import MultilayerPerceptronClassifier
    from pyspark.ml.linalg import Vectors

    from lakesight.models.tagging.heads import fit_head

    rng = np.random.default_rng(2)
    features = rng.normal(size=(150, 5))
    labels = (features[:, 0] + features[:, 1] > 0).astype(int) + (features[:, 2] > 1)
    frame = spark.createDataFrame(
        [(Vectors.dense(f), int(y)) for f, y in zip(features, labels, strict=True)],
        ["features", "label"],
    )
    head = fit_head(frame, ("a", "b", "c"), hidden=4, seed=3)
    spark_model = MultilayerPerceptronClassifier(layers=[5, 4, 3], maxIter=200, seed=3,
                                                 blockSize=128).fit(frame)  # fmt: skip
    expected = np.array(
        [r["probability"].toArray() for r in spark_model.transform(frame).collect()]
    )
    assert head.hidden == 4
    np.testing.assert_allclose(head.probabilities(features.astype(np.float32)), expected, atol=1e-4)
