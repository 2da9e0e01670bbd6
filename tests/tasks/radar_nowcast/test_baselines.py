"""Persistence and optical-flow extrapolation baselines, on synthetic radar fields."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage

from lakesight.radar_nowcast.baselines import (
    departure_points,
    flow_extrapolation,
    persistence,
    sample_at,
    sample_rain_at,
)
from lakesight.radar_nowcast.encoding import pixel_to_rain, rain_to_level

pytestmark = pytest.mark.unit

# Motion of the synthetic echo, px per step (x to the right, y down).
DX, DY = 1.5, -1.0
INPUT_FRAMES, LEADS = 5, 10
# Content that enters the domain from outside cannot be forecast: score the interior only.
BORDER = 15


def blob_field(shape: tuple[int, int], seed: int = 0) -> np.ndarray:
    """A smooth radar-like field: Gaussian blobs of varied size, 0..220, zero background."""
    rng = np.random.default_rng(seed)
    rows, cols = np.mgrid[0 : shape[0], 0 : shape[1]]
    field = np.zeros(shape)
    for _ in range(shape[0] * shape[1] // 1000):
        centre_y, centre_x = rng.uniform(0, shape[0]), rng.uniform(0, shape[1])
        sigma, amplitude = rng.uniform(3, 14), rng.uniform(40, 140)
        field += amplitude * np.exp(
            -((rows - centre_y) ** 2 + (cols - centre_x) ** 2) / (2 * sigma**2)
        )
    return np.clip(field - 30, 0, 220)  # the offset leaves wide areas with no echo


def translated_sequence(shape: tuple[int, int], steps: int, pad: int = 64) -> np.ndarray:
    """``steps`` uint8 frames of one field moving by (DX, DY) per step; drawn on a canvas
    ``pad`` px larger on each side so that no frame has edge artefacts."""
    canvas = blob_field((shape[0] + 2 * pad, shape[1] + 2 * pad))
    frames = [
        ndimage.shift(canvas, (DY * step, DX * step), order=3)[pad:-pad, pad:-pad]
        for step in range(steps)
    ]
    return np.clip(np.rint(frames), 0, 255).astype(np.uint8)


def interior_mse(forecast: np.ndarray, truth: np.ndarray) -> np.ndarray:
    """MSE in pixel units per lead, on the interior."""
    error = forecast.astype(np.float64) - truth
    return (error[:, BORDER:-BORDER, BORDER:-BORDER] ** 2).mean(axis=(1, 2))


@pytest.fixture(scope="module")
def translation() -> tuple[np.ndarray, np.ndarray]:
    sequence = translated_sequence((128, 128), INPUT_FRAMES + LEADS)
    return sequence[:INPUT_FRAMES], sequence[INPUT_FRAMES:]


def test_departure_points_follow_a_rotation_around_its_circle():
    """A solid-body rotation of 6 degrees per step: after 10 steps (60 degrees) a point
    40 px from the centre left from 40 px away, 60 degrees back. The midpoint scheme
    stays on the circle to a tenth of a pixel; a first-order step (the motion where the
    trajectory is) drifts outwards, to 42.2 px here, and misplaces rain on a veering wind."""
    size, centre, turn = 129, 64.0, np.deg2rad(6.0)
    rows, cols = np.mgrid[0:size, 0:size].astype(np.float32)
    flow = np.dstack([-(rows - centre) * turn, (cols - centre) * turn]).astype(np.float32)
    *_, departure = departure_points(flow, 10)
    x, y = departure[64, 104]  # 40 px right of the centre
    angle = -10 * turn
    assert np.hypot(x - centre, y - centre) == pytest.approx(40.0, abs=0.1)
    assert (x, y) == pytest.approx(
        (centre + 40 * np.cos(angle), centre + 40 * np.sin(angle)), abs=0.5
    )


def test_sampling_in_rain_rate_carries_the_mean_rain_between_pixels():
    """Between a 40 mm/h core and its 2 mm/h edge, the rain is their mean (21 mm/h), not the
    rain of their mean decibel (9 mm/h); on a pixel it is that pixel's, and clear air stays
    clear. The scale of the levels (0..255 or 0..1) does not matter."""
    levels = rain_to_level(np.array([[40.0, 2.0, 0.0, 0.0]], np.float32))
    points = np.array([[[0.5, 0.0], [1.0, 0.0], [2.5, 0.0]]], np.float32)  # (x, y)
    rain = pixel_to_rain(sample_rain_at(levels, points))[0]
    assert rain[0] == pytest.approx(21.0, rel=0.01) and rain[1] == pytest.approx(2.0, rel=1e-4)
    assert rain[2] == 0.0
    assert pixel_to_rain(sample_at(levels, points))[0, 0] == pytest.approx(8.9, rel=0.02)
    unit = sample_rain_at(levels / 255, points, full_scale=1.0) * 255
    assert unit == pytest.approx(sample_rain_at(levels, points), abs=1e-3)


def test_persistence_repeats_last_frame():
    frames = np.random.default_rng(1).integers(0, 256, (4, 6, 7), dtype=np.uint8)
    forecast = persistence(frames, 3)
    assert forecast.shape == (3, 6, 7) and forecast.dtype == np.uint8
    assert all(np.array_equal(lead, frames[-1]) for lead in forecast)


def test_flow_follows_pure_translation(translation):
    frames, truth = translation
    assert 0.2 < (frames[-1] == 0).mean() < 0.8  # both echo and no-echo areas are tested
    flow_mse = interior_mse(flow_extrapolation(frames, LEADS), truth)
    persistence_mse = interior_mse(persistence(frames, LEADS), truth)
    # Measured: flow 0.17 / 2.9, persistence 45 / 2879 at leads 1 / 10.
    assert flow_mse[0] < 0.5 and flow_mse[-1] < 8.0
    assert flow_mse[-1] < 0.01 * persistence_mse[-1]
    assert np.all(flow_mse < 0.1 * persistence_mse)


def test_flow_moves_a_single_storm_the_right_way():
    # Guards the sign convention: a lone storm's centroid moves by (DX, DY) per lead.
    rows, cols = np.mgrid[0:64, 0:64]
    frames = np.stack(
        [
            np.rint(200 * np.exp(-((rows - 32 - DY * t) ** 2 + (cols - 28 - DX * t) ** 2) / 50))
            for t in range(3)
        ]
    ).astype(np.uint8)
    forecast = flow_extrapolation(frames, 4)
    last_y, last_x = ndimage.center_of_mass(frames[-1].astype(float))
    lead_y, lead_x = ndimage.center_of_mass(forecast[-1].astype(float))
    assert lead_x - last_x == pytest.approx(4 * DX, abs=0.5)
    assert lead_y - last_y == pytest.approx(4 * DY, abs=0.5)


def test_flow_history_longer_than_input_uses_all_frames(translation):
    frames, truth = translation
    forecast = flow_extrapolation(frames[-2:], 2, history=10)
    assert interior_mse(forecast, truth[:2])[-1] < 1.0


def test_no_echo_gives_no_echo():
    forecast = flow_extrapolation(np.zeros((5, 64, 64), np.uint8), LEADS)
    assert forecast.shape == (LEADS, 64, 64) and forecast.dtype == np.uint8
    assert not forecast.any()


def test_echo_appearing_in_last_frame_only():
    frames = np.zeros((3, 32, 32), np.uint8)
    frames[-1, 10:20, 10:20] = 120
    forecast = flow_extrapolation(frames, 4)
    # No motion is visible, so the echo stays where it is.
    assert np.array_equal(forecast[-1], frames[-1])


@pytest.mark.parametrize("shape", [(96, 160), (160, 96), (7, 5)])
def test_flow_on_any_grid(shape):
    sequence = translated_sequence(shape, INPUT_FRAMES + 3)
    forecast = flow_extrapolation(sequence[:INPUT_FRAMES], 3)
    assert forecast.shape == (3, *shape) and forecast.dtype == np.uint8
    if min(shape) > 2 * BORDER:
        persistence_mse = interior_mse(
            persistence(sequence[:INPUT_FRAMES], 3), sequence[INPUT_FRAMES:]
        )
        assert np.all(interior_mse(forecast, sequence[INPUT_FRAMES:]) < 0.1 * persistence_mse)


@pytest.mark.parametrize(
    ("frames", "leads", "history", "message"),
    [
        (np.zeros((1, 8, 8), np.uint8), 2, 3, "frames must be"),
        (np.zeros((3, 8), np.uint8), 2, 3, "frames must be"),
        (np.zeros((3, 8, 8), np.float32), 2, 3, "uint8"),
        (np.zeros((3, 8, 8), np.uint8), -1, 3, "leads"),
        (np.zeros((3, 8, 8), np.uint8), 2, 1, "history"),
    ],
)
def test_flow_rejects_bad_input(frames, leads, history, message):
    with pytest.raises(ValueError, match=message):
        flow_extrapolation(frames, leads, history=history)
