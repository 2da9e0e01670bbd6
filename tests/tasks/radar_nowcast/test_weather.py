"""Generated radar days: plausible, different every day, moving with the day's wind."""

from __future__ import annotations

import numpy as np
import pytest

from lakesight.radar_nowcast.encoding import pixel_to_rain
from lakesight.radar_nowcast.weather import DayRenderer, draw_weather, render_day

pytestmark = pytest.mark.unit


def test_a_day_is_reproducible_and_days_differ():
    a = render_day(3, "2026-05-01", [600, 606])
    assert np.array_equal(a, render_day(3, "2026-05-01", [600, 606]))
    assert not np.array_equal(a, render_day(3, "2026-05-02", [600, 606]))
    winds = {round(draw_weather(3, f"2026-05-{d:02d}").wind_u0, 4) for d in range(1, 8)}
    assert len(winds) == 7


def test_rain_is_plausible():
    frames = render_day(3, "2026-05-01", range(0, 1440, 60))
    rain = pixel_to_rain(frames)
    assert 0.02 < (frames > 0).mean() < 0.95  # echo somewhere, never everywhere all day
    assert (rain >= 30).any()  # convective cores
    assert np.median(rain[rain > 0]) < 10  # most rain is moderate


def test_echo_moves_with_the_steering_wind():
    weather = draw_weather(4, "2026-05-03")
    renderer = DayRenderer(weather, 128)
    u, v = weather.wind(np.array([720.0]))
    # The wind's displacement over an hour is what the renderer integrates.
    du0, dv0 = renderer.displacement(690)
    du1, dv1 = renderer.displacement(750)
    assert (du1 - du0) == pytest.approx(60 * u[0], rel=0.05)
    assert (dv1 - dv0) == pytest.approx(60 * v[0], rel=0.05)


def test_a_clear_day_has_no_echo_and_any_size_renders():
    assert not render_day(5, "2026-05-04", range(0, 1440, 120), clear=True).any()
    assert render_day(5, "2026-05-04", [0, 6], size=80).shape == (2, 80, 80)
