"""radar_nowcast.train on a user's archive of weather the shipped models never saw."""

from __future__ import annotations

import json

import numpy as np
import pytest

from lakesight.lake import LocalFileSystem, read_manifest
from lakesight.progress import Steps
from lakesight.radar_nowcast import datasets, ingest, train
from lakesight.radar_nowcast.sample_data import write_sample_radar
from lakesight.stage import StageError

pytestmark = [pytest.mark.spark, pytest.mark.slow]
QUIET = Steps("test", quiet=True)
DAYS = ("2026-05-18", "2026-05-19")


def register_overgrowing_advection_model(registry) -> None:
    """advection_radar@1 whose correction adds the most it may to every echo pixel (about
    8 dBZ), everywhere (no hindcast gate, which would hold most of it back): a registered
    model that a candidate can honestly beat."""
    import torch

    from lakesight.models.nowcasting.advection import AdvectionConfig, build_network
    from lakesight.models.nowcasting.train_advection import AdvectionTrainConfig, release

    config = AdvectionTrainConfig(steps=0, model=AdvectionConfig(gate="none"))
    network = build_network(config.model)
    with torch.no_grad():
        network.out.bias.fill_(10.0)  # tanh saturates: +MAX_CORRECTION everywhere on echo
    facts = {"echo_floor_pixel": 1, "seconds": 0.0, "windows_seen": 0, "world_size": 1,
             "training_windows": 0}  # fmt: skip
    release(network.state_dict(), config, facts, registry / "advection_radar" / "1",
            name="advection_radar", version="1", data={"description": "overgrows everything"})  # fmt: skip


@pytest.mark.unit
def test_the_mse_rule_needs_a_lower_validation_mse():
    assert train.should_promote({"mse": 10.0}, {"mse": 12.0}, "mse")
    assert not train.should_promote({"mse": 12.0}, {"mse": 12.0}, "mse")
    assert not train.should_promote({"mse": None}, {"mse": 12.0}, "mse")
    assert train.should_promote({"mse": 10.0}, {"mse": None}, "mse")


def scores(mse, csi_2, csi_5):
    return {"mse": mse, "csi_2": csi_2, "csi_5": csi_5}


@pytest.mark.unit
def test_the_default_rule_does_not_buy_mse_with_csi_or_csi_with_mse():
    current = scores(28.66, 0.420, 0.315)  # advection_radar@2 on a spectral validation day
    faded = scores(26.90, 0.401, 0.291)  # trained towards the squared error: lower, but fades
    sharper = scores(30.11, 0.437, 0.333)  # detects more, errs more
    better = scores(27.00, 0.425, 0.315)  # lower error, CSI no lower
    assert train.DEFAULT_PROMOTION_RULE == "both"
    assert not train.should_promote(faded, current)
    assert not train.should_promote(sharper, current)
    assert train.should_promote(better, current)
    assert not train.should_promote(current, current)  # a tie keeps what is there
    # The single-score rules, for a user who judges by one of them.
    assert train.should_promote(faded, current, "mse")
    assert not train.should_promote(faded, current, "csi")
    assert train.should_promote(sharper, current, "csi")
    assert not train.should_promote(better, current, "csi")  # CSI >= 5 mm/h only tied
    # A current model with no echo to score CSI on does not hold a candidate back.
    assert train.should_promote(better, scores(30.0, None, None))
    assert not train.should_promote(scores(None, None, None), current)
    with pytest.raises(ValueError, match="unknown promotion rule 'mae'"):
        train.should_promote(better, current, "mae")


def test_an_unknown_promotion_rule_fails_before_any_training(spark, settings):
    with pytest.raises(
        StageError, match=r"--promote-on: 'mae' is not one of \['both', 'csi', 'mse'\]"
    ):
        train.run(spark, settings, "2026-05-20", steps=QUIET, promote_on="mae")


def test_the_advection_model_retrains_on_another_family_at_its_grid_and_is_promoted(
    spark, settings, tmp_path, monkeypatch
):
    """Two days of `spectral` weather (a family the shipped models never saw) at 96 px: the
    advection model trains at the archive's own 96 px, validates against the registered
    version and, being better, becomes version 2, which then loads and forecasts."""
    from lakesight.config import load_settings
    from lakesight.models.nowcasting.forecaster import load_nowcaster

    registry = tmp_path / "registry"
    register_overgrowing_advection_model(registry)
    monkeypatch.setenv("LAKESIGHT_MODEL_REGISTRY", registry.as_uri())
    settings = load_settings()
    fs = LocalFileSystem()
    for dt in DAYS:
        day = write_sample_radar(fs, settings, dt, size=96, end=300, family="spectral")
        assert day.written
        ingest.run(spark, settings, dt, steps=QUIET)

    result = train.run(spark, settings, "2026-05-20", steps=QUIET, weeks=1, train_steps=3,
                       model="advection_radar")  # fmt: skip

    manifest = read_manifest(fs, datasets.TRAINING.partition(settings, "2026-05-20"))
    decision = manifest.extra["decision"]
    assert manifest.extra["days"] == list(DAYS)
    assert decision["current_model"] == "advection_radar@1"
    assert decision["candidate"]["mse"] < decision["current"]["mse"]
    assert decision["candidate"]["csi_2"] >= decision["current"]["csi_2"]
    assert decision["rule"] == train.PROMOTION_RULES["both"]
    assert decision["promoted"] is True and decision["new_model"] == "advection_radar@2"
    assert manifest.counts["in"] == manifest.counts["out"] + manifest.counts["quarantined"]
    assert result.manifest.counts["training"] > 0 and result.manifest.counts["validation"] > 0
    card = json.loads((registry / "advection_radar" / "2" / "card.json").read_text())
    assert card["version"] == "2" and card["training"]["steps"] == 3
    assert "at 96x96" in card["data"]["description"]
    assert card["data"]["days"] == [DAYS[0]]  # the last day was held out
    assert "family" not in card["data"]  # a user's weather: `eval nowcast` names no family
    promoted = load_nowcaster("advection_radar@2", registry.as_uri(), threads=1)
    window = np.zeros((1, promoted.inputs, 96, 96), np.uint8)
    window[0, :, 40:50, 40:50] = 120
    assert promoted.predict(window).shape == (1, promoted.outputs, 96, 96)
