"""Step timings and the benches' interleaved medians."""

from __future__ import annotations

from lakesight.progress import Steps, interleaved_medians


def test_steps_time_each_step_under_its_label():
    steps = Steps("t", quiet=True)
    with steps.step("read files"):
        pass
    assert list(steps.timings) == ["read_files_s"] and steps.timings["read_files_s"] >= 0


def test_interleaved_medians_warm_up_then_alternate_and_take_each_median():
    order: list[str] = []

    def contender(name: str, seconds: list[float]):
        def run() -> float:
            order.append(name)
            return seconds.pop(0)

        return run

    stage = contender("stage", [99.0, 3.0, 1.0, 2.0])  # the first is the warm-up
    bare = contender("bare", [99.0, 5.0, 4.0, 6.0])
    assert interleaved_medians([stage, bare], repeats=3) == [2.0, 5.0]
    assert order == ["stage", "bare"] + ["stage", "bare"] * 3
