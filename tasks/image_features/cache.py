"""The analysis cache: image_features' analyses by (image sha256, analysis key), append-only.

The *analysis key* hashes both models' files (sha256), the code length, the crop
policy and :data:`ANALYSIS_VERSION`: a new model version, a retrained file under
the same version or a new crop policy all recompute, and nothing else does.

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
from lakesight.spark import KeyedCache

ANALYSIS_VERSION = "image_features.analysis/v1"  # bump when the batch function's output changes
# What a cached analysis holds: everything per image that does not depend on where the file was.
CACHED_COLUMNS = (
    "image_id", "width", "height", "detections", "top", "crop_box", "code", "code_bits",
    "embedding", "processed_at",
)  # fmt: skip


def analysis_key(models: list[dict], bits: int, policy: CropPolicy) -> str:
    """The cache key: changes with either model's files, the code length or the crop policy."""
    payload = json.dumps(
        {"analysis": ANALYSIS_VERSION, "models": models, "bits": bits, "policy": asdict(policy)},
        sort_keys=True,
    )
    return hashlib.sha256(payload.encode()).hexdigest()[:16]


def analysis_cache(fs: LakeFileSystem, settings: Settings, key: str) -> KeyedCache:
    """image_features' analyses of one key: ``cache/image_features/key=K/run=R/``."""
    return KeyedCache(fs, CACHE.uri(settings), key, CACHED_COLUMNS)
