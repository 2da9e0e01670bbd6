"""The analysis and embedding cache keys cover the code that computes what they cache.

Each key holds a fingerprint of the source of the code its list names
(:data:`lakesight.image_features.cache.ANALYSIS_CODE`,
:data:`lakesight.house_similarity.embed.EMBED_CODE`). These tests fail when an edit of
any listed code leaves the key as it was, and when the batch function runs lakesight
code that its list leaves out (traced on real images through the shipped models).
"""

from __future__ import annotations

import hashlib
import sys
from pathlib import Path

import cv2
import numpy as np
import pandas as pd
import pytest

import lakesight
import lakesight.models
from lakesight.spark import ImageJob, code_fingerprint, code_sources

pytestmark = pytest.mark.unit
ROOTS = tuple(str(Path(p.__file__).parent) for p in (lakesight, lakesight.models))


def photos() -> list[bytes]:
    """A JPEG, a PNG and a grayscale PNG, so more than one decoding path runs."""
    rng = np.random.default_rng(3)
    colour = rng.integers(0, 255, (120, 160, 3), dtype=np.uint8)
    gray = rng.integers(0, 255, (90, 100), dtype=np.uint8)
    return [cv2.imencode(ext, a)[1].tobytes() for ext, a in
            ((".jpg", colour), (".png", colour), (".png", gray))]  # fmt: skip


def contents_batch(**columns) -> pd.DataFrame:
    content = photos()
    ids = [hashlib.sha256(c).hexdigest() for c in content]
    ids[-1] = "0" * 64  # one whose bytes changed since ingest: the rejection path runs too
    paths = ["file:/lake/a.jpg", "file:/lake/b.png", "file:/lake/c.png"]
    return pd.DataFrame({**columns, "_id": ids, "path": paths, "content": content})


def lakesight_code_run_by(call) -> set[tuple[str, str]]:
    """(module, qualified name) of every lakesight function ``call()`` runs."""
    seen = set()

    def profile(frame, event, arg):
        if event == "call" and frame.f_code.co_filename.startswith(ROOTS):
            seen.add((frame.f_globals["__name__"], frame.f_code.co_qualname))

    sys.setprofile(profile)
    try:
        call()
    finally:
        sys.setprofile(None)
    return seen


def not_listed(run: set[tuple[str, str]], code: tuple[str, ...]) -> list[str]:
    return sorted(
        f"{module}:{qualname}"
        for module, qualname in run
        if module not in code and f"{module}:{qualname.split('.')[0]}" not in code
    )


def test_the_listed_sources_are_read_and_fingerprinted():
    from lakesight.house_similarity.embed import EMBED_CODE
    from lakesight.image_features.cache import ANALYSIS_CODE

    for code in (ANALYSIS_CODE, EMBED_CODE):
        sources = code_sources(code)
        assert set(sources) == set(code) and all(sources.values())
        baseline = code_fingerprint(sources)
        assert code_fingerprint(code_sources(code)) == baseline  # stable
        for name in code:
            edited = {**sources, name: sources[name] + "\n# an edit\n"}
            assert code_fingerprint(edited) != baseline, name


def test_an_edit_of_any_listed_code_changes_the_analysis_key(monkeypatch):
    from lakesight.image_features import cache
    from lakesight.image_features.analysis import CropPolicy

    models = [{"name": "ssd_scenes@1", "sha256": "a"}, {"name": "deepbit_scenes@1"}]
    baseline = cache.analysis_key(models, 64, CropPolicy())
    real = code_sources(cache.ANALYSIS_CODE)
    for name in cache.ANALYSIS_CODE:
        edited = {**real, name: real[name].replace("def ", "def  ", 1) + "#"}
        monkeypatch.setattr(cache, "code_sources", lambda code, edited=edited: edited)
        assert cache.analysis_key(models, 64, CropPolicy()) != baseline, name
    monkeypatch.undo()
    assert cache.analysis_key(models, 64, CropPolicy()) == baseline


def test_an_edit_of_any_listed_code_changes_the_embedding_key(monkeypatch):
    from lakesight.house_similarity import embed

    backbone = {"name": "house_backbone@1", "sha256": "b"}
    baseline = embed.embedding_key(backbone)
    real = code_sources(embed.EMBED_CODE)
    for name in embed.EMBED_CODE:
        edited = {**real, name: real[name] + "#"}
        monkeypatch.setattr(embed, "code_sources", lambda code, edited=edited: edited)
        assert embed.embedding_key(backbone) != baseline, name


def test_analysis_code_lists_everything_analyze_batch_runs(settings):
    from lakesight.image_features import analyze
    from lakesight.image_features.analysis import CropPolicy
    from lakesight.image_features.cache import ANALYSIS_CODE

    refs = ("ssd_scenes@1", "deepbit_scenes@1")
    models = analyze.load_models(*refs, registry=settings.model_registry)
    job = ImageJob.for_models(settings, *refs)
    batch = contents_batch().rename(columns={"_id": "image_id"})
    out = []
    run = lakesight_code_run_by(
        lambda: out.append(analyze.analyze_batch(batch, models, job, CropPolicy()))
    )
    assert out[0]["reason"].tolist() == [None, None, "changed_since_ingest"]
    assert ("lakesight.models.detection.detector", "Detector.detect") in run  # traced
    assert not_listed(run, ANALYSIS_CODE) == []


def test_embed_code_lists_everything_embed_batch_runs(settings):
    from lakesight.house_similarity import embed
    from lakesight.models.tagging.backbone import DEFAULT_BACKBONE

    backbone = embed.load_backbone_model(DEFAULT_BACKBONE, registry=settings.model_registry)
    job = ImageJob.for_models(settings, DEFAULT_BACKBONE)
    batch = contents_batch(listing_id=["x", "y", "z"]).rename(columns={"_id": "photo_id"})
    out = []
    run = lakesight_code_run_by(lambda: out.append(embed.embed_batch(batch, backbone, job)))
    assert out[0]["reason"].tolist() == [None, None, "changed_since_ingest"]
    assert ("lakesight.models.tagging.backbone", "Backbone.embed") in run
    assert not_listed(run, embed.EMBED_CODE) == []
