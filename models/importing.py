"""Bring a user's model: inspect an exported file, write its card, run it once, register it.

``lakesight models import PATH --task detection`` reads what the file says about itself:

- **ONNX** (through ONNX Runtime, which lakesight already runs on): the inputs and
  outputs with their shapes and types, and ``metadata_props``. Ultralytics writes its
  class names, input size, task and whether NMS is in the graph there, as the
  ``str()`` of Python values (read with :func:`ast.literal_eval`, never ``eval``).
- **Caffe** (``deploy.prototxt`` beside its ``.caffemodel``): the input size and whether
  the net ends in a ``DetectionOutput`` layer.

From that it recognises the head format (:data:`lakesight.models.detection.detector.HEADS`)
and the preprocessing its framework uses; every guess can be overridden by an option,
and the card records which values were read and which were given. The model then runs
once on sample images before it is registered as the next version of its name, so a
file that does not load or does not decode is refused before anything is written.
"""

from __future__ import annotations

import ast
import json
import re
import shutil
import tempfile
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

from lakesight.config import ConfigError

# Description models (binary codes) come from an imported backbone through
# ``image_features.fit_codes``, or from lakesight's DeepBit release.
TASKS = ("detection", "backbone")
POOLINGS = ("average", "flatten")
FORMATS = ("onnx", "caffe")
BACKGROUND_NAMES = ("__background__", "background")
# How each framework feeds its detectors (their predictors' own settings).
ULTRALYTICS_INPUT = {"mean": 0.0, "scale": 1 / 255, "channel_order": "RGB", "resize": "letterbox",
                     "interpolation": "linear", "pad_value": 114.0}  # fmt: skip
TORCHVISION_INPUT = {"mean": 0.0, "scale": 1 / 255, "channel_order": "RGB", "resize": "none",
                     "interpolation": "linear", "single_image": True}  # fmt: skip
# MobileNet-SSD's Caffe deploy files (chuanqi305): the usual Caffe SSD a user has.
CAFFE_INPUT = {"mean": 127.5, "scale": 1 / 127.5, "channel_order": "BGR", "resize": "stretch",
               "interpolation": "linear"}  # fmt: skip
SAMPLE_IMAGES = 4


@dataclass
class Overrides:
    """What the user states instead of what the file says (None: read it from the file)."""

    head: str | None = None
    input_size: int | None = None
    mean: float | None = None
    scale: float | None = None
    channel_order: str | None = None
    resize: str | None = None
    conf: float | None = None
    iou: float | None = None
    labels: list[str] | None = None
    output: str | None = None  # backbone: the output to cut at (default: the first)
    pooling: str | None = None  # backbone: of a spatial map (default: average)
    given: list[str] = field(default_factory=list)


@dataclass
class Inspection:
    """What a model file says about itself."""

    format: str
    files: dict[str, Path]  # role -> path
    inputs: list[dict]
    outputs: list[dict]
    metadata: dict[str, str]


def read_labels(path: str | Path) -> list[str]:
    """Class names, one per line; a first line naming the background is dropped (labels
    are 1-based with 0 the background, as in torchvision's and Caffe's lists)."""
    try:
        names = [line.strip() for line in Path(path).read_text().splitlines() if line.strip()]
    except OSError as err:
        raise ConfigError(f"--labels: cannot read {path}: {err.strerror}") from None
    if names and names[0].lower() in BACKGROUND_NAMES:
        names = names[1:]
    if not names:
        raise ConfigError(f"--labels: {path} names no class")
    return names


def inspect_file(path: Path) -> Inspection:
    """Inputs, outputs and metadata of an ONNX file or a Caffe deploy prototxt."""
    if not path.exists():
        raise ConfigError(f"PATH: no such file: {path}")
    if path.suffix.lower() == ".onnx":
        return inspect_onnx(path)
    if path.suffix.lower() == ".prototxt":
        return inspect_caffe(path)
    raise ConfigError(f"PATH: expected an .onnx file or a Caffe .prototxt, got {path.name}")


def inspect_onnx(path: Path) -> Inspection:
    import onnxruntime as ort

    try:
        session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    except Exception as err:  # ORT raises its own types for every malformed file
        first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise ConfigError(f"PATH: ONNX Runtime cannot load {path.name}: {first}") from None

    def describe(arg) -> dict:
        return {"name": arg.name, "shape": list(arg.shape), "type": arg.type}

    return Inspection(
        "onnx", {"fp32": path}, [describe(a) for a in session.get_inputs()],
        [describe(a) for a in session.get_outputs()],
        dict(session.get_modelmeta().custom_metadata_map),
    )  # fmt: skip


def inspect_caffe(path: Path) -> Inspection:
    text = path.read_text(errors="replace")
    # The weights, when the net has any, are the .caffemodel of the same name beside it.
    weights = path.with_suffix(".caffemodel")
    files = {"prototxt": path, **({"caffemodel": weights} if weights.exists() else {})}
    dims = [int(d) for d in re.findall(r"\bdim\s*:\s*(\d+)", text)]
    if not dims:
        dims = [int(d) for d in re.findall(r"\binput_dim\s*:\s*(\d+)", text)]
    layer_types = re.findall(r'\btype\s*:\s*"(\w+)"', text)
    outputs = [{"name": "detection_out", "shape": [1, 1, "N", 7], "type": "DetectionOutput"}]
    if "DetectionOutput" not in layer_types:
        outputs = []
    return Inspection(
        "caffe", files,
        [{"name": "data", "shape": dims[:4], "type": "float"}], outputs, {},
    )  # fmt: skip


def ultralytics_metadata(metadata: dict[str, str]) -> dict:
    """Ultralytics' ``metadata_props`` as Python values (they are ``str()`` of them)."""
    if "ultralytics" not in metadata.get("author", "").lower():
        return {}
    values = {}
    for key, text in metadata.items():
        try:
            values[key] = ast.literal_eval(text)
        except (ValueError, SyntaxError):
            values[key] = text
    return values


def recognise_head(found: Inspection, ultra: dict) -> tuple[str, list[str]]:
    """(head, output names in the order its decoder takes them)."""
    if found.format == "caffe":
        if not found.outputs:
            raise ConfigError("PATH: the prototxt has no DetectionOutput layer: not a Caffe SSD")
        return "detection_output", []
    names = [o["name"] for o in found.outputs]
    if {"loc", "scores"} <= set(names):
        return "ssd", ["loc", "scores"]
    by_role = labelled_outputs(found.outputs)
    if by_role and len(found.inputs) == 2:
        return "rtdetr_official", [by_role[r] for r in ("labels", "boxes", "scores")]
    if by_role and len(found.inputs[0]["shape"]) == 3:
        return "torchvision", [by_role[r] for r in ("boxes", "labels", "scores")]
    if len(found.outputs) >= 1 and len(found.outputs[0]["shape"]) == 3:
        rows, columns = found.outputs[0]["shape"][1:]
        if ultra:
            if (
                "rtdetr" in str(ultra.get("description", "")).lower()
                or ultra.get("head") == "RTDETRDecoder"
            ):
                return "rtdetr", names[:1]
            if columns == 6 and (ultra.get("end2end") or (ultra.get("args") or {}).get("nms")):
                return "yolo_nms", names[:1]
            return "yolov8", names[:1]
        if isinstance(rows, int) and isinstance(columns, int):
            if columns == 6 and rows <= 1000:
                return "yolo_nms", names[:1]
            return ("yolov8", names[:1]) if rows < columns else ("yolov5", names[:1])
    shapes = ", ".join(f"{o['name']} {o['shape']}" for o in found.outputs)
    raise ConfigError(f"--head: cannot recognise the head format of outputs {shapes}; name it")


def labelled_outputs(outputs: list[dict]) -> dict[str, str]:
    """torchvision's / RT-DETR's three outputs by role, told apart by type and shape (their
    names and order differ between models): boxes end in 4, labels are integers."""
    if len(outputs) != 3:
        return {}
    roles = {}
    for output in outputs:
        if "int" in output["type"]:
            roles["labels"] = output["name"]
        elif output["shape"] and output["shape"][-1] == 4:
            roles["boxes"] = output["name"]
        else:
            roles["scores"] = output["name"]
    return roles if len(roles) == 3 else {}


def input_for(head: str, found: Inspection, ultra: dict, given: Overrides) -> dict:
    """The card's ``input``: the framework's preprocessing for the head, sized from the file."""
    if head in ("torchvision",):
        spec = dict(TORCHVISION_INPUT)
    elif head == "detection_output":
        spec = dict(CAFFE_INPUT)
    elif head == "ssd":
        spec = {"mean": 127.5, "scale": 1 / 127.5, "channel_order": "RGB", "resize": "stretch",
                "interpolation": "area"}  # fmt: skip
    else:
        spec = dict(ULTRALYTICS_INPUT)
        if head in ("rtdetr", "rtdetr_official"):
            spec["resize"] = "stretch"  # RT-DETR is trained and run on a plain resize
    shape = found.inputs[0]["shape"]
    height, width = (shape[-2], shape[-1]) if len(shape) >= 3 else (None, None)
    if "imgsz" in ultra:
        imgsz = ultra["imgsz"]
        height, width = (imgsz, imgsz) if isinstance(imgsz, int) else tuple(imgsz)
    if given.input_size:
        height = width = given.input_size
    if not (isinstance(height, int) and isinstance(width, int)) and spec["resize"] != "none":
        raise ConfigError("--input-size: the file does not fix its input size; give it")
    spec["size"] = int(width) if isinstance(width, int) else 0
    if isinstance(height, int) and height != width:
        spec["shape"] = [int(height), int(width)]
    batch = shape[0] if len(shape) == 4 else None
    if isinstance(batch, int):
        spec["batch"] = batch
    for key in ("mean", "scale", "channel_order", "resize"):
        if getattr(given, key) is not None:
            spec[key] = getattr(given, key)
    return spec


def class_names(head: str, found: Inspection, ultra: dict, given: Overrides) -> list[str]:
    if given.labels:
        return given.labels
    names = ultra.get("names")
    if isinstance(names, dict):
        return [str(names[k]) for k in sorted(names)]
    if head == "yolov8":  # (B, 4+C, N)
        count = found.outputs[0]["shape"][1]
        return [f"class_{i}" for i in range(1, count - 3)] if isinstance(count, int) else []
    if head == "yolov5":  # (B, N, 5+C)
        count = found.outputs[0]["shape"][2]
        return [f"class_{i}" for i in range(1, count - 4)] if isinstance(count, int) else []
    return []


def draft_card(path: Path, task: str, name: str, given: Overrides) -> tuple[dict, Inspection]:
    """The card of a model file, before it has run."""
    if task not in TASKS:
        raise ConfigError(f"--task: expected one of {', '.join(TASKS)}, got {task!r}")
    found = inspect_file(path)
    if task == "backbone":
        return backbone_card(path, found, name, given), found
    ultra = ultralytics_metadata(found.metadata)
    head, outputs = (given.head, None) if given.head else recognise_head(found, ultra)
    if outputs is None:  # a named head: its outputs in the file's order
        outputs = [o["name"] for o in found.outputs]
        roles = labelled_outputs(found.outputs)
        if head == "torchvision" and roles:
            outputs = [roles[r] for r in ("boxes", "labels", "scores")]
        elif head == "rtdetr_official" and roles:
            outputs = [roles[r] for r in ("labels", "boxes", "scores")]
    thresholds = {"conf": 0.25, "iou": 0.7, "max_det": 300}  # Ultralytics' predictor defaults
    if isinstance(ultra.get("args"), dict):
        thresholds["iou"] = float(ultra["args"].get("iou", thresholds["iou"]) or 0.7)
    for key in ("conf", "iou"):
        if getattr(given, key) is not None:
            thresholds[key] = getattr(given, key)
    files = {role: p.name for role, p in found.files.items()}
    card = {
        "name": name, "version": None, "task": task, "format": found.format, "head": head,
        "files": files, "classes": class_names(head, found, ultra, given),
        "input": input_for(head, found, ultra, given), "thresholds": thresholds,
        "outputs": outputs, "inputs": [i["name"] for i in found.inputs],
        "source": {"file": path.name, "inputs": found.inputs, "outputs": found.outputs,
                   "metadata": found.metadata, "given": given.given,
                   "imported_at": datetime.now(UTC).isoformat(timespec="seconds")},
    }  # fmt: skip
    if head in ("ssd", "detection_output") and given.resize not in (None, "stretch"):
        raise ConfigError(f"--resize: a {head} head's boxes are fractions of a stretched input")
    if head == "ssd":
        raise ConfigError(
            "PATH: a lakesight SSD export needs its priors: register it with its release "
            "(lakesight.models.detection.release), which writes them into the card"
        )
    return card, found


def backbone_card(path: Path, found: Inspection, name: str, given: Overrides) -> dict:
    """The card of an image embedder (a backbone cut at one output, as
    :mod:`lakesight.models.tagging.backbone` loads it)."""
    if found.format != "onnx":
        raise ConfigError("--task backbone: import an ONNX export of the embedder")
    names = [o["name"] for o in found.outputs]
    layer = given.output or names[0]
    if layer not in names:
        raise ConfigError(
            f"--output: {layer!r} is not an output of {path.name} ({', '.join(names)})"
        )
    shape = found.inputs[0]["shape"]
    height, width = (shape[-2], shape[-1]) if len(shape) == 4 else (None, None)
    if given.input_size:
        height = width = given.input_size
    if not (isinstance(height, int) and isinstance(width, int)):
        raise ConfigError("--input-size: the file does not fix its input size; give it")
    batch = shape[0] if len(shape) == 4 and isinstance(shape[0], int) else None
    spec = {"height": height, "width": width, "channel_order": given.channel_order or "RGB",
            "mean": 127.5 if given.mean is None else given.mean,
            "scale": 1 / 127.5 if given.scale is None else given.scale}  # fmt: skip
    return {
        "name": name, "version": None, "task": "backbone", "format": "onnx",
        "files": {"fp32": path.name}, "layer": layer, "pooling": given.pooling or "average",
        "input": spec, **({"batch": batch} if batch else {}),
        "source": {"file": path.name, "inputs": found.inputs, "outputs": found.outputs,
                   "metadata": found.metadata, "given": given.given,
                   "imported_at": datetime.now(UTC).isoformat(timespec="seconds")},
    }  # fmt: skip


def model_name(path: Path) -> str:
    """A registry name from a file name: lower case letters, digits and underscores."""
    stem = path.stem.split(".")[0]
    return re.sub(r"[^a-z0-9_]+", "_", stem.lower()).strip("_") or "model"


def check_name(name: str) -> str:
    if not re.fullmatch(r"[a-z][a-z0-9_]*", name):
        raise ConfigError(f"--name: {name!r} is not a model name (a-z, 0-9 and _, from a letter)")
    return name


def trial_run(directory: Path, card: dict, images: list[np.ndarray]) -> dict:
    """Load the model as the stages would and run it on ``images``: what it found (detections,
    or the embedding's width), and the median seconds per image over three passes."""
    from lakesight.models.runtime import detector_from_card
    from lakesight.models.tagging.backbone import backbone_from_card

    try:
        if card["task"] == "backbone":
            run = backbone_from_card(directory, card, threads=1).embed
        else:
            run = detector_from_card(directory, card, threads=1).detect
        found = run(images)
        seconds = []
        for _ in range(3):
            start = time.perf_counter()
            run(images)
            seconds.append((time.perf_counter() - start) / len(images))
    except ConfigError:
        raise
    except Exception as err:  # the user's file: say what failed, in one line
        first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        kind = f"{card['head']} detector" if card["task"] == "detection" else card["task"]
        raise ConfigError(f"PATH: the model does not run as a {kind}: {first}") from None
    what = ({"embedding_dim": int(found.shape[1])} if card["task"] == "backbone"
            else {"detections": len(found)})  # fmt: skip
    return {"images": len(images), **what,
            "seconds_per_image": round(float(np.median(seconds)), 5)}  # fmt: skip


def sample_images(n: int = SAMPLE_IMAGES) -> list[np.ndarray]:
    """Generated scenes on photo-like backgrounds: always at hand, any machine."""
    from lakesight.models.detection.evaluation import held_out_scenes

    images, _ = held_out_scenes(n, seed=20261204)
    return images


def render_card(card: dict) -> str:
    """MODEL_CARD.md of an imported model."""
    source, spec, trial = card["source"], card["input"], card["metrics"]["trial_run"]
    if card["task"] == "backbone":
        return "\n".join([
            f"# {card['name']}@{card['version']}", "",
            f"Imported from `{source['file']}` ({card['format']}) on {source['imported_at']}.", "",
            f"- Task: image embedder, cut at `{card['layer']}`, pooling `{card['pooling']}`",
            f"- Input: {spec['height']}x{spec['width']} px, (pixel - {spec['mean']}) x "
            f"{spec['scale']:.6g}, {spec['channel_order']}",
            f"- Trial run: {trial['embedding_dim']}-d embeddings, "
            f"{trial['seconds_per_image'] * 1000:.1f} ms per image (1 thread)",
            "- Binary codes: `lakesight stage image_features.fit_codes --dt D --embedder "
            f"{card['name']}@{card['version']}`", "",
        ])  # fmt: skip
    given = ", ".join(source["given"]) or "nothing: all read from the file"
    return "\n".join([
        f"# {card['name']}@{card['version']}", "",
        f"Imported from `{source['file']}` ({card['format']}) on {source['imported_at']}.", "",
        f"- Task: {card['task']}; head format: `{card['head']}`",
        f"- Input: {spec['size']} px ({spec.get('shape') or 'square'}), resize `{spec['resize']}`, "
        f"(pixel - {spec['mean']}) x {spec['scale']:.6g}, {spec['channel_order']}",
        f"- Classes ({len(card['classes'])}): {', '.join(card['classes'][:20])}"
        + (" ..." if len(card["classes"]) > 20 else ""),
        f"- Thresholds: {json.dumps(card['thresholds'])}",
        f"- Given by the user: {given}",
        f"- Trial run: {trial['detections']} detections on {trial['images']} sample images, "
        f"{trial['seconds_per_image'] * 1000:.1f} ms per image (1 thread)", "",
        "Weights and training are the model's owner's; see the sha256 in card.json.", "",
    ])  # fmt: skip


def import_model(path: Path, task: str, name: str | None, given: Overrides,
                 registry: str | None = None) -> dict:  # fmt: skip
    """Inspect, run once and register ``path``; the registered card (with ``ref``)."""
    from lakesight.config import load_settings
    from lakesight.lake import filesystem_for, join
    from lakesight.models.runtime import MODEL_CARD_NAME, promote_release, write_card

    path = Path(path).expanduser().resolve()
    name = check_name(name or model_name(path))
    card, found = draft_card(path, task, name, given)
    with tempfile.TemporaryDirectory(prefix="lakesight-import-") as tmp:
        release = Path(tmp)
        for role, source in found.files.items():
            shutil.copyfile(source, release / card["files"][role])
        card["version"] = "next"
        card["metrics"] = {"trial_run": trial_run(release, card, sample_images())}
        card = write_card(release, card)
        settings = load_settings()
        registry = registry or settings.model_registry
        fs = filesystem_for(registry, settings)
        ref = promote_release(fs, registry, name, release)
    card["version"] = ref.partition("@")[2]
    # The human card follows the version; card.json (with the sha256) is what loads.
    fs.write_bytes(
        join(registry, name, card["version"], MODEL_CARD_NAME), render_card(card).encode()
    )
    return {"ref": ref, "registry": registry, **card}
