"""``lakesight eval near-duplicates`` on the real photos that ship inside packages."""

from __future__ import annotations

import numpy as np
import pytest

from lakesight.image_features import near_duplicates as nd

pytestmark = pytest.mark.unit


def test_the_photos_are_real_and_every_edit_changes_them():
    photos = nd.real_photos()
    assert {"skimage:astronaut", "sklearn:china", "matplotlib:grace_hopper"} <= set(photos)
    astronaut = photos["skimage:astronaut"]
    rng = np.random.default_rng(0)
    for edit in nd.EDITS:
        copy = nd.edited(astronaut, edit, rng)
        assert copy.dtype == np.uint8 and copy.ndim == 3, edit
        changed = copy.shape != astronaut.shape or (copy != astronaut).any(axis=2).mean() > 0.005
        assert changed, edit


def test_ties_count_at_their_mean_rank():
    codes = np.packbits(np.zeros((3, 8), bool), axis=1)  # three identical codes
    ranks = nd.reciprocal_ranks(codes[:1], codes, np.array([2]))
    assert ranks[0] == pytest.approx(1 / 2)  # tied with two others: mean rank 2


def test_fitted_codes_match_the_best_perceptual_hash():
    result = nd.evaluate(distractors=60)
    methods = result["methods"]
    assert set(methods) == {"deepbit", "itq_deepbit", "itq_places", "phash", "dhash", "whash"}
    for method, m in methods.items():
        assert 0 < m["recall_at_1"] <= m["map"] <= 1, method
    # JPEG re-encoding is the mildest edit: every perceptual hash should shrug it off.
    assert min(methods[h]["map_per_edit"]["jpeg"] for h in nd.HASHES) > 0.9
    assert result["codes_match_best_hash"], methods
