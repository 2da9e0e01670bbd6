"""``lakesight models`` as a user meets it: import a file, list, show, verify, remove, on a
local registry and over WebHDFS, and one line with exit code 2 for every mistake.

The model is a Caffe deploy net ending in ``DetectionOutput`` (the probe net of
``detection/test_caffe_deploy.py``: no weights, so its answer is known); the framework
exports are imported in ``detection/test_imported_detectors.py``."""

from __future__ import annotations

import contextlib
import io
import json
import os
import subprocess
from pathlib import Path
from unittest import mock

import pytest

from lakesight.cli import main
from tests.models.detection.test_caffe_deploy import DEPLOY


def lakesight(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    """The ``lakesight`` command's ``main``, in this process (the entry point is one line
    around it; ``tests/test_cli.py`` runs the installed command): exit code, stdout, stderr."""
    out, err = io.StringIO(), io.StringIO()
    with mock.patch.dict(os.environ, env or {}), contextlib.redirect_stdout(out), \
            contextlib.redirect_stderr(err):  # fmt: skip
        try:
            code = main(list(args))
        except SystemExit as exit_:  # argparse's answer to a bad argument
            code = exit_.code
    return subprocess.CompletedProcess(list(args), code, out.getvalue(), err.getvalue())


def one_line_error(result: subprocess.CompletedProcess, *fragments: str) -> None:
    assert result.returncode == 2, result.stderr
    assert result.stderr.count("\n") == 1 and "Traceback" not in result.stderr, result.stderr
    for fragment in fragments:
        assert fragment in result.stderr, result.stderr


@pytest.fixture
def probe(tmp_path: Path) -> Path:
    path = tmp_path / "files" / "mobilenet_ssd_probe.prototxt"
    path.parent.mkdir()
    path.write_text(DEPLOY)
    (tmp_path / "files" / "labels.txt").write_text("background\nthing\n")
    return path


@pytest.mark.unit
def test_import_registers_versions_that_list_show_verify_and_remove(probe, tmp_path):
    registry = (tmp_path / "registry").as_uri()
    labels = str(probe.parent / "labels.txt")
    first = lakesight("models", "import", str(probe), "--task", "detection", "--labels", labels,
                      "--registry", registry, "--json")  # fmt: skip
    assert first.returncode == 0, first.stderr
    card = json.loads(first.stdout)
    assert card["ref"] == "mobilenet_ssd_probe@1"
    assert (card["format"], card["head"], card["classes"]) == (
        "caffe",
        "detection_output",
        ["thing"],
    )
    assert card["input"]["size"] == 300 and card["source"]["given"] == ["labels"]
    assert card["metrics"]["trial_run"]["detections"] > 0  # it ran before it was registered
    stored = tmp_path / "registry" / "mobilenet_ssd_probe" / "1"
    assert json.loads((stored / "card.json").read_text())["version"] == "1"
    assert "head format: `detection_output`" in (stored / "MODEL_CARD.md").read_text()

    second = lakesight("models", "import", str(probe), "--task", "detection", "--name", "probe_b",
                       "--conf", "0.6", "--registry", registry)  # fmt: skip
    assert second.returncode == 0 and "registered probe_b@1" in second.stdout, second.stderr
    listed = json.loads(lakesight("models", "list", "--registry", registry, "--json").stdout)
    assert [m["ref"] for m in listed["models"]] == ["mobilenet_ssd_probe@1", "probe_b@1"]
    shown = json.loads(
        lakesight("models", "show", "probe_b", "--registry", registry, "--json").stdout
    )
    assert shown["ref"] == "probe_b@1" and shown["thresholds"]["conf"] == 0.6

    verified = lakesight("models", "verify", "probe_b@1", "--registry", registry, "--json")
    result = json.loads(verified.stdout)
    assert result["sha256"] == "ok" and result["images_per_s_1_threads"] > 0

    (tmp_path / "registry" / "probe_b" / "1" / "mobilenet_ssd_probe.prototxt").write_text(
        DEPLOY + "#"
    )
    one_line_error(lakesight("models", "verify", "probe_b@1", "--registry", registry), "sha256")
    one_line_error(lakesight("models", "remove", "probe_b", "--registry", registry), "version")
    removed = lakesight("models", "remove", "probe_b@1", "--registry", registry)
    assert removed.returncode == 0, removed.stderr
    listed = json.loads(lakesight("models", "list", "--registry", registry, "--json").stdout)
    assert [m["ref"] for m in listed["models"]] == ["mobilenet_ssd_probe@1"]
    # A removed number is never given again: caches and manifests name models by it.
    again = lakesight("models", "import", str(probe), "--task", "detection", "--name", "probe_b",
                      "--registry", registry)  # fmt: skip
    assert "registered probe_b@2" in again.stdout, again.stderr
    one_line_error(lakesight("models", "remove", "../etc@1", "--registry", registry), "model name")


@pytest.mark.unit
def test_mistakes_are_one_line_with_exit_code_2(probe, tmp_path):
    registry = (tmp_path / "registry").as_uri()
    missing = str(tmp_path / "nope.onnx")
    one_line_error(lakesight("models", "import", missing, "--task", "detection",
                             "--registry", registry), "no such file")  # fmt: skip
    not_onnx = tmp_path / "garbage.onnx"
    not_onnx.write_bytes(b"not a protobuf at all")
    one_line_error(lakesight("models", "import", str(not_onnx), "--task", "detection",
                             "--registry", registry), "ONNX Runtime cannot load")  # fmt: skip
    one_line_error(lakesight("models", "import", str(probe), "--task", "segmentation"), "--task")
    one_line_error(lakesight("models", "import", str(probe), "--task", "detection",
                             "--name", "Bad Name", "--registry", registry), "--name")  # fmt: skip
    one_line_error(lakesight("models", "import", str(probe), "--task", "detection",
                             "--labels", str(tmp_path / "none.txt"), "--registry", registry),
                   "--labels")  # fmt: skip
    one_line_error(lakesight("models", "show", "nothing_here", "--registry", registry), "no model")
    bad_setting = lakesight("models", "list", env={"LAKESIGHT_DETECTOR": "two words"})
    one_line_error(bad_setting, "LAKESIGHT_DETECTOR")
    # Nothing half-registered after all that.
    assert not (tmp_path / "registry").exists() or not any((tmp_path / "registry").iterdir())


@pytest.mark.hdfs
def test_import_into_a_registry_on_hdfs_and_run_from_its_verified_copy(probe, tmp_path,
                                                                       webhdfs_server):  # fmt: skip
    registry = f"webhdfs://{webhdfs_server.url.removeprefix('http://')}/models"
    env = {"LAKESIGHT_MODEL_CACHE": str(tmp_path / "cache")}
    imported = lakesight("models", "import", str(probe), "--task", "detection", "--registry",
                         registry, "--json", env=env)  # fmt: skip
    assert imported.returncode == 0, imported.stderr
    assert json.loads(imported.stdout)["ref"] == "mobilenet_ssd_probe@1"
    verified = lakesight("models", "verify", "mobilenet_ssd_probe", "--registry", registry,
                         "--json", env=env)  # fmt: skip
    assert json.loads(verified.stdout)["sha256"] == "ok", verified.stderr
    assert (tmp_path / "cache" / "mobilenet_ssd_probe" / "1" / "card.json").exists()


@pytest.mark.unit
def test_quantize_registers_an_int8_copy_and_the_runtime_measures_which_to_run(tmp_path):
    fixture = Path(__file__).resolve().parents[1] / "fixtures" / "detectors" / "yolov8.onnx"
    registry = (tmp_path / "registry").as_uri()
    assert lakesight("models", "import", str(fixture), "--task", "detection",
                     "--registry", registry).returncode == 0  # fmt: skip
    result = lakesight("models", "quantize", "yolov8", "--registry", registry, "--json")
    assert result.returncode == 0, result.stderr
    quantized = json.loads(result.stdout)
    assert quantized["ref"] == "yolov8@2" and quantized["quantized_from"] == "yolov8@1"
    choice = quantized["choice"]
    assert choice["variant"] == ("int8" if choice["int8_vs_fp32"] >= 1.1 else "fp32")
    card = json.loads((tmp_path / "registry" / "yolov8" / "2" / "card.json").read_text())
    assert set(card["files"]) == {"fp32", "int8"} and set(card["sha256"]) == set(
        card["files"].values()
    )
    # The int8 file detects what fp32 does, give or take quantisation.
    from lakesight.models.importing import sample_images
    from lakesight.models.runtime import detector_from_card

    directory = tmp_path / "registry" / "yolov8" / "2"
    images = sample_images(4)
    counts = [len(detector_from_card(directory, card, variant=v, threads=1).detect(images))
              for v in ("fp32", "int8")]  # fmt: skip
    assert counts[0] > 0 and abs(counts[1] - counts[0]) <= max(3, counts[0] // 2), counts
    one_line_error(lakesight("models", "quantize", "nothing", "--registry", registry), "no model")
