"""extra.input_change: a rerun's input against the partition's previous committed run."""

from __future__ import annotations

import pytest

from lakesight.input_change import input_change, input_listing
from lakesight.lake import FileEntry, Manifest

pytestmark = pytest.mark.unit
RAW = "file:///lake/raw/images/dt=2026-03-02"


def entries(**files: tuple[int, float]) -> list[FileEntry]:
    return [
        FileEntry(f"file:/lake/raw/images/dt=2026-03-02/{n}", s, t) for n, (s, t) in files.items()
    ]


def manifest(inputs: dict | None, run_id: str = "run-1") -> Manifest:
    extra = {"inputs": inputs} if inputs is not None else {}
    return Manifest(dataset="curated/images", dt="2026-03-02", stage="s", schema_version="v",
                    counts={"in": 0, "out": 0, "quarantined": 0}, input_fingerprint="f",
                    extra=extra, run_id=run_id)  # fmt: skip


def test_added_removed_changed_and_unchanged_files_are_counted():
    before = input_listing(RAW, entries(a=(1, 10.0), b=(2, 10.0), c=(3, 10.0), d=(4, 10.0)))
    after = input_listing(RAW, entries(a=(1, 10.0), b=(2, 99.0), d=(5, 10.0), e=(6, 11.0)))
    assert before["listing"]["a"] == "1:10000" and before["files"] == 4 and before["bytes"] == 10
    assert input_change(manifest(before), after) == {
        "previous_run_id": "run-1", "added": 1, "removed": 1, "changed": 2, "unchanged": 1,
    }  # fmt: skip
    assert input_change(manifest(after), after)["unchanged"] == 4
    assert input_change(None, after) == {
        "previous_run_id": None, "added": 4, "removed": 0, "changed": 0, "unchanged": 0,
    }  # fmt: skip


def test_a_large_day_keeps_counts_and_a_digest_only():
    files = entries(a=(1, 10.0), b=(2, 10.0))
    big = input_listing(RAW, files, max_listed=1)
    assert "listing" not in big and big["files"] == 2
    same = input_change(manifest(big), input_listing(RAW, files, max_listed=1))
    assert same["exact"] is False and same["same_listing"] is True
    moved = input_listing(RAW, entries(a=(1, 10.0), b=(2, 12.0)), max_listed=1)
    assert input_change(manifest(big), moved)["same_listing"] is False
    # A previous run that recorded no listing (an older version): the change is unknown.
    assert input_change(manifest(None), big)["exact"] is False
