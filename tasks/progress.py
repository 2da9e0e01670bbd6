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
