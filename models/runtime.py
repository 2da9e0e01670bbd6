"""The model registry and the inference runtimes (ONNX Runtime, OpenCV DNN).

Registry layout, the same on a laptop and on HDFS::

    <registry>/<name>/<version>/card.json     what the model is: format, files + sha256,
                                               classes, input spec, post-processing, metrics
    <registry>/<name>/<version>/MODEL_CARD.md the same for people (:func:`write_card`)
    <registry>/<name>/<version>/model.onnx    (or deploy.prototxt + .caffemodel, or .pb)

A model is referred to as ``name@version`` (``name`` alone: the highest version).
Non-local registries are copied once into a local cache, checked against the
card's sha256. Loaded models are cached per process, so a Spark Python worker
loads each model once and reuses it for every batch.

What every family's release shares lives here too: the ONNX opset the runtimes load
(:data:`ONNX_OPSET`), int8 quantisation (:func:`quantize_int8`) and the one card writer
(:func:`write_card`).
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlparse

import numpy as np

from lakesight.config import ConfigError, load_settings
from lakesight.models.description.descriptor import Descriptor
from lakesight.models.detection.detector import Detector, InputSpec, PostProcess
from lakesight.models.detection.heads import Thresholds

CARD_NAME = "card.json"
MODEL_CARD_NAME = "MODEL_CARD.md"  # the card as people read it, rendered from card.json
ONNX_OPSET = 17  # every family exports this opset: ONNX Runtime and OpenCV DNN both load it
DEFAULT_DETECTOR = "ssd_scenes"
DEFAULT_DESCRIPTOR = "deepbit_scenes"
RUNTIMES = ("ort", "opencv")


@dataclass(frozen=True)
class ModelRef:
    name: str
    version: str

    def __str__(self) -> str:
        return f"{self.name}@{self.version}"


def sha256_file(path: Path) -> str:
    """Hex sha256 of a file, read in 1 MiB chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def resolve(ref: str, registry: str | None = None) -> tuple[ModelRef, Path]:
    """``name[@version]`` → (ref, local directory holding the card and files)."""
    from lakesight.lake import filesystem_for, join, uri_path

    settings = load_settings()
    registry = registry or settings.model_registry
    name, _, version = ref.partition("@")
    fs = filesystem_for(registry, settings)
    if not version:
        # Only complete versions: a promotion copies into _staging.<run> and renames last.
        versions = sorted((v for v in fs.list_dirs(join(registry, name)) if v.isdigit()), key=int)
        if not versions:
            raise ConfigError(f"LAKESIGHT_MODEL_REGISTRY: no model {name!r} under {registry}")
        version = versions[-1]
    model_ref = ModelRef(name, version)
    remote = join(registry, name, version)
    if not fs.exists(join(remote, CARD_NAME)):
        raise ConfigError(
            f"LAKESIGHT_MODEL_REGISTRY: no model {model_ref} under {registry} (missing {CARD_NAME})"
        )
    if urlparse(registry).scheme == "file":
        return model_ref, Path(uri_path(remote))
    local = Path(settings.model_cache) / name / version
    local.mkdir(parents=True, exist_ok=True)
    card = json.loads(fs.read_bytes(join(remote, CARD_NAME)))
    for filename, expected in card.get("sha256", {}).items():
        target = local / filename
        if not target.exists() or sha256_file(target) != expected:
            # Several Python workers of a node may fetch at once: write aside, then rename.
            partial = target.with_name(f".{filename}.{os.getpid()}.part")
            partial.write_bytes(fs.read_bytes(join(remote, filename)))
            os.replace(partial, target)
    (local / CARD_NAME).write_text(json.dumps(card))
    return model_ref, local


def chosen_models(settings, detector: str | None, descriptor: str | None) -> tuple[str, ...] | None:
    """``name@version`` of the detector and descriptor a command was told to use (each
    defaulting to its setting), or None when it was told neither: then the data decides."""
    if detector is None and descriptor is None:
        return None
    refs = (detector or settings.detector, descriptor or settings.descriptor)
    return tuple(str(resolve(ref)[0]) for ref in refs)


def load_card(directory: Path) -> dict:
    """The ``card.json`` of a model directory."""
    return json.loads((directory / CARD_NAME).read_text())


def write_card(directory: Path, card: dict, render: Callable[[dict], str] | None = None, *,
               stamp: bool = True) -> dict:  # fmt: skip
    """Write a model's ``card.json`` and, given ``render``, its ``MODEL_CARD.md`` into
    ``directory``; return the card written.

    ``stamp`` (a card of new files) sets the card's ``sha256``, beside ``files``: the digest
    of each file it lists, as it is in ``directory``. A card of files it describes already
    (metrics recorded later, a version number given) is written as it is: ``stamp=False``.
    The Markdown is rendered first, so a card it cannot render leaves the directory as it was.
    """
    if stamp:
        stamped = {}
        for key, value in card.items():
            if key != "sha256":
                stamped[key] = value
            if key == "files":
                stamped["sha256"] = {name: sha256_file(directory / name) for name in value.values()}
        card = stamped
    markdown = render(card) if render else None
    (directory / CARD_NAME).write_text(json.dumps(card, indent=2) + "\n")
    if markdown is not None:
        (directory / MODEL_CARD_NAME).write_text(markdown)
    return card


def verified(directory: Path, card: dict, filename: str) -> Path:
    """Path of one of the model's files, after checking its sha256 against the card."""
    path = directory / filename
    if not path.exists():
        raise ConfigError(f"LAKESIGHT_MODEL_REGISTRY: model file missing: {path}")
    expected = card.get("sha256", {}).get(filename)
    if expected and sha256_file(path) != expected:
        raise ConfigError(f"LAKESIGHT_MODEL_REGISTRY: sha256 mismatch for {path}")
    return path


def promote_release(fs, registry: str, name: str, release_dir: Path) -> str:
    """Copy a released model (a local directory with its card) into the registry as the
    next version; returns ``name@version``.

    Promotions of one model hold its lease (:class:`lakesight.lake.Lease`, key
    ``promote``), so two of them never pick the same number; each copies into a staging
    directory of its own and renames it into place last, so a version is visible only
    once it is complete (and :func:`resolve` never takes a staging directory for one)."""
    from lakesight.config import load_settings
    from lakesight.lake import Lease, LeasePolicy, join, new_run_id

    run_id = new_run_id()
    with Lease(fs, join(registry, name), "promote", run_id,
               LeasePolicy.from_settings(load_settings())) as lease:  # fmt: skip
        listed = fs.list_dirs(join(registry, name)) if fs.exists(join(registry, name)) else []
        version = str(max(used_versions(listed), default=0) + 1)
        write_card(release_dir, {**load_card(release_dir), "version": version}, stamp=False)
        staging = join(registry, name, f"_staging.{run_id}")
        fs.mkdirs(staging)
        for path in sorted(release_dir.iterdir()):
            fs.write_bytes(join(staging, path.name), path.read_bytes())
        lease.check()  # the fence: still ours, so nobody else took this number
        fs.rename(staging, join(registry, name, version))
    return f"{name}@{version}"


def identical_version(fs, registry: str, name: str, card: dict) -> str | None:
    """``name@V`` of a registered version with the same files (sha256) and the same card
    otherwise, version and metrics aside: what a rerun that made the same model finds."""
    from lakesight.lake import join

    if not fs.exists(join(registry, name)):
        return None
    same = lambda c: {k: v for k, v in c.items() if k not in ("version", "metrics")}  # noqa: E731
    for version in sorted((v for v in fs.list_dirs(join(registry, name)) if v.isdigit()), key=int):
        uri = join(registry, name, version, CARD_NAME)
        if fs.exists(uri) and same(json.loads(fs.read_bytes(uri))) == same(card):
            return f"{name}@{version}"
    return None


REMOVED_PREFIX = "_removed."  # the tombstone `lakesight models remove` leaves: never reused


def used_versions(listed: Sequence[str]) -> list[int]:
    """Version numbers taken under a model's folder: live ones and removed ones, so that
    ``name@3`` never names two different models (caches and manifests key on it)."""
    return [int(v.removeprefix(REMOVED_PREFIX)) for v in listed
            if v.isdigit() or (v.startswith(REMOVED_PREFIX) and v[len(REMOVED_PREFIX):].isdigit())]  # fmt: skip


def task_threads() -> int:
    """Runtime threads: the Spark task's CPUs inside a task, else LAKESIGHT_RUNTIME_THREADS or all cores."""
    explicit = load_settings().runtime_threads
    if explicit:
        return explicit
    try:
        from pyspark import TaskContext

        context = TaskContext.get()
        if context is not None:
            return max(1, int(context.cpus()))
    except ImportError:
        pass
    return os.cpu_count() or 1


def ort_runner(
    model_path: Path, threads: int, output_names: Sequence[str] | None = None
) -> Callable[[np.ndarray], list[np.ndarray]]:
    """ONNX Runtime session, one intra-op pool of ``threads``; returns ``run(feed) -> outputs``,
    ``feed`` the first input's array or a dict by input name."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    session = ort.InferenceSession(str(model_path), options, providers=["CPUExecutionProvider"])
    input_name = session.get_inputs()[0].name

    names = list(output_names) if output_names else None

    def run(feed: np.ndarray | dict) -> list[np.ndarray]:
        return session.run(names, feed if isinstance(feed, dict) else {input_name: feed})

    return run


def opencv_runner(files: Sequence[Path], threads: int, output_names: Sequence[str] | None = None):
    """OpenCV DNN net from ONNX, Caffe (prototxt + caffemodel) or TensorFlow (.pb [+ .pbtxt])."""
    import cv2

    paths = {p.suffix.lower(): str(p) for p in files}
    if ".onnx" in paths:
        net = cv2.dnn.readNetFromONNX(paths[".onnx"])
    elif ".prototxt" in paths:
        net = cv2.dnn.readNetFromCaffe(paths[".prototxt"], paths.get(".caffemodel", ""))
    elif ".pb" in paths:
        net = cv2.dnn.readNetFromTensorflow(paths[".pb"], paths.get(".pbtxt", ""))
    else:
        raise ConfigError(
            f"LAKESIGHT_MODEL_REGISTRY: no ONNX, Caffe or TF graph among {sorted(paths)}"
        )
    net.setPreferableBackend(cv2.dnn.DNN_BACKEND_OPENCV)
    net.setPreferableTarget(cv2.dnn.DNN_TARGET_CPU)
    names = list(output_names or net.getUnconnectedOutLayersNames())

    def run(batch: np.ndarray) -> list[np.ndarray]:
        # OpenCV's thread count is process-wide: set it for each call.
        cv2.setNumThreads(threads)
        net.setInput(batch)
        return list(net.forward(names))

    return run


def quantize_int8(fp32_path: Path, int8_path: Path, calibration) -> Path:
    """Static QDQ int8 quantisation: per-channel weights, activations calibrated on
    ``calibration`` (an ONNX Runtime ``CalibrationDataReader``: ``get_next()`` gives feeds)."""
    from onnxruntime.quantization import CalibrationMethod, QuantFormat, QuantType, quantize_static
    from onnxruntime.quantization.shape_inference import quant_pre_process

    prepared = int8_path.with_suffix(".prep.onnx")
    quant_pre_process(str(fp32_path), str(prepared))
    try:
        quantize_static(
            str(prepared),
            str(int8_path),
            calibration,
            quant_format=QuantFormat.QDQ,
            per_channel=True,
            activation_type=QuantType.QUInt8,
            weight_type=QuantType.QInt8,
            calibrate_method=CalibrationMethod.MinMax,
            # Convolutions hold nearly all the FLOPs; the softmax whose scores feed
            # the NMS thresholds stays in float.
            op_types_to_quantize=["Conv"],
        )
    finally:
        prepared.unlink(missing_ok=True)
    return int8_path


def runtime_for(card: dict) -> str:
    """The runtime a model runs on unless told otherwise: ONNX Runtime for ONNX files,
    OpenCV DNN for the formats only it reads (Caffe, TensorFlow graphs)."""
    return "ort" if card.get("format") == "onnx" else "opencv"


def detector_from_card(directory: Path, card: dict, *, runtime: str | None = None, variant: str = "fp32",
                       threads: int | None = None) -> Detector:  # fmt: skip
    """A :class:`Detector` for a registered model (any head its card names)."""
    runtime = runtime or runtime_for(card)
    if runtime not in RUNTIMES:
        raise ConfigError(f"runtime: expected one of {', '.join(RUNTIMES)}, got {runtime!r}")
    threads = threads or task_threads()
    spec = input_spec(card)
    post = card.get("postprocess")
    post = (
        PostProcess(
            feature_sizes=tuple(post["feature_sizes"]),
            aspect_ratios=tuple(tuple(r) for r in post["aspect_ratios"]),
            min_scale=post["min_scale"],
            max_scale=post["max_scale"],
            variances=tuple(post["variances"]),
        )
        if post
        else None
    )
    files = card["files"]
    if card["format"] == "onnx":
        model = verified(directory, card, files[variant])
        runner = (
            ort_runner(model, threads, card.get("outputs"))
            if runtime == "ort"
            else opencv_runner([model], threads, card.get("outputs"))
        )
    elif card["format"] in ("caffe", "tensorflow"):
        if runtime != "opencv":
            raise ConfigError(
                f"runtime: {card['format']} models run on OpenCV DNN (--runtime opencv)"
            )
        runner = opencv_runner(
            [verified(directory, card, f) for f in files.values()], threads, card.get("outputs")
        )
    else:
        raise ConfigError(
            f"LAKESIGHT_MODEL_REGISTRY: unknown model format {card['format']!r} in {directory}"
        )
    return Detector(
        runner, spec, post, card["classes"], name=f"{card['name']}@{card['version']}",
        head=card.get("head"), thresholds=Thresholds(**card.get("thresholds", {})),
        input_names=card.get("inputs", ()),
    )  # fmt: skip


def input_spec(card: dict) -> InputSpec:
    """The card's ``input`` as an :class:`InputSpec`; one line naming a bad field."""
    values = dict(card["input"])
    if values.get("shape") is not None:
        values["shape"] = tuple(values["shape"])
    if isinstance(values.get("mean"), list):
        values["mean"] = tuple(values["mean"])
    try:
        return InputSpec(**values)
    except (TypeError, ValueError) as err:
        raise ConfigError(f"{card.get('name')}@{card.get('version')} card.json: {err}") from None


@functools.lru_cache(maxsize=8)
def load_detector(ref: str = DEFAULT_DETECTOR, *, runtime: str | None = None, variant: str = "fp32",
                  threads: int | None = None, registry: str | None = None) -> Detector:  # fmt: skip
    """The detector ``ref`` from the registry, loaded once per process."""
    _, directory = resolve(ref, registry)
    return detector_from_card(
        directory, load_card(directory), runtime=runtime, variant=variant, threads=threads
    )


def detect(images: Sequence[np.ndarray], model: str = DEFAULT_DETECTOR, **kwargs) -> np.ndarray:
    """Detections for a batch of RGB images with a registered SSD: the pipeline's batch function."""
    return load_detector(model, **kwargs).detect(images)


def descriptor_from_card(directory: Path, card: dict, *, bits: int | None = None, runtime: str | None = None,
                         threads: int | None = None) -> Descriptor:  # fmt: skip
    """A :class:`Descriptor` for a registered DeepBit model, at ``bits`` (default: the card's)."""
    runtime = runtime or runtime_for(card)
    if runtime not in RUNTIMES:
        raise ConfigError(f"runtime: expected one of {', '.join(RUNTIMES)}, got {runtime!r}")
    if card.get("hashing") == "itq":  # any embedder, codes fitted on the user's crops
        from lakesight.models.description.fitted import itq_descriptor

        if bits and bits != card["default_bits"]:
            raise ConfigError(f"bits: {card['name']} has codes of {card['default_bits']} bits only")
        return itq_descriptor(directory, card, threads=threads or task_threads())
    bits = bits or card["default_bits"]
    if str(bits) not in card["thresholds"]:
        raise ConfigError(
            f"bits: {card['name']} has codes of {sorted(card['thresholds'])} bits, not {bits}"
        )
    threads = threads or task_threads()
    # Embedding output first, then the activations of the chosen code length.
    outputs = [card["outputs"][0], card.get("bits_outputs", {}).get(str(bits), f"bits{bits}")]
    paths = [verified(directory, card, f) for f in card["files"].values()]
    if card["format"] == "onnx" and runtime == "ort":
        runner = ort_runner(paths[0], threads, outputs)
    elif card["format"] in ("onnx", "caffe", "tensorflow"):
        runner = opencv_runner(paths, threads, outputs)
    else:
        raise ConfigError(
            f"runtime: {card['format']} descriptors run on OpenCV DNN (--runtime opencv)"
        )
    spec = input_spec(card)
    return Descriptor(
        runner, spec, card["thresholds"][str(bits)], name=f"{card['name']}@{card['version']}"
    )


@functools.lru_cache(maxsize=8)
def load_descriptor(ref: str = DEFAULT_DESCRIPTOR, *, bits: int | None = None, runtime: str | None = None,
                    threads: int | None = None, registry: str | None = None) -> Descriptor:  # fmt: skip
    """The descriptor ``ref`` from the registry, loaded once per process."""
    _, directory = resolve(ref, registry)
    return descriptor_from_card(
        directory, load_card(directory), bits=bits, runtime=runtime, threads=threads
    )


def describe(
    crops: Sequence[np.ndarray], model: str = DEFAULT_DESCRIPTOR, **kwargs
) -> tuple[np.ndarray, np.ndarray]:
    """(codes, embeddings) for a batch of RGB crops: the pipeline's describe batch function."""
    return load_descriptor(model, **kwargs).describe(crops)
