"""Frame names, intervals and windows: time is never shifted across a gap."""

from __future__ import annotations

import pytest

from lakesight.config import ConfigError
from lakesight.radar_nowcast.frames import frame_minute, frame_name, window_ends
from lakesight.stage import Interval, parse_interval

pytestmark = pytest.mark.unit


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("0000.png", (0, None)),
        ("0606.png", (366, None)),
        ("2354.PNG", (1434, None)),
        ("0607.png", (None, "not_a_step")),
        ("2400.png", (None, "bad_name")),
        ("0660.png", (None, "bad_name")),
        ("radar_1.png", (None, "bad_name")),
        ("0606.jpg", (None, "bad_name")),
    ],
)
def test_frame_names_are_steps_of_the_cadence(name, expected):
    assert frame_minute(name, 6) == expected


def test_frame_name_round_trips():
    assert all(frame_minute(frame_name(m), 6) == (m, None) for m in range(0, 1440, 6))


def test_intervals_from_clock_times_and_the_dags_timestamps():
    assert parse_interval("2026-03-01", None, None) == Interval(0, 1440)
    assert parse_interval("2026-03-01", "01:30", "02:00") == Interval(90, 120)
    dag = parse_interval("2026-03-01", "2026-03-01T23:30:00+00:00", "2026-03-02T00:00:00+00:00")
    assert dag == Interval(1410, 1440)
    for start, end in (
        ("02:00", "01:00"),
        ("25:00", None),
        ("2026-03-02T01:00:00+00:00", None),
        ("soon", None),
    ):
        with pytest.raises(ConfigError):
            parse_interval("2026-03-01", start, end)


def test_a_gap_is_never_bridged_by_the_next_frame():
    observed = [m for m in range(0, 120, 6) if m != 48]  # 00:48 is missing
    complete, incomplete = window_ends(observed, 5, 6)
    # Windows ending 00:48..01:12 would contain 00:48: none is complete, none shifts.
    assert all(end < 48 or end > 48 + 4 * 6 for end in complete)
    assert incomplete[54] == [48]
    assert incomplete[72] == [48]
    assert 78 in complete
    # The first frames of the day lack their history.
    assert incomplete[0] == [-24, -18, -12, -6]
    assert complete[0] == 24


def test_windows_only_end_inside_the_interval():
    complete, incomplete = window_ends(range(0, 240, 6), 5, 6, Interval(60, 90))
    assert complete == [60, 66, 72, 78, 84]
    assert incomplete == {}
