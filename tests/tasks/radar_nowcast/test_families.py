"""Held-out weather families, the FSS, the pysteps peer and the per-family evaluation."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from lakesight.radar_nowcast.baselines import flow_extrapolation, persistence
from lakesight.radar_nowcast.encoding import pixel_to_rain, threshold_pixel
from lakesight.radar_nowcast.families import (
    FAMILIES,
    HELD_OUT_FAMILIES,
    family_size,
    render_family_day,
)
from lakesight.radar_nowcast.family_eval import (
    issue_minutes,
    pysteps_lk,
    targets,
    training_family,
)
from lakesight.radar_nowcast.verification import fss, fss_sums

pytestmark = pytest.mark.unit
DAYS = [f"2026-06-{d:02d}" for d in range(1, 9)]


@pytest.mark.parametrize("family", HELD_OUT_FAMILIES)
def test_a_family_day_is_deterministic_and_has_rain(family):
    minutes = [600, 606, 612]
    first = render_family_day(family, 5, "2026-06-03", minutes)
    again = render_family_day(family, 5, "2026-06-03", minutes)
    size = family_size(family, 5, "2026-06-03")
    assert first.dtype == np.uint8 and first.shape == (3, size, size)
    assert np.array_equal(first, again)
    assert not np.array_equal(first, render_family_day(family, 6, "2026-06-03", minutes))


def test_each_family_has_its_own_range_of_grids_from_96_to_512():
    sizes = {f: {family_size(f, 2026, dt) for dt in DAYS} for f in FAMILIES}
    assert sizes["hko_like"] == {128}
    assert all(96 <= s <= 192 for s in sizes["spectral"]) and len(sizes["spectral"]) > 1
    assert all(256 <= s <= 512 for s in sizes["squall"]) and len(sizes["squall"]) > 1


@pytest.mark.parametrize("family", FAMILIES)
@pytest.mark.parametrize("size", [96, 200, 512])
def test_any_grid_renders(family, size):
    frames = render_family_day(family, 1, "2026-06-02", [720], size=size)
    assert frames.shape == (1, size, size)


@pytest.mark.parametrize("family", HELD_OUT_FAMILIES)
def test_the_weather_moves_so_flow_beats_persistence_at_30_minutes(family):
    """Advection is the family's first physics: extrapolating the motion must pay."""
    wins = 0
    for dt in DAYS[:4]:
        minutes = list(range(540, 540 + 6 * 10, 6))
        frames = render_family_day(family, 2026, dt, minutes)
        window, truth = frames[:5], frames[9]
        rain = pixel_to_rain(truth)
        err_flow = np.mean((pixel_to_rain(flow_extrapolation(window, 5)[-1]) - rain) ** 2)
        err_persistence = np.mean((pixel_to_rain(persistence(window, 5)[-1]) - rain) ** 2)
        wins += err_flow < err_persistence
    assert wins >= 3


def test_fss_matches_pysteps_on_a_displaced_field():
    from pysteps.verification.spatialscores import fss as pysteps_fss

    rng = np.random.default_rng(0)
    observed = np.where(rng.random((64, 64)) < 0.15, 180, 0).astype(np.uint8)
    forecast = np.roll(observed, 4, axis=1)
    rows = fss_sums(forecast, observed)
    assert [(r["threshold"], r["window"]) for r in rows] == [(5, 8), (5, 16), (10, 8), (10, 16)]
    for row in rows:
        # pysteps' events are ``>``: a threshold just below ours gives our ``>=`` events.
        below = float(pixel_to_rain(np.uint8(threshold_pixel(row["threshold"]) - 1)))
        theirs = pysteps_fss(
            pixel_to_rain(forecast), pixel_to_rain(observed), below + 1e-4, row["window"]
        )
        assert fss(row["fss_numerator"], row["fss_denominator"]) == pytest.approx(theirs, abs=1e-9)
    perfect = fss_sums(observed, observed)[0]
    assert fss(perfect["fss_numerator"], perfect["fss_denominator"]) == 1.0


def test_pysteps_peer_moves_a_translating_field():
    yy, xx = np.mgrid[0:96, 0:96]
    frames = np.stack(
        [np.where(np.hypot(xx - 30 - 2 * t, yy - 48) < 12, 150, 0) for t in range(5)]
    ).astype(np.uint8)
    forecast = pysteps_lk(frames[None], 3)[0]
    echo = forecast[2] >= 100
    centre_x = (xx * echo).sum() / echo.sum()
    assert centre_x == pytest.approx(30 + 2 * 7, abs=1.5)  # 3 steps after the last at x=38
    assert not pysteps_lk(np.zeros((1, 5, 32, 32), np.uint8), 2).any()


def test_issue_minutes_keep_window_and_hour_inside_the_day():
    minutes = issue_minutes(6, 5, 10, 30)
    assert minutes[0] == 30 and minutes[-1] <= 1440 - 6 - 60
    assert all(m % 30 == 0 for m in minutes)


def _result(model_csi: float, flow_csi: float, *, own: bool, mse=(1.0, 2.0)) -> dict:
    leads = [6, 30, 60]
    csi = {
        "m@1": {k: [model_csi] * 3 for k in ("2", "5", "10", "30")},
        "flow": {k: [flow_csi] * 3 for k in ("2", "5", "10", "30")},
        "pysteps_lk": {k: [flow_csi] * 3 for k in ("2", "5", "10", "30")},
    }
    return {
        "model": "m@1",
        "leads_min": leads,
        "trained_on_this_family": own,
        "csi": csi,
        "mse": {"m@1": [mse[0]] * 3, "flow": [mse[1]] * 3, "pysteps_lk": [mse[1]] * 3},
    }


def test_targets_need_every_lead_and_the_margin_on_the_own_family():
    assert targets(_result(0.5, 0.4, own=False))["all"] is True
    assert targets(_result(0.5, 0.4, own=False, mse=(3.0, 2.0)))["all"] is False
    assert targets(_result(0.39, 0.4, own=False))["csi_2_vs_flow"] is False
    assert targets(_result(0.42, 0.4, own=True))["csi_2_flow_plus_0.03"] is False
    assert targets(_result(0.44, 0.4, own=True))["all"] is True


def test_the_family_a_model_is_held_to_is_the_one_its_card_names(tmp_path: Path):
    # The shipped models were trained on generated days of the training family.
    assert training_family("advection_radar") == "hko_like"
    assert training_family("convlstm_radar@1") == "hko_like"
    # A model trained on a user's archive has no family: it is held to the held-out
    # targets everywhere, not to the margin on the training family.
    (tmp_path / "m" / "1").mkdir(parents=True)
    card = {"name": "m", "version": "1", "data": {"description": "curated/radar_frames"}}
    (tmp_path / "m" / "1" / "card.json").write_text(json.dumps(card))
    assert training_family("m@1", tmp_path.as_uri()) is None
    result = _result(0.42, 0.4, own=False) | {"trained_on_this_family": None}
    assert "csi_2_vs_flow" in targets(result) and "csi_2_flow_plus_0.03" not in targets(result)


@pytest.mark.slow
def test_eval_nowcast_by_family_prints_one_json_line_with_the_peer(tmp_path: Path):
    done = subprocess.run(
        [str(Path(sys.executable).parent / "lakesight"), "eval", "nowcast", "--family",
         "spectral", "--days", "1", "--every-min", "360", "--seed", "7", "--start",
         "2026-03-02", "--json"],
        capture_output=True, text=True, timeout=600, cwd=tmp_path,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    lines = done.stdout.strip().splitlines()
    assert len(lines) == 1, done.stdout[:500]  # pysteps' import chatter went to stderr
    result = json.loads(lines[0])["families"]["spectral"]
    models = set(result["csi"]) - {"persistence", "flow", "pysteps_lk", "advection_uncorrected"}
    assert len(models) == 1 and models.pop().startswith("advection_radar@")
    assert result["issues"]["advection_uncorrected"] == 3  # the model without its correction
    assert set(result["fss"]["flow"]) == {"5mm/8px", "5mm/16px", "10mm/8px", "10mm/16px"}
    assert result["issues"]["pysteps_lk"] == 3 and len(result["mse"]["flow"]) == 10
    assert "all" in result["targets"]
    assert result["days"] == ["2026-03-02"] and result["seed"] == 7  # the days asked for
    assert result["trained_on"] == "hko_like" and result["trained_on_this_family"] is False
