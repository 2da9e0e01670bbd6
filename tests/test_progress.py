"""Step timings and the benches' interleaved medians."""

from __future__ import annotations

from pathlib import Path

from lakesight.progress import Steps, interleaved_medians, stage_vs_bare


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


def test_stage_vs_bare_reports_rates_the_ratio_and_both_breakdowns(tmp_path):
    scratch_dirs: list[str] = []

    def stage(steps: Steps) -> None:
        with steps.step("score"):
            pass

    def bare(steps: Steps, scratch: str) -> int:
        scratch_dirs.append(scratch)
        with steps.step("read"):
            pass
        return 40

    result = stage_vs_bare("verify", "pairs", stage, bare, repeats=1)
    assert result["verify_pairs"] == 40
    assert result["verify_stage_pps"] > 0 and result["verify_bare_pps"] > 0
    assert list(result["verify_breakdown_s"]) == ["score_s"]
    assert list(result["verify_bare_breakdown_s"]) == ["read_s"]
    # Each bare pass writes into a scratch directory of its own, removed afterwards.
    assert len(set(scratch_dirs)) == 2 and not any(Path(d).exists() for d in scratch_dirs)
