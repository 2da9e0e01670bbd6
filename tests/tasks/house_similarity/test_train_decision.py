"""house_similarity.train's decisions, without Spark: when the labels are trained on at
all, and when a candidate replaces the current heads."""

from __future__ import annotations

import pytest

from lakesight.house_similarity.train import holds_up, retraining_skipped

pytestmark = pytest.mark.unit

HEADS_BACKBONE = "places_backbone@1"


def skipped(labels, *, heads_labels="old", embedded_with=HEADS_BACKBONE, previous=(None, None)):
    return retraining_skipped(labels, heads_labels, HEADS_BACKBONE, embedded_with, *previous)


def test_new_labels_on_the_heads_backbone_are_trained_on():
    assert skipped("new") is None
    assert skipped("new", previous=("2026-03-01", "older")) is None


def test_labels_already_seen_keep_the_current_heads():
    assert skipped(None) == "no labels.csv: the current heads stay"
    assert skipped("old") == "labels.csv unchanged since the current heads were trained"
    # The last decision saw them, promoted or not: not retrained every day.
    assert skipped("seen", previous=("2026-03-01", "seen")) == (
        "labels.csv unchanged since the training of dt=2026-03-01"
    )


def test_embeddings_of_another_backbone_are_never_trained_on():
    why = skipped("new", embedded_with="clip_tiny@1")
    assert why == "embeddings are of clip_tiny@1, the heads of places_backbone@1"
    # Even labels the heads saw: they were trained on the other backbone's embeddings.
    assert skipped("old", embedded_with="clip_tiny@1") == why


def test_a_candidate_replaces_the_heads_when_it_tags_the_held_out_photos_as_well():
    assert holds_up({"mean": 0.8}, {"mean": 0.8})
    assert holds_up({"mean": 0.81}, {"mean": 0.8})
    assert not holds_up({"mean": 0.79}, {"mean": 0.8})
    assert not holds_up({"mean": None}, {"mean": None})  # nothing held out: no evidence
    assert holds_up({"mean": 0.5}, {"mean": None})
