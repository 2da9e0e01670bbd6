"""The advection-residual nowcaster: its physics, its grids, its export, and the shipped model."""

from __future__ import annotations

import numpy as np
import pytest

from lakesight.models.nowcasting.advection import (
    MAX_CORRECTION,
    SAMPLINGS,
    SPREAD_SKILL,
    AdvectionConfig,
    advected_last_frame,
    build_network,
    ensemble_advection,
    expected_within_classes,
    growth_persistence,
    held_in_heavy_class,
    likely_rain,
    moving_frame_inputs,
    spread_cuts,
    spread_sigma_px,
)
from lakesight.radar_nowcast.baselines import flow_extrapolation

pytestmark = pytest.mark.unit
SHIPPED = "advection_radar"
MEASURED_ENSEMBLE_BELOW = 0.1  # the growth persistence the ensemble was measured at (README)


def blob(size: int, cx: float, cy: float, radius: float, peak: float) -> np.ndarray:
    """A smooth cell (HKO-7 pixels), peak ``peak`` at (cx, cy)."""
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32)
    r2 = ((xx - cx) ** 2 + (yy - cy) ** 2) / radius**2
    return np.where(r2 < 4, np.maximum(peak * np.exp(-r2), 1), 0).astype(np.uint8)


@pytest.fixture(scope="module")
def shipped():
    from lakesight.models.nowcasting.forecaster import load_nowcaster

    return load_nowcaster(SHIPPED, threads=2)


@pytest.mark.parametrize("sampling", SAMPLINGS)
def test_advection_of_a_pure_translation_is_exact_up_to_interpolation(sampling):
    """Channel 0 is the last frame moved along the echo's motion: on a translation it is
    the cell where it then is, the same cell; the Lagrangian tendencies are ~0, whether the
    frames are sampled in reflectivity or in rain rate."""
    size, speed = 128, (2.0, 1.0)
    frames = np.stack([blob(size, 30 + speed[0] * t, 50 + speed[1] * t, 9, 180) for t in range(5)])
    moving = moving_frame_inputs(frames, 10, sampling=sampling)
    assert moving.shape == (10, 4, size, size)
    for lead in (1, 5, 10):
        t = 4 + lead
        got = moving[lead - 1, 0] * 255
        truth = blob(size, 30 + speed[0] * t, 50 + speed[1] * t, 9, 180).astype(np.float32)
        centre = [(got * axis).sum() / got.sum() for axis in np.mgrid[0:size, 0:size][::-1]]
        # DIS sees 1.94 of the 2 px per step: 0.8 px behind after an hour, no more.
        assert centre == pytest.approx([30 + speed[0] * t, 50 + speed[1] * t], abs=1.0)
        assert np.abs(got - truth).max() < 0.2 * truth.max()
    assert np.abs(moving[:, 1:3]).max() < 0.03
    assert np.allclose(moving[:, 3, 0, 0], np.arange(1, 11) / 10)


def test_the_leading_edge_moves_with_the_echo_not_with_still_air():
    """DIS gives no motion in clear air; tracing back from ahead of a cell into still air
    would leave its leading edge behind, as the flow baseline does."""
    size = 128
    frames = np.stack([blob(size, 30 + 2 * t, 64, 9, 180) for t in range(5)])
    ahead = moving_frame_inputs(frames, 10)[9, 0] * 255
    flow = flow_extrapolation(frames, 10)[9].astype(np.float32)
    truth = blob(size, 30 + 2 * 14, 64, 9, 180).astype(np.float32)
    assert np.abs(ahead - truth).mean() < 0.5 * np.abs(flow - truth).mean()


def test_an_untrained_model_is_exactly_the_flow_baseline():
    import torch

    net = build_network(AdvectionConfig()).eval()
    with torch.no_grad():
        correction = net(torch.rand(4, 4, 50, 77)).numpy()
    assert correction.shape == (4, 1, 50, 77) and not correction.any()


@pytest.mark.parametrize("persistence", [0.0, 0.9])
def test_the_shipped_model_uncorrected_is_its_advection_alone(shipped, monkeypatch, persistence):
    """``corrected=False`` is channel 0 of the moving frame, rounded: no network; the short
    leads (fewer where growth persists) along the last step's motion, the others along the
    window's. (The cell has decayed all along, and the correction, which takes echo away,
    would have bettered its past: the hindcast gate lets it act.)"""
    from lakesight.models.nowcasting import advection
    from lakesight.models.nowcasting.advection import last_step_motion

    monkeypatch.setattr(advection, "growth_persistence", lambda *_: persistence)
    frames = np.stack([blob(96, 48, 48, 10, 216 - 12 * t) for t in range(5)])
    persists = persistence >= shipped.growth_persists_from
    short = shipped.short_leads_where_growth_persists if persists else shipped.short_leads
    moving = moving_frame_inputs(frames, 10, method=shipped.motion, sampling=shipped.sampling)
    now = last_step_motion(frames, shipped.sampling)
    moving[:short] = moving_frame_inputs(frames, short, now, sampling=shipped.sampling)
    uncorrected = shipped.predict(frames[None], corrected=False)[0]
    assert np.array_equal(uncorrected, np.rint(moving[:, 0] * 255).astype(np.uint8))
    assert not np.array_equal(uncorrected, shipped.predict(frames[None])[0])


@pytest.mark.parametrize(("persistence", "short"), [(-0.2, 6), (0.39, 6), (0.4, 3), (0.9, 3)])
def test_the_short_leads_are_advection_alone(shipped, monkeypatch, persistence, short):
    """A correction that adds rain everywhere changes every lead but the short ones, which
    are the advection along the last step's motion, spread: six where the window's growth
    does not persist, three where it does (there the correction has a growth to extrapolate)."""
    import dataclasses

    from lakesight.models.nowcasting import advection

    monkeypatch.setattr(advection, "growth_persistence", lambda *_: persistence)

    def adds_rain(moving: np.ndarray) -> list[np.ndarray]:
        return [np.full((len(moving), 1, *moving.shape[2:]), 0.1, np.float32)]

    frames = np.stack([blob(96, 30 + 2 * t, 48, 10, 170) for t in range(5)])
    wetter = dataclasses.replace(shipped, run=adds_rain, gate="none").predict(frames[None])[0]
    plain = shipped.predict(frames[None], corrected=False)[0]
    spread = shipped.spread(plain)
    assert np.array_equal(wetter[:short], spread[:short])
    assert (wetter[short:].astype(int).sum(axis=(1, 2)) > spread[short:].sum(axis=(1, 2))).all()


def test_the_short_leads_move_as_the_last_step_did(monkeypatch):
    """Echo that drifted north for three steps and then east: the window's motion retraces
    the window (north), the last step's motion retraces the last step (east), region by
    region, and that is the one the first leads follow."""
    from lakesight.models.nowcasting import advection
    from lakesight.radar_nowcast.baselines import sample_at

    size = 128
    rng = np.random.default_rng(5)
    texture = sum(
        blob(size, *rng.uniform(8, size - 8, 2), rng.uniform(3, 6), 180).astype(np.float32)
        for _ in range(60)
    )
    texture = np.clip(texture, 0, 200)
    grid = np.dstack(np.meshgrid(np.arange(size), np.arange(size))).astype(np.float32)
    offsets = [(0.0, 0.0), (0.0, -1.5), (0.0, -3.0), (0.0, -4.5), (1.5, -4.5)]  # (x, y) moved
    window = np.stack([sample_at(texture, grid - np.float32(o)) for o in offsets])
    window = np.rint(window).astype(np.uint8)
    east, north = np.float32([1.5, 0.0]), np.float32([0.0, -1.5])
    candidates = [np.broadcast_to(v, (size, size, 2)).copy() for v in (east, north)]
    monkeypatch.setattr(advection, "candidate_motions", lambda _: candidates)

    inner = (slice(24, 104), slice(24, 104))
    now = advection.last_step_motion(window, "rain")
    np.testing.assert_allclose(now[inner].reshape(-1, 2).mean(axis=0), east, atol=0.1)
    persisting = advection.regional_motion(window, "rain")
    np.testing.assert_allclose(persisting[inner].reshape(-1, 2).mean(axis=0), north, atol=0.1)


def test_shipped_model_keeps_a_translating_cell_where_it_goes(shipped):
    """The learned correction changes intensity (growth, decay, the hedge of a long lead),
    not position: the forecast cell is where the translation puts it."""
    size, speed = 128, (2.0, 1.0)
    frames = np.stack([blob(size, 30 + speed[0] * t, 50 + speed[1] * t, 9, 180) for t in range(5)])
    forecast = shipped.predict(frames[None])[0]
    for lead in (1, 5, 10):
        t = 4 + lead
        got = forecast[lead - 1].astype(float)
        centre = [(got * axis).sum() / got.sum() for axis in np.mgrid[0:size, 0:size][::-1]]
        # The advection's 0.8 px after an hour, and what decay at the edges moves.
        assert centre == pytest.approx([30 + speed[0] * t, 50 + speed[1] * t], abs=0.15 * lead)
    first = forecast[0].astype(float)
    truth = blob(size, 30 + speed[0] * 5, 50 + speed[1] * 5, 9, 180).astype(float)
    assert np.abs(first - truth).mean() < 0.05 * truth[truth > 0].mean()


def test_shipped_model_grows_a_cell_that_grows_in_place_and_decays_one_that_decays(shipped):
    """Three cells whose last frame is the same: growing, steady and decaying in place.
    The model carries each one's trend on, as more or less echo. (Part of it is the
    motion: an expanding cell's measured motion diverges, so advection spreads it, and a
    shrinking one's converges. Version 10's correction carries the growth on, 1.69 times
    the steady cell's echo at +60 against 1.25 from the motion alone; on the decaying cell
    its hindcast gate leaves it out, so the decay, 0.85 of the steady cell's, is the
    motion's. Versions 2-9's correction worked the other way round: 1.25 and 0.82.)"""
    histories = {
        "growing": [120, 132, 144, 156, 168],
        "steady": [168] * 5,
        "decaying": [216, 204, 192, 180, 168],
    }
    echo = {}
    for name, peaks in histories.items():
        frames = np.stack([blob(96, 48, 48, 10, p) for p in peaks])
        assert np.array_equal(frames[-1], blob(96, 48, 48, 10, 168))
        forecast = shipped.predict(frames[None])[0].astype(np.int64)
        echo[name] = forecast[9].sum()
    assert echo["growing"] > 1.2 * echo["steady"]
    assert echo["decaying"] < 0.9 * echo["steady"]


@pytest.mark.parametrize("size", [96, 131, 256, 512])
def test_shipped_model_runs_at_any_grid_from_96_to_512(shipped, size):
    frames = np.stack([blob(size, size / 3 + 2 * t, size / 2, size / 12, 170) for t in range(5)])
    forecast = shipped.predict(frames[None])
    assert forecast.shape == (1, 10, size, size) and forecast.dtype == np.uint8
    assert forecast[0, 0].any()
    assert not shipped.predict(np.zeros((1, 5, size, size), np.uint8)).any()


@pytest.mark.slow
def test_training_smoke_run_registers_a_model_that_loads_and_forecasts(tmp_path):
    import json

    from lakesight.models.nowcasting import train_advection
    from lakesight.models.nowcasting.forecaster import load_nowcaster

    code = train_advection.main(["--out", str(tmp_path / "registry"), "--version", "7",
                                 "--days", "1", "--steps", "3", "--work", str(tmp_path / "w")])  # fmt: skip
    assert code == 0
    card = json.loads((tmp_path / "registry" / "advection_radar" / "7" / "card.json").read_text())
    assert card["model_config"]["kind"] == "advection_residual"
    assert card["training"]["steps"] == 3 and card["training"]["training_windows"] > 200
    model = load_nowcaster("advection_radar@7", (tmp_path / "registry").as_uri(), threads=1)
    frames = np.stack([blob(100, 30 + 2 * t, 50, 9, 170) for t in range(5)])
    assert model.predict(frames[None]).shape == (1, 10, 100, 100)


@pytest.mark.slow
@pytest.mark.spark
def test_the_same_training_runs_under_torch_distributor(tmp_path):
    from lakesight.models.nowcasting.train_advection import (
        AdvectionTrainConfig,
        rendered_training_set,
        train_anyhow,
    )

    config = AdvectionTrainConfig(steps=2, log_every=1, warmup=1)
    data = rendered_training_set(1, config.seed, config.model)
    uri = tmp_path / "training.npz"
    uri.write_bytes(data.to_bytes())
    result = train_anyhow(config, uri.as_uri(), processes=2)
    assert result["facts"]["world_size"] == 2
    assert result["facts"]["windows_seen"] == 2 * config.steps * config.batch
    assert set(result["state"]) == set(build_network(config.model).state_dict())


def test_a_squall_line_is_moved_by_the_motion_that_retraces_it():
    """A squall line slides along itself, where a dense tracker on small patches sees only
    its normal motion (the aperture problem); the model's motion is the candidate that
    retraces the window, so its advection beats the flow baseline's at +30 min."""
    from lakesight.radar_nowcast.families import render_family_day
    from lakesight.radar_nowcast.verification import contingency

    minutes = list(range(0, 1440, 6))
    frames = render_family_day("squall", 7, "2026-07-01", minutes, size=256)
    csi = {"advection": [0, 0, 0], "flow": [0, 0, 0]}
    for issue in range(300, 1300, 120):
        window, truth = frames[issue // 6 - 4 : issue // 6 + 1], frames[issue // 6 + 5]
        if not window[-1].any():
            continue
        advected = np.rint(moving_frame_inputs(window, 5)[4, 0] * 255).astype(np.uint8)
        for name, forecast in (("advection", advected), ("flow", flow_extrapolation(window, 5)[4])):
            table = contingency(forecast, truth, thresholds=(2.0,))[0]
            csi[name] = [
                a + table[k]
                for a, k in zip(csi[name], ("hits", "misses", "false_alarms"), strict=True)
            ]
    score = {name: h / (h + m + f) for name, (h, m, f) in csi.items()}
    assert score["advection"] > score["flow"] + 0.05, score


def test_each_region_takes_the_motion_that_retraces_it(monkeypatch):
    """Two storms side by side move differently; of two candidate motions, each is right on
    one half only. One choice per window moves one storm wrongly; the regional choice moves
    each along its own motion."""
    from lakesight.models.nowcasting import advection
    from lakesight.radar_nowcast.baselines import departure_points, sample_at

    size = 128
    east, north = np.float32([1.5, 0.0]), np.float32([0.0, -1.5])
    truth = np.zeros((size, size, 2), np.float32)
    truth[:, : size // 2], truth[:, size // 2 :] = east, north
    rng = np.random.default_rng(3)
    texture = sum(
        blob(size, *rng.uniform(8, size - 8, 2), rng.uniform(3, 6), 180).astype(np.float32)
        for _ in range(60)
    )
    texture = np.clip(texture, 0, 200)
    history = [texture, *(sample_at(texture, d) for d in departure_points(truth, 4))]
    window = np.rint(np.stack(history)).astype(np.uint8)
    candidates = [
        np.broadcast_to(east, truth.shape).copy(),
        np.broadcast_to(north, truth.shape).copy(),
    ]
    monkeypatch.setattr(advection, "candidate_motions", lambda _: candidates)

    inner = (slice(24, 104), slice(12, 52)), (slice(24, 104), slice(76, 116))
    regional = advection.regional_motion(window)
    for half, expected in zip(inner, (east, north), strict=True):
        np.testing.assert_allclose(regional[half].reshape(-1, 2).mean(axis=0), expected, atol=0.1)
        assert np.abs(regional[half] - expected).max() < 0.3
    one_choice = advection.window_motion(window)
    errors = [
        np.abs(one_choice[half] - expected).max()
        for half, expected in zip(inner, (east, north), strict=True)
    ]
    assert max(errors) > 1  # one storm carried by its neighbour's motion


def test_the_correction_applies_only_where_it_bettered_the_recent_past():
    """A correction that adds rain is right for a cell that has been growing and wrong for
    one that has held steady; the hindcast gate keeps it on the first and drops it on the
    second."""
    from lakesight.models.nowcasting.advection import hindcast_gate

    size, steps = 160, 5
    growing = [blob(size, 40, 80, 8, 90 + 12 * t).astype(np.int32) for t in range(steps)]
    steady = [blob(size, 120, 80, 8, 120).astype(np.int32) for _ in range(steps)]
    window = np.stack([np.maximum(g, s) for g, s in zip(growing, steady, strict=True)])
    window = window.astype(np.uint8)

    def adds_rain(moving: np.ndarray) -> list[np.ndarray]:
        return [np.where(moving[:, :1] > 0, np.float32(12 / 255), np.float32(0.0))]

    weight = hindcast_gate(window, adds_rain, outputs=10, method="echo_dis")
    assert weight.shape == (size, size)
    assert weight[80, 40] > 0.9 and weight[80, 120] < 0.1, (weight[80, 40], weight[80, 120])
    short = hindcast_gate(window[-3:], adds_rain, outputs=10, method="echo_dis")
    assert (short == 1).all()  # no frames for a hindcast: the correction as trained


def test_recorded_metrics_keep_the_advection_models_own_card(tmp_path, monkeypatch):
    import json
    import shutil
    from pathlib import Path

    from lakesight.models.nowcasting.train_convlstm import record_metrics

    shipped = Path(__file__).parents[3] / "models" / "registry" / SHIPPED / "2"
    shutil.copytree(shipped, tmp_path / SHIPPED / "2")
    monkeypatch.setenv("LAKESIGHT_MODEL_REGISTRY", (tmp_path).as_uri())
    directory = record_metrics(f"{SHIPPED}@2", {"leads_min": [6], "target_met": {"all": False}})
    assert json.loads((directory / "card.json").read_text())["metrics"]["leads_min"] == [6]
    assert "at the radar's own resolution" in (directory / "MODEL_CARD.md").read_text()


def test_a_card_without_a_motion_is_the_dis_motion_it_was_trained_on():
    assert AdvectionConfig.from_dict({"inputs": 5, "outputs": 10}).motion == "echo_dis"
    assert AdvectionConfig.from_dict({"motion": "retraced"}).motion == "retraced"


def test_a_card_without_a_gate_applies_its_correction_everywhere():
    assert AdvectionConfig.from_dict({"motion": "retraced"}).gate == "none"
    assert AdvectionConfig().gate == "hindcast" and AdvectionConfig().motion == "regional"


def test_a_card_without_a_sampling_advects_the_encoded_levels(shipped):
    assert AdvectionConfig.from_dict({"motion": "regional", "gate": "hindcast"}).sampling == (
        "reflectivity"
    )
    assert AdvectionConfig().sampling == "rain" and shipped.sampling == "rain"


def test_an_unknown_sampling_is_named():
    with pytest.raises(ValueError, match="unknown sampling 'nearest'"):
        moving_frame_inputs(np.stack([blob(32, 16, 16, 4, 150)] * 5), 2, sampling="nearest")


def test_the_spread_forecasts_what_the_rain_likely_reaches_more_widely_with_the_lead():
    """Each lead's pixel is the highest level its neighbourhood reaches with the chance
    asked, over spread x lead px. A storm wider than that spreads its rain area with the
    lead; a shower narrower than that can no longer be placed, and its chance anywhere
    falls below the cut; the first lead, half a pixel, is the forecast itself."""
    from lakesight.radar_nowcast.encoding import threshold_pixel

    light = threshold_pixel(2.0)
    storm, shower = blob(128, 64, 64, 12, 200), blob(128, 64, 64, 3, 200)
    spread = likely_rain(np.repeat(storm[None], 10, axis=0), 0.5, 0.3)
    assert spread.dtype == np.uint8 and spread.shape == (10, 128, 128)
    assert np.array_equal(spread[0], storm)
    wet = (spread >= light).sum(axis=(1, 2))
    assert (wet[1:] > wet[0]).all() and wet[9] > wet[0] + 50
    # Beyond the spread's reach, still no echo.
    assert not spread[9, :20].any() and not spread[9, :, :20].any()
    gone = likely_rain(np.repeat(shower[None], 10, axis=0), 0.5, 0.3)
    assert (gone[0] >= light).sum() == (shower >= light).sum() and not (gone[4] >= light).any()
    # A higher cut forecasts less: the last level reached at 50% is at most that at 30%.
    higher = likely_rain(np.repeat(storm[None], 10, axis=0), 0.5, 0.5)
    assert (higher <= spread).all() and (higher < spread).any()
    assert likely_rain(spread, 0.0, 0.3) is spread


def test_a_card_without_a_spread_forecasts_the_advected_rain(shipped):
    assert (
        AdvectionConfig.from_dict({"motion": "regional", "sampling": "rain"}).spread_px_per_step
        == 0
    )
    assert AdvectionConfig().spread_px_per_step == 0.5 and shipped.spread_px_per_step == 0.5
    assert shipped.spread_probability == 0.3


def test_the_cut_falls_where_the_skill_does_and_lets_heavy_rain_spread():
    """CSI's best cut is CSI / (1 + CSI): with the tuning days' skill, every level of the first
    lead keeps version 5's 30%; by +60 heavy rain is asked only the floor's 25%, light rain
    still 30%. A heavy core then keeps a wider 30 mm/h area at +60 than under one cut, and
    no pixel is lower."""
    from lakesight.radar_nowcast.encoding import threshold_pixel

    cuts = spread_cuts(SPREAD_SKILL, 10, 0.3, 0.25)
    heavy, light = threshold_pixel(30.0), threshold_pixel(2.0)
    assert cuts.shape == (10, 256) and np.allclose(cuts[0], 0.3)
    assert cuts[9, heavy] == pytest.approx(0.25) and cuts[9, light] == pytest.approx(0.3)
    assert (np.diff(cuts[9, light:]) <= 1e-6).all()  # heavier rain, no higher cut
    assert np.allclose(spread_cuts(None, 10, 0.3, 0.25), 0.3)
    core = np.repeat(blob(128, 64, 64, 12, 230)[None], 10, axis=0)
    by_skill, one_cut = likely_rain(core, 0.5, cuts), likely_rain(core, 0.5, 0.3)
    assert (by_skill[9] >= heavy).sum() > (one_cut[9] >= heavy).sum()
    assert (by_skill >= one_cut).all()
    with pytest.raises(ValueError, match="spread_skill: expected CSI for 5 thresholds x 4 leads"):
        spread_cuts(SPREAD_SKILL, 4, 0.3, 0.25)


def test_within_each_class_the_forecast_is_the_rain_to_expect_and_the_classes_stay():
    """The spread's forecast of a storm whose place is uncertain, valued within its classes:
    every threshold's forecast area is exactly the spread's (so its CSI is), and within them
    the rain is the expected one. Over the places the storm may really be, the squared
    error is then lower than the spread's quantile, at every lead."""
    from lakesight.radar_nowcast.encoding import THRESHOLDS_MM_H, pixel_to_rain, threshold_pixel

    storm = np.repeat(blob(128, 64, 64, 10, 230)[None], 10, axis=0)
    cuts = spread_cuts(SPREAD_SKILL, 10, 0.3, 0.25)
    likely = likely_rain(storm, 0.5, cuts)
    valued = expected_within_classes(likely, storm, 0.5, THRESHOLDS_MM_H)
    assert valued.dtype == np.uint8 and valued.shape == likely.shape
    for threshold in THRESHOLDS_MM_H:
        level = threshold_pixel(threshold)
        assert np.array_equal(valued >= level, likely >= level), threshold
    assert (valued != likely).any()  # the amounts changed: the core's is lower
    assert valued[9].max() < likely[9].max()
    # Where the storm really goes: displaced as the motion error says, lead by lead.
    rng = np.random.default_rng(3)
    squared = {"likely": np.zeros(10), "expected": np.zeros(10)}
    for _ in range(40):
        for k in range(10):
            dx, dy = rng.normal(0, 0.5 * (k + 1), 2)
            truth = pixel_to_rain(blob(128, 64 + dx, 64 + dy, 10, 230))
            for name, forecast in (("likely", likely), ("expected", valued)):
                squared[name][k] += ((pixel_to_rain(forecast[k]) - truth) ** 2).mean()
    assert (squared["expected"] < squared["likely"]).all(), squared
    assert expected_within_classes(likely, storm, 0.0, THRESHOLDS_MM_H) is likely


def test_a_card_without_within_class_forecasts_the_spreads_quantile(shipped):
    assert AdvectionConfig.from_dict({"short_leads": 3}).within_class == "likely"
    assert AdvectionConfig().within_class == "expected" and shipped.within_class == "expected"


def test_a_card_without_short_leads_forecasts_every_lead_the_windows_way(shipped):
    assert AdvectionConfig.from_dict({"spread_px_per_step": 0.5}).short_leads == 0
    assert AdvectionConfig().short_leads == 6 and shipped.short_leads == 6


def test_a_card_without_growth_persists_from_runs_its_short_leads_on_every_window(
    shipped, monkeypatch
):
    """Version 8's card: six short leads whatever the window's growth; the shipped card says
    from which growth persistence it runs three."""
    import dataclasses

    from lakesight.models.nowcasting import advection

    assert AdvectionConfig.from_dict({"short_leads": 6}).growth_persists_from is None
    assert (shipped.growth_persists_from, shipped.short_leads_where_growth_persists) == (0.4, 3)

    def adds_rain(moving: np.ndarray) -> list[np.ndarray]:
        return [np.full((len(moving), 1, *moving.shape[2:]), 0.1, np.float32)]

    monkeypatch.setattr(advection, "growth_persistence", lambda *_: 0.9)
    frames = np.stack([blob(96, 30 + 2 * t, 48, 10, 170) for t in range(5)])
    legacy = dataclasses.replace(shipped, run=adds_rain, gate="none", growth_persists_from=None)
    plain = legacy.spread(legacy.predict(frames[None], corrected=False)[0])
    assert np.array_equal(legacy.predict(frames[None])[0][:6], plain[:6])
    wetter = dataclasses.replace(legacy, growth_persists_from=0.4).predict(frames[None])[0]
    assert np.array_equal(wetter[:3], plain[:3])
    assert (wetter[3:6].astype(int).sum(axis=(1, 2)) > plain[3:6].sum(axis=(1, 2))).all()


def takes_rain(moving: np.ndarray) -> list[np.ndarray]:
    """A correction that weakens every pixel of echo by as much as the network may."""
    return [np.full((len(moving), 1, *moving.shape[2:]), -MAX_CORRECTION, np.float32)]


def test_the_correction_may_weaken_heavy_rain_but_not_out_of_its_class():
    """A core above 30 mm/h and its lighter edge, under a correction that weakens both: the
    edge loses what the correction takes, the core keeps at least 30 mm/h; a correction that
    adds rain is let through everywhere."""
    from lakesight.radar_nowcast.encoding import threshold_pixel

    heavy = threshold_pixel(30.0)
    frames = np.stack([blob(96, 30 + 2 * t, 48, 10, 200) for t in range(5)])
    moving = moving_frame_inputs(frames, 10, sampling="rain")
    advected = moving[:, 0] * 255
    held = held_in_heavy_class(takes_rain, 30.0)(moving)[0][:, 0]
    corrected = np.clip(advected + held * 255, 0, 255)
    core, edge = advected >= heavy, (advected > 0) & (advected < heavy)
    assert core.sum() > 50 and edge.sum() > 50
    assert (corrected[core] >= heavy - 1e-3).all()  # held in the class
    assert (corrected[core] < advected[core]).any()  # and weakened within it
    assert np.allclose(held[edge], -MAX_CORRECTION)  # the edge as the network said
    adds = lambda m: [-takes_rain(m)[0]]  # noqa: E731
    assert np.array_equal(held_in_heavy_class(adds, 30.0)(moving)[0], adds(moving)[0])
    assert held_in_heavy_class(takes_rain, None) is takes_rain


def test_a_card_without_heavy_rain_held_lets_its_correction_take_heavy_rain(shipped):
    """Version 10's card and before: a correction that weakens a core just above 30 mm/h takes
    it out of the class; the shipped card keeps it there."""
    import dataclasses

    from lakesight.radar_nowcast.encoding import threshold_pixel

    assert AdvectionConfig.from_dict({"short_leads": 6}).heavy_rain_held_from_mm_h is None
    assert AdvectionConfig().heavy_rain_held_from_mm_h == 30.0
    assert shipped.heavy_rain_held_from_mm_h == 30.0
    heavy = threshold_pixel(30.0)
    frames = np.stack([blob(96, 30 + 2 * t, 48, 10, heavy + 10) for t in range(5)])
    held = dataclasses.replace(shipped, run=takes_rain, gate="none", short_leads=0,
                               spread_px_per_step=0.0, heavy_rain_held_from_mm_h=30.0)  # fmt: skip
    legacy = dataclasses.replace(held, heavy_rain_held_from_mm_h=None)
    for lead in (4, 9):
        assert (held.predict(frames[None])[0][lead] >= heavy).sum() > 20
        assert (legacy.predict(frames[None])[0][lead] >= heavy).sum() == 0


def shield_with_a_dry_gap(leads: int = 10) -> np.ndarray:
    """A rain shield at 5 mm/h crossed by a one-pixel dry line, the same at every lead."""
    from lakesight.radar_nowcast.encoding import threshold_pixel

    shield = np.zeros((64, 64), np.uint8)
    shield[8:56, 8:56] = threshold_pixel(5.0) + 5
    shield[:, 32] = 0
    return np.repeat(shield[None], leads, axis=0)


def test_the_first_lead_is_not_certain_to_the_pixel():
    """With an error already there at the issue time, lead k's error is sqrt(s0² + (r k)²)
    px: the first lead's widens (0.5 to 0.61 px), the hour's barely moves. A dry line one
    pixel wide inside a shield, rain on both sides, is then no longer forecast dry at the
    first lead: at 0.5 px each side gives 11% and the pair stays below the 30% cut, at 0.61
    px 17% each clears it. Without the error at issue, the first lead keeps the gap; the
    rain filled in is the expected rain, and a wider error lowers it."""
    from lakesight.radar_nowcast.encoding import THRESHOLDS_MM_H, threshold_pixel

    assert spread_sigma_px(0.5, 0.0, 1) == 0.5 and spread_sigma_px(0.5, 0.0, 10) == 5.0
    assert spread_sigma_px(0.5, 0.35, 1) == pytest.approx(0.610, abs=1e-3)
    assert spread_sigma_px(0.5, 0.35, 10) == pytest.approx(5.012, abs=1e-3)
    shield, light = shield_with_a_dry_gap(), threshold_pixel(2.0)
    sure, unsure = likely_rain(shield, 0.5, 0.3), likely_rain(shield, 0.5, 0.3, 0.35)
    assert not sure[0, 8:56, 32].any() and (unsure[0, 12:52, 32] >= light).all()
    assert (unsure[0] >= sure[0]).all()
    # Within its class the filled gap takes the expected rain: the shield's, thinned by the gap.
    valued = expected_within_classes(unsure, shield, 0.5, THRESHOLDS_MM_H, 0.35)
    assert (valued[0, 12:52, 32] >= light).all() and (
        valued[0, 12:52, 32] < shield[0, 20, 20]
    ).all()


def test_the_shipped_card_spreads_from_an_error_at_issue_and_an_older_card_from_none(shipped):
    """Version 12's card carries 0.35 px; a card without the field (version 11 and before)
    spreads from no error, and keeps the first lead's one-pixel gap out of every class."""
    import dataclasses

    from lakesight.radar_nowcast.encoding import threshold_pixel

    assert AdvectionConfig.from_dict({"heavy_rain_held_from_mm_h": 30}).spread_px_at_issue == 0
    assert AdvectionConfig().spread_px_at_issue == 0.35 and shipped.spread_px_at_issue == 0.35
    shield = shield_with_a_dry_gap()
    older = dataclasses.replace(shipped, spread_px_at_issue=0.0)
    # The older card's gap stays below the lowest class (0.5 mm/h), its expected rain
    # clipped into it; the shipped card's is forecast in the shield's class.
    assert (shipped.spread(shield)[0, 12:52, 32] >= threshold_pixel(2.0)).all()
    assert (older.spread(shield)[0, 8:56, 32] < threshold_pixel(0.5)).all()


def test_a_card_without_a_skill_cuts_at_one_chance(shipped):
    """Version 5's card has no spread_skill and keeps its one cut; the shipped model's card
    carries the table it was released with."""
    assert AdvectionConfig.from_dict({"spread_px_per_step": 0.5}).spread_skill is None
    assert AdvectionConfig().spread_skill == SPREAD_SKILL
    assert shipped.spread_skill == SPREAD_SKILL and shipped.spread_floor == 0.15
    assert AdvectionConfig().spread_floor == 0.15


def test_the_floor_bounds_how_low_the_cut_for_heavy_rain_falls():
    """At +60 the tuning days' skill at 30 mm/h asks for 12%: version 10's floor holds it at
    15% (versions 6-9 at 25%), and the lower the floor, the wider a heavy core is forecast."""
    from lakesight.radar_nowcast.encoding import threshold_pixel

    heavy = threshold_pixel(30.0)
    low, high = (spread_cuts(SPREAD_SKILL, 10, 0.3, floor) for floor in (0.15, 0.25))
    assert low[9, heavy] == pytest.approx(0.15) and high[9, heavy] == pytest.approx(0.25)
    assert np.array_equal(low[0], high[0])  # the first lead's skill is above both floors
    core = np.repeat(blob(128, 64, 64, 12, 230)[None], 10, axis=0)
    wider, narrower = likely_rain(core, 0.5, low), likely_rain(core, 0.5, high)
    assert (wider[9] >= heavy).sum() > (narrower[9] >= heavy).sum()


def test_a_card_without_ensemble_below_never_forecasts_the_ensemble(shipped):
    """The ensemble was measured and not shipped (README): no card has it unless it says so."""
    assert AdvectionConfig.from_dict({"short_leads": 3}).ensemble_below is None
    assert AdvectionConfig().ensemble_below is None and shipped.ensemble_below is None
    assert AdvectionConfig.from_dict({"ensemble_below": 0.1}).ensemble_below == 0.1


@pytest.mark.parametrize(
    ("setting", "message"),
    [
        ({"motion": "sideways"}, "model_config.motion: 'sideways' is not one of"),
        ({"gate": "always"}, "model_config.gate: 'always' is not one of"),
        ({"sampling": "nearest"}, "model_config.sampling: 'nearest' is not one of"),
        ({"short_leads": 11}, "model_config.short_leads: 11 is not within 0..10"),
        ({"ensemble_below": 2.0}, "model_config.ensemble_below: 2.0 is not a correlation"),
        ({"within_class": "median"}, "model_config.within_class: 'median' is not one of"),
        ({"growth_persists_from": -3}, "model_config.growth_persists_from: -3 is not a corr"),
        ({"heavy_rain_held_from_mm_h": 0}, "model_config.heavy_rain_held_from_mm_h: 0 is not"),
        ({"heavy_rain_held_from_mm_h": "30"}, "heavy_rain_held_from_mm_h: '30' is not a rain"),
        ({"spread_px_at_issue": -0.1}, "model_config.spread_px_at_issue: -0.1 is not a dist"),
        ({"spread_px_at_issue": True}, "model_config.spread_px_at_issue: True is not a dist"),
        (
            {"short_leads_where_growth_persists": -1},
            "model_config.short_leads_where_growth_persists: -1 is not within 0..10",
        ),
    ],
)
def test_a_bad_model_config_fails_at_load_naming_the_field(setting, message):
    with pytest.raises(ValueError, match=message):
        AdvectionConfig.from_dict({"outputs": 10, **setting})


def textured(size: int, seed: int, peaks: np.ndarray | None = None, cells: int = 150) -> np.ndarray:
    """Many small cells at fixed places (float32 pixels), each at its own peak."""
    rng = np.random.default_rng(seed)
    places = rng.uniform(8, size - 8, (cells, 2))
    peaks = np.full(cells, 150.0) if peaks is None else peaks
    return sum(
        blob(size, x, y, 3, p).astype(np.float32) for (x, y), p in zip(places, peaks, strict=True)
    )


def test_growth_persistence_tells_persistent_growth_from_growth_at_random():
    """Cells that grow and decay steadily, each its own way, correlate step on step; cells
    whose every step grows or decays at random do not; a field that does neither has
    nothing to correlate (0)."""
    size, cells, still = 256, 600, np.zeros((256, 256, 2), np.float32)
    rng = np.random.default_rng(3)
    trend = rng.uniform(-8, 8, cells)
    steady = np.stack([textured(size, 1, 120 + trend * t, cells) for t in range(5)])
    # A random walk: each step's growth is drawn anew (random levels would anti-correlate).
    walk = 120 + np.cumsum(rng.uniform(-8, 8, (5, cells)), axis=0)
    at_random = np.stack([textured(size, 1, peaks, cells) for peaks in walk])
    frames = {"steady": steady, "at_random": at_random, "still": np.stack([steady[0]] * 5)}
    persistence = {
        name: growth_persistence(np.clip(np.rint(f), 0, 255).astype(np.uint8), still, "rain")
        for name, f in frames.items()
    }
    assert persistence["steady"] > 0.8, persistence
    assert abs(persistence["at_random"]) < MEASURED_ENSEMBLE_BELOW, persistence
    assert persistence["still"] == 0.0


def test_the_ensemble_weighs_each_motion_by_how_well_it_retraced():
    """Texture moving east: of an eastward and a northward candidate, the one that retraces
    the window takes the ensemble, region by region; candidates that agree are one advection."""
    from lakesight.radar_nowcast.baselines import sample_at

    size = 128
    texture = np.clip(textured(size, 5), 0, 200)
    grid = np.dstack(np.meshgrid(np.arange(size), np.arange(size))).astype(np.float32)
    window = np.stack([sample_at(texture, grid - np.float32([1.5 * t, 0.0])) for t in range(5)])
    window = np.rint(window).astype(np.uint8)
    east, north = (np.broadcast_to(np.float32(v), (size, size, 2)).copy()
                   for v in ([1.5, 0.0], [0.0, -1.5]))  # fmt: skip
    along_east = advected_last_frame(window, east, 6, "rain")
    mixed = ensemble_advection(window, [east, north], 6, "rain")
    inner = (slice(None), slice(24, 104), slice(24, 104))
    assert np.abs(mixed[inner] - along_east[inner]).mean() < 0.02 * along_east[inner].mean()
    along_north = advected_last_frame(window, north, 6, "rain")
    assert np.abs(along_north[inner] - along_east[inner]).mean() > 0.3 * along_east[inner].mean()
    assert np.array_equal(ensemble_advection(window, [east, east], 6, "rain"), along_east)


def test_where_growth_does_not_persist_the_later_leads_are_the_ensemble_uncorrected(
    shipped, monkeypatch
):
    """Below a card's growth persistence, the correction (here one that adds rain
    everywhere) is left out: the short leads along the last step's motion, the next one
    half that and half the ensemble, the rest the ensemble, all spread. Above it, the
    correction acts."""
    import dataclasses

    from lakesight.models.nowcasting import advection

    def adds_rain(moving: np.ndarray) -> list[np.ndarray]:
        return [np.full((len(moving), 1, *moving.shape[2:]), 0.1, np.float32)]

    frames = np.stack([blob(96, 30 + 2 * t, 48, 10, 150 + 6 * t) for t in range(5)])
    model = dataclasses.replace(shipped, run=adds_rain, gate="none",
                                ensemble_below=MEASURED_ENSEMBLE_BELOW)  # fmt: skip
    short, leads = model.short_leads, model.outputs
    candidates = advection.candidate_motions(frames)
    now = advection.last_step_motion(frames, model.sampling, candidates)
    along_now = advected_last_frame(frames, now, short + 1, model.sampling)
    later = ensemble_advection(frames, candidates, leads, model.sampling)
    expected = np.concatenate([along_now[:short], (along_now[short:] + later[short:short + 1]) / 2,
                               later[short + 1:]])  # fmt: skip
    expected = model.spread(np.rint(np.clip(expected, 0, 1) * 255).astype(np.uint8))

    monkeypatch.setattr(advection, "growth_persistence", lambda *_: 0.0)
    assert np.array_equal(model.predict(frames[None])[0], expected)
    monkeypatch.setattr(advection, "growth_persistence", lambda *_: 0.5)
    corrected = model.predict(frames[None])[0].astype(int)
    assert (corrected[short:].sum(axis=(1, 2)) > expected[short:].sum(axis=(1, 2))).all()


def test_a_bad_card_is_one_line_naming_the_card_and_the_field(tmp_path):
    """What ``lakesight`` commands print (a ConfigError), not a traceback from mid-load."""
    import json
    import shutil

    from lakesight.config import ConfigError
    from lakesight.models.nowcasting.forecaster import nowcaster_from_card
    from lakesight.models.runtime import load_card, resolve

    _, shipped_dir = resolve(SHIPPED)
    directory = tmp_path / "advection_radar" / "7"
    shutil.copytree(shipped_dir, directory)
    card = load_card(directory)
    card["model_config"]["short_leads"] = 12
    (directory / "card.json").write_text(json.dumps(card))
    with pytest.raises(
        ConfigError, match=r"advection_radar@\d+ card.json: model_config.short_leads: 12"
    ):
        nowcaster_from_card(directory, load_card(directory))
