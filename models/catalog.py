"""What a model registry holds, and its upkeep: list, show, verify, remove.

The registry is a directory tree on any lake filesystem (``file://`` or ``hdfs://``):
``<registry>/<name>/<version>/card.json`` plus the files it lists with their sha256
(see :mod:`lakesight.models.runtime`). A version is visible once its directory has
been renamed into place, so listing never sees a half-copied model.
"""

from __future__ import annotations

import functools
import hashlib
import os
import re
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

from lakesight.config import ConfigError, load_settings

VERIFY_PASSES = 5
_CHOOSING = threading.Lock()
# int8 runs only when at least this much faster: near 1x the choice would flip from run to
# run, and with it the analysis cache key.
INT8_MARGIN = 1.1


def registry_fs(registry: str | None):
    from lakesight.lake import filesystem_for

    settings = load_settings()
    registry = registry or settings.model_registry
    return filesystem_for(registry, settings), registry


def list_models(registry: str | None = None) -> list[dict]:
    """One entry per registered version: name, version, task, format, head, classes."""
    import json

    from lakesight.lake import join

    fs, registry = registry_fs(registry)
    entries = []
    for name in sorted(fs.list_dirs(registry)):
        versions = [v for v in fs.list_dirs(join(registry, name)) if v.isdigit()]
        for version in sorted(versions, key=int):
            card_uri = join(registry, name, version, "card.json")
            if not fs.exists(card_uri):
                continue
            card = json.loads(fs.read_bytes(card_uri))
            entries.append({
                "ref": f"{name}@{version}", "task": card.get("task"),
                "format": card.get("format"), "head": card.get("head", default_head(card)),
                "classes": len(card.get("classes") or []),
                "files": sorted(card.get("files", {}).values()),
            })  # fmt: skip
    return entries


def default_head(card: dict) -> str | None:
    """The head of a card written before cards named it (lakesight's own detectors)."""
    if card.get("task") != "detection":
        return None
    return "ssd" if card.get("postprocess") else "detection_output"


def show(ref: str, registry: str | None = None) -> dict:
    from lakesight.models.runtime import load_card, resolve

    model_ref, directory = resolve(ref, registry)
    return {"ref": str(model_ref), **load_card(directory)}


def verify(ref: str, registry: str | None = None, images: list[np.ndarray] | None = None) -> dict:
    """Checksums of every file, one run, and the throughput on sample images (median of
    :data:`VERIFY_PASSES` passes, one thread and all cores)."""
    from lakesight.models.importing import sample_images
    from lakesight.models.runtime import (
        descriptor_from_card,
        detector_from_card,
        load_card,
        resolve,
        sha256_file,
    )
    from lakesight.models.tagging.backbone import backbone_from_card

    model_ref, directory = resolve(ref, registry)
    card = load_card(directory)
    mismatched = [
        f for f, digest in card.get("sha256", {}).items()
        if not (directory / f).exists() or sha256_file(directory / f) != digest
    ]  # fmt: skip
    if mismatched:
        raise ConfigError(f"{model_ref}: sha256 mismatch or missing file: {', '.join(mismatched)}")
    images = images if images is not None else sample_images()
    result = {"ref": str(model_ref), "sha256": "ok", "files": len(card.get("sha256", {}))}
    for threads in sorted({1, _cores()}):
        if card["task"] == "detection":
            model = detector_from_card(directory, card, threads=threads)
            run = model.detect
        elif card["task"] == "description":
            model = descriptor_from_card(directory, card, threads=threads)
            run = model.describe
        elif card["task"] == "backbone":
            run = backbone_from_card(directory, card, threads=threads).embed
        else:
            raise ConfigError(f"{model_ref}: verify runs detectors, descriptors and backbones")
        output = run(images)
        seconds = []
        for _ in range(VERIFY_PASSES):
            start = time.perf_counter()
            run(images)
            seconds.append(time.perf_counter() - start)
        result[f"images_per_s_{threads}_threads"] = round(
            len(images) / float(np.median(seconds)), 2
        )
    if card["task"] == "detection":
        result["detections"] = len(output)
    return result


def _cores() -> int:
    import os

    return os.cpu_count() or 1


def remove(ref: str, registry: str | None = None) -> dict:
    """Delete one version (``NAME@V``, the version spelled out: never "the newest")."""
    from lakesight.lake import join
    from lakesight.models.runtime import REMOVED_PREFIX

    name, _, version = ref.partition("@")
    if not version.isdigit():
        raise ConfigError(f"NAME@V: give the version to remove explicitly, got {ref!r}")
    if not re.fullmatch(r"[a-z][a-z0-9_]*", name):
        raise ConfigError(f"NAME@V: {name!r} is not a model name")
    fs, registry = registry_fs(registry)
    directory = join(registry, name, version)
    if not fs.exists(join(directory, "card.json")):
        raise ConfigError(f"NAME@V: no model {ref} under {registry}")
    # A tombstone keeps the number taken (lakesight.models.runtime.used_versions).
    fs.mkdirs(join(registry, name, f"{REMOVED_PREFIX}{version}"))
    fs.delete(directory)
    return {"removed": ref, "registry": registry}


def quantize(ref: str, registry: str | None = None) -> dict:
    """A static int8 copy (QDQ, per-channel weights, activations calibrated on sample images
    through the model's own preprocessing) registered beside its fp32 file as ``NAME@next``;
    which of the two runs faster here is then the runtime's choice (:func:`fastest_variant`)."""
    import shutil
    import tempfile
    from pathlib import Path

    from lakesight.models.detection.detector import prepare
    from lakesight.models.importing import sample_images
    from lakesight.models.runtime import (
        detector_from_card,
        input_spec,
        load_card,
        promote_release,
        quantize_int8,
        resolve,
        write_card,
    )

    model_ref, directory = resolve(ref, registry)
    card = load_card(directory)
    if card.get("task") != "detection" or card.get("format") != "onnx":
        raise ConfigError(f"{model_ref}: quantize takes ONNX detectors, not {card.get('format')} "
                          f"{card.get('task')} models")  # fmt: skip
    spec, inputs = input_spec(card), card.get("inputs") or ["images"]
    images = sample_images(16)
    batches = [images[i : i + 1] for i in range(len(images))] if spec.per_image else [images]
    # Fed as the detector feeds its graph (one image, or extra inputs, as the head needs).
    detector = detector_from_card(directory, card, threads=1)
    feeds = [detector.feed(prepare(batch, spec)[0]) for batch in batches]
    feeds = [feed if isinstance(feed, dict) else {inputs[0]: feed} for feed in feeds]

    class Calibration:  # ONNX Runtime's CalibrationDataReader protocol
        def __init__(self) -> None:
            self.pending = iter(feeds)

        def get_next(self):
            return next(self.pending, None)

    fs, registry = registry_fs(registry)
    with tempfile.TemporaryDirectory(prefix="lakesight-quantize-") as tmp:
        release = Path(tmp)
        fp32 = card["files"]["fp32"]
        shutil.copyfile(directory / fp32, release / fp32)
        int8 = Path(fp32).stem + ".int8.onnx"
        try:
            quantize_int8(release / fp32, release / int8, Calibration())
        except Exception as err:  # ORT's quantiser on an op it cannot take: one line
            first = (str(err).strip().splitlines() or [type(err).__name__])[0]
            raise ConfigError(f"{model_ref}: ONNX Runtime cannot quantize it: {first}") from None
        card = write_card(release, {**card, "files": {"fp32": fp32, "int8": int8},
                                    "quantized_from": str(model_ref)})  # fmt: skip
        try:  # the int8 graph must run before it is registered
            detector_from_card(release, card, variant="int8", threads=1).detect(images[:2])
        except Exception as err:
            first = (str(err).strip().splitlines() or [type(err).__name__])[0]
            raise ConfigError(f"{model_ref}: its int8 copy does not run: {first}") from None
        new_ref = promote_release(fs, registry, model_ref.name, release)
    return {"ref": new_ref, "quantized_from": str(model_ref), "files": card["files"],
            "choice": fastest_variant(new_ref, registry)}  # fmt: skip


def fastest_variant(ref: str, registry: str | None = None, *, threads: int = 1,
                    repeats: int = 7) -> dict:  # fmt: skip
    """Which of a detector's files, fp32 or int8, runs faster on this CPU: a start-up
    micro-benchmark (median of ``repeats`` passes over sample images, ``threads`` threads,
    as one Spark task core runs it). int8 pays only with fast integer dot products (VNNI,
    AMX); on an AVX2-only CPU it can be slower, so it is measured, never assumed. int8 is
    chosen when it is at least :data:`INT8_MARGIN` times as fast.

    The answer is kept per CPU kind and model files (in ``LAKESIGHT_MODEL_CACHE``), so a
    machine measures once and every later run, backfills included, makes the same choice
    (and so the same analysis cache key). Machines of another CPU kind measure their own."""
    import json

    from lakesight.models.runtime import load_card, resolve

    model_ref, directory = resolve(ref, registry)
    card = load_card(directory)
    if "int8" not in card.get("files", {}):
        return {"model": str(model_ref), "variant": "fp32", "reason": "no int8 file"}
    digests = tuple(sorted(card["sha256"].items()))
    key = hashlib.sha256(repr((cpu_kind(), digests, threads)).encode()).hexdigest()[:16]
    kept = Path(load_settings().model_cache) / "variant-choices" / f"{key}.json"
    with _CHOOSING:  # one measurement per process; threads wait for it
        if not kept.exists():
            kept.parent.mkdir(parents=True, exist_ok=True)
            handle, partial = tempfile.mkstemp(dir=kept.parent, prefix=f".{kept.name}.")
            with os.fdopen(handle, "w") as out:
                json.dump(_measured(str(directory), digests, threads, repeats), out)
            try:  # the first writer on this machine wins; every run then reads its answer
                os.link(partial, kept)
            except FileExistsError:
                pass
            finally:
                os.unlink(partial)
    return {"model": str(model_ref), **json.loads(kept.read_text())}


def cpu_kind() -> str:
    """The CPU's model name and instruction-set flags (what decides int8 against fp32)."""
    import platform

    try:
        info = Path("/proc/cpuinfo").read_text()
    except OSError:
        return platform.machine() + platform.processor()
    fields = dict(line.split(":", 1) for line in info.splitlines() if ":" in line)
    return " ".join(fields.get(k, "").strip() for k in ("model name", "flags"))


@functools.lru_cache(maxsize=16)
def _measured(directory: str, digests: tuple, threads: int, repeats: int) -> dict:
    from lakesight.models.importing import sample_images
    from lakesight.models.runtime import detector_from_card, load_card

    card, images, seconds = load_card(Path(directory)), sample_images(8), {}
    for variant in ("fp32", "int8"):
        detector = detector_from_card(Path(directory), card, variant=variant, threads=threads)
        detector.detect(images)  # warm-up: sessions allocate on their first run
        passes = []
        for _ in range(repeats):
            start = time.perf_counter()
            detector.detect(images)
            passes.append(time.perf_counter() - start)
        seconds[variant] = float(np.median(passes))
    speedup = seconds["fp32"] / seconds["int8"]
    return {"variant": "int8" if speedup >= INT8_MARGIN else "fp32",
            "int8_vs_fp32": round(speedup, 3), "threads": threads,
            "fp32_ms_per_image": round(1000 * seconds["fp32"] / len(images), 3),
            "int8_ms_per_image": round(1000 * seconds["int8"] / len(images), 3)}  # fmt: skip
