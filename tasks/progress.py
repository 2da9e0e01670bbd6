"""Progress lines on stderr and the step timings that go into manifests.

One mechanism serves both: a stage wraps each step in ``steps.step("name")``;
the user sees ``[ingest] listing …`` / ``done in 1.2s`` on stderr (stdout stays
clean for ``--json``), and ``steps.timings`` ends up in ``_manifest.json``.
"""

from __future__ import annotations

import contextlib
import statistics
import sys
import time
from collections.abc import Callable, Iterator, Sequence


class Steps:
    """Named, timed steps of one command or stage."""

    def __init__(self, name: str, *, quiet: bool = False) -> None:
        self.name = name
        self.quiet = quiet
        self.timings: dict[str, float] = {}
        self._started = time.perf_counter()

    def say(self, message: str) -> None:
        if not self.quiet:
            print(f"[{self.name}] {message}", file=sys.stderr, flush=True)

    @contextlib.contextmanager
    def step(self, label: str) -> Iterator[None]:
        self.say(f"{label} …")
        started = time.perf_counter()
        yield  # on an exception, stay quiet: the error line that follows says it all
        elapsed = time.perf_counter() - started
        self.timings[f"{label.replace(' ', '_')}_s"] = round(elapsed, 3)
        self.say(f"{label} done in {elapsed:.1f}s")

    @property
    def total_s(self) -> float:
        return round(time.perf_counter() - self._started, 3)


def interleaved_medians(passes: Sequence[Callable[[], float]], repeats: int) -> list[float]:
    """The median seconds of each of ``passes`` (each returns its own seconds), after one
    warm-up each, run in turn ``repeats`` times: a slow spell on the machine (another
    process, the CPU's clock) then falls on every contender alike, not on whichever ran
    during it."""
    for run in passes:
        run()  # warm-up: Python workers, model sessions, imports
    seconds: list[list[float]] = [[] for _ in passes]
    for _ in range(repeats):
        for run, taken in zip(passes, seconds, strict=True):
            taken.append(run())
    return [statistics.median(taken) for taken in seconds]


def stage_vs_bare(
    name: str,
    counted: str,
    stage: Callable[[Steps], object],
    bare: Callable[[Steps, str], int],
    repeats: int,
) -> dict:
    """A stage's run, ``stage(steps)``, against one process doing its work with its own
    functions, ``bare(steps, scratch_dir)`` returning how many items it did:
    :func:`interleaved_medians` of ``repeats``, as ``<name>_<counted>``,
    ``<name>_stage_pps`` / ``<name>_bare_pps`` (items per second), ``<name>_vs_bare`` and
    where the last pass of each spent its time (``<name>_breakdown_s``,
    ``<name>_bare_breakdown_s``)."""
    import tempfile

    last = {"stage": Steps(name, quiet=True), "bare": Steps("bare", quiet=True)}
    items = 0

    def stage_pass() -> float:
        last["stage"] = Steps(name, quiet=True)
        started = time.perf_counter()
        stage(last["stage"])
        return time.perf_counter() - started

    def bare_pass() -> float:
        nonlocal items
        last["bare"] = Steps("bare", quiet=True)
        started = time.perf_counter()
        with tempfile.TemporaryDirectory() as scratch:
            items = bare(last["bare"], scratch)
        return time.perf_counter() - started

    stage_s, bare_s = interleaved_medians([stage_pass, bare_pass], repeats)
    return {
        f"{name}_{counted}": items,
        f"{name}_stage_pps": round(items / stage_s, 1),
        f"{name}_bare_pps": round(items / bare_s, 1),
        f"{name}_vs_bare": round(bare_s / stage_s, 3),
        f"{name}_breakdown_s": last["stage"].timings,
        f"{name}_bare_breakdown_s": last["bare"].timings,
    }
