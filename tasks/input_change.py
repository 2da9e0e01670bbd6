"""How a raw day changed since the last run that ingested it, for the ingest manifests.

Files keep landing after a day was processed (late uploads, a corrected photo); a rerun
picks them up, and its manifest says what it found against the previous committed run of
the same partition, in ``extra.input_change``::

    {"previous_run_id": "…", "added": 1, "removed": 1, "changed": 1, "unchanged": 40}

(``previous_run_id`` null on a day's first run: every file is ``added``.) To make that
possible each ingest records its input listing in ``extra.inputs``: the file count, total
bytes, a digest of the whole listing and, up to :data:`MAX_LISTED` files, one compact entry
per file (path relative to the partition → ``size:mtime_ms``; a file is ``changed`` when
either differs). Above that the listing would make every manifest heavy to read, so only
the counts and the digest are kept, and ``input_change`` says whether the listing is
the same (``"exact": false``). Content ids are not used: they would cost a Spark job's
collect on the driver, and a replaced file gets a new modification time anyway.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

from lakesight.lake import FileEntry, spelled_path

MAX_LISTED = 10_000


def input_listing(raw_uri: str, listing: Sequence[FileEntry], max_listed: int = MAX_LISTED) -> dict:
    """The ``extra.inputs`` record of a raw partition's listing (see the module docstring)."""
    prefix = spelled_path(raw_uri).rstrip("/") + "/"
    files = {
        spelled_path(e.uri).removeprefix(prefix): (
            f"{e.size}:{round(e.mtime * 1000) if e.mtime is not None else ''}"
        )
        for e in listing
    }
    digest = hashlib.sha256()
    for name in sorted(files):
        digest.update(f"{name}\0{files[name]}\n".encode())
    record = {
        "files": len(files),
        "bytes": sum(e.size for e in listing),
        "digest": digest.hexdigest()[:32],
    }
    if len(files) <= max_listed:
        record["listing"] = dict(sorted(files.items()))
    return record


def input_change(previous, current: dict) -> dict:
    """``extra.input_change``: ``current`` (an :func:`input_listing`) against ``previous``, the
    partition's last committed :class:`~lakesight.lake.Manifest` (None on a first run)."""
    if previous is None:
        return {"previous_run_id": None, "added": current["files"], "removed": 0,
                "changed": 0, "unchanged": 0}  # fmt: skip
    before = (previous.extra or {}).get("inputs")
    out: dict = {"previous_run_id": previous.run_id or None}
    if not before:  # written before listings were recorded
        return {**out, "exact": False, "files": current["files"], "previous_files": None}
    old, new = before.get("listing"), current.get("listing")
    if old is None or new is None:  # one side too large to list file by file
        return {**out, "exact": False, "files": current["files"],
                "previous_files": before.get("files"),
                "same_listing": before.get("digest") == current["digest"]}  # fmt: skip
    common = old.keys() & new.keys()
    changed = sum(old[name] != new[name] for name in common)
    return {
        **out,
        "added": len(new.keys() - old.keys()),
        "removed": len(old.keys() - new.keys()),
        "changed": changed,
        "unchanged": len(common) - changed,
    }


def previous_manifest(fs, partition_uri: str):
    """The partition's committed manifest, or None (none yet, or unreadable: then the change
    is reported against nothing rather than failing the ingest)."""
    from lakesight.lake import ManifestError, read_manifest

    try:
        return read_manifest(fs, partition_uri)
    except ManifestError:
        return None
