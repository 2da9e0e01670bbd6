"""The analysis cache: image_features' analyses by (image sha256, analysis key), append-only.

The *analysis key* hashes both models' files (sha256), the code length, the crop
policy, the source of the code that computes an analysis (:data:`ANALYSIS_CODE`) and
:data:`ANALYSIS_VERSION`: a new model version, a retrained file under the same version,
a new crop policy or an edit of that code all recompute, and nothing else does.

How the code is covered, simply: :data:`ANALYSIS_CODE` names, in this one place, the
modules and functions an analysis runs (the batch function, decoding, the models' pre-
and post-processing and how a card builds them); the key includes a sha256 of their
source text (:func:`lakesight.spark.code_fingerprint`), so any edit there, even a
comment, makes a new key. A test traces ``analyze_batch`` on real images and fails if it
runs lakesight code that the list leaves out. :data:`ANALYSIS_VERSION` stays for what
the source cannot show (say, a new onnxruntime giving other numbers): bump it by hand.

Layout: ``cache/image_features/key=<key>/run=<run_id>/``, immutable directories,
each committed by rename and ``_SUCCESS``, never rewritten
(:class:`lakesight.spark.KeyedCache`). Runs for other dates
may therefore read it while one adds to it (backfills run dates side by side),
and deleting a published partition never loses work.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict

from lakesight.config import Settings
from lakesight.image_features.analysis import CropPolicy
from lakesight.image_features.datasets import CACHE
from lakesight.lake import LakeFileSystem
from lakesight.spark import KeyedCache, code_fingerprint, code_sources

ANALYSIS_VERSION = "image_features.analysis/v1"  # bump when outputs change without code changes
# The code an analysis runs (module, or module:top-level name); its source is in the key.
ANALYSIS_CODE = (
    "lakesight.image_features.analyze:analyze_batch",
    "lakesight.image_features.analysis",
    "lakesight.imaging",
    "lakesight.lake:uri_path",
    "lakesight.spark:ImageJob",
    "lakesight.spark:check_content_id",
    "lakesight.models.detection.detector",
    "lakesight.models.detection.boxes",
    "lakesight.models.detection.heads",
    "lakesight.models.description.descriptor",
    "lakesight.models.description.fitted",
    "lakesight.models.tagging.backbone:input_spec",
    "lakesight.models.tagging.backbone:pooled",
    "lakesight.models.tagging.backbone:l2_normalised",
    "lakesight.models.tagging.backbone:backbone_from_card",
    "lakesight.models.runtime:ort_runner",
    "lakesight.models.runtime:detector_from_card",
    "lakesight.models.runtime:input_spec",
    "lakesight.models.runtime:descriptor_from_card",
)
# What a cached analysis holds: everything per image that does not depend on where the file was.
CACHED_COLUMNS = (
    "image_id", "width", "height", "detections", "top", "crop_box", "code", "code_bits",
    "embedding", "processed_at",
)  # fmt: skip


def analysis_key(models: list[dict], bits: int, policy: CropPolicy) -> str:
    """The cache key: changes with either model's files, the code length, the crop policy or
    the code of :data:`ANALYSIS_CODE`."""
    payload = json.dumps(
        {"analysis": ANALYSIS_VERSION, "code": code_fingerprint(code_sources(ANALYSIS_CODE)),
         "models": models, "bits": bits, "policy": asdict(policy)},
        sort_keys=True,
    )  # fmt: skip
    return hashlib.sha256(payload.encode()).hexdigest()[:16]


def analysis_cache(fs: LakeFileSystem, settings: Settings, key: str) -> KeyedCache:
    """image_features' analyses of one key: ``cache/image_features/key=K/run=R/``."""
    return KeyedCache(fs, CACHE.uri(settings), key, CACHED_COLUMNS)
