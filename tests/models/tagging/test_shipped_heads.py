"""The shipped house taggers: an intact registry entry whose recorded evaluation meets the targets."""

from __future__ import annotations

import numpy as np
import pytest

from tests.support.registry import intact_entry


@pytest.mark.unit
def test_registry_entry_is_complete_and_its_recorded_eval_meets_the_targets():
    ref, _, card = intact_entry("house_tags")
    assert ref == "house_tags@2"
    assert card["backbone"] == "places_backbone@1"
    # Each head's kind is what validated best, and a fine-tuned one says what it came from.
    for tag, kind in card["kinds"].items():
        chosen = card["training"]["heads"][tag]
        assert chosen["kind"] == kind
        if kind == "tuned":
            assert card["tuned"][tag]["training"]["tuned_from"] == card["backbone"]
    metrics = card["metrics"]
    assert metrics["eval_seed"] not in (card["training"]["seed"], 7)
    assert min(metrics["accuracy"].values()) >= 0.9
    for tag, accuracy in metrics["transfer_accuracy"]["50"].items():
        assert accuracy > metrics["scratch_accuracy"]["50"][tag]
    assert metrics["precision_at_10"] >= 0.8


@pytest.mark.unit
def test_the_shipped_heads_tag_fresh_held_out_photos_as_recorded():
    """A small sample of a seed no evaluation used: the heads tag it about as well."""
    from lakesight.house_similarity.publish import tag_photos
    from lakesight.models.tagging.backbone import load_backbone
    from lakesight.models.tagging.heads import load_heads
    from lakesight.models.tagging.houses import STORIES, STYLES, render_labelled

    backbone, heads = load_backbone(), load_heads()
    images, labels = render_labelled(90210, 30, "stories")
    tags = tag_photos(backbone.embed(list(images)), heads, list(images))
    stories = np.array([s if s is not None else -1 for s in tags["stories"]])
    assert np.mean(stories == np.array(STORIES)[labels]) >= 0.85
    images, labels = render_labelled(90210, 20, "style")
    tags = tag_photos(backbone.embed(list(images)), heads, list(images))
    assert np.mean(np.array(tags["style"], dtype=object) == np.array(STYLES)[labels]) >= 0.85
