"""The Caffe path: a MobileNet-SSD-style deploy net, built here, run by OpenCV DNN.

The public MobileNet-SSD VOC deploy files are a prototxt (300x300 input, mean
127.5, scale 0.007843, BGR) ending in PriorBox + DetectionOutput layers, plus a
caffemodel. This net keeps that interface and that tail, but needs no weights:
its "loc" and "conf" tensors are pooled pixels, so the test can compute, in
numpy, exactly what Caffe's DetectionOutput must answer, and compare it with
lakesight's own box maths.
"""

from __future__ import annotations

import json

import numpy as np
import pytest

from lakesight.models.detection import boxes
from lakesight.models.detection.detector import InputSpec, preprocess
from lakesight.models.runtime import detector_from_card

pytestmark = pytest.mark.unit

DEPLOY = """
name: "MobileNet-SSD-probe"
input: "data"
input_shape { dim: 1 dim: 3 dim: 300 dim: 300 }
layer { name: "pool" type: "Pooling" bottom: "data" top: "pool"
        pooling_param { pool: AVE kernel_size: 30 stride: 30 } }
layer { name: "split" type: "Slice" bottom: "pool" top: "c01" top: "c2"
        slice_param { axis: 1 slice_point: 2 } }
layer { name: "first" type: "Slice" bottom: "pool" top: "c0" top: "c12"
        slice_param { axis: 1 slice_point: 1 } }
layer { name: "loc4" type: "Concat" bottom: "pool" bottom: "c0" top: "loc4" concat_param { axis: 1 } }
layer { name: "loc_perm" type: "Permute" bottom: "loc4" top: "loc_perm" permute_param { order: 0 order: 2 order: 3 order: 1 } }
layer { name: "mbox_loc" type: "Flatten" bottom: "loc_perm" top: "mbox_loc" flatten_param { axis: 1 } }
layer { name: "conf_perm" type: "Permute" bottom: "c01" top: "conf_perm" permute_param { order: 0 order: 2 order: 3 order: 1 } }
layer { name: "conf_flat" type: "Flatten" bottom: "conf_perm" top: "conf_flat" flatten_param { axis: 1 } }
layer { name: "conf_reshape" type: "Reshape" bottom: "conf_flat" top: "conf_reshape"
        reshape_param { shape { dim: 0 dim: -1 dim: 2 } } }
layer { name: "conf_softmax" type: "Softmax" bottom: "conf_reshape" top: "conf_softmax" softmax_param { axis: 2 } }
layer { name: "mbox_conf" type: "Flatten" bottom: "conf_softmax" top: "mbox_conf" flatten_param { axis: 1 } }
layer { name: "mbox_priorbox" type: "PriorBox" bottom: "pool" bottom: "data" top: "mbox_priorbox"
        prior_box_param { min_size: 60.0 clip: false variance: 0.1 variance: 0.1 variance: 0.2 variance: 0.2 offset: 0.5 } }
layer { name: "detection_out" type: "DetectionOutput" bottom: "mbox_loc" bottom: "mbox_conf" bottom: "mbox_priorbox"
        top: "detection_out" include { phase: TEST }
        detection_output_param { num_classes: 2 share_location: true background_label_id: 0
          nms_param { nms_threshold: 0.45 top_k: 100 } code_type: CENTER_SIZE keep_top_k: 100
          confidence_threshold: 0.3 } }
"""

CARD = {
    "name": "mobilenet_ssd_probe",
    "version": "1",
    "format": "caffe",
    "files": {"prototxt": "deploy.prototxt"},
    "classes": ["thing"],
    # The public MobileNet-SSD VOC preprocessing, verbatim.
    "input": {"size": 300, "mean": 127.5, "scale": 0.007843, "channel_order": "BGR"},
    "postprocess": None,
}


@pytest.fixture
def caffe_model(tmp_path):
    (tmp_path / "deploy.prototxt").write_text(DEPLOY)
    (tmp_path / "card.json").write_text(json.dumps(CARD))
    return tmp_path


def expected_rows(image: np.ndarray) -> np.ndarray:
    """What DetectionOutput must give, computed with lakesight's box maths."""
    x = preprocess([image], InputSpec(**CARD["input"]))[0]  # (3, 300, 300), BGR
    pooled = x.reshape(3, 10, 30, 10, 30).mean(axis=(2, 4))  # (3, 10, 10)
    loc = np.concatenate([pooled, pooled[:1]]).transpose(1, 2, 0).reshape(1, 100, 4)
    logits = pooled[:2].transpose(1, 2, 0).reshape(1, 100, 2)
    scores = np.exp(logits) / np.exp(logits).sum(axis=-1, keepdims=True)
    priors = boxes.prior_boxes((10,), ((),), min_scale=0.2, max_scale=0.2, clip=False)[
        ::2
    ]  # one 60px box per cell
    return boxes.detection_output(
        loc,
        scores,
        priors,
        (0.1, 0.2),
        conf_threshold=0.3,
        nms_threshold=0.45,
        top_k=100,
        keep_top_k=100,
    )


def test_opencv_runs_caffe_deploy_with_detection_output(caffe_model):
    rng = np.random.default_rng(0)
    image = rng.integers(0, 256, (240, 320, 3), dtype=np.uint8)
    card = json.loads((caffe_model / "card.json").read_text())
    detector = detector_from_card(caffe_model, card, runtime="opencv", threads=1)
    got = detector.detect([image])
    want = expected_rows(image)
    assert len(want) > 5
    order_got = np.lexsort((got[:, 3], got[:, 2]))
    order_want = np.lexsort((want[:, 3], want[:, 2]))
    # detect() clips boxes to 0..1 as the numpy path does, whatever the runtime.
    np.testing.assert_allclose(got[order_got][:, :3], want[order_want][:, :3], atol=1e-4)
    np.testing.assert_allclose(got[order_got][:, 3:], want[order_want][:, 3:], atol=1e-4)


def test_caffe_models_need_opencv_runtime(caffe_model):
    from lakesight.config import ConfigError

    with pytest.raises(ConfigError, match="OpenCV DNN"):
        detector_from_card(caffe_model, CARD, runtime="ort")
