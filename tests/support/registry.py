"""The shipped registry as its tests read it."""

from __future__ import annotations

from pathlib import Path

from lakesight.models.runtime import load_card, resolve, sha256_file


def intact_entry(name: str) -> tuple[str, Path, dict]:
    """(name@version, directory, card) of the newest shipped ``name``, after checking that
    every file its card lists has the sha256 the card records."""
    ref, directory = resolve(name)
    card = load_card(directory)
    for filename, digest in card["sha256"].items():
        assert sha256_file(directory / filename) == digest, filename
    return str(ref), directory, card
