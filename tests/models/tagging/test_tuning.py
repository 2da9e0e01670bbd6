"""Fine-tuned heads: trained under TorchDistributor, shipped as ONNX, chosen only when they win."""

from __future__ import annotations

import json
import pickle
import shutil

import numpy as np
import pytest

from lakesight.config import ConfigError
from lakesight.models.tagging.tuning import TunableBackbone, TuneConfig

SMOKE = TuneConfig(epochs=1, min_steps=40, batch=32)


@pytest.fixture(scope="module")
def exterior_photos():
    """Front photos against other views: a few to learn from, others (another seed) to test."""
    from lakesight.models.tagging.houses import render_labelled

    return render_labelled(11, 16, "exterior"), render_labelled(12, 20, "exterior")


@pytest.mark.spark
def test_a_fine_tuned_head_learns_under_torch_distributor_and_ships_as_onnx(
    spark, exterior_photos, tmp_path
):
    from lakesight.models.tagging.heads import Head, TagHeads, heads_from_card, write_heads
    from lakesight.models.tagging.tuning import fine_tune

    (images, labels), (test_images, test_labels) = exterior_photos
    tunable = TunableBackbone.from_registry("places_backbone")
    head = fine_tune(tunable, images, labels, ("other", "exterior"), SMOKE, processes=2)
    assert head.facts["world_size"] == 2 and head.facts["steps"] == 40
    assert head.facts["tuned_from"] == tunable.name
    probabilities = head.probabilities(list(test_images))
    np.testing.assert_allclose(probabilities.sum(axis=1), 1.0, atol=1e-5)
    # 32 photos and 40 steps are enough for the pretrained network to tell a front exterior.
    assert (probabilities.argmax(axis=1) == test_labels).mean() >= 0.8

    # Shipped beside the features' heads: the card says which kind each head is.
    logistic = Head(("a", "b"), ((np.zeros((4, 2), np.float32), np.zeros(2, np.float32)),))
    heads = TagHeads("", tunable.name, {"exterior": head, "other": logistic})
    card = write_heads(heads, tmp_path, {"name": "house_tags", "version": "9"})
    assert card["kinds"] == {"exterior": "tuned", "other": "logistic"}
    assert card["files"]["tuned_exterior"] == "exterior.onnx" and "exterior.onnx" in card["sha256"]
    loaded = heads_from_card(tmp_path, json.loads((tmp_path / "card.json").read_text()))
    assert loaded.needs_photos and not loaded.heads["other"].needs_photos
    np.testing.assert_allclose(
        loaded.probabilities("exterior", np.zeros((20, 4)), list(test_images)),
        probabilities, atol=1e-5,
    )  # fmt: skip
    with pytest.raises(ValueError, match="needs the photos"):
        loaded.predict(np.zeros((2, 4), np.float32))
    # Spark ships heads to its workers pickled: the session stays behind, the bytes go.
    clone = pickle.loads(pickle.dumps(loaded.heads["exterior"]))
    np.testing.assert_allclose(clone.probabilities(list(test_images[:3])), probabilities[:3],
                               atol=1e-5)  # fmt: skip


@pytest.mark.unit
def test_a_backbone_without_torch_weights_cannot_be_fine_tuned(tmp_path):
    from lakesight.config import REPO_ROOT

    source = REPO_ROOT / "models" / "registry" / "places_backbone" / "1"
    target = tmp_path / "places_backbone" / "1"
    shutil.copytree(source, target)
    card = json.loads((target / "card.json").read_text())
    del card["files"]["torch"]
    (target / "card.json").write_text(json.dumps(card))
    assert TunableBackbone.available("places_backbone", tmp_path.as_uri()) is None
    with pytest.raises(ConfigError, match="cannot be fine-tuned"):
        TunableBackbone.from_registry("places_backbone", tmp_path.as_uri())


@pytest.mark.unit
def test_a_fine_tuned_head_is_chosen_only_when_it_clearly_wins():
    from lakesight.models.tagging.train_heads import TUNED_MIN_GAIN, choose_kind

    assert choose_kind({"logistic": 0.9, "perceptron": 0.9}) == "logistic"  # ties: simpler
    assert choose_kind({"logistic": 0.9, "perceptron": 0.92}) == "perceptron"
    near = 0.92 + TUNED_MIN_GAIN / 2
    assert choose_kind({"logistic": 0.9, "perceptron": 0.92, "tuned": near}) == "perceptron"
    assert choose_kind({"logistic": 0.9, "perceptron": 0.92, "tuned": 0.95}) == "tuned"


@pytest.mark.unit
def test_fine_tuning_makes_the_steps_it_promises():
    assert TuneConfig(epochs=6, min_steps=150, batch=64).steps(3000) == 6 * 46
    assert TuneConfig(epochs=6, min_steps=150, batch=64).steps(90) == 150
