"""The detectors people have, imported with ``lakesight models import``, detect what their
own frameworks detect on real photos.

The models are the committed fixtures of ``tests/fixtures/detectors``: Ultralytics YOLOv8
and YOLO11 (raw heads), YOLOv8 exported with NMS in the graph, Ultralytics RT-DETR and
torchvision's SSDlite, each built by its own exporter with random weights, with the
framework's own answers on four of scikit-image's photos (``expected.json``; how and why
in the folder's README). Neither framework is importable here: the answers were recorded
where they are (``scripts/build_detector_fixtures.py``).

lakesight's answer must equal the framework's: the same detections, labels equal,
scores within 1e-3 and boxes within 1 px. One difference is by design: lakesight clips
every box to the image (the contract's boxes are fractions of it), and Ultralytics'
RT-DETR does not, so its boxes are compared after clipping.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pytest

from lakesight.models.detection.detector import fit
from lakesight.models.runtime import detector_from_card, input_spec, load_card
from tests.models.test_models_cli import lakesight

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "detectors"
EXPECTED = json.loads((FIXTURES / "expected.json").read_text())
HEADS = {"yolov8": "yolov8", "yolov8_nms": "yolo_nms", "yolo11": "yolov8", "rtdetr": "rtdetr",
         "ssdlite": "torchvision"}  # fmt: skip


def photo(name: str) -> np.ndarray:
    from skimage import data

    image = data.stereo_motorcycle()[0] if name == "motorcycle_left" else getattr(data, name)()
    digest = hashlib.sha256(np.ascontiguousarray(image).tobytes()).hexdigest()
    assert digest == EXPECTED["photos"][name]["sha256_rgb_bytes"], f"{name}: not the recorded photo"
    return image


@pytest.fixture(scope="module")
def registry(tmp_path_factory) -> Path:
    """Every fixture imported as a user would, into one registry. A torchvision export
    carries no class names: its user names them, background first, as torchvision lists them."""
    root = tmp_path_factory.mktemp("registry")
    labels = root.parent / "coco_subset.txt"
    labels.write_text("__background__\nperson\ncat\ncup\nmotorcycle\n")
    for model in HEADS:
        named = ["--labels", str(labels)] if model == "ssdlite" else []
        result = lakesight("models", "import", str(FIXTURES / f"{model}.onnx"), "--task",
                           "detection", "--registry", root.as_uri(), "--json", *named)  # fmt: skip
        assert result.returncode == 0, result.stderr
    return root


def expected_rows(model: str, name: str, width: int, height: int) -> np.ndarray:
    """The framework's detections as lakesight rows: label (1-based), score, box in pixels
    clipped to the image."""
    spec = EXPECTED["models"][model]
    rows = np.asarray(spec["detections"][name], np.float64).reshape(-1, 6)
    rows[:, 0] += 1 - spec["class_index_base"]
    rows[:, [2, 4]] = rows[:, [2, 4]].clip(0, width)
    rows[:, [3, 5]] = rows[:, [3, 5]].clip(0, height)
    return rows


def lakesight_rows(detections: np.ndarray, width: int, height: int) -> np.ndarray:
    rows = detections[:, 1:].astype(np.float64)
    rows[:, 2:] *= [width, height, width, height]
    return rows


def assert_same_detections(got: np.ndarray, want: np.ndarray, label: str) -> None:
    assert len(want) > 0, f"{label}: the fixture detects nothing, so it checks nothing"
    assert len(got) == len(want), f"{label}: {len(got)} detections, the framework {len(want)}"
    got = got[np.lexsort((got[:, 2], -got[:, 1].round(3)))]
    want = want[np.lexsort((want[:, 2], -want[:, 1].round(3)))]
    np.testing.assert_array_equal(got[:, 0], want[:, 0], err_msg=f"{label}: labels")
    np.testing.assert_allclose(got[:, 1], want[:, 1], atol=1e-3, err_msg=f"{label}: scores")
    np.testing.assert_allclose(got[:, 2:], want[:, 2:], atol=1.0, err_msg=f"{label}: boxes")


@pytest.mark.unit
@pytest.mark.parametrize("model", sorted(HEADS))
def test_import_recognises_the_head_and_reads_the_files_own_facts(registry, model):
    card = load_card(registry / model / "1")
    assert card["head"] == HEADS[model]
    assert card["classes"] == ["person", "cat", "cup", "motorcycle"]
    assert card["metrics"]["trial_run"]["images"] > 0
    expected = EXPECTED["models"][model]
    assert card["sha256"][card["files"]["fp32"]] == expected["sha256"]
    if model == "ssdlite":  # torchvision resizes inside the graph: the image goes in as it is
        assert card["input"]["resize"] == "none" and card["input"]["single_image"]
    else:
        assert card["input"]["size"] == 320
        assert card["input"]["resize"] == ("stretch" if model == "rtdetr" else "letterbox")


@pytest.mark.unit
@pytest.mark.parametrize("model", ["yolov8", "rtdetr"])
def test_the_network_sees_the_very_pixels_the_framework_fed_it(registry, model):
    # Random nets amplify a grey level's difference into other detections: be bit-exact.
    spec = input_spec(load_card(registry / model / "1"))
    recorded = EXPECTED["models"][model]["network_input"]
    for name in EXPECTED["photos"]:
        pixels, _ = fit(photo(name), spec)
        digest = hashlib.sha256(np.ascontiguousarray(pixels).tobytes()).hexdigest()
        assert digest == recorded[name]["sha256_uint8_rgb_hwc"], name


@pytest.mark.unit
@pytest.mark.parametrize("model", sorted(HEADS))
def test_detections_equal_the_frameworks_own_inference(registry, model):
    directory = registry / model / "1"
    detector = detector_from_card(directory, load_card(directory), threads=1)
    names = sorted(EXPECTED["photos"])
    images = [photo(name) for name in names]
    found = detector.detect(images)  # one batch, as the stage calls it
    for index, (name, image) in enumerate(zip(names, images, strict=True)):
        height, width = image.shape[:2]
        got = lakesight_rows(found[found[:, 0] == index], width, height)
        assert_same_detections(got, expected_rows(model, name, width, height), f"{model}/{name}")


@pytest.mark.spark
@pytest.mark.parametrize("model", ["yolov8", "ssdlite"])
def test_the_analyze_stage_on_spark_runs_an_imported_detector_as_its_framework_does(
    spark, registry, lake_root, monkeypatch, model
):
    """Real photos through ingest and analyze with ``--detector NAME@1``: the stage's
    detections (every one kept in curated/descriptors) are the framework's."""
    import shutil

    import pyarrow.parquet as pq
    from PIL import Image

    from lakesight.config import REPO_ROOT, load_settings
    from lakesight.image_features import analyze, ingest
    from lakesight.lake import uri_path

    # The user's registry holds the shipped descriptor beside the imported detectors.
    if not (registry / "deepbit_scenes").exists():
        shutil.copytree(
            REPO_ROOT / "models" / "registry" / "deepbit_scenes", registry / "deepbit_scenes"
        )
    monkeypatch.setenv("LAKESIGHT_MODEL_REGISTRY", registry.as_uri())
    settings = load_settings()
    dt = "2026-12-04"
    raw = Path(uri_path(settings.partition_uri("raw", "images", dt)))
    raw.mkdir(parents=True)
    for name in EXPECTED["photos"]:
        Image.fromarray(photo(name)).save(raw / f"{name}.png")
    ingest.run(spark, settings, dt)
    result = analyze.run(spark, settings, dt, detector=f"{model}@1")
    assert [m["name"] for m in result.manifest.models] == [f"{model}@1", "deepbit_scenes@1"]
    rows = pq.read_table(uri_path(result.output_uri)).to_pandas()
    assert len(rows) == len(EXPECTED["photos"]) == result.manifest.counts["out"]
    classes = ["person", "cat", "cup", "motorcycle"]
    for path, width, height, detections in zip(rows["path"], rows["width"], rows["height"],
                                               rows["detections"], strict=True):  # fmt: skip
        name = Path(uri_path(path)).stem
        got = np.array([[classes.index(d["label"]) + 1, d["score"], d["x_min"] * width,
                         d["y_min"] * height, d["x_max"] * width, d["y_max"] * height]
                        for d in detections])  # fmt: skip
        assert_same_detections(got, expected_rows(model, name, width, height), f"{model}/{name}")
