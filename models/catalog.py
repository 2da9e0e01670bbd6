"""What a model registry holds, and its upkeep: list, show, verify, remove.

The registry is a directory tree on any lake filesystem (``file://`` or ``hdfs://``):
``<registry>/<name>/<version>/card.json`` plus the files it lists with their sha256
(see :mod:`lakesight.models.runtime`). A version is visible once its directory has
been renamed into place, so listing never sees a half-copied model.
"""

from __future__ import annotations

import time

import numpy as np

from lakesight.config import ConfigError, load_settings

VERIFY_PASSES = 5


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

    name, _, version = ref.partition("@")
    if not version.isdigit():
        raise ConfigError(f"NAME@V: give the version to remove explicitly, got {ref!r}")
    fs, registry = registry_fs(registry)
    directory = join(registry, name, version)
    if not fs.exists(join(directory, "card.json")):
        raise ConfigError(f"NAME@V: no model {ref} under {registry}")
    fs.delete(directory)
    return {"removed": ref, "registry": registry}
